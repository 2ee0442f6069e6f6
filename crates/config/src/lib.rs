//! Configuration of every LE BOOM program, one schema for the whole stack.
//!
//! Layers, later wins: built-in defaults, then an optional TOML file (`BOOM_CONFIG=path`),
//! then environment variables `BOOM__SECTION__KEY` (for example `BOOM__DATABASE__URL`).
//! Every program reads the same [`Settings`] and ignores the sections it does not use, so one
//! environment file serves the whole stack; but a key that no LE BOOM program knows is an
//! error naming that key, so a typo never passes silently. Secrets (tokens, keys, URLs that
//! may hold a password) are [`SecretString`]s and never printed.
//!
//! This crate reads configuration; it does not connect to anything.
//!
//! # Layout
//!
//! - `lib.rs`: [`Settings`], the schema of the whole stack, and [`ConfigError`].
//! - `load`: the layers (defaults, TOML file, environment), unknown-key detection and the
//!   checks that run before any program sees its settings.
//! - One module per section: `database`, `nats`, `redis`, `http`, `log`, `notion`, `agent`,
//!   `ingest`, `control`, `notify`, `events`, `oidc`, each with its defaults.

mod agent;
mod control;
mod database;
mod events;
mod http;
mod ingest;
mod load;
mod log;
mod nats;
mod notify;
mod notion;
mod oidc;
mod redis;

use std::net::SocketAddr;

pub use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

pub use agent::AgentSettings;
pub use control::{ControlSettings, WakeMode};
pub use database::DatabaseSettings;
pub use events::EventsSettings;
pub use http::HttpSettings;
pub use ingest::IngestSettings;
pub use log::{LogFormat, LogSettings};
pub use nats::NatsSettings;
pub use notify::NotifySettings;
pub use notion::{NotionProperties, NotionSettings};
pub use oidc::OidcSettings;
pub use redis::RedisSettings;

/// The environment variable that names the optional TOML file.
pub const CONFIG_FILE_VAR: &str = "BOOM_CONFIG";

/// Why configuration was refused. Each variant names the key at fault, in one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "unknown configuration key `{key}` (environment variable {env}): no LE BOOM program reads it"
    )]
    UnknownKey { key: String, env: String },
    #[error("invalid configuration key `{key}` (environment variable {env}): {reason}")]
    Invalid {
        key: String,
        env: String,
        reason: String,
    },
    #[error("configuration could not be read: {0}")]
    Source(String),
}

fn env_name(key: &str) -> String {
    format!("BOOM__{}", key.replace('.', "__").to_ascii_uppercase())
}

fn invalid(key: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        env: env_name(key),
        reason: reason.to_string(),
    }
}

/// The configuration of the whole stack.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub nats: NatsSettings,
    pub redis: RedisSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub notion: NotionSettings,
    pub agent: AgentSettings,
    pub ingest: IngestSettings,
    pub control: ControlSettings,
    pub notify: NotifySettings,
    pub events: EventsSettings,
    pub oidc: OidcSettings,
}

impl Settings {
    /// The listen address, checked by [`Settings::load`].
    pub fn http_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.http.addr.parse().map_err(|e| invalid("http.addr", e))
    }
}
