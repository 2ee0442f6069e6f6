//! Alerts: the notifier opens and resolves them (ALERTS stream → gateway, which records them
//! and pushes `alert:updated`); a person acknowledges one on the dashboard (gateway → ALERTS
//! stream → notifier, which stops re-notifying it). The lifecycle is Alertmanager's and
//! Uptime Kuma's: open → acknowledged (by whom) → resolved by itself when the condition ends.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BusMessage, BusRequest, Delivery};
use crate::{PhotomatonId, StreamKind, UserId};

/// What an alert is about (SPEC §4b).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    PaperWarning,
    PaperCritical,
    /// The router or the PC unreachable for `notify.down_after_secs` while an event is ACTIVE.
    BoothDown,
    /// No agent contact for `notify.silent_after_secs` while the PC answers.
    AgentSilent,
    PrinterError,
    PowerOnFailed,
    /// Three Notion syncs in a row failed.
    NotionSyncFailing,
}

impl AlertKind {
    pub const ALL: [AlertKind; 7] = [
        AlertKind::PaperWarning,
        AlertKind::PaperCritical,
        AlertKind::BoothDown,
        AlertKind::AgentSilent,
        AlertKind::PrinterError,
        AlertKind::PowerOnFailed,
        AlertKind::NotionSyncFailing,
    ];

    /// The name on the wire and in SQL.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::PaperWarning => "paper_warning",
            AlertKind::PaperCritical => "paper_critical",
            AlertKind::BoothDown => "booth_down",
            AlertKind::AgentSilent => "agent_silent",
            AlertKind::PrinterError => "printer_error",
            AlertKind::PowerOnFailed => "power_on_failed",
            AlertKind::NotionSyncFailing => "notion_sync_failing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Where an alert stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Open,
    /// Seen by a person: no more re-notifications; still open until the condition ends.
    Acknowledged,
    Resolved,
}

impl AlertState {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            AlertState::Open,
            AlertState::Acknowledged,
            AlertState::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// An alert the notifier opened or resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertChanged {
    pub alert_id: Uuid,
    pub kind: AlertKind,
    /// The booth concerned; `None` for fleet-wide alerts (Notion).
    pub photomaton_id: Option<PhotomatonId>,
    /// `open` or `resolved` (a person acknowledges, see [`AlertAcknowledged`]).
    pub state: AlertState,
    /// In English, for logs and scripts; the dashboard words it from `kind`.
    pub message: String,
    pub opened_at: DateTime<Utc>,
    /// When this change happened.
    pub at: DateTime<Utc>,
}

impl BusMessage for AlertChanged {
    const SUBJECT: &'static str = "alerts.alert.changed";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Alerts);
    const SUMMARY: &'static str = "boom-notifier: an alert opened or resolved; the gateway records it and pushes alert:updated.";

    fn dedupe_id(&self) -> Option<String> {
        Some(format!("{}:{}", self.alert_id, self.state.as_str()))
    }
}

/// A person acknowledged an alert on the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertAcknowledged {
    pub alert_id: Uuid,
    pub by: UserId,
    pub by_name: String,
    pub at: DateTime<Utc>,
}

impl BusMessage for AlertAcknowledged {
    const SUBJECT: &'static str = "alerts.alert.acknowledged";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Alerts);
    const SUMMARY: &'static str =
        "gateway: a person acknowledged an alert; boom-notifier stops re-notifying it.";

    fn dedupe_id(&self) -> Option<String> {
        Some(format!("{}:acknowledged", self.alert_id))
    }
}

/// A notification channel: where one person wants to hear of which alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    /// `target` is an e-mail address; sent through `notify.smtp_url`.
    Email,
    /// `target` is a Telegram chat id; sent through the bot `notify.telegram_bot_token`.
    Telegram,
    /// `target` is an `http(s)` URL that receives a JSON POST.
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] = [
        ChannelKind::Email,
        ChannelKind::Telegram,
        ChannelKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Telegram => "telegram",
            ChannelKind::Webhook => "webhook",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }
}

/// Hours during which a channel is not used; what falls in them waits for their end.
/// Times of day in the company's time zone (Europe/Paris), `HH:MM`; `from > to` spans midnight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuietHours {
    pub from: String,
    pub to: String,
}

/// A channel as the notifier uses it: who, where, in which language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelTarget {
    pub channel_id: Uuid,
    pub user_id: UserId,
    pub kind: ChannelKind,
    pub target: String,
    /// `fr` or `en`: the person's language on the dashboard.
    pub language: String,
    pub quiet_hours: Option<QuietHours>,
}

/// What a delivery tells about its alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    Open,
    /// Still open and nobody acknowledged it: told again every `notify.renotify_secs`.
    Reminder,
    Resolved,
    /// "Send a test" from the dashboard.
    Test,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::Open => "open",
            Transition::Reminder => "reminder",
            Transition::Resolved => "resolved",
            Transition::Test => "test",
        }
    }
}

/// What a delivery says, worded in the recipient's language when it was queued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Notice {
    pub alert_id: Uuid,
    pub kind: AlertKind,
    pub transition: Transition,
    pub photomaton_id: Option<PhotomatonId>,
    pub hostname: Option<String>,
    pub booth_name: Option<String>,
    /// One line: the e-mail's subject, the first line of a Telegram message.
    pub title: String,
    /// The whole message, with a link to the booth page.
    pub text: String,
    /// When the transition happened.
    pub at: DateTime<Utc>,
}

/// One message to send on one channel: recorded in the ALERTS stream before it is sent, then
/// sent by a notifier instance (retried with backoff, deferred through quiet hours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryQueued {
    /// `<alertId>:<transition>:<sequence>:<channelId>`: the same delivery is queued once.
    pub delivery_id: String,
    pub channel: ChannelTarget,
    pub notice: Notice,
    pub queued_at: DateTime<Utc>,
}

