//! Alerts: the notifier opens and resolves them (ALERTS stream → gateway, which records them
//! and pushes `alert:updated`); a person acknowledges one on the dashboard (gateway → ALERTS
//! stream → notifier, which stops re-notifying it). The lifecycle is Alertmanager's and
//! Uptime Kuma's: open → acknowledged (by whom) → resolved by itself when the condition ends.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BusMessage, Delivery};
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
