//! The messages. Each implements [`BusMessage`]: its subject (under the stack's
//! [`Namespace`]), how it travels, and the id JetStream deduplicates it by.
//!
//! Fields are camelCase on the wire, like the HTTP API.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

use crate::{MediaType, Namespace, PhotomatonId, StreamKind, UserId};

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Kept in a JetStream stream and consumed by the gateway's durable consumer: the
    /// publisher knows it is durable once the stream acknowledged it.
    Stream(StreamKind),
    /// A request answered by one member of a queue group, with a reply of type `R`.
    Request,
    /// A reply to a request.
    Reply,
    /// Core NATS: fire and forget, every subscriber hears it.
    Broadcast,
}

/// A message that crosses NATS.
pub trait BusMessage: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The subject after the prefix: `<domain>.<entity>.<event>`.
    const SUBJECT: &'static str;
    const DELIVERY: Delivery;
    /// Which service publishes it, and what it means.
    const SUMMARY: &'static str;

    /// The `Nats-Msg-Id` under which JetStream drops a second copy. `None` for messages
    /// that are not kept in a stream.
    fn dedupe_id(&self) -> Option<String>;

    fn subject(ns: &Namespace) -> String {
        ns.subject(Self::SUBJECT)
    }

    /// What a consumer of this type pulls: its own subject, unless the type stands for
    /// several messages that must be handled in order (see [`NotionUpdate`]).
    fn filter(ns: &Namespace) -> String {
        Self::subject(ns)
    }
}

/// A request answered over NATS request/reply by a queue group of workers.
pub trait BusRequest: BusMessage {
    type Reply: BusMessage;
    /// The queue group the workers join so that each request is handled once.
    const QUEUE_GROUP: &'static str;
    /// How long the requester waits, when the stack's `nats.request_timeout_ms` is too short
    /// for the work (a Notion sync reads many pages at 3 requests per second).
    const TIMEOUT: Option<std::time::Duration> = None;
}

// ------------------------------------------------------------------------------------------
// Stats: booth agent → stats-ingest → STATS stream → gateway recorder.

/// Media counted by a booth agent over some moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediaStat {
    #[serde(rename = "type")]
    pub media_type: MediaType,
    /// How many (a print trigger can be several copies). At least 1.
    #[schemars(range(min = 1))]
    pub count: i32,
    pub timestamp: DateTime<Utc>,
}

/// A speed test measured by the agent: Mbit/s, Mbit/s, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpeedTestSample {
    pub download: f64,
    pub upload: f64,
    pub ping: f64,
}

/// A new paper roll declared on the dashboard: when, and the prints it holds. The agent
/// applies it when it learns of it: the roll minus what it printed since `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaperReset {
    pub at: DateTime<Utc>,
    pub prints: i32,
}

/// A batch that stats-ingest authenticated, validated and made durable. The gateway writes
/// it in one transaction with an accepted-batch row unique per `(photomaton, batchId)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentBatchAccepted {
    pub batch_id: Uuid,
    pub photomaton_id: PhotomatonId,
    pub hostname: String,
    pub stats: Vec<MediaStat>,
    /// Prints left on the roll, as the agent counts them.
    pub paper_level: Option<i32>,
    /// The last paper reset the agent had applied when it counted `paper_level`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper_reset_at: Option<DateTime<Utc>>,
    pub speedtest: Option<SpeedTestSample>,
    /// Events the agent still had buffered when it sent this batch.
    pub backlog: Option<i64>,
    pub agent_version: Option<String>,
    pub received_at: DateTime<Utc>,
}

impl BusMessage for AgentBatchAccepted {
    const SUBJECT: &'static str = "stats.batch.accepted";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Stats);
    const SUMMARY: &'static str = "stats-ingest: an agent batch was authenticated and validated; the gateway records it once.";

    /// Per booth: two booths that happened to pick the same UUID are two batches.
    fn dedupe_id(&self) -> Option<String> {
        Some(format!("{}:{}", self.photomaton_id, self.batch_id))
    }
}

// ------------------------------------------------------------------------------------------
// Events: notion-sync → EVENTS stream → gateway.

/// An event page that Notion lists as active ("En cours"), mapped through the configured
/// property names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventUpserted {
    pub notion_page_id: String,
    pub notion_last_edited: DateTime<Utc>,
    pub notion_url: Option<String>,
    pub client_name: String,
    pub event_type: Option<String>,
    pub event_date: Option<DateTime<Utc>>,
    pub album_name: Option<String>,
    /// The booth the page is assigned to, when it matched one of the registry.
    pub photomaton_id: Option<PhotomatonId>,
    /// The page as Notion returned it, kept as `notionData`.
    pub notion_data: serde_json::Value,
}

impl BusMessage for EventUpserted {
    const SUBJECT: &'static str = "notion.event.upserted";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Events);
    const SUMMARY: &'static str =
        "notion-sync: an active Notion page, to insert or update as an ACTIVE event.";

