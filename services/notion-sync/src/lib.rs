//! notion-sync: reads the event planning from the Notion database and publishes event
//! upserts and completed syncs on JetStream, for the gateway to persist.
//!
//! It never writes PostgreSQL, and never logs the Notion token. Only the instance holding the
//! `notion-sync` lease syncs, on schedule and on request (`<prefix>.rpc.notion.sync`), so any
//! number of replicas sync once.

pub mod client;
pub mod mapping;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use boom_bus::{Bus, BusMetrics, Lease, RegistryView};
use boom_config::Settings;
use boom_contracts::messages::NotionSyncRequest;
use boom_server::{Application, Background, Check, Health};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

pub const SERVICE: &str = "boom-notion-sync";

/// How long the lease outlives a holder that stopped renewing it.
const LEASE_TTL: Duration = Duration::from_secs(30);

/// Builds notion-sync; its HTTP listener (`http.addr`) serves health and metrics.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut registry = Registry::default();
    let bus = Bus::connect(&settings.nats, SERVICE, BusMetrics::register(&mut registry)).await?;
    let background = Background::new();
    background.spawn(bus.setup_streams());
    let (booths, follow) = RegistryView::follow(bus.clone(), background.cancel_token());
    background.spawn(|_| follow);
    if settings.notion.token.is_none() || settings.notion.database_id.is_none() {
        tracing::warn!(
            "notion.token or notion.database_id not set: syncs will report it and do nothing"
        );
    }
    let mut syncer = sync::Syncer::new(
        settings.notion.clone(),
        bus.clone(),
        booths.clone(),
        sync::SyncMetrics::register(&mut registry),
    )?;
    syncer.overrun_hours = settings.events.overrun_hours;
    let syncer = Arc::new(syncer);
    let instance = format!("{SERVICE}-{}", uuid::Uuid::new_v4().simple());
    let (lease, campaign) = Lease::campaign(
        bus.clone(),
        "notion-sync",
        instance,
        LEASE_TTL,
        background.cancel_token(),
    );
    background.spawn(|_| campaign);
    let interval = Duration::from_secs(settings.notion.sync_interval_secs);
    background.spawn(|cancel| lead(bus.clone(), booths.clone(), syncer, lease, interval, cancel));
    let health = Health::new(vec![
        Check::with("nats", bus.clone(), |bus| async move { bus.check().await }),
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

/// While this instance holds the lease: sync on schedule and answer sync requests.
async fn lead(
    bus: Bus,
    booths: RegistryView,
    syncer: Arc<sync::Syncer>,
    mut lease: Lease,
    interval: Duration,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = lease.acquired() => {}
        }
        let term = cancel.child_token();
        let serving = {
            let (bus, syncer, term) = (bus.clone(), syncer.clone(), term.clone());
            tokio::spawn(async move {
                let handler = move |_: NotionSyncRequest| {
                    let syncer = syncer.clone();
                    async move { syncer.run().await }
                };
                if let Err(error) = bus.serve(handler, term).await {
                    tracing::warn!(%error, "cannot serve sync requests");
                }
            })
        };
        // Matching booths needs the registry: wait for it briefly before the first sync.
        for _ in 0..50 {
            if booths.is_loaded() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        loop {
            syncer.run().await;
            tokio::select! {
                () = cancel.cancelled() => break,
                () = lease.lost() => break,
                () = tokio::time::sleep(interval) => {}
            }
        }
        term.cancel();
        let _ = serving.await;
    }
}