impl BusMessage for DeliveryQueued {
    const SUBJECT: &'static str = "alerts.delivery.queued";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Alerts);
    const SUMMARY: &'static str =
        "boom-notifier: a message to send on one channel, kept until it was sent (or given up).";

    fn dedupe_id(&self) -> Option<String> {
        Some(self.delivery_id.clone())
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    /// Waiting for the end of the channel's quiet hours.
    Deferred,
    /// The channel failed or timed out; tried again later.
    Retrying,
    Sent,
    /// Given up after `notify.max_attempts`, or not sendable (no SMTP server configured…).
    Failed,
    /// Not sent, on purpose (an alert resolved before a deferred "open" went out).
    Skipped,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Queued => "queued",
            DeliveryState::Deferred => "deferred",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Sent => "sent",
            DeliveryState::Failed => "failed",
            DeliveryState::Skipped => "skipped",
        }
    }
}

/// A delivery moved on; the gateway records it so that people see where messages went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliveryUpdated {
    pub delivery_id: String,
    pub alert_id: Uuid,
    pub transition: Transition,
    pub channel_id: Uuid,
    pub channel_kind: ChannelKind,
    pub target: String,
    pub state: DeliveryState,
    /// Attempts so far.
    pub attempts: u32,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

impl BusMessage for DeliveryUpdated {
    const SUBJECT: &'static str = "alerts.delivery.updated";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Alerts);
    const SUMMARY: &'static str = "boom-notifier: a delivery was sent, deferred, retried or given up; the gateway records it.";

    fn dedupe_id(&self) -> Option<String> {
        Some(format!(
            "{}:{}:{}",
            self.delivery_id,
            self.state.as_str(),
            self.attempts
        ))
    }
}

/// Asks the gateway whom to tell of an alert, and whether its booth is muted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecipientsRequest {
    pub kind: AlertKind,
    pub photomaton_id: Option<PhotomatonId>,
}

impl BusMessage for RecipientsRequest {
    const SUBJECT: &'static str = "rpc.gateway.recipients";
    const DELIVERY: Delivery = Delivery::Request;
    const SUMMARY: &'static str =
        "boom-notifier: the channels that want this kind of alert, and any maintenance window.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

impl BusRequest for RecipientsRequest {
    type Reply = Recipients;
    const QUEUE_GROUP: &'static str = "gateway";
}

/// The gateway's answer: an `error` when it could not read the database (asked again later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Recipients {
    pub channels: Vec<ChannelTarget>,
    /// The maintenance window in force for this booth (or the fleet), if any: nothing is sent.
    pub muted_until: Option<DateTime<Utc>>,
    pub booth_name: Option<String>,
    pub hostname: Option<String>,
    pub error: Option<String>,
}

impl BusMessage for Recipients {
    const SUBJECT: &'static str = "rpc.gateway.recipients";
    const DELIVERY: Delivery = Delivery::Reply;
    const SUMMARY: &'static str = "gateway: the recipients of an alert.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

/// Asks the gateway for a page of booth views (as `GET /api/photomatons` shows them): the
/// notifier's starting point, and its periodic check that it missed no live update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetRequest {
    pub offset: u32,
    pub limit: u32,
}

impl BusMessage for FleetRequest {
    const SUBJECT: &'static str = "rpc.gateway.fleet";
    const DELIVERY: Delivery = Delivery::Request;
    const SUMMARY: &'static str = "boom-notifier: a page of the fleet's booth views.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

impl BusRequest for FleetRequest {
    type Reply = FleetPage;
    const QUEUE_GROUP: &'static str = "gateway";
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetPage {
    pub booths: Vec<serde_json::Value>,
    pub total: u32,
    pub error: Option<String>,
}

impl BusMessage for FleetPage {
    const SUBJECT: &'static str = "rpc.gateway.fleet";
    const DELIVERY: Delivery = Delivery::Reply;
    const SUMMARY: &'static str = "gateway: a page of booth views.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

/// "Send a test" on the dashboard: the notifier sends one message on the channel now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelTestRequest {
    pub channel: ChannelTarget,
}

impl BusMessage for ChannelTestRequest {
    const SUBJECT: &'static str = "rpc.notifier.test";
    const DELIVERY: Delivery = Delivery::Request;
    const SUMMARY: &'static str = "gateway: send a test message on one channel now.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

impl BusRequest for ChannelTestRequest {
    type Reply = ChannelTestReply;
    const QUEUE_GROUP: &'static str = "notifier";
    /// One send, bounded by `notify.send_timeout_ms` (10 s by default).
    const TIMEOUT: Option<std::time::Duration> = Some(std::time::Duration::from_secs(20));
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChannelTestReply {
    pub sent: bool,
    pub error: Option<String>,
}

impl BusMessage for ChannelTestReply {
    const SUBJECT: &'static str = "rpc.notifier.test";
    const DELIVERY: Delivery = Delivery::Reply;
    const SUMMARY: &'static str = "boom-notifier: whether the test message was sent.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

/// The outcome of every Notion sync, successful or not (core NATS): the notifier opens
/// `notion_sync_failing` after three failures in a row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotionSyncOutcome {
    pub ok: bool,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

impl BusMessage for NotionSyncOutcome {
    const SUBJECT: &'static str = "status.notion.sync";
    const DELIVERY: Delivery = Delivery::Broadcast;
    const SUMMARY: &'static str =
        "notion-sync: a sync ended, well or not; boom-notifier counts failures in a row.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}
