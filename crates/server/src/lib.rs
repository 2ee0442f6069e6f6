//! What every LE BOOM HTTP service shares, so that the five binaries look alike to ops:
//! the HTTP server wiring (listener bound by the caller, port 0 allowed), `GET /api/health`
//! with real checks of each dependency, `GET /metrics` in Prometheus text, the JSON error
//! body `{"error": code, "message": text}` (never a 500 for bad input), request tracing
//! with `traceparent`, and graceful shutdown on SIGINT/SIGTERM.
//!
//! It knows no business rule and no dependency client: services hand it their checks.

pub mod error;
pub mod health;
pub mod http;
pub mod metrics;
pub mod shutdown;
pub mod upgrade;

pub use error::{ApiError, ErrorCode};
pub use health::{Check, CheckFuture, Health};
pub use http::{
    HttpOptions, bind, client_addr, http_server, json_config, path_config, query_config,
};
pub use metrics::Metrics;
pub use shutdown::{Application, Background, Stopper, termination};
pub use upgrade::{Upgrade, Upgraded, can_switch};

mod main_support;
pub use main_support::{EXIT_CONFIG, install_crypto_provider, run_service};