    fn dedupe_id(&self) -> Option<String> {
        Some(format!(
            "{}@{}",
            self.notion_page_id,
            self.notion_last_edited.timestamp_millis()
        ))
    }
}

/// A sync that read every page successfully: active events whose page is not listed are
/// now COMPLETED. A partial or failed sync never publishes this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotionSyncCompleted {
    pub sync_id: Uuid,
    pub active_page_ids: Vec<String>,
    pub finished_at: DateTime<Utc>,
}

impl BusMessage for NotionSyncCompleted {
    const SUBJECT: &'static str = "notion.sync.completed";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Events);
    const SUMMARY: &'static str =
        "notion-sync: a complete sync; events no longer listed become COMPLETED.";

    fn dedupe_id(&self) -> Option<String> {
        Some(self.sync_id.to_string())
    }
}

/// Everything notion-sync publishes, consumed in publication order by one consumer, so that a
/// completion is never applied before the upserts of the sync it closes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum NotionUpdate {
    Upserted(EventUpserted),
    Completed(NotionSyncCompleted),
}

impl BusMessage for NotionUpdate {
    const SUBJECT: &'static str = "notion.>";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Events);
    const SUMMARY: &'static str = "gateway: reads EventUpserted and NotionSyncCompleted in order.";

    fn dedupe_id(&self) -> Option<String> {
        match self {
            NotionUpdate::Upserted(m) => m.dedupe_id(),
            NotionUpdate::Completed(m) => m.dedupe_id(),
        }
    }

    fn filter(ns: &Namespace) -> String {
        ns.stream_subjects(StreamKind::Events)
    }
}

/// Asks notion-sync to sync now (`POST /api/notion/sync`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotionSyncRequest {
    pub requested_by: Option<UserId>,
}

impl BusMessage for NotionSyncRequest {
    const SUBJECT: &'static str = "rpc.notion.sync";
    const DELIVERY: Delivery = Delivery::Request;
    const SUMMARY: &'static str = "gateway: run a Notion sync now and answer its summary.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

impl BusRequest for NotionSyncRequest {
    type Reply = NotionSyncSummary;
    const QUEUE_GROUP: &'static str = "notion-sync";
    const TIMEOUT: Option<std::time::Duration> = Some(std::time::Duration::from_secs(120));
}

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NotionSyncSummary {
    pub pages_read: u32,
    pub upserted: u32,
    pub unchanged: u32,
    pub completed: u32,
    /// Pages whose booth matched nothing in the registry.
    pub unmatched: Vec<String>,
    pub errors: Vec<String>,
    pub duration_ms: u64,
}

impl BusMessage for NotionSyncSummary {
    const SUBJECT: &'static str = "rpc.notion.sync";
    const DELIVERY: Delivery = Delivery::Reply;
    const SUMMARY: &'static str = "notion-sync: the summary of the sync it just ran.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

// ------------------------------------------------------------------------------------------
// Control: gateway ⇄ photomaton-control; probes → PROBES stream → gateway.

/// What a user may ask of a booth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PhotomatonAction {
    PowerOn,
}

/// Asks photomaton-control to act on a booth.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlRequest {
    pub action_id: Uuid,
    pub photomaton_id: PhotomatonId,
    pub action: PhotomatonAction,
    pub requested_by: Option<UserId>,
}

impl BusMessage for ControlRequest {
    const SUBJECT: &'static str = "rpc.control.action";
    const DELIVERY: Delivery = Delivery::Request;
    const SUMMARY: &'static str = "gateway: act on a booth (power on) and answer what was done.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

impl BusRequest for ControlRequest {
    type Reply = ControlReply;
    const QUEUE_GROUP: &'static str = "photomaton-control";
    /// A relay command may take up to 20 s (SSH to a router on 4G).
    const TIMEOUT: Option<std::time::Duration> = Some(std::time::Duration::from_secs(30));
}

/// What photomaton-control did with a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ControlReply {
    pub action_id: Uuid,
    pub ok: bool,
    /// In English, for logs and scripts; the dashboard shows `code` in the user's language.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ActionCode>,
}

/// What happened to an action, for the dashboard to say in the user's language (with
/// `seconds` where the text needs it); `message` keeps the technical detail in English.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum ActionCode {
    /// Handed to photomaton-control.
    Sent,
    /// Magic packets sent (or the router asked); waiting for the PC to answer.
    Waking,
    /// The PC answered after `seconds`.
    PcAnswered,
    /// The PC did not answer within `seconds`.
    PcSilent,
    NotInRegistry,
    NoMacAddress,
    NoWakeTarget,
    BadSecureOnPassword,
    /// The magic packet could not be sent (`message` says why).
    SendFailed,
    /// The router's wake command failed (`message` says why).
    RelayFailed,
    /// photomaton-control is not running or did not answer.
    ControlUnavailable,
}

