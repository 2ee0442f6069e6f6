//! stats-ingest: the door for booth agents. It authenticates an agent's batch against the
//! booth registry (read from the bus), validates it, and answers only once the batch is
//! durable in JetStream; the gateway then records it exactly once.
//!
//! It never writes PostgreSQL; Redis only holds rate-limit counters. Any number of instances
//! may run behind a load balancer: they share nothing but NATS and Redis.

mod commands;
mod pairing;
mod speed_test;
mod sync;

use boom_bus::{AgentCommandsView, Bus, BusMetrics, RegistryView};
use boom_cache::Cache;
use boom_config::Settings;
use boom_server::{Application, Background, Check, Health};
use prometheus_client::registry::Registry;

pub use sync::IngestMetrics;

pub const SERVICE: &str = "boom-stats-ingest";

/// Builds stats-ingest on `http.addr`.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let cache = Cache::new(&settings.redis)?;
    let mut registry = Registry::default();
    let bus = Bus::connect(&settings.nats, SERVICE, BusMetrics::register(&mut registry)).await?;
    let metrics = IngestMetrics::register(&mut registry);
    let background = Background::new();
    background.spawn(bus.setup_streams());
    let (booths, follow) = RegistryView::follow(bus.clone(), background.cancel_token());
    background.spawn(|_| follow);
    let (commands, follow) = AgentCommandsView::follow(bus.clone(), background.cancel_token());
    background.spawn(|_| follow);
    let health = Health::new(vec![
        Check::with("nats", bus.clone(), |bus| async move { bus.check().await }),
        Check::with(
            "redis",
            cache.clone(),
            |cache| async move { cache.ping().await },
        ),
        Check::with("registry", booths.clone(), RegistryView::check),
        Check::temp_disk(),
    ]);
    let state = actix_web::web::Data::new(sync::IngestState {
        bus,
        cache,
        booths,
        commands,
        seen: std::sync::Arc::default(),
        trusted_proxies: std::sync::Arc::new(
            settings
                .http
                .trusted_proxy_nets()
                .map_err(|why| anyhow::anyhow!("http.trusted_proxies: {why}"))?,
        ),
        metrics,
        limits: settings.ingest.clone(),
        transfers: std::sync::Arc::default(),
    });
    Application::launch(
        SERVICE,
        &settings.http.addr,
        &settings.http,
        health,
        registry,
        background,
        move |cfg| {
            cfg.app_data(state.clone())
                .service(
                    actix_web::web::resource("/api/agent/sync")
                        .route(actix_web::web::post().to(sync::sync)),
                )
                .service(
                    actix_web::web::resource("/api/agent/pair")
                        .route(actix_web::web::post().to(pairing::pair)),
                )
                .service(
                    actix_web::web::resource("/api/agent/commands")
                        .route(actix_web::web::get().to(commands::poll)),
                )
                .service(
                    actix_web::web::resource("/api/agent/commands/{id}")
                        .route(actix_web::web::post().to(commands::report)),
                )
                .service(
                    actix_web::web::resource("/api/agent/speedtest")
                        .route(actix_web::web::get().to(speed_test::download))
                        .route(actix_web::web::post().to(speed_test::upload)),
                );
        },
    )
}
