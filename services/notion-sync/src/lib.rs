//! notion-sync: reads the event planning from the Notion database and publishes event
//! upserts and completed syncs on JetStream, for the gateway to persist.
//!
//! It never writes PostgreSQL, and never logs the Notion token.

use boom_bus::{Bus, BusMetrics};
use boom_config::Settings;
use boom_server::{Application, Background, Check, Health};
use prometheus_client::registry::Registry;

pub const SERVICE: &str = "boom-notion-sync";

/// Builds notion-sync; its HTTP listener (`http.addr`) serves health and metrics.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut registry = Registry::default();
    let bus = Bus::connect(&settings.nats, SERVICE, BusMetrics::register(&mut registry)).await?;
    let health = Health::new(vec![
        Check::with("nats", bus.clone(), |bus| async move { bus.check().await }),
        Check::disk(std::env::temp_dir(), 256 << 20),
    ]);
    Application::launch(
        SERVICE,
        &settings.http.addr,
        &settings.http,
        health,
        registry,
        Background::new(),
        |_| {},
    )
}
