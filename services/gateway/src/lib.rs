//! The gateway: the one door for people (dashboard, JSON API, WebSockets) and the only
//! writer of PostgreSQL. It consumes what the other services publish on JetStream, commits
//! it, and fans committed snapshots out to browsers.
//!
//! It must not talk to booths, Notion or agents directly: those go through the bus.

//! # Layout
//! - [`http`]: the route table, sessions and roles, one module of handlers per resource
//!   (photomatons, paper, speed tests, power-on, events, users, audit, account, Notion),
//!   the dashboard's files and the WebSocket.
//! - [`consumers`]: what the gateway takes from the bus — agent batches (the recorder),
//!   probes, power-on outcomes, Notion — each a durable consumer kept running by one loop.
//! - [`live`]: the fan-out to browsers (publish, the per-instance hub, the fleet cache).
//! - [`store`]: persistence per aggregate (photomatons, paper, speed tests, batches, events,
//!   audit, users) and the read models built from it. Nothing in it knows HTTP or NATS.
//! - [`announce`]: after a committed change to a booth, audit, view, registry, live — once.
//! - [`wake`]: power-on through photomaton-control; [`registry`]: the booth registry KV
//!   mirror; [`passwords`]: argon2id; [`cli`]: `serve`, `migrate`, `users add`.
//!
//! Dependencies point one way: `http` and `consumers` use `live`, `wake` and `store`; `live`
//! reads `store`; `store` depends on nothing of the gateway but the totals it shares.

mod announce;
pub mod cli;
mod consumers;
mod errors;
mod http;
mod live;
mod pagination;
pub mod passwords;
pub mod registry;
mod sso;
mod state;
mod store;
mod wake;

/// What tests and tools outside the crate rely on.
pub use http::account::{LOGIN_ATTEMPTS_PER_IP, LOGIN_ATTEMPTS_PER_USERNAME};
pub use http::routes::{Endpoint, endpoints};
pub use live::CLIENT_QUEUE;

use std::time::Duration;

use boom_bus::{Bus, BusMetrics};
use boom_cache::Cache;
use boom_config::{ExposeSecret, Settings};
use boom_db::{DbError, PoolOptions};
use boom_server::{Application, Background, Check, Health};
use prometheus_client::registry::Registry;

pub const SERVICE: &str = "boom-gateway";

/// How long the gateway waits at start for PostgreSQL to answer before giving up.
const DATABASE_WAIT: Duration = Duration::from_secs(30);

use state::AppState;

/// Builds the gateway: checks the schema is migrated (it never serves an unmigrated
/// database), connects to Redis and NATS, binds `http.addr`.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let url = settings.database.url.expose_secret().to_owned();
    wait_for_migrated_database(&url).await?;
    let db = boom_db::pool(
        &url,
        &PoolOptions {
            application_name: SERVICE.to_owned(),
            max_connections: settings.database.max_connections,
            statement_timeout: Duration::from_millis(settings.database.statement_timeout_ms),
            acquire_timeout: Duration::from_millis(settings.database.acquire_timeout_ms),
        },
    )?;
    let cache = Cache::new(&settings.redis)?;
    let mut registry = Registry::default();
    let bus = Bus::connect(&settings.nats, SERVICE, BusMetrics::register(&mut registry))
        .await?
        .with_dead_letters(consumers::dead_letters(db.clone()));
    let live = live::Live::new(
        bus.clone(),
        Duration::from_millis(settings.http.live_coalesce_ms),
    );
    live.hub.register_metrics(&mut registry);
    let trusted_proxies = settings
        .http
        .trusted_proxy_nets()
        .map_err(|why| anyhow::anyhow!("http.trusted_proxies: {why}"))?;
    let state = AppState {
        registry: registry::RegistryPublisher::new(bus.clone()),
        db,
        cache,
        bus,
        live,
        trusted_proxies: std::sync::Arc::new(trusted_proxies),
        ping_interval: std::time::Duration::from_secs(settings.http.ws_ping_secs.max(1)),
        session_checks: std::sync::Arc::new(http::session_checks::SessionChecks::new(
            std::time::Duration::from_secs(settings.http.ws_ping_secs.max(1)),
        )),
        session_owners: std::sync::Arc::default(),
        overrun_hours: settings.events.overrun_hours,
        password_checks: std::sync::Arc::new(tokio::sync::Semaphore::new(
            passwords::CONCURRENT_CHECKS,
        )),
        passwords: passwords::PasswordPool::start(),
        sso: sso::Sso::from_settings(&settings.oidc)?,
    };

    let background = Background::new();
    background.spawn(state.bus.setup_streams());

    background.spawn({
        let state = state.clone();
        let reconcile_every = Duration::from_secs(settings.nats.registry_reconcile_secs.max(1));
        move |cancel| async move {
            // At start (retried quickly until it works), then every minute: repairs what
            // could not be mirrored while NATS was away.
            let mut delay = Duration::from_millis(500);
            let mut published = false;
            loop {
                match state.registry.sync_all(&state.db).await {
                    Ok(reconciled) => {
                        if !published {
                            tracing::info!(booths = reconciled.mirrored, "registry published");
                        } else if reconciled.written > 0 {
                            tracing::info!(
                                booths = reconciled.written,
                                "registry entries repaired"
                            );
                        }
                        published = true;
                        delay = reconcile_every;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "registry not reconciled, retrying");
                        if !published {
                            delay = (delay * 2).min(Duration::from_secs(30));
                        }
                    }
                }
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    });
    background.spawn({
        let (state, metrics) = (
            state.clone(),
            consumers::batches::RecorderMetrics::register(&mut registry),
        );
        |cancel| consumers::batches::run(state, metrics, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::probes::run(state, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::notion::run(state, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::power_on::run(state, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::alerts::run(state, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::alerts::run_deliveries(state, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::alerts::serve(state, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::pairing::serve(state, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::commands::run_reports(state, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::commands::run_seen(state, cancel)
    });
    background.spawn({
        let state = state.clone();
        |cancel| consumers::commands::run_expiry(state, cancel)
    });
    background.spawn({
        let (bus, hub, fleet) = (
            state.bus.clone(),
            state.live.hub.clone(),
            state.live.fleet.clone(),
        );
        |cancel| live::run_fanout(bus, hub, fleet, cancel)
    });

    let health = Health::new(vec![
        Check::with("database", state.db.clone(), |db| async move {
            boom_db::ping(&db).await
        }),
        Check::with("redis", state.cache.clone(), |cache| async move {
            cache.ping().await
        }),
        Check::with(
            "nats",
            state.bus.clone(),
            |bus| async move { bus.check().await },
        ),
        Check::temp_disk(),
    ]);

    let data = actix_web::web::Data::new(state);
    Application::launch(
        SERVICE,
        &settings.http.addr,
        &settings.http,
        health,
        registry,
        background,
        move |cfg| {
            cfg.app_data(data.clone()).configure(http::routes::mount);
        },
    )
}

/// Waits for PostgreSQL (it may start after us), then refuses to go on if migrations are
/// pending.
async fn wait_for_migrated_database(url: &str) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + DATABASE_WAIT;
    loop {
        match boom_db::ensure_migrated(url).await {
            Ok(()) => return Ok(()),
            Err(DbError::Connect(error)) if tokio::time::Instant::now() < deadline => {
                tracing::warn!(%error, "PostgreSQL not answering yet, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
}