impl BusMessage for ControlReply {
    const SUBJECT: &'static str = "rpc.control.action";
    const DELIVERY: Delivery = Delivery::Reply;
    const SUMMARY: &'static str = "photomaton-control: the outcome of a control request.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

/// A booth's connectivity changed (or a rare heartbeat of a steady state).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhotomatonProbed {
    pub photomaton_id: PhotomatonId,
    pub router_connected: bool,
    pub pc_connected: bool,
    pub router_rtt_ms: Option<f64>,
    pub pc_rtt_ms: Option<f64>,
    pub observed_at: DateTime<Utc>,
}

impl BusMessage for PhotomatonProbed {
    const SUBJECT: &'static str = "control.photomaton.probed";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Probes);
    const SUMMARY: &'static str =
        "photomaton-control: router/PC connectivity changed, or a steady-state heartbeat.";

    fn dedupe_id(&self) -> Option<String> {
        Some(format!(
            "{}@{}",
            self.photomaton_id,
            self.observed_at.timestamp_millis()
        ))
    }
}

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionPhase {
    Pending,
    Succeeded,
    Failed,
}

/// Progress of an action on a booth, pushed to browsers as `photomaton:action`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhotomatonActionProgress {
    pub action_id: Uuid,
    pub photomaton_id: PhotomatonId,
    pub action: PhotomatonAction,
    pub phase: ActionPhase,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ActionCode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds: Option<u64>,
    pub at: DateTime<Utc>,
}

impl BusMessage for PhotomatonActionProgress {
    const SUBJECT: &'static str = "control.photomaton.action";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Probes);
    const SUMMARY: &'static str =
        "photomaton-control: an action moved on (pending, then succeeded or failed).";

    fn dedupe_id(&self) -> Option<String> {
        Some(format!("{}:{:?}", self.action_id, self.phase))
    }
}

// ------------------------------------------------------------------------------------------
// Registry: gateway → KV bucket → stats-ingest, photomaton-control, notion-sync.

/// One booth as the other services need it, kept in the registry KV bucket under its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryEntry {
    pub photomaton_id: PhotomatonId,
    pub name: String,
    pub hostname: String,
    pub tailscale_ip: Option<String>,
    pub router_tailscale_ip: Option<String>,
    pub mac_address: Option<String>,
    /// `host:port` the magic packet goes to.
    pub wake_target: Option<String>,
    /// SHA-256 (hex) of the agent key. Keys are 256-bit random, so a fast hash is enough
    /// and lets ingest check every request cheaply.
    pub agent_key_sha256: Option<String>,
    /// The last new roll declared on the dashboard, for ingest to hand to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper_reset: Option<PaperReset>,
    /// The last time an installer asked for a speed test, for ingest to hand to the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_test_requested_at: Option<DateTime<Utc>>,
}

// ------------------------------------------------------------------------------------------
// Live: gateway → every gateway instance → WebSocket clients.

/// The name of a live message, as browsers receive it in `{"event": NAME, "data": …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum LiveEvent {
    #[serde(rename = "photomaton:updated")]
    PhotomatonUpdated,
    #[serde(rename = "events:updated")]
    EventsUpdated,
    #[serde(rename = "photomaton:action")]
    PhotomatonAction,
}

/// A committed snapshot that every gateway instance forwards to its WebSocket clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiveUpdate {
    pub event: LiveEvent,
    /// The booth concerned, for rooms (`photomaton:ID`); `None` for fleet-wide news.
    pub photomaton_id: Option<PhotomatonId>,
    /// The resource as the HTTP API represents it.
    pub data: serde_json::Value,
}

impl BusMessage for LiveUpdate {
    const SUBJECT: &'static str = "gateway.live.update";
    const DELIVERY: Delivery = Delivery::Broadcast;
    const SUMMARY: &'static str =
        "gateway: a committed change, fanned out by every gateway instance to its browsers.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_deduplicated_by_its_batch_id() {
        let id = Uuid::new_v4();
        let batch = AgentBatchAccepted {
            batch_id: id,
            photomaton_id: PhotomatonId(3),
            hostname: "boom-03".into(),
            stats: vec![],
            paper_level: None,
            paper_reset_at: None,
            speedtest: None,
            backlog: None,
            agent_version: None,
            received_at: Utc::now(),
        };
        assert_eq!(batch.dedupe_id(), Some(format!("3:{id}")));
        assert_eq!(
            AgentBatchAccepted::subject(&Namespace::default()),
            "boom.stats.batch.accepted"
        );
    }

    #[test]
    fn rpc_subjects_stay_outside_every_stream() {
        // A stream that captured a request subject would answer the request itself.
        for subject in [
            NotionSyncRequest::SUBJECT,
            ControlRequest::SUBJECT,
            LiveUpdate::SUBJECT,
        ] {
            for kind in StreamKind::ALL {
                assert!(
                    !subject.starts_with(&format!("{}.", kind.domain())),
                    "{subject}"
                );
            }
        }
    }

    #[test]
    fn a_stat_with_an_unknown_field_is_refused() {
        let json = r#"{"type":"PRINT","count":2,"timestamp":"2026-06-01T20:00:00Z","extra":1}"#;
        assert!(serde_json::from_str::<MediaStat>(json).is_err());
    }
}
