//! stats-ingest: the door for booth agents. It authenticates an agent's batch against the
//! booth registry (read from the bus), validates it, and answers only once the batch is
//! durable in JetStream; the gateway then records it exactly once.
//!
//! It never writes PostgreSQL; Redis only holds rate-limit counters.

use boom_bus::{Bus, BusMetrics};
use boom_cache::Cache;
use boom_config::Settings;
use boom_server::{Application, Background, Check, Health};
use prometheus_client::registry::Registry;

pub const SERVICE: &str = "boom-stats-ingest";

/// Builds stats-ingest on `http.addr`.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let cache = Cache::new(&settings.redis)?;
    let mut registry = Registry::default();
    let bus = Bus::connect(&settings.nats, SERVICE, BusMetrics::register(&mut registry)).await?;
    let background = Background::new();
    background.spawn({
        let bus = bus.clone();
        |cancel| async move {
            if let Err(error) = bus.ensure_streams_with_retry(&cancel).await {
                tracing::warn!(%error, "streams not created");
            }
        }
    });
    let health = Health::new(vec![
        Check::with("nats", bus.clone(), |bus| async move { bus.check().await }),
        Check::with(
            "redis",
            cache.clone(),
            |cache| async move { cache.ping().await },
        ),
        Check::disk(std::env::temp_dir(), 256 << 20),
    ]);
    Application::launch(
        SERVICE,
        &settings.http.addr,
        &settings.http,
        health,
        registry,
        background,
        |_| {},
    )
}
