//! The alert book: every open alert, kept in the `<prefix>_alerts` KV bucket so that a
//! restart (or another instance taking the lease) neither reopens nor forgets one.
//!
//! One task owns the book ([`Engine::run`]) and reads its inputs from one channel: booth views,
//! the whole fleet, acknowledgements, Notion sync outcomes, failed power-ons and a tick. Each
//! alert moves open → (acknowledged) → resolved. A transition is first written to the record as
//! *pending*, then announced (`AlertChanged` to the gateway, one `DeliveryQueued` per channel),
//! then cleared: a crash in between leaves it pending, and it is announced again (JetStream drops
//! the copies by their ids) by whoever holds the lease next.

use std::collections::HashMap;
use std::time::Duration;

use async_nats::jetstream::kv;
use boom_bus::Bus;
use boom_config::NotifySettings;
use boom_contracts::PhotomatonId;
use boom_contracts::messages::{
    AlertChanged, AlertKind, AlertState, ChannelTarget, DeliveryQueued, DeliveryState,
    DeliveryUpdated, Notice, NotionSyncOutcome, Recipients, RecipientsRequest, Transition,
};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::rules::{self, BoothFacts, Detail, Memory};
use crate::words::{self, Subject};

/// Failed syncs in a row that open `notion_sync_failing`.
pub const NOTION_FAILURES: u32 = 3;

#[derive(Debug, Clone, Default)]
pub struct BookMetrics {
    pub open: Gauge,
    pub opened: Counter,
    pub resolved: Counter,
    pub queued: Counter,
}

impl BookMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register("boom_alerts_open", "Alerts open now", m.open.clone());
        registry.register("boom_alerts_opened", "Alerts opened", m.opened.clone());
        registry.register(
            "boom_alerts_resolved",
            "Alerts resolved",
            m.resolved.clone(),
        );
        registry.register(
            "boom_deliveries_queued",
            "Messages queued for a channel",
            m.queued.clone(),
        );
        m
    }
}

/// A transition decided but not yet announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "step")]
pub enum Pending {
    Open,
    Reminder,
    Resolved { at: DateTime<Utc> },
}

/// One open alert, as kept in the KV bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRecord {
    pub alert_id: Uuid,
    pub kind: AlertKind,
    pub photomaton_id: Option<PhotomatonId>,
    pub opened_at: DateTime<Utc>,
    pub detail: Detail,
    pub acknowledged: bool,
    /// Some channel was told it opened (not muted then): its end is told too.
    pub announced: bool,
    /// When people were last told (opening or reminder).
    pub notified_at: DateTime<Utc>,
    /// Reminders so far: part of each delivery's id.
    pub seq: u32,
    /// Since when the condition no longer holds (kinds that wait for calm).
    pub clear_since: Option<DateTime<Utc>>,
    pub pending: Option<Pending>,
}

/// The book's key of an alert: `<kind>.<photomaton id>` or `<kind>.fleet`.
pub fn key(kind: AlertKind, booth: Option<PhotomatonId>) -> String {
    match booth {
        Some(id) => format!("{}.{}", kind.as_str(), id.0),
        None => format!("{}.fleet", kind.as_str()),
    }
}

/// What the engine hears.
#[derive(Debug)]
pub enum Input {
    /// A booth view (`photomaton:updated`).
    Booth(Box<BoothFacts>),
    /// A booth deleted.
    Gone(PhotomatonId),
    /// Every booth: those not in it are gone.
    Fleet(Vec<BoothFacts>),
    /// Answered `true` once kept in the bucket (the message is acked only then).
    Acknowledged(Uuid, oneshot::Sender<bool>),
    Notion(NotionSyncOutcome),
    PowerOnFailed(PhotomatonId, Option<String>, oneshot::Sender<bool>),
}

