//! The `[database]` section: how the services reach PostgreSQL and size their pools.

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `postgres://user@host:port/db`; may hold a password, so it is a secret.
    pub url: SecretString,
    pub max_connections: usize,
    /// Every pooled connection sets this `statement_timeout`.
    pub statement_timeout_ms: u64,
    /// How long a request waits for a pooled connection before failing.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("postgres://postgres@127.0.0.1:5432/boom"),
            max_connections: 10,
            statement_timeout_ms: 10_000,
            acquire_timeout_ms: 5_000,
        }
    }
}
