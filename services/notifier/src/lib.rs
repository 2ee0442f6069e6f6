//! boom-notifier: opens and resolves alerts from the state changes the gateway already
//! broadcasts, and tells people on their channels (e-mail, Telegram, webhook).
//!
//! It never reads PostgreSQL. One instance at a time (the `notifier` lease) evaluates the rules
//! ([`rules`]) over the booth views of `gateway.live.update`, failed power-ons (PROBES stream),
//! Notion sync outcomes and acknowledgements, keeps open alerts in a KV bucket ([`book`]) and
//! announces each transition: `AlertChanged` for the gateway, one `DeliveryQueued` per channel.
//! Every instance delivers queued messages ([`deliver`]) and answers "send a test".
//!
//! # Layout
//!
//! - `rules`: which conditions hold for a booth (pure).
//! - `book`: the open alerts, their lifecycle and their announcements.
//! - `words`: the messages, French first, English on demand.
//! - `send`: SMTP, Telegram and webhook clients.
//! - `deliver`: the delivery worker (once per channel, retries, quiet hours).

pub mod book;
pub mod deliver;
pub mod rules;
pub mod send;
pub mod words;

use std::sync::Arc;
use std::time::Duration;

use boom_bus::{Bus, BusMetrics, HandleError, Lease};
use boom_config::{NotifySettings, Settings};
use boom_contracts::messages::{
    ActionPhase, AlertAcknowledged, ChannelTestRequest, FleetPage, FleetRequest, FrameKind,
    LiveUpdate, NotionSyncOutcome, PhotomatonActionProgress,
};
use boom_contracts::namespace::NOTIFIER_ACKS;
use boom_contracts::{BusMessage, PhotomatonId, StreamKind};
use boom_server::{Application, Background, Check, Health};
use futures::StreamExt;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::book::{BookMetrics, Engine, Input};
use crate::deliver::{Deliverer, DeliveryMetrics};
use crate::rules::BoothFacts;

pub const SERVICE: &str = "boom-notifier";
/// The notifier's consumer of power-on outcomes on the PROBES stream.
pub const NOTIFIER_ACTIONS: &str = "notifier-actions";

/// Builds the notifier; its HTTP listener (`http.addr`) serves health and metrics.
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let mut registry = Registry::default();
    let bus = Bus::connect(&settings.nats, SERVICE, BusMetrics::register(&mut registry)).await?;
    let background = Background::new();
    background.spawn(bus.setup_streams());
    // Checked now, so that a bad `notify.from` or SMTP URL stops the start with its reason.
    send::Senders::new(&settings.notify)?;
    let instance = format!("{SERVICE}-{}", uuid::Uuid::new_v4().simple());
    let (lease, campaign) = Lease::campaign(
        bus.clone(),
        "notifier",
        instance,
        Duration::from_secs(settings.notify.lease_ttl_secs),
        background.cancel_token(),
    );
    background.spawn(|_| campaign);
    let book_metrics = BookMetrics::register(&mut registry);
    let delivery_metrics = DeliveryMetrics::register(&mut registry);
    background.spawn({
        let (bus, notify) = (bus.clone(), settings.notify.clone());
        |cancel| lead(bus, notify, lease, book_metrics, cancel)
    });
    background.spawn({
        let (bus, notify) = (bus.clone(), settings.notify.clone());
        |cancel| deliver_until_cancelled(bus, notify, delivery_metrics, cancel)
    });
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

