//! Live: gateway → every gateway instance → WebSocket clients. The committed changes that
//! browsers are told about.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{BusMessage, Delivery};
use crate::PhotomatonId;

/// The name of a live message, as browsers receive it in `{"event": NAME, "data": …}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum FrameKind {
    #[serde(rename = "photomaton:updated")]
    PhotomatonUpdated,
    #[serde(rename = "events:updated")]
    EventsUpdated,
    #[serde(rename = "photomaton:action")]
    PhotomatonAction,
    /// A remote command's new status (queued, sent, succeeded, failed, expired).
    #[serde(rename = "photomaton:command")]
    PhotomatonCommand,
    /// Sent to a client that fell behind, after the state of every booth: frames were skipped
    /// while it was not reading, so the page reloads what else it shows (events, commands).
    #[serde(rename = "live:resync")]
    LiveResync,
    /// An alert opened, acknowledged or resolved.
    #[serde(rename = "alert:updated")]
    AlertUpdated,
}

/// A committed snapshot that every gateway instance forwards to its WebSocket clients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LiveUpdate {
    pub event: FrameKind,
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
