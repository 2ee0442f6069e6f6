//! The WebSocket on the wire, without a session layer in between: a frame is encoded once
//! (header and JSON, `bytes::Bytes`) and the same bytes go to every client it is for.
//!
//! The response body of a socket is [`Outgoing`]: it yields the encoded frames its connection's
//! task queues, as they are, and actix-http writes whatever is ready in one go. What the client
//! sends is read by [`Incoming`], which decodes the request's payload with actix-http's codec.
//! (actix-ws, used before, re-encoded each frame for each client behind two more channels: at
//! 1,000 clients that copy and those hops were most of the gateway's time.)

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::ws::{CloseReason, Codec, Frame, OpCode, Parser, ProtocolError};
use actix_web::web;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::mpsc;

/// Frames a connection's task may have handed to its socket and not yet written.
const OUTGOING: usize = 64;

/// A text message as it goes on the wire: unmasked (server to client), one frame.
pub fn text(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 10);
    Parser::write_message(&mut out, payload, OpCode::Text, true, false);
    out.freeze()
}

fn control(payload: &[u8], op: OpCode) -> Bytes {
    // Control frames carry at most 125 bytes.
    let payload = &payload[..payload.len().min(125)];
    let mut out = BytesMut::with_capacity(payload.len() + 2);
    Parser::write_message(&mut out, payload, op, true, false);
    out.freeze()
}

/// Where a connection's task writes: frames already encoded.
#[derive(Debug, Clone)]
pub struct Socket {
    out: mpsc::Sender<Bytes>,
}

/// The socket's connection is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl Socket {
    /// A socket, and the response body that writes what it is given.
    pub fn new() -> (Self, Outgoing) {
        let (out, receiver) = mpsc::channel(OUTGOING);
        (Self { out }, Outgoing { receiver })
    }

    /// An encoded frame (see [`text`]).
    pub async fn send(&self, frame: Bytes) -> Result<(), Closed> {
        self.out.send(frame).await.map_err(|_| Closed)
    }

    pub async fn text(&self, payload: &[u8]) -> Result<(), Closed> {
        self.send(text(payload)).await
    }

    pub async fn ping(&self, payload: &[u8]) -> Result<(), Closed> {
        self.send(control(payload, OpCode::Ping)).await
    }

    pub async fn pong(&self, payload: &[u8]) -> Result<(), Closed> {
        self.send(control(payload, OpCode::Pong)).await
    }

    /// Sends the close frame without waiting (a client too slow to take it is gone anyway);
    /// the body ends once what is queued is written.
    pub async fn close(self, reason: Option<CloseReason>) {
        let mut out = BytesMut::with_capacity(127);
        let reason = reason.map(|mut reason| {
            if let Some(description) = reason.description.as_mut() {
                let mut end = description.len().min(123);
                while !description.is_char_boundary(end) {
                    end -= 1;
                }
                description.truncate(end);
            }
            reason
        });
        Parser::write_close(&mut out, reason, false);
        let _ = self.out.try_send(out.freeze());
    }
}

/// A socket's response body: the frames its task queued, written as they are; it ends when
/// the task drops its [`Socket`] (after a close frame).
#[derive(Debug)]
pub struct Outgoing {
    receiver: mpsc::Receiver<Bytes>,
}

impl futures::Stream for Outgoing {
    type Item = Result<Bytes, actix_web::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.receiver.poll_recv(cx).map(|frame| frame.map(Ok))
    }
}

/// What a client sends, decoded from the upgraded request's payload.
pub struct Incoming {
    payload: web::Payload,
    buf: BytesMut,
    codec: Codec,
}

impl Incoming {
    pub fn new(payload: web::Payload) -> Self {
        Self {
            payload,
            buf: BytesMut::new(),
            codec: Codec::new(),
        }
    }

    /// The next frame; `None` once the connection is gone.
    pub async fn next(&mut self) -> Option<Result<Frame, ProtocolError>> {
        use tokio_util::codec::Decoder;
        loop {
            match self.codec.decode(&mut self.buf) {
                Ok(Some(frame)) => return Some(Ok(frame)),
                Ok(None) => {}
                Err(error) => return Some(Err(error)),
            }
            match self.payload.next().await {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(_)) | None => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_frame_is_the_header_then_the_payload_unmasked() {
        let frame = text(b"{\"event\":\"x\"}");
        assert_eq!(frame[0], 0x81, "FIN and text");
        assert_eq!(frame[1], 13, "length, no mask bit");
        assert_eq!(&frame[2..], b"{\"event\":\"x\"}");
        let long = text(&[b'a'; 300]);
        assert_eq!(&long[..4], &[0x81, 126, 1, 44], "16-bit length");
    }

    #[test]
    fn control_frames_are_cut_to_125_bytes() {
        assert_eq!(control(&[0; 200], OpCode::Ping).len(), 127);
    }
}
