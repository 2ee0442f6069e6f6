//! The WebSocket clients of this gateway instance and the frames they are sent.
//!
//! [`LiveHub::dispatch`] serialises the browser frame `{"event": NAME, "data": …}` once and
//! queues the same shared bytes to each client whose rooms match. A client's queue is
//! bounded: a client that stops reading is dropped rather than slowing everyone down.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use boom_contracts::PhotomatonId;
use boom_contracts::messages::{FrameKind, LiveUpdate};
use bytestring::ByteString;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

/// Frames a client may have queued before it is considered stalled and dropped.
pub const CLIENT_QUEUE: usize = 256;
/// How often the server pings; a client silent for two intervals is closed.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);

/// Rooms a client listens to: `None` means every booth.
pub type Rooms = Arc<RwLock<Option<HashSet<PhotomatonId>>>>;

struct Client {
    queue: mpsc::Sender<ByteString>,
    rooms: Rooms,
}

#[derive(Default)]
struct Inner {
    clients: Mutex<HashMap<u64, Client>>,
    next_id: AtomicU64,
    connected: Gauge,
    delivered: Counter,
    dropped: Counter,
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

/// The browser frame `{"event": NAME, "data": …}`, the one shape every WebSocket message has.
pub fn frame<T: serde::Serialize + ?Sized>(event: FrameKind, data: &T) -> ByteString {
    ByteString::from(serde_json::to_string(&Frame { event, data }).unwrap_or_default())
}

impl LiveHub {
    /// `boom_ws_clients`, `boom_ws_frames_delivered_total`, `boom_ws_clients_dropped_total`.
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
            "boom_ws_clients_dropped",
            "WebSocket clients dropped for not reading",
            self.inner.dropped.clone(),
        );
    }

    /// A new client: its id, the queue it reads, and its rooms.
    pub fn join(&self) -> (u64, mpsc::Receiver<ByteString>, Rooms) {
        let (queue, receiver) = mpsc::channel(CLIENT_QUEUE);
        let rooms: Rooms = Arc::default();
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut clients) = self.inner.clients.lock() {
            clients.insert(
                id,
                Client {
                    queue,
                    rooms: rooms.clone(),
                },
            );
        }
        self.inner.connected.inc();
        (id, receiver, rooms)
    }

    pub fn leave(&self, id: u64) {
        if let Ok(mut clients) = self.inner.clients.lock()
            && clients.remove(&id).is_some()
        {
            self.inner.connected.dec();
        }
    }

    /// Queues an update to every client whose rooms match; drops clients whose queue is full.
    pub fn dispatch(&self, update: &LiveUpdate) {
        let frame = frame(update.event, &update.data);
        let Ok(mut clients) = self.inner.clients.lock() else {
            return;
        };
        let mut stalled = Vec::new();
        for (id, client) in clients.iter() {
            let wanted = match (
                update.photomaton_id,
                client.rooms.read().ok().and_then(|r| r.clone()),
            ) {
                (Some(booth), Some(rooms)) => rooms.contains(&booth),
                _ => true,
            };
            if !wanted {
                continue;
            }
            match client.queue.try_send(frame.clone()) {
                Ok(()) => {
                    self.inner.delivered.inc();
                }
                Err(mpsc::error::TrySendError::Full(_)) => stalled.push(*id),
                Err(mpsc::error::TrySendError::Closed(_)) => stalled.push(*id),
            }
        }
        for id in stalled {
            // Dropping the sender ends the client's queue: its task closes the socket.
            if clients.remove(&id).is_some() {
                self.inner.connected.dec();
                self.inner.dropped.inc();
                tracing::info!(client = id, "WebSocket client dropped: it stopped reading");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_client_that_does_not_read_is_dropped_and_the_others_still_receive() {
        let hub = LiveHub::default();
        let (_stalled, _stalled_queue, _) = hub.join();
        let (_live, mut live_queue, _) = hub.join();
        let update = LiveUpdate {
            event: FrameKind::EventsUpdated,
            photomaton_id: None,
            data: serde_json::json!({}),
        };
        for _ in 0..CLIENT_QUEUE + 10 {
            hub.dispatch(&update);
            while live_queue.try_recv().is_ok() {}
        }
        assert_eq!(hub.inner.connected.get(), 1);
        assert_eq!(hub.inner.dropped.get(), 1);
    }
}
