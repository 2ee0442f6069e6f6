//! The contracts between LE BOOM services: every message that crosses NATS as a Rust type,
//! with the subject it travels on, the JetStream stream that keeps it (if any) and the id
//! JetStream deduplicates it by; the NATS namespace (subjects, streams, consumers, buckets)
//! derived from one configurable prefix; and the vocabulary shared with the database (ID
//! newtypes, `MediaType`, `EventStatus`, `UserRole`).
//!
//! This crate does no I/O and knows nothing of NATS clients or databases: it is the one
//! place where a message's shape is decided, and `proto/` is generated from it.

pub mod agent;
pub mod catalogue;
pub mod domain;
pub mod ids;
pub mod keys;
pub mod messages;
pub mod namespace;
pub mod paris;
pub mod vocabulary;

pub use ids::{AuditLogId, EventId, PhotoId, PhotomatonId, SpeedTestId, UserId};
pub use messages::*;
pub use namespace::{Namespace, NamespaceError, StreamKind};
pub use vocabulary::{EventStatus, MediaType, UnknownVariant, UserRole};
