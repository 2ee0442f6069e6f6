//! Events: notion-sync → EVENTS stream → gateway. The active Notion pages, the end of a
//! complete sync, and the request to sync now with its summary.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BusMessage, BusRequest, Delivery};
use crate::{Namespace, PhotomatonId, StreamKind, UserId};

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
    /// The event's window (see `paris::event_window`): media made in `[start, end)` by its
    /// booth belong to it. Absent in messages of an older notion-sync: the gateway takes the
    /// day of `eventDate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_end: Option<DateTime<Utc>>,
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
