//! The `[nats]` section: the NATS server, the namespace of the stack's subjects, streams and
//! buckets, and request timeouts.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NatsSettings {
    pub url: String,
    /// The namespace of subjects, streams and buckets (see `boom_contracts::Namespace`).
    pub prefix: String,
    /// Copies of each stream: 1 on one server, 3 on a cluster.
    pub replicas: usize,
    pub request_timeout_ms: u64,
    /// Seconds between the gateway's full reconciliations of the booth registry buckets.
    pub registry_reconcile_secs: u64,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_owned(),
            prefix: "boom".to_owned(),
            replicas: 1,
            request_timeout_ms: 5_000,
            registry_reconcile_secs: 60,
        }
    }
}
