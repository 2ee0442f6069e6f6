//! The HTTP server every service runs: bound to a listener the caller created (so tests and
//! `Application::build` know the port before serving), with `/api/health`, `/metrics`, a JSON
//! 404, request tracing and metrics.

use std::net::TcpListener;
use std::time::Instant;

use actix_http::HttpService;
use actix_service::{IntoServiceFactory, ServiceFactoryExt, map_config};
use actix_web::body::MessageBody;
use actix_web::dev::AppConfig;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpRequest, web};
use boom_telemetry::{TRACEPARENT, TraceContext};
use std::time::Duration;
use tracing::Instrument;

use crate::health::{ServiceName, health_handler};
use crate::metrics::{RequestLabels, metrics_handler};
use crate::{ApiError, ErrorCode, Health, Metrics};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    pub service: &'static str,
    /// 0 means one per core.
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
}

/// Binds the listen address (port 0 picks a free port).
pub fn bind(addr: &str) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Builds the server: the service's own routes (`configure`) plus the shared ones. Signals
/// are left to [`crate::Application`], which stops the server and the background work together.
///
/// It is actix-web's `HttpServer` with the same settings, assembled here for one addition:
/// requests that switch protocols are answered by the same routes and then handed the bare
/// connection ([`crate::upgrade`]).
pub fn http_server<F>(
    listener: TcpListener,
    options: &HttpOptions,
    health: Health,
    metrics: Metrics,
    configure: F,
) -> std::io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let service = ServiceName(options.service);
    let app = move || {
        App::new()
            .wrap(from_fn(observe))
            .app_data(web::Data::new(health.clone()))
            .app_data(web::Data::new(service))
            .app_data(web::Data::new(metrics.clone()))
            .app_data(json_config(64 * 1024))
            .app_data(query_config())
            .app_data(path_config())
            .route("/api/health", web::get().to(health_handler))
            .route("/metrics", web::get().to(metrics_handler))
            .configure(configure.clone())
            .default_service(web::to(not_found))
    };
    let addr = listener.local_addr()?;
    let builder = actix_server::Server::build();
    let stopping = builder.graceful_shutdown_signal();
    let mut builder = builder
        .listen(format!("{}-http", options.service), listener, move || {
            let app = app.clone();
            // What `HttpServer` gives its application: the listen address as the host
            // name of last resort (a request without `Host`).
            let config = AppConfig::__priv_test_new(false, addr.to_string(), addr);
            let stopping = stopping.clone();
            let signal = stopping.clone();
            let answer = app()
                .into_factory()
                .map_err(|error: actix_web::Error| error.error_response());
            let app_config = config.clone();
            HttpService::build()
                .graceful_shutdown_signal(move || {
                    let signal = signal.clone();
                    async move { signal.notified().await }
                })
                .client_request_timeout(Duration::from_secs(5))
                .client_disconnect_timeout(Duration::from_secs(1))
                .local_addr(addr)
                .upgrade(crate::upgrade::factory(
                    move || app().into_factory(),
                    config,
                    stopping,
                ))
                .finish(map_config(answer, move |()| app_config.clone()))
                .tcp()
        })?
        .disable_signals()
        .shutdown_timeout(options.shutdown_timeout_secs);
    if options.workers > 0 {
        builder = builder.workers(options.workers);
    }
    Ok(builder.run())
}

async fn not_found(request: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(format!(
        "no route for {} {}",
        request.method(),
        request.path()
    )))
}

/// JSON bodies: too large is 413, not JSON is 400, JSON of the wrong shape is 422.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(move |error, _request| {
            let api = match &error {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::new(
                    ErrorCode::PayloadTooLarge,
                    format!("the body is larger than {limit} bytes"),
                ),
                JsonPayloadError::ContentType => {
                    ApiError::bad_request("the body must be application/json")
                }
                JsonPayloadError::Deserialize(e) if e.is_data() => {
                    ApiError::unprocessable(e.to_string())
                }
                JsonPayloadError::Deserialize(e) => {
                    ApiError::bad_request(format!("malformed JSON: {e}"))
                }
                other => ApiError::bad_request(other.to_string()),
            };
            api.into()
        })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, _request| {
        let message = match &error {
            QueryPayloadError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        ApiError::bad_request(format!("bad query string: {message}")).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, _request| {
        let message = match &error {
            PathError::Deserialize(e) => e.to_string(),
            other => other.to_string(),
        };
        ApiError::not_found(format!("no such resource ({message})")).into()
    })
}

/// Per request: adopt the caller's `traceparent` (or start a trace), run the request in a
/// span that carries the trace id, and count it by route pattern and status.
async fn observe(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let trace = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(TraceContext::parse)
        .map(|t| t.child())
        .unwrap_or_else(TraceContext::new_root);
    let method = request.method().to_string();
    let route = request
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = request.app_data::<web::Data<Metrics>>().cloned();
    let span = tracing::info_span!("http", %method, path = %request.path(), trace_id = %trace);
    let started = Instant::now();
    let response = trace
        .scope(next.call(request))
        .instrument(span.clone())
        .await?;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Some(metrics) = metrics {
        let labels = RequestLabels {
            method,
            route,
            status,
        };
        metrics.requests.get_or_create(&labels).inc();
        metrics
            .latency
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }
    span.in_scope(|| {
        tracing::debug!(
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        )
    });
    Ok(response)
}

/// The client's address: the peer, or — when the peer is one of the `trusted` proxies — the
/// right-most address of `X-Forwarded-For` that is not itself a trusted proxy. Rate limits
/// and the audit log use it; a header from anyone else is not believed.
pub fn client_addr(
    request: &actix_web::HttpRequest,
    trusted: &[ipnet::IpNet],
) -> Option<std::net::IpAddr> {
    let peer = request.peer_addr()?.ip();
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .filter_map(|part| part.parse::<std::net::IpAddr>().ok())
        .find(|ip| !is_trusted(ip))
        .or(Some(peer))
}

#[cfg(test)]
mod client_addr_tests {
    use super::*;

    fn request(peer: &str, forwarded: Option<&str>) -> actix_web::HttpRequest {
        let mut test = actix_web::test::TestRequest::default().peer_addr(
            format!("{peer}:4000")
                .parse()
                .unwrap_or_else(|_| ([0, 0, 0, 0], 0).into()),
        );
        if let Some(value) = forwarded {
            test = test.insert_header(("x-forwarded-for", value));
        }
        test.to_http_request()
    }

    #[test]
    fn only_a_trusted_proxy_is_believed_and_its_own_hops_are_skipped() {
        let trusted: Vec<ipnet::IpNet> = ["10.0.0.0/8"]
            .iter()
            .filter_map(|n| n.parse().ok())
            .collect();
        let ip = |s: &str| s.parse::<std::net::IpAddr>().ok();
        // A stranger's header is ignored: the peer is the client.
        assert_eq!(
            client_addr(&request("203.0.113.9", Some("1.2.3.4")), &trusted),
            ip("203.0.113.9")
        );
        // Behind the proxy: the right-most untrusted address (a client cannot forge its way
        // past the proxy's own append).
        assert_eq!(
            client_addr(
                &request("10.0.0.2", Some("6.6.6.6, 198.51.100.7, 10.0.0.5")),
                &trusted
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_addr(&request("10.0.0.2", None), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_addr(&request("10.0.0.2", Some("1.2.3.4")), &[]),
            ip("10.0.0.2")
        );
    }
}
