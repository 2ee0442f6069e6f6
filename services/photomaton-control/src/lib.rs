//! photomaton-control: wakes booth PCs (Wake-on-LAN through the booth's router) on request
//! over NATS, and probes routers and PCs, publishing connectivity changes.
//!
//! It never writes PostgreSQL: the gateway records and audits what it reports.

use boom_bus::{Bus, BusMetrics};
use boom_config::Settings;
use boom_server::{Application, Background, Check, Health};
use prometheus_client::registry::Registry;

pub const SERVICE: &str = "boom-photomaton-control";

/// Builds photomaton-control; its HTTP listener (`http.addr`) serves health and metrics.
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
