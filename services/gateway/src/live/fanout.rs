//! Hears every instance's live updates on the core NATS subject and hands them to this
//! instance's hub; each one that can change a booth's view invalidates this instance's fleet.

use std::time::Duration;

use boom_bus::Bus;
use boom_contracts::messages::{BusMessage, LiveUpdate};
use futures::{FutureExt, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::live::{FleetCache, LiveHub};

/// Live updates handed to the hub together at most: the views of a flush of 50 booths and their
/// events fit, and a client's message stays within a few hundred KiB.
const TOGETHER: usize = 128;

/// Hears every instance's live updates and hands them to this instance's hub, until `cancel`;
/// each one that can change a booth's view invalidates this instance's fleet.
pub async fn run_fanout(bus: Bus, hub: LiveHub, fleet: FleetCache, cancel: CancellationToken) {
    let subject = LiveUpdate::subject(bus.namespace());
    loop {
        let subscription = tokio::select! {
            () = cancel.cancelled() => return,
            s = bus.client().subscribe(subject.clone()) => s,
        };
        let mut subscription = match subscription {
            Ok(s) => s,
            Err(error) => {
                tracing::warn!(%error, "live subscription failed, retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let message = tokio::select! {
                () = cancel.cancelled() => return,
                m = subscription.next() => m,
            };
            let Some(message) = message else { break };
            // With it, whatever else has already arrived (a flush publishes its views one
            // after the other): the hub queues them to each client as one message.
            let mut updates = Vec::new();
            let mut closed = false;
            let mut next = Some(message);
            while let Some(message) = next.take() {
                match serde_json::from_slice::<LiveUpdate>(&message.payload) {
                    Ok(update) => updates.push(update),
                    Err(error) => tracing::warn!(%error, "undecodable live update ignored"),
                }
                if updates.len() < TOGETHER {
                    match subscription.next().now_or_never() {
                        Some(Some(message)) => next = Some(message),
                        Some(None) => closed = true,
                        None => {}
                    }
                }
            }
            if updates
                .iter()
                .any(|update| FleetCache::changes_views(update.event))
            {
                fleet.invalidate();
            }
            hub.dispatch(&updates);
            if closed {
                break;
            }
        }
    }
}
