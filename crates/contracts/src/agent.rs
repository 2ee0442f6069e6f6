//! The HTTP contract between the booth agent and stats-ingest (`POST /api/agent/sync`),
//! shared by both sides so that they cannot drift apart.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Hostname;
use crate::messages::{PaperReset, SpeedTestSample};
use crate::{MediaType, PhotomatonId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentStat {
    /// Spelled in lowercase on this contract (`print`), unlike on the bus (`PRINT`).
    #[serde(rename = "type", with = "crate::vocabulary::media_lowercase")]
    #[schemars(schema_with = "crate::vocabulary::media_lowercase::schema")]
    pub kind: MediaType,
    pub count: i64,
    #[serde(deserialize_with = "crate::vocabulary::rfc3339::deserialize")]
    pub timestamp: DateTime<Utc>,
}

/// A stat line as ingest reads it: one that does not parse is refused on its own (with why),
/// never costing the batch its other lines. Read from JSON text only (see its `Deserialize`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum StatLine {
    Stat(AgentStat),
    Unreadable(serde_json::Value),
}

/// What `#[serde(untagged)]` would do, without its cost: untagged, every line of every batch
/// was first copied into serde's generic `Content` tree and then read again from it (a
/// tenth of stats-ingest's time). Here the line's JSON text is taken as it is and parsed as
/// an [`AgentStat`]; only a line that is not one becomes a `Value`.
impl<'de> Deserialize<'de> for StatLine {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        match serde_json::from_str::<AgentStat>(raw.get()) {
            Ok(stat) => Ok(Self::Stat(stat)),
            Err(_) => serde_json::from_str(raw.get())
                .map(Self::Unreadable)
                .map_err(D::Error::custom),
        }
    }
}

impl StatLine {
    /// The line as a stat, or why it is not one.
    pub fn parsed(&self) -> Result<&AgentStat, String> {
        match self {
            Self::Stat(stat) => Ok(stat),
            Self::Unreadable(value) => Err(serde_json::from_value::<AgentStat>(value.clone())
                .err()
                .map_or_else(|| "unreadable line".to_owned(), |e| e.to_string())),
        }
    }
}

/// `POST /api/agent/sync` body. The agent sends `AgentSync` (lines it wrote itself); ingest
/// reads `AgentSync<StatLine>`, so that an unreadable line is refused alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSync<S = AgentStat> {
    /// Chosen by the agent and kept across retries: the same batch is counted once.
    pub batch_id: Uuid,
    pub hostname: String,
    pub stats: Vec<S>,
    #[serde(default)]
    pub paper_level: Option<i64>,
    #[serde(default)]
    pub speedtest: Option<SpeedTestSample>,
    /// Events still waiting on the booth after this batch (an extension of the contract).
    #[serde(default)]
    pub backlog: Option<i64>,
    #[serde(default)]
    pub agent_version: Option<String>,
    /// When the paper counter behind `paperLevel` was last reset (an extension of the
    /// contract): a level counted before the dashboard's last reset is not taken.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper_reset_at: Option<DateTime<Utc>>,
    /// The printer as the agent last saw it (Windows spooler, or CUPS elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printer: Option<PrinterReport>,
}

/// What a booth's printer is doing, as its spooler says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrinterState {
    Ready,
    Printing,
    Offline,
    PaperOut,
    Error,
}

impl PrinterState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Printing => "printing",
            Self::Offline => "offline",
            Self::PaperOut => "paper_out",
            Self::Error => "error",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Ready,
            Self::Printing,
            Self::Offline,
            Self::PaperOut,
            Self::Error,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether a person must go to the booth: as urgent as a critical paper level.
    pub fn needs_attention(self) -> bool {
        matches!(self, Self::Offline | Self::PaperOut | Self::Error)
    }
}

/// The printer's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PrinterReport {
    pub name: String,
    pub state: PrinterState,
    /// What the spooler says beyond the state (`media-empty-error`, a paper jam…).
    #[serde(default)]
    pub detail: Option<String>,
    pub observed_at: DateTime<Utc>,
}

