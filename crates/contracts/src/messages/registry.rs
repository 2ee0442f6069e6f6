//! Registry: gateway → KV bucket → stats-ingest, photomaton-control, notion-sync. What the
//! other services know of a booth.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::PaperReset;
use crate::PhotomatonId;
use crate::domain::{Hostname, MacAddress, WakeTarget};

/// One booth as the other services need it, kept in the registry KV bucket under its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistryEntry {
    pub photomaton_id: PhotomatonId,
    pub name: String,
    pub hostname: Hostname,
    pub tailscale_ip: Option<String>,
    pub router_tailscale_ip: Option<String>,
    pub mac_address: Option<MacAddress>,
    /// `host:port` the magic packet goes to.
    pub wake_target: Option<WakeTarget>,
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
