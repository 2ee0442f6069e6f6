//! Registry: gateway → KV bucket → stats-ingest, photomaton-control, notion-sync. What the
//! other services know of a booth.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::PhotomatonId;
use crate::domain::{Hostname, MacAddress, WakeTarget};

/// One booth as the other services need it, kept in the registry KV bucket under its id.
/// Readers ignore fields they do not know: entries written by a gateway of another version
/// (during a rolling upgrade) still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
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
}
