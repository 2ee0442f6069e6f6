//! Control: gateway ⇄ photomaton-control; probes → PROBES stream → gateway. Actions asked of a
//! booth, their outcome and progress, and the booths' probed connectivity.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BusMessage, BusRequest, Delivery};
use crate::{PhotomatonId, StreamKind, UserId};

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
