//! NATS for LE BOOM: one [`Bus`] per process wraps the async-nats client and JetStream.
//!
//! It owns the connection (retried in the background, so a service starts while NATS is
//! down and says so in its health check), the topology (streams with a dedupe window, the
//! gateway's durable pull consumers, KV buckets), typed publish (JSON body, `Nats-Msg-Id` from
//! the message's dedupe id, `traceparent` header) and typed consume (ack only after the
//! handler's side effect, nak with backoff on transient errors, term on poison messages, each
//! outcome counted in metrics). Subjects and names come from `boom_contracts`; this crate
//! decides nothing about what a message means.
//!
//! # Layout
//!
//! - `lib.rs`: the [`Bus`] itself, its connection and health check, [`BusError`].
//! - `topology`: streams, durable consumers and KV buckets, and their retention settings.
//! - `publish`: typed [`Bus::publish`] and [`Bus::request`] (headers, `Nats-Msg-Id`).
//! - `consume`: typed [`Bus::consume`], [`Bus::consume_groups`] and [`Bus::serve`], with
//!   [`HandleError`] and the ack / nak / term decisions.
//! - `lease`: single-active work across instances, through a lease in a KV bucket.
//! - `mirror`: a KV bucket kept in memory (loaded, then watched), for the two views below.
//! - `registry`: a local, watched index of the booth registry KV bucket.
//! - `agent_commands`: a local, watched copy of what the dashboard asks of each agent.
//! - `metrics`: counters of what was published and consumed.

pub mod agent_commands;
mod consume;
pub mod lease;
mod metrics;
mod mirror;
mod publish;
pub mod registry;
mod topology;

use std::time::Duration;

use async_nats::ConnectOptions;
use async_nats::jetstream;
use boom_config::NatsSettings;
use boom_contracts::Namespace;
use bytes::Bytes;

pub use agent_commands::AgentCommandsView;
pub use async_nats;
pub use consume::{DeadLetter, DeadLetters, HandleError, MAX_ATTEMPTS, Settle};
pub use lease::Lease;
pub use metrics::BusMetrics;
pub use registry::RegistryView;
pub use topology::{ACK_WAIT, DEDUPE_WINDOW, STREAM_MAX_AGE};

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("NATS is unreachable: {0}")]
    Connect(String),
    #[error("cannot encode or decode `{subject}`: {reason}")]
    Codec { subject: String, reason: String },
    #[error("cannot publish on `{subject}`: {reason}")]
    Publish { subject: String, reason: String },
    #[error("no service answers `{0}`: is it running?")]
    NoResponders(String),
    #[error("`{0}` did not answer in time")]
    Timeout(String),
    #[error("request on `{subject}` failed: {reason}")]
    Request { subject: String, reason: String },
    #[error("JetStream: {0}")]
    JetStream(String),
}

/// A connected (or connecting) bus.
#[derive(Debug, Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    namespace: Namespace,
    replicas: usize,
    request_timeout: Duration,
    metrics: BusMetrics,
    /// Where messages that can never be handled are set aside (see [`DeadLetters`]).
    dead_letters: Option<DeadLetters>,
    /// The ack wait of the durable consumers this bus creates ([`ACK_WAIT`] unless set).
    ack_wait: Duration,
}

impl Bus {
    /// Connects to NATS. Returns at once; while the server is unreachable the client keeps
    /// retrying, publishing fails with a clear error, and [`Bus::check`] reports it.
    pub async fn connect(
        settings: &NatsSettings,
        service: &str,
        metrics: BusMetrics,
    ) -> Result<Self, BusError> {
        let namespace =
            Namespace::new(&settings.prefix).map_err(|e| BusError::Connect(e.to_string()))?;
        // async-nats ignores credentials written in the URL: a service's NATS user
        // (`nats://gateway:<password>@nats:4222`, see deploy/nats/nats.conf) is passed on.
        let mut options = ConnectOptions::new();
        if let Ok(addr) = settings.url.parse::<async_nats::ServerAddr>()
            && let (Some(user), Some(password)) = (addr.username(), addr.password())
        {
            options = options.user_and_password(user.to_owned(), password.to_owned());
        }
        let client = options
            .name(format!("{service}/{}", namespace.prefix()))
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(3))
            .request_timeout(Some(Duration::from_millis(settings.request_timeout_ms)))
            .event_callback(|event| async move {
                tracing::info!(%event, "nats connection event");
            })
            .connect(settings.url.as_str())
            .await
            .map_err(|e| BusError::Connect(e.to_string()))?;
        // Give the first connection a moment, so that a service whose NATS is up is ready
        // when it starts listening; past that, it starts anyway and reports NATS down.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while client.connection_state() != async_nats::connection::State::Connected
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let jetstream = jetstream::new(client.clone());
        Ok(Self {
            client,
            jetstream,
            namespace,
            replicas: settings.replicas,
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            metrics,
            dead_letters: None,
            ack_wait: ACK_WAIT,
        })
    }

    /// This bus, setting aside the messages its consumers can never handle with `sink`
    /// instead of terminating them (see [`DeadLetters`]).
    #[must_use]
    pub fn with_dead_letters(mut self, sink: DeadLetters) -> Self {
        self.dead_letters = Some(sink);
        self
    }

    /// This bus, creating its durable consumers with `ack_wait` rather than [`ACK_WAIT`]
    /// (tests shorten it). A consumer that already exists keeps the one it was created with;
    /// consumers keep what they hold alive at a third of their own.
    #[must_use]
    pub fn with_ack_wait(mut self, ack_wait: Duration) -> Self {
        self.ack_wait = ack_wait;
        self
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Health: connected, and JetStream answers for this account.
    pub async fn check(&self) -> Result<(), BusError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(BusError::Connect("not connected".to_owned()));
        }
        // Asked raw: async-nats' typed account info expects fields that NATS 2.9 lacks.
        let reply = tokio::time::timeout(
            Duration::from_secs(2),
            self.client.request("$JS.API.INFO", Bytes::new()),
        )
        .await
        .map_err(|_| BusError::Timeout("JetStream account info".to_owned()))?
        .map_err(|e| BusError::JetStream(e.to_string()))?;
        let info: serde_json::Value = serde_json::from_slice(&reply.payload)
            .map_err(|e| BusError::JetStream(format!("account info: {e}")))?;
        if let Some(error) = info.get("error") {
            return Err(BusError::JetStream(format!(
                "JetStream unavailable: {error}"
            )));
        }
        Ok(())
    }
}
