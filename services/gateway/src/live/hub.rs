//! The WebSocket clients of this gateway instance and the frames they are sent.
//!
//! [`LiveHub::dispatch`] serialises the browser frame `{"event": NAME, "data": …}` once and
//! queues the same shared bytes to each client whose rooms match. A client's queue is
//! bounded: a client that falls behind (a phone on 4G, a laptop asleep) is marked *lagged*
//! and skipped rather than slowing everyone down or growing without bound. Its connection is
//! kept: once it has read its queue, it is sent the current state of every booth and
//! `live:resync` (see `http::live`), so it never loops through reconnects and full reloads.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use boom_contracts::PhotomatonId;
use boom_contracts::messages::{FrameKind, LiveUpdate};
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

/// Frames a client may have queued before it is marked lagged and skipped.
pub const CLIENT_QUEUE: usize = 256;

/// Rooms a client listens to: `None` means every booth.
pub type Rooms = Arc<RwLock<Option<HashSet<PhotomatonId>>>>;

struct Client {
    queue: mpsc::Sender<Bytes>,
    rooms: Rooms,
    lagged: Arc<AtomicBool>,
}

/// What a new client reads from: its membership, its queue, its rooms, and whether it fell
/// behind.
pub struct Joined {
    /// The client leaves the hub when this is dropped, however its connection ends.
    pub membership: Membership,
    pub queue: mpsc::Receiver<Bytes>,
    pub rooms: Rooms,
    /// Set by the hub when the queue was full and frames were skipped; the client's task
    /// clears it when it resends the state.
    pub lagged: Arc<AtomicBool>,
}

/// A client's place in the hub: it leaves when this is dropped.
pub struct Membership {
    hub: LiveHub,
    id: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.leave(self.id);
    }
}

#[derive(Default)]
struct Inner {
    clients: Mutex<HashMap<u64, Client>>,
    next_id: AtomicU64,
    connected: Gauge,
    delivered: Counter,
    lagged: Counter,
}

/// The WebSocket clients of this gateway instance.
#[derive(Clone, Default)]
pub struct LiveHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LiveHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveHub")
            .field("clients", &self.inner.connected.get())
            .finish()
    }
}

#[derive(serde::Serialize)]
struct Frame<'a, T: serde::Serialize + ?Sized> {
    event: FrameKind,
    data: &'a T,
}

/// The browser frame `{"event": NAME, "data": …}`, the one shape every WebSocket message has,
/// encoded for the wire once ([`super::wire::text`]): every client it goes to is handed the
/// same bytes.
pub fn frame<T: serde::Serialize + ?Sized>(event: FrameKind, data: &T) -> Bytes {
    super::wire::text(&serde_json::to_vec(&Frame { event, data }).unwrap_or_default())
}

impl LiveHub {
    /// `boom_ws_clients`, `boom_ws_frames_delivered_total`, `boom_ws_clients_lagged_total`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        registry.register(
            "boom_ws_clients",
            "WebSocket clients connected",
            self.inner.connected.clone(),
        );
        registry.register(
            "boom_ws_frames_delivered",
            "Frames queued to WebSocket clients",
            self.inner.delivered.clone(),
        );
        registry.register(
            "boom_ws_clients_lagged",
            "Times a WebSocket client fell a full queue behind and was resynchronised",
            self.inner.lagged.clone(),
        );
    }

    /// A new client.
    pub fn join(&self) -> Joined {
        let (queue, receiver) = mpsc::channel(CLIENT_QUEUE);
        let rooms: Rooms = Arc::default();
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut clients) = self.inner.clients.lock() {
            clients.insert(
                id,
                Client {
                    queue,
                    rooms: rooms.clone(),
                    lagged: lagged.clone(),
                },
            );
        }
        self.inner.connected.inc();
        Joined {
            membership: Membership {
                hub: self.clone(),
                id,
            },
            queue: receiver,
            rooms,
            lagged,
        }
    }

    fn leave(&self, id: u64) {
        if let Ok(mut clients) = self.inner.clients.lock()
            && clients.remove(&id).is_some()
        {
            self.inner.connected.dec();
        }
    }

    /// Queues an update to every client whose rooms match; a client whose queue is full is
    /// marked lagged and skipped until it has caught up.
    pub fn dispatch(&self, update: &LiveUpdate) {
        let frame = frame(update.event, &update.data);
        let Ok(mut clients) = self.inner.clients.lock() else {
            return;
        };
        let mut gone = Vec::new();
        for (id, client) in clients.iter() {
            if client.lagged.load(Ordering::Acquire) {
                continue;
            }
            let wanted = match update.photomaton_id {
                Some(booth) => client
                    .rooms
                    .read()
                    .map(|rooms| rooms.as_ref().is_none_or(|rooms| rooms.contains(&booth)))
                    .unwrap_or(true),
                None => true,
            };
            if !wanted {
                continue;
            }
            match client.queue.try_send(frame.clone()) {
                Ok(()) => {
                    self.inner.delivered.inc();
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    client.lagged.store(true, Ordering::Release);
                    self.inner.lagged.inc();
                    tracing::info!(
                        client = id,
                        "WebSocket client lagged: it will be resynchronised"
                    );
                }
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*id),
            }
        }
        for id in gone {
            if clients.remove(&id).is_some() {
                self.inner.connected.dec();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_that_does_not_read_is_skipped_and_kept_and_the_others_still_receive() {
        let hub = LiveHub::default();
        let stalled = hub.join();
        let mut live = hub.join();
        let update = LiveUpdate {
            event: FrameKind::EventsUpdated,
            photomaton_id: None,
            data: serde_json::json!({}),
        };
        let mut received = 0;
        for _ in 0..CLIENT_QUEUE + 10 {
            hub.dispatch(&update);
            while live.queue.try_recv().is_ok() {
                received += 1;
            }
        }
        assert_eq!(received, CLIENT_QUEUE + 10);
        assert_eq!(
            hub.inner.connected.get(),
            2,
            "the slow client keeps its connection"
        );
        assert!(stalled.lagged.load(Ordering::Acquire));
        assert!(!live.lagged.load(Ordering::Acquire));
        assert_eq!(hub.inner.lagged.get(), 1, "marked once, then skipped");
        assert_eq!(stalled.queue.len(), CLIENT_QUEUE, "its queue stays bounded");
    }
}