/// `GET /api/agent/commands` answer: what the dashboard asked of this booth lately. The agent
/// polls it and acts on what is newer than what it already did.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentCommands {
    /// The last new roll declared on the dashboard.
    pub paper_reset: Option<PaperReset>,
    /// The last time an installer asked for a speed test.
    pub speed_test_requested_at: Option<DateTime<Utc>>,
    /// Remote commands waiting for the agent (queued or sent, not expired), oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<QueuedCommand>,
}

/// A remote command for the agent: one of the command lines its own configuration names
/// (`agent.commands.<NAME>`); it refuses any other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueuedCommand {
    pub id: Uuid,
    pub command: String,
    pub expires_at: DateTime<Utc>,
}

/// Where a remote command stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CommandStatus {
    Queued,
    /// The agent has it and runs it.
    Sent,
    Succeeded,
    Failed,
    Expired,
}

impl CommandStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Queued,
            Self::Sent,
            Self::Succeeded,
            Self::Failed,
            Self::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }

    /// Whether nothing follows it.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Expired)
    }
}

/// The most of a command's output kept: the agent cuts what it sends, the gateway what it
/// stores (an agent of another version may send more).
pub const MAX_COMMAND_OUTPUT: usize = 4096;

/// Cuts `text` to at most `max` bytes, on a character boundary; whether it was cut.
pub fn truncate_output(text: &mut String, max: usize) -> bool {
    if text.len() <= max {
        return false;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    true
}

/// `POST /api/agent/commands/{id}` body: what the agent did with a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CommandReport {
    /// `sent` when it starts it, then `succeeded` or `failed`.
    pub status: CommandStatus,
    /// What it printed (standard output, then standard error), truncated by the agent.
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub exit_code: Option<i32>,
}

/// `POST /api/agent/sync` answer: 202 when accepted now, 200 when it already was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSyncAccepted {
    pub batch_id: Uuid,
    /// Media lines of the batch that were counted.
    pub accepted: usize,
    /// True when this batch had been accepted before (a retry).
    pub duplicate: bool,
    /// A new roll declared on the dashboard that this batch's counter does not know yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper_reset: Option<PaperReset>,
    /// Lines refused one by one (the rest of the batch was counted); shown on the booth page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedLine>,
}

/// A stat line ingest refused: its index in `stats`, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefusedLine {
    pub index: usize,
    pub reason: String,
}

/// `POST /api/agent/pair` body: a booth PC redeems the code shown on the booth page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentPair {
    pub code: String,
    /// What the PC calls itself (for the audit log; the booth keeps its registered name).
    pub hostname: String,
}

/// `POST /api/agent/pair` answer: the key the agent keeps in its data directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentPaired {
    pub photomaton_id: PhotomatonId,
    /// The booth's registered hostname: the agent sends its batches under this name.
    pub hostname: Hostname,
    pub api_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_spells_media_in_lowercase_and_nothing_else() -> Result<(), serde_json::Error> {
        let stat: AgentStat = serde_json::from_str(
            r#"{"type":"print","count":2,"timestamp":"2026-06-01T20:00:00Z"}"#,
        )?;
        assert_eq!(stat.kind, MediaType::Print);
        assert!(serde_json::to_string(&stat)?.contains(r#""type":"print""#));
        for other in ["PRINT", "prints", ""] {
            let json =
                format!(r#"{{"type":"{other}","count":2,"timestamp":"2026-06-01T20:00:00Z"}}"#);
            assert!(serde_json::from_str::<AgentStat>(&json).is_err(), "{other}");
        }
        Ok(())
    }

    #[test]
    fn command_output_is_cut_on_a_character_boundary() {
        let mut text = "é".repeat(10); // 20 bytes
        assert!(truncate_output(&mut text, 5));
        assert_eq!(text, "éé");
        let mut short = "ok".to_owned();
        assert!(!truncate_output(&mut short, 5));
        assert_eq!(short, "ok");
        assert_eq!(
            CommandStatus::parse("expired"),
            Some(CommandStatus::Expired)
        );
        assert_eq!(CommandStatus::parse("done"), None);
    }
}
