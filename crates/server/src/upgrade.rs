//! Connections that switch protocols (the gateway's WebSocket) leave actix-http's HTTP/1
//! dispatcher: a handler that accepts the switch answers `101 Switching Protocols` with an
//! [`Upgrade`] in its response's extensions, and is handed the bare TCP stream.
//!
//! Why: a connection kept by the dispatcher keeps its two buffers (8 KiB to read, 8 KiB and up
//! to 32 KiB to write) for its whole life. That is nothing for a request, and most of the
//! memory of a gateway holding ten thousand browsers open for an evening. Handed over, a
//! socket costs what its owner keeps.
//!
//! How: actix-http calls the *upgrade service* instead of the application for every request
//! that asks for a WebSocket (`Upgrade: websocket`) or is a `CONNECT`. The upgrade service
//! runs the same application (routes, middleware, extractors, errors) on the request. If the
//! answer is a `101` with an [`Upgrade`], it writes the head and runs the upgrade with the
//! stream; any other answer is written as it is, and the connection closes.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::rc::Rc;

use actix_codec::Framed;
use actix_http::body::{BodySize, BoxBody, MessageBody};
use actix_http::h1::{Codec, Message};
use actix_http::{ConnectionType, Request, Response, StatusCode};
pub use actix_server::GracefulShutdownSignal;
use actix_service::{Service, ServiceFactory, fn_factory, fn_service};
use actix_web::dev::{AppConfig, ServiceResponse};
use actix_web::rt::net::TcpStream;
use bytes::BytesMut;
use futures::SinkExt;
use futures::future::LocalBoxFuture;

/// What a handler accepting a protocol switch leaves in its `101` response
/// (`response.extensions_mut().insert(Upgrade::new(…))`): what serves the connection once the
/// head is written.
pub struct Upgrade(Box<dyn FnOnce(Upgraded) -> LocalBoxFuture<'static, ()>>);

impl std::fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Upgrade")
    }
}

impl Upgrade {
    pub fn new<F, Fut>(serve: F) -> Self
    where
        F: FnOnce(Upgraded) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Self(Box::new(move |upgraded| Box::pin(serve(upgraded))))
    }
}

/// Marks a request that came through the upgrade service: only such a request can be switched
/// (see [`can_switch`]).
#[derive(Debug, Clone, Copy)]
struct ThroughUpgrade;

/// Whether a `101` with an [`Upgrade`] answered to this request would be served: actix-http
/// sends a request to the upgrade service only when its `Upgrade` header is exactly
/// `websocket` (or it is a `CONNECT`), where a handshake check may accept more (`Upgrade: foo,
/// websocket`). A route that switches refuses the others.
pub fn can_switch(request: &actix_web::HttpRequest) -> bool {
    use actix_web::HttpMessage;
    request.extensions().contains::<ThroughUpgrade>()
}

/// A connection handed over after `101 Switching Protocols`.
#[derive(Debug)]
pub struct Upgraded {
    pub io: TcpStream,
    /// What the client sent after the request head, already read (usually nothing).
    pub read: BytesMut,
    /// Resolves when the server starts stopping: the connection should say goodbye in its
    /// protocol then (a WebSocket's close frame), rather than be cut when the grace period
    /// (`http.shutdown_timeout_secs`) ends.
    pub stopping: GracefulShutdownSignal,
}

/// The upgrade service of a worker: an instance of the application (`make`, configured with
/// `config`) that answers upgrade requests as above.
pub(crate) fn factory<F, S, B>(
    make: F,
    config: AppConfig,
    stopping: GracefulShutdownSignal,
) -> impl ServiceFactory<
    (Request, Framed<TcpStream, Codec>),
    Config = (),
    Response = (),
    // Never returned: a lost connection is logged, not an error of the server.
    Error = actix_web::Error,
    InitError = (),
>
where
    F: Fn() -> S + 'static,
    S: ServiceFactory<
            Request,
            Config = AppConfig,
            Response = ServiceResponse<B>,
            Error = actix_web::Error,
            InitError = (),
        > + 'static,
    B: MessageBody + 'static,
{
    fn_factory(move || {
        let app = make().new_service(config.clone());
        let stopping = stopping.clone();
        async move {
            let app = Rc::new(app.await?);
            Ok::<_, ()>(fn_service(
                move |(request, framed): (Request, Framed<TcpStream, Codec>)| {
                    let (app, stopping) = (app.clone(), stopping.clone());
                    async move {
                        // A client gone before its answer is written is not the server's error.
                        if let Err(error) = serve(&*app, request, framed, stopping).await {
                            tracing::debug!(%error, "upgrade request: connection lost");
                        }
                        Ok::<_, actix_web::Error>(())
                    }
                },
            ))
        }
    })
}

async fn serve<S, B>(
    app: &S,
    request: Request,
    mut framed: Framed<TcpStream, Codec>,
    stopping: GracefulShutdownSignal,
) -> std::io::Result<()>
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody + 'static,
{
    {
        use actix_web::HttpMessage;
        request.extensions_mut().insert(ThroughUpgrade);
    }
    let mut response = match app.call(request).await {
        // The request (and what it holds of the application) is released here, not kept for
        // the connection's life.
        Ok(response) => response.into_parts().1.map_into_boxed_body(),
        Err(error) => error.error_response(),
    };
    let upgrade = response.extensions_mut().remove::<Upgrade>();
    let mut response: Response<BoxBody> = response.into();
    if let Some(Upgrade(serve)) = upgrade
        && response.status() == StatusCode::SWITCHING_PROTOCOLS
    {
        framed
            .send(Message::Item((response.drop_body(), BodySize::None)))
            .await?;
        // The dispatcher's buffers are released here, before the connection is served for
        // hours (not at the end of this function): only bytes the client already sent stay.
        let upgraded = {
            let parts = framed.into_parts();
            let read = if parts.read_buf.is_empty() {
                BytesMut::new()
            } else {
                parts.read_buf
            };
            Upgraded {
                io: parts.io,
                read,
                stopping,
            }
        };
        serve(upgraded).await;
        return Ok(());
    }
    // Not switched (refused, or not a route that switches): the answer, then the connection
    // closes, as it cannot go back to HTTP/1 keep-alive from here.
    response
        .head_mut()
        .set_connection_type(ConnectionType::Close);
    // The codec takes this connection for a stream: a body of unknown size goes out as it is,
    // ended by the close, not chunked.
    response.head_mut().no_chunking(true);
    let (head, body) = response.into_parts();
    let size = body.size();
    framed.send(Message::Item((head, size))).await?;
    if !matches!(size, BodySize::None | BodySize::Sized(0)) {
        let mut body = pin!(body);
        while let Some(chunk) = poll_fn(|cx| body.as_mut().poll_next(cx)).await {
            let chunk = chunk.map_err(|error| std::io::Error::other(error.to_string()))?;
            framed.feed(Message::Chunk(Some(chunk))).await?;
        }
        framed.feed(Message::Chunk(None)).await?;
    }
    // `close` alone would shut the stream with what is buffered unwritten.
    framed.flush().await?;
    framed.close().await?;
    // What the client may still send (a body nobody read) is read and dropped for a moment,
    // so that closing does not reset the connection under the answer it is reading.
    let mut io = framed.into_parts().io;
    let mut sink = [0u8; 512];
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        use tokio::io::AsyncReadExt;
        while matches!(io.read(&mut sink).await, Ok(read) if read > 0) {}
    })
    .await;
    Ok(())
}
