//! What handlers and consumers share: the pools, the bus, the live fan-out and the registry.

use boom_bus::Bus;
use boom_cache::Cache;
use boom_db::{DbConn, DbPool};
use boom_server::ApiError;

use crate::errors::from_db;
use crate::live::Live;
use crate::registry::RegistryPublisher;

#[derive(Clone)]
pub struct AppState {
    pub db: DbPool,
    pub cache: Cache,
    pub bus: Bus,
    pub live: Live,
    pub registry: RegistryPublisher,
    /// Proxies whose `X-Forwarded-For` names the client (`http.trusted_proxies`).
    pub trusted_proxies: std::sync::Arc<Vec<ipnet::IpNet>>,
    /// Password checks running at once at most (argon2 takes ~19 MiB and ~20 ms each).
    pub password_checks: std::sync::Arc<tokio::sync::Semaphore>,
    /// The threads that run argon2 (see [`crate::passwords::PasswordPool`]).
    pub passwords: crate::passwords::PasswordPool,
    /// Between WebSocket pings and session checks (`http.ws_ping_secs`).
    pub ping_interval: std::time::Duration,
    /// The WebSocket's session checks at each ping, shared by the sockets of one session.
    pub session_checks: std::sync::Arc<crate::http::session_checks::SessionChecks>,
    /// Whose each session is, so that a request reads its session and epoch in one round trip.
    pub session_owners: std::sync::Arc<crate::http::session_owners::SessionOwners>,
    /// `events.overrun_hours`, for events of an older notion-sync that sends no window.
    pub overrun_hours: u32,
    /// Single sign-on (`[oidc]`), when configured.
    pub sso: Option<std::sync::Arc<crate::sso::Sso>>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("cache", &self.cache)
            .field("bus", &self.bus)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A pooled connection, or 503 when PostgreSQL is unavailable.
    pub async fn conn(&self) -> Result<DbConn, ApiError> {
        self.db.get().await.map_err(|e| from_db(e.into()))
    }
}