/// Retries `step` every second until it succeeds (its value) or `cancel` fires (`None`).
async fn retrying<T, F, Fut>(name: &str, cancel: &CancellationToken, mut step: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    while !cancel.is_cancelled() {
        match step().await {
            Ok(value) => return Some(value),
            Err(error) => {
                tracing::warn!(%error, task = name, "not running yet, retrying");
                tokio::select! {
                    () = cancel.cancelled() => return None,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    }
    None
}

/// Every instance: delivers queued messages and answers "send a test".
async fn deliver_until_cancelled(
    bus: Bus,
    settings: NotifySettings,
    metrics: DeliveryMetrics,
    cancel: CancellationToken,
) {
    let deliverer = retrying("deliveries", &cancel, || {
        let (bus, settings, metrics) = (bus.clone(), settings.clone(), metrics.clone());
        async move { Ok(Arc::new(Deliverer::new(bus, settings, metrics).await?)) }
    })
    .await;
    let Some(deliverer) = deliverer else {
        return;
    };
    let tests = {
        let (bus, deliverer, cancel) = (bus.clone(), deliverer.clone(), cancel.clone());
        async move {
            retrying("channel tests", &cancel, || {
                let (bus, deliverer, cancel) = (bus.clone(), deliverer.clone(), cancel.clone());
                async move {
                    bus.serve(
                        move |request: ChannelTestRequest| {
                            let deliverer = deliverer.clone();
                            async move { deliverer.test(request).await }
                        },
                        cancel,
                    )
                    .await?;
                    Ok(())
                }
            })
            .await;
        }
    };
    let deliveries = async {
        retrying("deliveries", &cancel, || {
            let (deliverer, cancel) = (deliverer.clone(), cancel.clone());
            async move {
                deliverer.run(cancel).await?;
                Ok(())
            }
        })
        .await;
    };
    futures::join!(tests, deliveries);
}

/// While this instance holds the lease: the engine and what feeds it.
async fn lead(
    bus: Bus,
    settings: NotifySettings,
    mut lease: Lease,
    metrics: BookMetrics,
    cancel: CancellationToken,
) {
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            () = lease.acquired() => {}
        }
        tracing::info!("evaluating alerts (notifier lease held)");
        let term = cancel.child_token();
        let engine = retrying("alert book", &term, || {
            let (bus, settings, metrics) = (bus.clone(), settings.clone(), metrics.clone());
            async move { Engine::load(bus, settings, metrics).await }
        })
        .await;
        let Some(engine) = engine else {
            return;
        };
        let (inputs, receiver) = mpsc::channel(4_096);
        // Listen first, then read the fleet: no change falls between the two.
        let (listening, heard) = tokio::sync::oneshot::channel();
        let tasks = vec![
            tokio::spawn(engine.run(receiver, term.clone())),
            tokio::spawn(listen(bus.clone(), inputs.clone(), listening, term.clone())),
            tokio::spawn({
                let (bus, inputs, term) = (bus.clone(), inputs.clone(), term.clone());
                let every = Duration::from_secs(settings.resync_secs);
                async move {
                    let _ = heard.await;
                    resync(bus, inputs, every, term).await;
                }
            }),
            tokio::spawn(actions(bus.clone(), inputs.clone(), term.clone())),
            tokio::spawn(acknowledgements(bus.clone(), inputs, term.clone())),
        ];
        tokio::select! {
            () = cancel.cancelled() => {}
            () = lease.lost() => tracing::warn!("notifier lease lost: another instance evaluates"),
        }
        term.cancel();
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// Booth views and Notion sync outcomes, as broadcast on core NATS; `listening` is told once
/// the server has the subscriptions.
async fn listen(
    bus: Bus,
    inputs: mpsc::Sender<Input>,
    listening: tokio::sync::oneshot::Sender<()>,
    cancel: CancellationToken,
) {
    let mut listening = Some(listening);
    retrying("live updates", &cancel, || {
        let (bus, inputs, cancel) = (bus.clone(), inputs.clone(), cancel.clone());
        let listening = listening.take();
        async move {
            let ns = bus.namespace();
            let mut live = bus
                .client()
                .subscribe(LiveUpdate::subject(ns))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut notion = bus
                .client()
                .subscribe(NotionSyncOutcome::subject(ns))
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            bus.client()
                .flush()
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if let Some(listening) = listening {
                let _ = listening.send(());
            }
            loop {
                let input = tokio::select! {
                    () = cancel.cancelled() => return Ok(()),
                    message = live.next() => match message {
                        Some(m) => booth_input(&m.payload),
                        None => anyhow::bail!("live subscription ended"),
                    },
                    message = notion.next() => match message {
                        Some(m) => serde_json::from_slice(&m.payload).ok().map(Input::Notion),
                        None => anyhow::bail!("Notion outcome subscription ended"),
                    },
                };
                if let Some(input) = input
                    && inputs.send(input).await.is_err()
                {
                    return Ok(());
                }
            }
        }
    })
    .await;
}

/// A live update about a booth, as the engine hears it.
fn booth_input(payload: &[u8]) -> Option<Input> {
    let update: LiveUpdate = serde_json::from_slice(payload).ok()?;
    if update.event != FrameKind::PhotomatonUpdated {
        return None;
    }
    if update.data["deleted"] == true {
        return update.photomaton_id.map(Input::Gone);
    }
    match serde_json::from_value::<BoothFacts>(update.data) {
        Ok(facts) => Some(Input::Booth(Box::new(facts))),
        Err(error) => {
            tracing::warn!(%error, "booth view not understood");
            None
        }
    }
}

/// The whole fleet from the gateway, now and every `every`: the starting point, and the net
/// under core NATS (which keeps nothing while a connection is down).
async fn resync(bus: Bus, inputs: mpsc::Sender<Input>, every: Duration, cancel: CancellationToken) {
    loop {
        match fleet(&bus).await {
            Ok(all) => {
                if inputs.send(Input::Fleet(all)).await.is_err() {
                    return;
                }
            }
            Err(error) => tracing::warn!(%error, "fleet not read from the gateway, will retry"),
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

async fn fleet(bus: &Bus) -> anyhow::Result<Vec<BoothFacts>> {
    let mut all = Vec::new();
    let mut offset = 0;
    loop {
        let page: FleetPage = bus.request(&FleetRequest { offset, limit: 200 }).await?;
        if let Some(error) = page.error {
            anyhow::bail!("the gateway could not read the fleet: {error}");
        }
        let read = u32::try_from(page.booths.len()).unwrap_or(u32::MAX);
        for view in page.booths {
            all.push(serde_json::from_value::<BoothFacts>(view)?);
        }
        offset += read;
        if read == 0 || offset >= page.total {
            return Ok(all);
        }
    }
}

/// Hands `input` to the engine and waits until it kept it: the bus message is acked only
/// then, so a takeover in between redelivers it.
async fn handed(
    inputs: &mpsc::Sender<Input>,
    input: Input,
    saved: tokio::sync::oneshot::Receiver<bool>,
) -> Result<(), HandleError> {
    inputs
        .send(input)
        .await
        .map_err(|_| HandleError::Transient("engine stopped".into()))?;
    match saved.await {
        Ok(true) => Ok(()),
        Ok(false) => Err(HandleError::Transient("alert book not saved yet".into())),
        Err(_) => Err(HandleError::Transient("engine stopped".into())),
    }
}

/// Power-ons that failed (PROBES stream, consumer `notifier-actions`).
async fn actions(bus: Bus, inputs: mpsc::Sender<Input>, cancel: CancellationToken) {
    retrying("power-on outcomes", &cancel, || {
        let (bus, inputs, cancel) = (bus.clone(), inputs.clone(), cancel.clone());
        async move {
            bus.consume(
                StreamKind::Probes,
                NOTIFIER_ACTIONS,
                |progress: PhotomatonActionProgress| {
                    let inputs = inputs.clone();
                    async move {
                        // The consumer starts at the stream's beginning (14 days): only a
                        // recent failure is news.
                        let recent =
                            chrono::Utc::now() - progress.at < chrono::Duration::minutes(10);
                        if progress.phase == ActionPhase::Failed && recent {
                            let (kept, saved) = tokio::sync::oneshot::channel();
                            let input = Input::PowerOnFailed(
                                PhotomatonId(progress.photomaton_id.0),
                                Some(progress.message),
                                kept,
                            );
                            handed(&inputs, input, saved).await?;
                        }
                        Ok(())
                    }
                },
                cancel,
            )
            .await?;
            Ok(())
        }
    })
    .await;
}

/// Acknowledgements from the dashboard (ALERTS stream, consumer `notifier-acks`).
async fn acknowledgements(bus: Bus, inputs: mpsc::Sender<Input>, cancel: CancellationToken) {
    retrying("acknowledgements", &cancel, || {
        let (bus, inputs, cancel) = (bus.clone(), inputs.clone(), cancel.clone());
        async move {
            bus.consume(
                StreamKind::Alerts,
                NOTIFIER_ACKS,
                |ack: AlertAcknowledged| {
                    let inputs = inputs.clone();
                    async move {
                        let (kept, saved) = tokio::sync::oneshot::channel();
                        handed(&inputs, Input::Acknowledged(ack.alert_id, kept), saved).await
                    }
                },
                cancel,
            )
            .await?;
            Ok(())
        }
    })
    .await;
}
