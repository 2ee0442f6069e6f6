//! The messages. Each implements [`BusMessage`]: its subject (under the stack's
//! [`Namespace`]), how it travels, and the id JetStream deduplicates it by.
//!
//! Fields are camelCase on the wire, like the HTTP API.
//!
//! # Layout
//!
//! This module holds what every message shares ([`Delivery`], [`BusMessage`],
//! [`BusRequest`]); the messages themselves live in one file per domain, all re-exported
//! here: `stats` (agent batches), `notion` (events from Notion), `control` (booth actions
//! and probes), `pairing` (a booth PC paired by code), `registry` (the booth registry entry),
//! `alerts` (opened and resolved by the notifier, acknowledged by people) and `live`
//! (WebSocket fan-out).

mod alerts;
mod control;
mod live;
mod notion;
mod pairing;
mod registry;
mod stats;

use schemars::JsonSchema;
use serde::{Serialize, de::DeserializeOwned};

use crate::{Namespace, StreamKind};

pub use alerts::{
    AlertAcknowledged, AlertChanged, AlertKind, AlertState, ChannelKind, ChannelTarget,
    ChannelTestReply, ChannelTestRequest, DeliveryQueued, DeliveryState, DeliveryUpdated,
    FleetPage, FleetRequest, Notice, NotionSyncOutcome, QuietHours, Recipients, RecipientsRequest,
    Transition,
};
pub use control::{
    ActionCode, ActionPhase, ControlReply, ControlRequest, PhotomatonAction,
    PhotomatonActionProgress, PhotomatonProbed,
};
pub use live::{FrameKind, LiveUpdate};
pub use notion::{
    EventUpserted, NotionSyncCompleted, NotionSyncRequest, NotionSyncSummary, NotionUpdate,
};
pub use pairing::{PairingReply, PairingRequest};
pub use registry::RegistryEntry;
pub use stats::{
    AgentBatchAccepted, AgentCommandReported, AgentSeen, MediaStat, PaperReset, RefusedStat,
    SpeedTestSample,
};

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Kept in a JetStream stream and consumed by the gateway's durable consumer: the
    /// publisher knows it is durable once the stream acknowledged it.
    Stream(StreamKind),
    /// A request answered by one member of a queue group, with a reply of type `R`.
    Request,
    /// A reply to a request.
    Reply,
    /// Core NATS: fire and forget, every subscriber hears it.
    Broadcast,
}

/// A message that crosses NATS.
pub trait BusMessage: Serialize + DeserializeOwned + JsonSchema + Send + Sync + 'static {
    /// The subject after the prefix: `<domain>.<entity>.<event>`.
    const SUBJECT: &'static str;
    const DELIVERY: Delivery;
    /// Which service publishes it, and what it means.
    const SUMMARY: &'static str;

    /// The `Nats-Msg-Id` under which JetStream drops a second copy. `None` for messages
    /// that are not kept in a stream.
    fn dedupe_id(&self) -> Option<String>;

    fn subject(ns: &Namespace) -> String {
        ns.subject(Self::SUBJECT)
    }

    /// What a consumer of this type pulls: its own subject, unless the type stands for
    /// several messages that must be handled in order (see [`NotionUpdate`]).
    fn filter(ns: &Namespace) -> String {
        Self::subject(ns)
    }
}

/// A request answered over NATS request/reply by a queue group of workers.
pub trait BusRequest: BusMessage {
    type Reply: BusMessage;
    /// The queue group the workers join so that each request is handled once.
    const QUEUE_GROUP: &'static str;
    /// How long the requester waits, when the stack's `nats.request_timeout_ms` is too short
    /// for the work (a Notion sync reads many pages at 3 requests per second).
    const TIMEOUT: Option<std::time::Duration> = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpc_subjects_stay_outside_every_stream() {
        // A stream that captured a request subject would answer the request itself.
        for subject in [
            NotionSyncRequest::SUBJECT,
            ControlRequest::SUBJECT,
            PairingRequest::SUBJECT,
            RecipientsRequest::SUBJECT,
            FleetRequest::SUBJECT,
            ChannelTestRequest::SUBJECT,
            NotionSyncOutcome::SUBJECT,
            LiveUpdate::SUBJECT,
        ] {
            for kind in StreamKind::ALL {
                assert!(
                    !subject.starts_with(&format!("{}.", kind.domain())),
                    "{subject}"
                );
            }
        }
    }
}
