//! What the gateway takes from the bus and commits: agent batches ([`batches`], the
//! recorder), probe reports ([`probes`]), power-on outcomes ([`power_on`]), Notion's
//! events ([`notion`]), alerts from the notifier ([`alerts`]) and pairings redeemed through
//! ingest ([`pairing`], a request). Each is a durable JetStream consumer shared by every gateway
//! instance; a message is acked only after its commit, then what changed is pushed live.
//!
//! A message that can never be recorded (undecodable, a constraint or range error, or failing
//! [`boom_bus::MAX_ATTEMPTS`] times while the rest is recorded) is set aside in the
//! `dead_letters` table ([`dead_letters`]) rather than retried for ever, and never holds
//! back other booths: a failing group is retried message by message.
//!
//! Consumers call the store and the live fan-out, never an HTTP module.

pub(crate) mod alerts;
pub(crate) mod batches;
pub(crate) mod commands;
pub(crate) mod notion;
pub(crate) mod pairing;
pub(crate) mod power_on;
pub(crate) mod probes;

use std::future::Future;
use std::time::Duration;

use boom_bus::{BusError, HandleError};
use boom_contracts::{BusMessage, StreamKind};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Keeps a consumer running until `cancel`: `consume` returns when NATS cannot be reached
/// (or the consumer not created yet); it is started again a second later.
pub async fn until_cancelled<F, Fut>(name: &'static str, cancel: CancellationToken, consume: F)
where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), BusError>>,
{
    while !cancel.is_cancelled() {
        if let Err(error) = consume(cancel.clone()).await {
            tracing::warn!(%error, consumer = name, "cannot consume yet, retrying");
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }
}

/// Consumes `kind` through the durable consumer `durable`, one message at a time, with
/// `handle`, until `cancel`.
pub async fn consume_until_cancelled<M, F, Fut>(
    state: AppState,
    kind: StreamKind,
    durable: &'static str,
    handle: F,
    cancel: CancellationToken,
) where
    M: BusMessage,
    F: Fn(AppState, M) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandleError>> + Send,
{
    let handle = &handle;
    until_cancelled(durable, cancel, |cancel| {
        let state = state.clone();
        async move {
            state
                .bus
                .consume(
                    kind,
                    durable,
                    |message: M| handle(state.clone(), message),
                    cancel,
                )
                .await
        }
    })
    .await;
}

/// No database connection while handling a message: retried later (nak with backoff).
pub fn transient(error: impl std::fmt::Display) -> HandleError {
    HandleError::Transient(error.to_string())
}

/// A query failed while handling a message: poison when the data can never be stored (a
/// constraint or range error: the bus sets the message aside, see [`dead_letters`]),
/// otherwise transient.
pub fn failure(error: diesel::result::Error) -> HandleError {
    if boom_db::is_permanent(&error) {
        HandleError::Poison(error.to_string())
    } else {
        HandleError::Transient(error.to_string())
    }
}

/// Where the gateway's consumers set aside what they can never record: the `dead_letters`
/// table, which admins read (`GET /api/dead-letters`).
pub fn dead_letters(db: boom_db::DbPool) -> boom_bus::DeadLetters {
    boom_bus::DeadLetters::new(move |letter| {
        let db = db.clone();
        Box::pin(async move {
            let mut conn = db.get().await.map_err(|e| e.to_string())?;
            crate::store::dead_letters::insert(&mut conn, &letter)
                .await
                .map_err(|e| e.to_string())
        })
    })
}
