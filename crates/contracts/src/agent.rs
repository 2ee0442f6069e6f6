//! The HTTP contract between the booth agent and stats-ingest (`POST /api/agent/sync`),
//! shared by both sides so that they cannot drift apart.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::MediaType;
use crate::messages::{PaperReset, SpeedTestSample};

/// A kind of media as the agent reports it (lowercase on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentMediaKind {
    Session,
    Photo,
    Print,
    Digital,
    Gif,
}

impl From<AgentMediaKind> for MediaType {
    fn from(kind: AgentMediaKind) -> Self {
        match kind {
            AgentMediaKind::Session => MediaType::Session,
            AgentMediaKind::Photo => MediaType::Photo,
            AgentMediaKind::Print => MediaType::Print,
            AgentMediaKind::Digital => MediaType::Digital,
            AgentMediaKind::Gif => MediaType::Gif,
        }
    }
}

impl AgentMediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AgentMediaKind::Session => "session",
            AgentMediaKind::Photo => "photo",
            AgentMediaKind::Print => "print",
            AgentMediaKind::Digital => "digital",
            AgentMediaKind::Gif => "gif",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::Session,
            Self::Photo,
            Self::Print,
            Self::Digital,
            Self::Gif,
        ]
        .into_iter()
        .find(|k| k.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentStat {
    #[serde(rename = "type")]
    pub kind: AgentMediaKind,
    pub count: i64,
    pub timestamp: DateTime<Utc>,
}

/// `POST /api/agent/sync` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentSync {
    /// Chosen by the agent and kept across retries: the same batch is counted once.
    pub batch_id: Uuid,
    pub hostname: String,
    pub stats: Vec<AgentStat>,
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
}

/// `POST /api/agent/sync` answer: 202 when accepted now, 200 when it already was.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentSyncAccepted {
    pub batch_id: Uuid,
    /// Media lines in the batch.
    pub accepted: usize,
    /// True when this batch had been accepted before (a retry).
    pub duplicate: bool,
    /// A new roll declared on the dashboard that this batch's counter does not know yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paper_reset: Option<PaperReset>,
}
