//! The WebSocket clients of this gateway instance and the frames they are sent.
//!
//! [`LiveHub::dispatch`] serialises each browser frame `{"event": NAME, "data": …}` once and
//! queues the same shared bytes to each client whose rooms match; updates that arrived
//! together go to a client as one message, their frames end to end. A client's queue is
//! bounded in frames: a client that falls behind (a phone on 4G, a laptop asleep) is marked
//! *lagged* and skipped rather than slowing everyone down or growing without bound. Its
//! connection is kept: once it has read its queue, it is sent the current state of every
//! booth and `live:resync` (see `http::live`), so it never loops through reconnects and full
//! reloads.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use boom_contracts::PhotomatonId;
use boom_contracts::messages::{FrameKind, LiveUpdate};
use bytes::Bytes;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

/// Frames a client may have queued before it is marked lagged and skipped (counted in frames,
/// however many arrived together in one message).
pub const CLIENT_QUEUE: usize = 256;

/// Rooms a client listens to: `None` means every booth.
pub type Rooms = Arc<RwLock<Option<HashSet<PhotomatonId>>>>;

struct Client {
    queue: mpsc::Sender<Queued>,
    /// Frames in `queue`, taken off by the client as it reads them.
    frames: Arc<AtomicUsize>,
    rooms: Rooms,
    lagged: Arc<AtomicBool>,
}

/// Why frames were not queued to a client.
enum Refused {
    /// Its queue holds [`CLIENT_QUEUE`] frames already, or would with these.
    Full,
    /// Its connection has ended.
    Gone,
}

impl Client {
    /// Queues `frames` frames, encoded end to end in `bytes`. Only the hub adds to a client's
    /// count, under the clients' lock; the client takes off what it reads meanwhile.
    fn offer(&self, bytes: Bytes, frames: usize) -> Result<(), Refused> {
        if self.frames.load(Ordering::Acquire) + frames > CLIENT_QUEUE {
            return Err(Refused::Full);
        }
        self.frames.fetch_add(frames, Ordering::AcqRel);
        self.queue
            .try_send(Queued { bytes, frames })
            .map_err(|error| {
                self.frames.fetch_sub(frames, Ordering::AcqRel);
                match error {
                    mpsc::error::TrySendError::Full(_) => Refused::Full,
                    mpsc::error::TrySendError::Closed(_) => Refused::Gone,
                }
            })
    }
}

/// Frames queued to a client together: encoded, end to end.
struct Queued {
    bytes: Bytes,
    frames: usize,
}

/// What is queued to one client, as bytes to write.
pub struct ClientQueue {
    receiver: mpsc::Receiver<Queued>,
    frames: Arc<AtomicUsize>,
}

impl ClientQueue {
    fn took(&self, queued: Queued) -> (Bytes, usize) {
        self.frames.fetch_sub(queued.frames, Ordering::AcqRel);
        (queued.bytes, queued.frames)
    }

    /// The next frames queued (their bytes, and how many frames), `None` once the hub is gone.
    pub async fn recv(&mut self) -> Option<(Bytes, usize)> {
        let queued = self.receiver.recv().await?;
        Some(self.took(queued))
    }

    /// The next frames queued (their bytes, and how many frames), if any.
    pub fn try_recv(&mut self) -> Option<(Bytes, usize)> {
        let queued = self.receiver.try_recv().ok()?;
        Some(self.took(queued))
    }

    pub fn is_empty(&self) -> bool {
        self.receiver.is_empty()
    }

    /// Frames queued and not yet taken.
    #[cfg(test)]
    fn frames(&self) -> usize {
        self.frames.load(Ordering::Acquire)
    }
}

