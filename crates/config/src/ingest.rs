//! The `[ingest]` section: the limits stats-ingest puts on what agents send.

use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IngestSettings {
    /// Sync requests one agent key may make per minute.
    pub rate_limit_per_minute: u32,
    /// The largest request body accepted (bytes).
    pub max_body_bytes: usize,
    /// The most stat lines one batch may carry.
    pub max_stats: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 120,
            max_body_bytes: 1 << 20,
            max_stats: 5_000,
        }
    }
}