/// The evaluator: rules, the book and the announcements.
#[derive(Debug)]
pub struct Engine {
    bus: Bus,
    settings: NotifySettings,
    store: kv::Store,
    book: HashMap<String, AlertRecord>,
    booths: HashMap<PhotomatonId, BoothFacts>,
    memory: Memory,
    notion_failures: u32,
    notion_error: Option<String>,
    notion_ok_seen: bool,
    /// After a failed announcement, pending ones are tried again from then on (not every
    /// tick: the gateway may be away, and each try waits for its answer).
    retry_pending_at: tokio::time::Instant,
    metrics: BookMetrics,
}

/// The pause after a failed announcement before pending ones are tried again.
const RETRY_PENDING: Duration = Duration::from_secs(10);

impl Engine {
    /// Loads the book from the bucket.
    pub async fn load(
        bus: Bus,
        settings: NotifySettings,
        metrics: BookMetrics,
    ) -> anyhow::Result<Self> {
        let store = bus
            .ensure_kv(&bus.namespace().alerts_bucket(), Duration::ZERO)
            .await?;
        let mut book = HashMap::new();
        let mut keys = store.keys().await?;
        while let Some(key) = keys.next().await {
            let key = key?;
            if let Some(value) = store.get(&key).await? {
                match serde_json::from_slice::<AlertRecord>(&value) {
                    Ok(record) => {
                        book.insert(key, record);
                    }
                    Err(error) => tracing::warn!(%key, %error, "unreadable alert record ignored"),
                }
            }
        }
        tracing::info!(open = book.len(), "alert book loaded");
        Ok(Self {
            bus,
            settings,
            store,
            book,
            booths: HashMap::new(),
            memory: Memory::default(),
            notion_failures: 0,
            notion_error: None,
            notion_ok_seen: false,
            retry_pending_at: tokio::time::Instant::now(),
            metrics,
        })
    }