/// What a new client reads from: its membership, its queue, its rooms, and whether it fell
/// behind.
pub struct Joined {
    /// The client leaves the hub when this is dropped, however its connection ends.
    pub membership: Membership,
    pub queue: ClientQueue,
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
        // Every message holds a frame at least: bounded in frames, the channel never fills.
        let (queue, receiver) = mpsc::channel(CLIENT_QUEUE);
        let frames = Arc::new(AtomicUsize::new(0));
        let rooms: Rooms = Arc::default();
        let lagged = Arc::new(AtomicBool::new(false));
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut clients) = self.inner.clients.lock() {
            clients.insert(
                id,
                Client {
                    queue,
                    frames: frames.clone(),
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
            queue: ClientQueue { receiver, frames },
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

    /// Queues updates that arrived together (a flush's views) to every client whose rooms
    /// match, in their order, as *one* message per client: the frames encoded once each and
    /// laid end to end, so that a client is woken once and written to once for the lot rather
    /// than once per frame. Clients that listen to every booth share the same bytes; a client
    /// with rooms gets its own, of the frames it wants. A client whose queue is full is marked
    /// lagged and skipped until it has caught up.
    pub fn dispatch(&self, updates: &[LiveUpdate]) {
        // A message never holds more than a queue does.
        for updates in updates.chunks(CLIENT_QUEUE) {
            self.dispatch_together(updates);
        }
    }

    fn dispatch_together(&self, updates: &[LiveUpdate]) {
        if updates.is_empty() {
            return;
        }
        let frames: Vec<(Option<PhotomatonId>, Bytes)> = updates
            .iter()
            .map(|update| (update.photomaton_id, frame(update.event, &update.data)))
            .collect();
        let all: Vec<&Bytes> = frames.iter().map(|(_, frame)| frame).collect();
        let everything = joined(&all);
        let Ok(mut clients) = self.inner.clients.lock() else {
            return;
        };
        let mut gone = Vec::new();
        for (id, client) in clients.iter() {
            if client.lagged.load(Ordering::Acquire) {
                continue;
            }
            let (message, count) = match client.rooms.read().as_deref() {
                Ok(Some(rooms)) => {
                    let wanted: Vec<&Bytes> = frames
                        .iter()
                        .filter(|(booth, _)| booth.is_none_or(|booth| rooms.contains(&booth)))
                        .map(|(_, frame)| frame)
                        .collect();
                    match wanted.len() {
                        0 => continue,
                        n if n == frames.len() => (everything.clone(), n),
                        n => (joined(&wanted), n),
                    }
                }
                // Every booth (or rooms that cannot be read: everything, as before they were set).
                Ok(None) | Err(_) => (everything.clone(), frames.len()),
            };
            match client.offer(message, count) {
                Ok(()) => {
                    self.inner.delivered.inc_by(count as u64);
                }
                Err(Refused::Full) => {
                    client.lagged.store(true, Ordering::Release);
                    self.inner.lagged.inc();
                    tracing::info!(
                        client = id,
                        "WebSocket client lagged: it will be resynchronised"
                    );
                }
                Err(Refused::Gone) => gone.push(*id),
            }
        }
        for id in gone {
            if clients.remove(&id).is_some() {
                self.inner.connected.dec();
            }
        }
    }
}

/// Encoded frames laid end to end, as one message to write (one frame as it is, no copy).
fn joined(frames: &[&Bytes]) -> Bytes {
    match frames {
        [one] => (*one).clone(),
        _ => {
            let mut out = bytes::BytesMut::with_capacity(frames.iter().map(|f| f.len()).sum());
            for frame in frames {
                out.extend_from_slice(frame);
            }
            out.freeze()
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
            hub.dispatch(std::slice::from_ref(&update));
            while live.queue.try_recv().is_some() {
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
        assert_eq!(
            stalled.queue.frames(),
            CLIENT_QUEUE,
            "its queue stays bounded"
        );
    }

    fn update(booth: Option<i32>, n: u32) -> LiveUpdate {
        LiveUpdate {
            event: FrameKind::PhotomatonUpdated,
            photomaton_id: booth.map(PhotomatonId),
            data: serde_json::json!({"n": n}),
        }
    }

    /// The frames of one message, decoded as a browser would.
    fn numbers(queued: Option<(Bytes, usize)>) -> anyhow::Result<Vec<u64>> {
        use tokio_util::codec::Decoder;
        let (bytes, count) = queued.ok_or_else(|| anyhow::anyhow!("no message queued"))?;
        let mut codec = actix_http::ws::Codec::new().client_mode();
        let mut buffer = bytes::BytesMut::from(&bytes[..]);
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(&mut buffer)? {
            let actix_http::ws::Frame::Text(text) = frame else {
                anyhow::bail!("not a text frame: {frame:?}")
            };
            let value: serde_json::Value = serde_json::from_slice(&text)?;
            out.extend(value["data"]["n"].as_u64());
        }
        anyhow::ensure!(buffer.is_empty(), "whole frames");
        anyhow::ensure!(
            out.len() == count,
            "{count} frames said, {} found",
            out.len()
        );
        Ok(out)
    }

    fn set_rooms(joined: &Joined, booth: i32) {
        if let Ok(mut rooms) = joined.rooms.write() {
            *rooms = Some([PhotomatonId(booth)].into_iter().collect());
        }
    }

    #[tokio::test]
    async fn updates_that_arrive_together_go_to_each_client_as_one_message_of_its_frames_in_order()
    -> anyhow::Result<()> {
        let hub = LiveHub::default();
        let mut everything = hub.join();
        let mut one_booth = hub.join();
        set_rooms(&one_booth, 1);
        let mut other_booth = hub.join();
        set_rooms(&other_booth, 9);
        hub.dispatch(&[
            update(Some(1), 1),
            update(Some(2), 2),
            update(None, 3),
            update(Some(1), 4),
        ]);
        assert_eq!(numbers(everything.queue.try_recv())?, [1, 2, 3, 4]);
        assert!(
            everything.queue.try_recv().is_none(),
            "one message, not four"
        );
        assert_eq!(numbers(one_booth.queue.try_recv())?, [1, 3, 4]);
        assert_eq!(numbers(other_booth.queue.try_recv())?, [3]);
        assert_eq!(hub.inner.delivered.get(), 4 + 3 + 1, "counted in frames");
        assert_eq!(everything.queue.frames(), 0);
        Ok(())
    }

    #[tokio::test]
    async fn a_queue_is_bounded_in_frames_however_they_arrive() {
        let hub = LiveHub::default();
        let stalled = hub.join();
        let many: Vec<LiveUpdate> = (0..100).map(|n| update(None, n)).collect();
        hub.dispatch(&many);
        hub.dispatch(&many);
        assert!(!stalled.lagged.load(Ordering::Acquire), "200 frames fit");
        hub.dispatch(&many);
        assert!(stalled.lagged.load(Ordering::Acquire), "300 do not");
        assert_eq!(stalled.queue.frames(), 200);
    }
}
