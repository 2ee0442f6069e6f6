//! The NATS namespace of one LE BOOM stack. Every subject, stream, consumer and KV bucket
//! name is derived from one prefix (`BOOM__NATS__PREFIX`, default `boom`), so that several
//! stacks (or several tests) share one NATS server without seeing each other.
//!
//! Subjects follow `<prefix>.<domain>.<entity>.<event>`. Stream and bucket names cannot
//! contain dots, so they are `<PREFIX>_<NAME>` in capitals and `<prefix>_<name>`.

use serde::Serialize;

/// A prefix that cannot be used as a subject token and a stream-name part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "NATS prefix `{0}` is invalid: use 1 to 32 ASCII letters, digits, `_` or `-`, starting with a letter"
)]
pub struct NamespaceError(pub String);

/// The JetStream streams of a stack. Each one is consumed by the gateway, which alone writes
/// PostgreSQL; the ALERTS stream also carries the notifier's own work (queued deliveries,
/// acknowledgements), which the notifier consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum StreamKind {
    /// Agent batches accepted by stats-ingest.
    Stats,
    /// Event upserts and sync completions from notion-sync.
    Events,
    /// Booth connectivity changes and action outcomes from photomaton-control.
    Probes,
    /// Alerts opened and resolved by boom-notifier, and acknowledgements from the gateway.
    Alerts,
}

impl StreamKind {
    pub const ALL: &'static [StreamKind] = &[
        StreamKind::Stats,
        StreamKind::Events,
        StreamKind::Probes,
        StreamKind::Alerts,
    ];

    fn suffix(self) -> &'static str {
        match self {
            StreamKind::Stats => "STATS",
            StreamKind::Events => "EVENTS",
            StreamKind::Probes => "PROBES",
            StreamKind::Alerts => "ALERTS",
        }
    }

    /// The subject domain whose messages the stream keeps (`<prefix>.<domain>.>`).
    pub fn domain(self) -> &'static str {
        match self {
            StreamKind::Stats => "stats",
            StreamKind::Events => "notion",
            StreamKind::Probes => "control",
            StreamKind::Alerts => "alerts",
        }
    }

    /// The gateway's durable pull consumer on this stream, shared by every gateway instance
    /// (the ALERTS stream also has [`GATEWAY_DELIVERIES`] and the notifier's consumers).
    pub fn gateway_consumer(self) -> &'static str {
        match self {
            StreamKind::Stats => "gateway-recorder",
            StreamKind::Events => "gateway-events",
            StreamKind::Probes => "gateway-probes",
            StreamKind::Alerts => "gateway-alerts",
        }
    }
}

/// The gateway's consumer of delivery updates on the ALERTS stream.
pub const GATEWAY_DELIVERIES: &str = "gateway-deliveries";
/// The notifier's consumer of queued deliveries on the ALERTS stream (every instance sends).
pub const NOTIFIER_DELIVERIES: &str = "notifier-deliveries";
/// The notifier's consumer of acknowledgements on the ALERTS stream.
pub const NOTIFIER_ACKS: &str = "notifier-acks";

/// The subject, stream and bucket names of one stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    prefix: String,
}

impl Namespace {
    pub fn new(prefix: &str) -> Result<Self, NamespaceError> {
        let valid = !prefix.is_empty()
            && prefix.len() <= 32
            && prefix.starts_with(|c: char| c.is_ascii_alphabetic())
            && prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if valid {
            Ok(Self {
                prefix: prefix.to_owned(),
            })
        } else {
            Err(NamespaceError(prefix.to_owned()))
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `<prefix>.<rest>`.
    pub fn subject(&self, rest: &str) -> String {
        format!("{}.{rest}", self.prefix)
    }

    pub fn stream(&self, kind: StreamKind) -> String {
        format!(
            "{}_{}",
            self.prefix.to_ascii_uppercase().replace('-', "_"),
            kind.suffix()
        )
    }

    /// Every subject the stream keeps.
    pub fn stream_subjects(&self, kind: StreamKind) -> String {
        self.subject(&format!("{}.>", kind.domain()))
    }

    /// The booth registry, written by the gateway, read and watched by ingest and control.
    pub fn registry_bucket(&self) -> String {
        format!("{}_registry", self.prefix.replace('-', "_"))
    }

    /// What the dashboard asks of each booth's agent (`AgentCommands`, by photomaton id).
    pub fn agent_commands_bucket(&self) -> String {
        format!("{}_agent_commands", self.prefix.replace('-', "_"))
    }

    /// The notifier's open alerts, by `<kind>.<photomaton id or fleet>`.
    pub fn alerts_bucket(&self) -> String {
        format!("{}_alerts", self.prefix.replace('-', "_"))
    }

    /// Deliveries the notifier has sent, by delivery id: a redelivered message is not resent.
    pub fn deliveries_bucket(&self) -> String {
        format!("{}_deliveries", self.prefix.replace('-', "_"))
    }

    /// Leases that keep single-active work (probing, Notion sync) on one instance.
    pub fn lease_bucket(&self) -> String {
        format!("{}_leases", self.prefix.replace('-', "_"))
    }

    /// The core NATS subject on which every gateway instance hears committed snapshots and
    /// fans them out to its own WebSocket clients.
    pub fn live_subject(&self, event: &str) -> String {
        self.subject(&format!("gateway.live.{event}"))
    }

    pub fn live_wildcard(&self) -> String {
        self.subject("gateway.live.>")
    }
}

impl Default for Namespace {
    fn default() -> Self {
        Self {
            prefix: "boom".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_derive_from_the_prefix() -> Result<(), NamespaceError> {
        let ns = Namespace::new("t-42_x")?;
        assert_eq!(
            ns.subject("stats.batch.accepted"),
            "t-42_x.stats.batch.accepted"
        );
        assert_eq!(ns.stream(StreamKind::Stats), "T_42_X_STATS");
        assert_eq!(ns.stream_subjects(StreamKind::Events), "t-42_x.notion.>");
        assert_eq!(ns.registry_bucket(), "t_42_x_registry");
        assert_eq!(ns.agent_commands_bucket(), "t_42_x_agent_commands");
        Ok(())
    }

    #[test]
    fn prefixes_that_would_break_subjects_are_refused() {
        for bad in ["", "a.b", "a b", "*", ">", "9lives", "é"] {
            assert!(Namespace::new(bad).is_err(), "{bad:?} accepted");
        }
    }
}
