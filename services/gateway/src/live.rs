//! Live fan-out to browsers.
//!
//! After a commit, a gateway instance publishes a [`LiveUpdate`] on the core NATS subject
//! `<prefix>.gateway.live.update`. Every instance subscribes to it and hands each update to its
//! [`LiveHub`], which serialises the browser frame `{"event": NAME, "data": …}` once and queues
//! the same shared bytes to each of its WebSocket clients whose rooms match. A client's queue
//! is bounded: a client that stops reading is dropped rather than slowing everyone down.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use boom_bus::Bus;
use boom_contracts::messages::{BusMessage, LiveEvent, LiveUpdate};
use boom_contracts::{PhotomatonId, UserRole};
use boom_server::{ApiError, ErrorCode};
use bytestring::ByteString;
use futures::StreamExt;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::auth::{Session, own_origin};
use crate::fleet::FleetCache;
use crate::state::AppState;

/// Frames a client may have queued before it is considered stalled and dropped.
pub const CLIENT_QUEUE: usize = 256;
/// How often the server pings; a client silent for two intervals is closed.
pub const PING_INTERVAL: Duration = Duration::from_secs(20);

/// Rooms a client listens to: `None` means every booth.
type Rooms = Arc<RwLock<Option<HashSet<PhotomatonId>>>>;

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
    event: LiveEvent,
    data: &'a T,
}

/// The browser frame `{"event": NAME, "data": …}`, the one shape every WebSocket message has.
pub fn frame<T: serde::Serialize + ?Sized>(event: LiveEvent, data: &T) -> ByteString {
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

    fn join(&self) -> (u64, mpsc::Receiver<ByteString>, Rooms) {
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

    fn leave(&self, id: u64) {
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

/// Publishes a committed change for every gateway instance's clients. A failure is logged:
/// the change is committed, and browsers refetch state when they reconnect.
pub async fn publish(
    state: &AppState,
    event: LiveEvent,
    photomaton_id: Option<PhotomatonId>,
    data: serde_json::Value,
) {
    // Before the publish: a read that follows this write must not be served the old fleet.
    if FleetCache::changes_views(event) {
        state.fleet.invalidate();
    }
    if let Err(error) = state
        .bus
        .publish(&LiveUpdate {
            event,
            photomaton_id,
            data,
        })
        .await
    {
        tracing::warn!(%error, "live update not published");
    }
}

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
            match serde_json::from_slice::<LiveUpdate>(&message.payload) {
                Ok(update) => {
                    if FleetCache::changes_views(update.event) {
                        fleet.invalidate();
                    }
                    hub.dispatch(&update);
                }
                Err(error) => tracing::warn!(%error, "undecodable live update ignored"),
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct ClientMessage {
    subscribe: Vec<String>,
}

fn parse_rooms(text: &str) -> Result<HashSet<PhotomatonId>, String> {
    let message: ClientMessage = serde_json::from_str(text)
        .map_err(|e| format!("expected {{\"subscribe\": [\"photomaton:ID\", …]}}: {e}"))?;
    message
        .subscribe
        .iter()
        .map(|room| {
            room.strip_prefix("photomaton:")
                .and_then(|id| id.parse::<i32>().ok())
                .map(PhotomatonId)
                .ok_or_else(|| format!("unknown room `{room}`"))
        })
        .collect()
}

/// `GET /ws`: any signed-in role. Sends the state of every booth, then live updates.
pub async fn websocket(
    request: HttpRequest,
    body: web::Payload,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    session.require(UserRole::Viewer)?;
    // Browsers always send Origin on WebSockets; a page of another site may not listen in.
    if let Some(origin) = request
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        && origin != own_origin(&request)
    {
        return Err(ApiError::new(ErrorCode::Forbidden, "WebSocket from another origin").into());
    }
    let snapshot = state.fleet.get(&state).await?;
    let (response, mut socket, mut incoming) = actix_ws::handle(&request, body)?;
    let hub = state.live.clone();
    let (id, mut queue, rooms) = hub.join();
    actix_web::rt::spawn(async move {
        let mut ping = actix_web::rt::time::interval(PING_INTERVAL);
        let mut last_heard = Instant::now();
        let mut close = None;
        for booth in &snapshot.booths {
            if socket.text(booth.frame.clone()).await.is_err() {
                hub.leave(id);
                return;
            }
        }
        // Shared by every client that connected meanwhile: not kept for the connection's life.
        drop(snapshot);
        loop {
            tokio::select! {
                queued = queue.recv() => match queued {
                    Some(frame) => if socket.text(frame).await.is_err() { break },
                    None => {
                        close = Some(CloseReason { code: CloseCode::Policy, description: Some("too slow: updates were not read".into()) });
                        break;
                    }
                },
                message = incoming.next() => match message {
                    Some(Ok(Message::Text(text))) => {
                        last_heard = Instant::now();
                        match parse_rooms(&text) {
                            Ok(set) => if let Ok(mut r) = rooms.write() { *r = Some(set) },
                            Err(error) => {
                                let reply = serde_json::json!({"error": "bad_request", "message": error}).to_string();
                                if socket.text(reply).await.is_err() { break }
                            }
                        }
                    }
                    Some(Ok(Message::Ping(bytes))) => {
                        last_heard = Instant::now();
                        if socket.pong(&bytes).await.is_err() { break }
                    }
                    Some(Ok(Message::Close(reason))) => { close = reason; break }
                    Some(Ok(_)) => last_heard = Instant::now(),
                    Some(Err(_)) | None => break,
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > PING_INTERVAL * 2 {
                        close = Some(CloseReason { code: CloseCode::Away, description: Some("no pong".into()) });
                        break;
                    }
                    if socket.ping(b"boom").await.is_err() { break }
                }
            }
        }
        hub.leave(id);
        let _closed = socket.close(close).await;
    });
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_photomaton_ids() {
        assert_eq!(
            parse_rooms(r#"{"subscribe":["photomaton:3","photomaton:7"]}"#),
            Ok([PhotomatonId(3), PhotomatonId(7)].into_iter().collect())
        );
        assert!(parse_rooms(r#"{"subscribe":["event:3"]}"#).is_err());
        assert!(parse_rooms("hello").is_err());
    }

    #[tokio::test]
    async fn a_client_that_does_not_read_is_dropped_and_the_others_still_receive() {
        let hub = LiveHub::default();
        let (_stalled, _stalled_queue, _) = hub.join();
        let (_live, mut live_queue, _) = hub.join();
        let update = LiveUpdate {
            event: LiveEvent::EventsUpdated,
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
