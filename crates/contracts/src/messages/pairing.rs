//! Pairing: stats-ingest → gateway. A booth PC redeemed a pairing code; the gateway, the only
//! writer of PostgreSQL, gives the booth the new agent key (its hash) and answers the booth's
//! registered hostname, which the agent uses from then on.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{BusMessage, BusRequest, Delivery};
use crate::PhotomatonId;
use crate::domain::Hostname;

/// Gives the booth a new agent key, in place of the one it had (if any).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PairingRequest {
    pub photomaton_id: PhotomatonId,
    /// SHA-256 (hex) of the new key; the key itself never leaves ingest and the agent.
    pub agent_key_sha256: String,
    /// What the PC calls itself, for the audit log.
    pub pc_hostname: String,
    /// The PC's address as ingest saw it, for the audit log.
    pub client_ip: Option<String>,
}

impl BusMessage for PairingRequest {
    const SUBJECT: &'static str = "rpc.gateway.pairing";
    const DELIVERY: Delivery = Delivery::Request;
    const SUMMARY: &'static str =
        "stats-ingest: a booth PC redeemed a pairing code; set its new agent key.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}

impl BusRequest for PairingRequest {
    type Reply = PairingReply;
    const QUEUE_GROUP: &'static str = "gateway";
}

/// The gateway's answer: the booth as registered, or why it could not be paired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PairingReply {
    pub photomaton_id: PhotomatonId,
    /// The booth's registered hostname; `None` when it could not be paired.
    pub hostname: Option<Hostname>,
    /// Why not, in English.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl BusMessage for PairingReply {
    const SUBJECT: &'static str = "rpc.gateway.pairing";
    const DELIVERY: Delivery = Delivery::Reply;
    const SUMMARY: &'static str = "gateway: the paired booth's hostname, or why not.";

    fn dedupe_id(&self) -> Option<String> {
        None
    }
}