    /// Evaluates inputs until `cancel` (the lease lost, or shutdown); every second, the whole
    /// fleet (conditions that hold long enough, reminders) and whatever is still pending.
    pub async fn run(mut self, mut inputs: mpsc::Receiver<Input>, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = cancel.cancelled() => return,
                input = inputs.recv() => match input {
                    Some(input) => self.hear(input).await,
                    None => return,
                },
                _ = tick.tick() => self.evaluate_all().await,
            }
        }
    }

    async fn hear(&mut self, input: Input) {
        let now = Utc::now();
        match input {
            Input::Booth(facts) => {
                let id = facts.id;
                self.booths.insert(id, *facts);
                self.evaluate_booth(id, now).await;
            }
            Input::Gone(id) => {
                self.booths.remove(&id);
                self.evaluate_booth(id, now).await;
            }
            Input::Fleet(all) => {
                let before: Vec<PhotomatonId> = self.booths.keys().copied().collect();
                let mut fleet: HashMap<PhotomatonId, BoothFacts> =
                    all.into_iter().map(|b| (b.id, b)).collect();
                // A live update heard after the fleet was read is newer: it stays.
                for (id, held) in &self.booths {
                    if let Some(read) = fleet.get_mut(id)
                        && held.updated_at > read.updated_at
                    {
                        *read = held.clone();
                    }
                }
                self.booths = fleet;
                // Booths gone, including those of alerts loaded from the bucket after a
                // takeover (deleted while no instance was evaluating): their alerts end.
                let mut gone: Vec<PhotomatonId> = before;
                gone.extend(self.book.values().filter_map(|r| r.photomaton_id));
                gone.sort_unstable_by_key(|id| id.0);
                gone.dedup();
                for id in gone {
                    if !self.booths.contains_key(&id) {
                        self.evaluate_booth(id, now).await;
                    }
                }
                self.evaluate_all().await;
            }
            Input::Acknowledged(alert, kept) => {
                let found = self
                    .book
                    .iter()
                    .find(|(_, r)| r.alert_id == alert)
                    .map(|(k, r)| (k.clone(), r.clone()));
                let saved = match found {
                    Some((key, mut record)) if !record.acknowledged => {
                        record.acknowledged = true;
                        self.save(&key, record).await
                    }
                    // Already taken, or resolved and gone.
                    _ => true,
                };
                let _ = kept.send(saved);
            }
            Input::Notion(outcome) => {
                if outcome.ok {
                    self.notion_failures = 0;
                    self.notion_ok_seen = true;
                } else {
                    self.notion_failures = self.notion_failures.saturating_add(1);
                    self.notion_error = outcome.error;
                }
                self.evaluate_notion(now).await;
            }
            Input::PowerOnFailed(id, error, kept) => {
                self.memory.power_on_failed.insert(id, error);
                self.evaluate_booth(id, now).await;
                let saved = self
                    .book
                    .get(&key(AlertKind::PowerOnFailed, Some(id)))
                    .is_none_or(|r| r.pending.is_none());
                let _ = kept.send(saved || !self.booths.contains_key(&id));
            }
        }
    }

    async fn evaluate_all(&mut self) {
        let now = Utc::now();
        let ids: Vec<PhotomatonId> = self.booths.keys().copied().collect();
        for id in ids {
            self.evaluate_booth(id, now).await;
        }
        self.evaluate_notion(now).await;
        // Transitions left pending by a failure (NATS, the gateway) are announced again.
        if tokio::time::Instant::now() >= self.retry_pending_at {
            let pending: Vec<String> = self
                .book
                .iter()
                .filter(|(_, r)| r.pending.is_some())
                .map(|(k, _)| k.clone())
                .collect();
            for key in pending {
                if !self.announce(&key).await {
                    break;
                }
            }
        }
        self.metrics
            .open
            .set(i64::try_from(self.book.len()).unwrap_or(i64::MAX));
    }

    async fn evaluate_booth(&mut self, id: PhotomatonId, now: DateTime<Utc>) {
        let held: Vec<String> = self
            .book
            .iter()
            .filter(|(_, r)| r.photomaton_id == Some(id))
            .map(|(k, _)| k.clone())
            .collect();
        let found = match self.booths.get(&id) {
            Some(facts) => {
                // A failed power-on survives a restart in the book, not in memory.
                let power_on = key(AlertKind::PowerOnFailed, Some(id));
                if let Some(record) = self.book.get(&power_on)
                    && !self.memory.power_on_failed.contains_key(&id)
                {
                    self.memory
                        .power_on_failed
                        .insert(id, record.detail.error.clone());
                }
                let down_open = self.book.contains_key(&key(AlertKind::BoothDown, Some(id)));
                rules::conditions(facts, now, &self.settings, &mut self.memory, down_open)
            }
            None => Vec::new(),
        };
        let mut holding = Vec::new();
        for (kind, detail) in found {
            let key = key(kind, Some(id));
            self.holds(&key, kind, Some(id), detail, now).await;
            holding.push(key);
        }
        for key in held {
            if !holding.contains(&key) {
                // A booth deleted has no calm to wait for.
                let gone = !self.booths.contains_key(&id);
                self.clears(&key, now, gone).await;
            }
        }
    }

    async fn evaluate_notion(&mut self, now: DateTime<Utc>) {
        let key = key(AlertKind::NotionSyncFailing, None);
        let failing = self.notion_failures >= NOTION_FAILURES
            || (self.book.contains_key(&key) && !self.notion_ok_seen);
        if failing {
            let detail = Detail {
                error: self.notion_error.clone(),
                ..Detail::default()
            };
            self.holds(&key, AlertKind::NotionSyncFailing, None, detail, now)
                .await;
        } else if self.book.contains_key(&key) {
            self.clears(&key, now, true).await;
        }
    }

    /// The condition of `key` holds at `now`.
    async fn holds(
        &mut self,
        key: &str,
        kind: AlertKind,
        booth: Option<PhotomatonId>,
        detail: Detail,
        now: DateTime<Utc>,
    ) {
        let record = match self.book.get(key) {
            None => {
                self.metrics.opened.inc();
                AlertRecord {
                    alert_id: Uuid::now_v7(),
                    kind,
                    photomaton_id: booth,
                    opened_at: now,
                    detail,
                    acknowledged: false,
                    announced: false,
                    notified_at: now,
                    seq: 0,
                    clear_since: None,
                    pending: Some(Pending::Open),
                }
            }
            Some(record) if record.pending.is_some() => return,
            Some(record) => {
                let mut next = record.clone();
                next.clear_since = None;
                let due = (now - record.notified_at).num_seconds()
                    >= i64::try_from(self.settings.renotify_secs).unwrap_or(i64::MAX);
                if due && !record.acknowledged {
                    next.detail = detail;
                    next.seq += 1;
                    next.notified_at = now;
                    next.pending = Some(Pending::Reminder);
                }
                if &next == record {
                    return;
                }
                next
            }
        };
        let announce = record.pending.is_some();
        self.save(key, record).await;
        if announce {
            self.announce(key).await;
        }
    }

    /// The condition of `key` no longer holds at `now`; `at_once` skips the calm period.
    async fn clears(&mut self, key: &str, now: DateTime<Utc>, at_once: bool) {
        let Some(record) = self.book.get(key) else {
            return;
        };
        if matches!(record.pending, Some(Pending::Resolved { .. })) {
            return;
        }
        let mut next = record.clone();
        let calm = i64::try_from(self.settings.clear_after_secs).unwrap_or(i64::MAX);
        if rules::needs_calm(record.kind) && !at_once {
            let since = *next.clear_since.get_or_insert(now);
            if (now - since).num_seconds() < calm {
                if &next != record {
                    self.save(key, next).await;
                }
                return;
            }
        }
        next.pending = Some(Pending::Resolved { at: now });
        self.save(key, next).await;
        self.announce(key).await;
    }

    /// Writes a record to the book and the bucket. A bucket that cannot be written keeps the
    /// record in memory: it is written with the next change, and the tick retries pending
    /// transitions meanwhile.
    async fn save(&mut self, key: &str, record: AlertRecord) -> bool {
        let kept = self.persist(key, &record).await;
        self.book.insert(key.to_owned(), record);
        kept
    }

    /// Writes a record to the bucket; `false` when it could not.
    async fn persist(&self, key: &str, record: &AlertRecord) -> bool {
        match serde_json::to_vec(record) {
            Ok(bytes) => match self.store.put(key, bytes.into()).await {
                Ok(_) => true,
                Err(error) => {
                    tracing::warn!(%key, %error, "alert record not saved yet");
                    false
                }
            },
            Err(error) => {
                tracing::error!(%key, %error, "alert record not encodable");
                false
            }
        }
    }

    /// Announces the pending transition of `key`; leaves it pending on failure (`false`).
    async fn announce(&mut self, key: &str) -> bool {
        let Some(record) = self.book.get(key).cloned() else {
            return true;
        };
        let Some(pending) = record.pending else {
            return true;
        };
        // The bucket holds the alert before any message about it is queued: a delivery that
        // finds no alert there takes it for resolved.
        if !self.persist(key, &record).await {
            self.retry_pending_at = tokio::time::Instant::now() + RETRY_PENDING;
            return false;
        }
        match self.announced(&record, pending).await {
            Ok(announced) => {
                if let Pending::Resolved { .. } = pending {
                    self.metrics.resolved.inc();
                    if let Err(error) = self.store.purge(key).await {
                        tracing::warn!(%key, %error, "resolved alert not purged from the bucket");
                    }
                    self.book.remove(key);
                } else {
                    let mut next = record;
                    next.pending = None;
                    next.announced |= announced;
                    self.save(key, next).await;
                }
                true
            }
            Err(error) => {
                tracing::warn!(%key, %error, "alert transition not announced yet, will retry");
                self.retry_pending_at = tokio::time::Instant::now() + RETRY_PENDING;
                false
            }
        }
    }

    /// Publishes the change and queues its messages; answers whether someone was told.
    async fn announced(&self, record: &AlertRecord, pending: Pending) -> anyhow::Result<bool> {
        let message = record.detail.english(record.kind);
        let (state, at) = match pending {
            Pending::Resolved { at } => (AlertState::Resolved, at),
            Pending::Open | Pending::Reminder => (AlertState::Open, record.notified_at),
        };
        // The gateway records openings and resolutions; a reminder changes nothing it keeps.
        if pending != Pending::Reminder {
            self.bus
                .publish(&AlertChanged {
                    alert_id: record.alert_id,
                    kind: record.kind,
                    photomaton_id: record.photomaton_id,
                    state,
                    message,
                    opened_at: record.opened_at,
                    at,
                })
                .await?;
        }
        let transition = match pending {
            Pending::Open => Transition::Open,
            // Muted when it opened: the first message people get says it opened.
            Pending::Reminder if !record.announced => Transition::Open,
            Pending::Reminder => Transition::Reminder,
            Pending::Resolved { .. } if !record.announced => return Ok(false),
            Pending::Resolved { .. } => Transition::Resolved,
        };
        let recipients: Recipients = self
            .bus
            .request(&RecipientsRequest {
                kind: record.kind,
                photomaton_id: record.photomaton_id,
            })
            .await?;
        if let Some(error) = recipients.error {
            anyhow::bail!("the gateway could not say whom to tell: {error}");
        }
        if let Some(until) = recipients.muted_until
            && until > Utc::now()
            && transition != Transition::Resolved
        {
            tracing::info!(alert = %record.alert_id, %until, "muted: nobody told");
            return Ok(false);
        }
        for channel in &recipients.channels {
            self.queue(record, transition, at, channel, &recipients)
                .await?;
        }
        Ok(true)
    }

    async fn queue(
        &self,
        record: &AlertRecord,
        transition: Transition,
        at: DateTime<Utc>,
        channel: &ChannelTarget,
        recipients: &Recipients,
    ) -> anyhow::Result<()> {
        let subject = Subject {
            kind: record.kind,
            transition,
            booth_name: recipients.booth_name.as_deref(),
            hostname: recipients.hostname.as_deref(),
            photomaton_id: record.photomaton_id.map(|p| p.0),
            detail: &record.detail,
            opened_at: record.opened_at,
            at,
            dashboard_url: &self.settings.dashboard_url,
        };
        let (title, text) = words::message(&subject, &channel.language);
        let delivery_id = format!(
            "{}:{}:{}:{}",
            record.alert_id,
            transition.as_str(),
            record.seq,
            channel.channel_id
        );
        let queued = DeliveryQueued {
            delivery_id: delivery_id.clone(),
            channel: channel.clone(),
            notice: Notice {
                alert_id: record.alert_id,
                kind: record.kind,
                transition,
                photomaton_id: record.photomaton_id,
                hostname: recipients.hostname.clone(),
                booth_name: recipients.booth_name.clone(),
                title,
                text,
                at,
            },
            queued_at: Utc::now(),
        };
        let duplicate = self.bus.publish(&queued).await?;
        if !duplicate {
            self.metrics.queued.inc();
            let update = DeliveryUpdated {
                delivery_id,
                alert_id: record.alert_id,
                transition,
                channel_id: channel.channel_id,
                channel_kind: channel.kind,
                target: channel.target.clone(),
                state: DeliveryState::Queued,
                attempts: 0,
                error: None,
                at: Utc::now(),
            };
            if let Err(error) = self.bus.publish(&update).await {
                tracing::debug!(%error, "queued state not reported");
            }
        }
        Ok(())
    }
}
