//! The `[redis]` section: the Redis server, the prefix of every key and the pool size.

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    /// `redis://host:port/db`; may hold a password, so it is a secret.
    pub url: SecretString,
    /// Every key this stack writes starts with it.
    pub prefix: String,
    pub max_connections: usize,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("redis://127.0.0.1:6379/0"),
            prefix: "boom".to_owned(),
            max_connections: 16,
        }
    }
}
