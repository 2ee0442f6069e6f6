//! photomaton-control: wakes booth PCs (Wake-on-LAN through the booth's router) on request
//! over NATS, and probes routers and PCs, publishing connectivity changes.
//!
//! It never writes PostgreSQL: the gateway records and audits what it reports. Any number of
//! instances answer requests (queue group); only the holder of the `probe` lease probes.

pub mod actions;
pub mod probe;
pub mod prober;
pub mod wol;

use std::time::Duration;

use boom_bus::{Bus, BusMetrics, Lease, RegistryView};
use boom_config::Settings;
use boom_server::{Application, Background, Check, Health};
use prometheus_client::registry::Registry;

pub const SERVICE: &str = "boom-photomaton-control";

/// Builds photomaton-control; its HTTP listener (`http.addr`) serves health and metrics.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut registry = Registry::default();
    let bus = Bus::connect(&settings.nats, SERVICE, BusMetrics::register(&mut registry)).await?;
    let background = Background::new();
    background.spawn(bus.setup_streams());
    let (booths, follow) = RegistryView::follow(bus.clone(), background.cancel_token());
    background.spawn(|_| follow);
    let instance = format!("{}-{}", SERVICE, uuid::Uuid::new_v4().simple());
    let ttl = Duration::from_secs(settings.control.lease_ttl_secs);
    let (lease, campaign) = Lease::campaign(
        bus.clone(),
        "probe",
        instance,
        ttl,
        background.cancel_token(),
    );
    background.spawn(|_| campaign);
    let prober = prober::Prober::new(
        bus.clone(),
        booths.clone(),
        settings.control.clone(),
        prober::ProbeMetrics::register(&mut registry),
    );
    let controller = actions::Controller {
        bus: bus.clone(),
        booths: booths.clone(),
        settings: settings.control.clone(),
        icmp: prober.icmp,
    };
    background.spawn(|cancel| prober.run(lease, cancel));
    background.spawn({
        let bus = bus.clone();
        |cancel| async move {
            loop {
                let controller = controller.clone();
                let served = bus
                    .serve(
                        move |request| {
                            let controller = controller.clone();
                            async move { controller.handle(request).await }
                        },
                        cancel.clone(),
                    )
                    .await;
                match served {
                    Ok(()) => return,
                    Err(error) => {
                        tracing::warn!(%error, "cannot serve control requests yet, retrying");
                        tokio::select! {
                            () = cancel.cancelled() => return,
                            () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }
    });
    let health = Health::new(vec![
        Check::with("nats", bus.clone(), |bus| async move { bus.check().await }),
        Check::with("registry", booths.clone(), RegistryView::check),
        Check::temp_disk(),
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
