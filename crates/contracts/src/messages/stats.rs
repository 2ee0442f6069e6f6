//! Stats: booth agent → stats-ingest → STATS stream → gateway recorder. What an agent counted
//! (media, speed tests, paper) and the batch stats-ingest accepted from it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{BusMessage, Delivery};
use crate::domain::Hostname;
use crate::{MediaType, PhotomatonId, StreamKind};

/// Media counted by a booth agent over some moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MediaStat {
    #[serde(rename = "type")]
    pub media_type: MediaType,
    /// How many (a print trigger can be several copies). At least 1.
    #[schemars(range(min = 1))]
    pub count: i32,
    #[serde(
        serialize_with = "crate::vocabulary::rfc3339::serialize",
        deserialize_with = "crate::vocabulary::rfc3339::deserialize"
    )]
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
    pub hostname: Hostname,
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
    /// The printer as the agent saw it when it sent the batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printer: Option<crate::agent::PrinterReport>,
    /// Lines ingest refused one by one; `stats` holds the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refused: Vec<RefusedStat>,
}

/// A stat line ingest refused, kept for the booth page: where it was in the batch, why, and
/// the line as the agent sent it (JSON, cut to 1 KiB).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefusedStat {
    pub index: u32,
    pub reason: String,
    pub line: String,
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

/// What an agent did with a remote command, as it reported it to stats-ingest. The gateway
/// records it (a status never goes back) and pushes it as `photomaton:command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentCommandReported {
    pub photomaton_id: PhotomatonId,
    pub command_id: Uuid,
    pub status: crate::agent::CommandStatus,
    pub output: Option<String>,
    pub exit_code: Option<i32>,
    pub at: DateTime<Utc>,
}

impl BusMessage for AgentCommandReported {
    const SUBJECT: &'static str = "stats.command.reported";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Stats);
    const SUMMARY: &'static str =
        "stats-ingest: an agent started, finished or failed a remote command.";

    fn dedupe_id(&self) -> Option<String> {
        Some(format!("{}:{}", self.command_id, self.status.as_str()))
    }
}

/// An agent was heard from (it polled for commands), at most once a minute per booth: the
/// gateway keeps it as the booth's `agentSeenAt`, apart from the probes' router and PC state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSeen {
    pub photomaton_id: PhotomatonId,
    pub at: DateTime<Utc>,
}

impl BusMessage for AgentSeen {
    const SUBJECT: &'static str = "stats.agent.seen";
    const DELIVERY: Delivery = Delivery::Stream(StreamKind::Stats);
    const SUMMARY: &'static str =
        "stats-ingest: an agent polled for commands (once a minute at most).";

    fn dedupe_id(&self) -> Option<String> {
        Some(format!(
            "{}@{}",
            self.photomaton_id,
            self.at.timestamp() / 60
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Namespace;

    #[test]
    fn a_batch_is_deduplicated_by_its_batch_id() -> Result<(), crate::domain::InvalidValue> {
        let id = Uuid::new_v4();
        let batch = AgentBatchAccepted {
            batch_id: id,
            photomaton_id: PhotomatonId(3),
            hostname: "boom-03".parse()?,
            stats: vec![],
            paper_level: None,
            paper_reset_at: None,
            speedtest: None,
            backlog: None,
            agent_version: None,
            received_at: Utc::now(),
            printer: None,
            refused: Vec::new(),
        };
        assert_eq!(batch.dedupe_id(), Some(format!("3:{id}")));
        assert_eq!(
            AgentBatchAccepted::subject(&Namespace::default()),
            "boom.stats.batch.accepted"
        );
        Ok(())
    }

    #[test]
    fn a_stat_with_an_unknown_field_is_refused() {
        let json = r#"{"type":"PRINT","count":2,"timestamp":"2026-06-01T20:00:00Z","extra":1}"#;
        assert!(serde_json::from_str::<MediaStat>(json).is_err());
    }
}
