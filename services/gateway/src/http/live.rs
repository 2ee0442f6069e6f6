//! `GET /ws` (any signed-in role): the browser's live connection. On connect the client gets
//! every booth as `photomaton:updated` (from the fleet cache), then every live update of its
//! rooms; it may send `{"subscribe": ["photomaton:ID", …]}` to narrow them. The server pings
//! every `http.ws_ping_secs` (20 s) and closes a client silent for two intervals. At each ping it also
//! checks that the session still stands: a signed-out, deleted, demoted or re-passworded
//! user's socket closes with 4001 "session revoked" (the page then shows the sign-in form
//! instead of reconnecting).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix_http::ws::{CloseCode, CloseReason, Frame, ProtocolError};
use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::PhotomatonId;
use boom_contracts::messages::FrameKind;
use boom_server::{ApiError, ErrorCode, Upgrade, Upgraded};
use bytes::Bytes;
use serde::Deserialize;

use crate::errors::OrApi;
use crate::http::session::{Session, own_origin, still_valid};
use crate::live::wire::{self, Incoming, Outgoing};
use crate::live::{Fleet, Joined, frame as frame_of};
use crate::state::AppState;

/// The close code of a socket whose session was revoked or expired: the page signs out
/// rather than reconnecting.
pub const SESSION_REVOKED: u16 = 4001;

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
///
/// The checks (session, origin, handshake) are answered here like any request; the socket
/// itself is served by [`serve`] on the bare connection once `101` is written.
pub async fn websocket(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<HttpResponse, actix_web::Error> {
    // Browsers always send Origin on WebSockets; a page of another site may not listen in.
    if let Some(origin) = request
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        && origin != own_origin(&request)
    {
        return Err(ApiError::new(ErrorCode::Forbidden, "WebSocket from another origin").into());
    }
    if !boom_server::can_switch(&request) {
        return Err(ApiError::bad_request(
            "a WebSocket handshake needs `Connection: Upgrade` and `Upgrade: websocket`",
        )
        .into());
    }
    let mut response: HttpResponse = actix_http::ws::handshake(request.head())?
        .finish()
        .map_into_boxed_body()
        .into();
    // Joined before the snapshot is read: what changes meanwhile is queued, and sent after it.
    // (A refusal or a lost connection drops it, and the client leaves the hub.)
    let joined = state.live.hub.join();
    let snapshot = state.live.fleet.get(&state.db).await.or_api()?;
    let state = state.into_inner();
    response
        .extensions_mut()
        .insert(Upgrade::new(move |upgraded| {
            serve(upgraded, state, session, snapshot, joined)
        }));
    Ok(response)
}

/// Why a socket ends, and what its close frame says.
fn closing(code: CloseCode, description: &str) -> Option<CloseReason> {
    Some(CloseReason {
        code,
        description: Some(description.to_owned()),
    })
}

/// Frames a socket may have taken from its queue and not yet written (one message more at most:
/// the frames of updates that arrived together come as one). Beyond, the client's queue in the
/// hub fills, and the hub skips it until it has caught up.
const OUTGOING: usize = 64;

/// Serves one upgraded socket until it closes.
///
/// Its future is what a socket costs while it waits: the rare awaits that read PostgreSQL or
/// Redis are boxed, so that their futures (tens of KiB, mostly the database client's) take
/// memory only while they run, not in every socket for its whole life.
async fn serve(
    upgraded: Upgraded,
    state: Arc<AppState>,
    session: Session,
    snapshot: Arc<Fleet>,
    joined: Joined,
) {
    let Joined {
        membership,
        mut queue,
        rooms,
        lagged,
    } = joined;
    let Upgraded { io, read, stopping } = upgraded;
    let ping_interval = state.ping_interval;
    // A client that takes nothing for two pings (Wi-Fi lost, a phone asleep) is closed.
    let patience = ping_interval * 2;
    // The first tick at a random point of the first interval: sockets opened together
    // (a gateway restarted under a thousand browsers) do not ping and check together.
    let first = ping_interval.mul_f64(0.5 + rand::random::<f64>() / 2.0);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + first, ping_interval);
    let mut incoming = Incoming::new(read);
    let mut outgoing = Outgoing::default();
    let mut last_heard = Instant::now();
    // The state of every booth first, taken as the socket takes it.
    let mut backlog = Some(Backlog::new(snapshot, None, None));
    let close = loop {
        // Caught up after skipped frames (checked at every turn, and so at least at every
        // ping): the state of its booths now. Cleared first, so that what changes meanwhile
        // is queued after it.
        if backlog.is_none() && queue.is_empty() && lagged.load(Ordering::Acquire) {
            lagged.store(false, Ordering::Release);
            let Ok(snapshot) = Box::pin(state.live.fleet.get(&state.db)).await else {
                break None;
            };
            let wanted = rooms.read().ok().and_then(|r| r.clone());
            let resync = frame_of(FrameKind::LiveResync, &serde_json::json!({}));
            backlog = Some(Backlog::new(snapshot, wanted, Some(resync)));
        }
        if let Some(pending) = backlog.as_mut()
            && pending.fill(&mut outgoing)
        {
            // Sent: the fleet it read is not kept for the connection's life.
            backlog = None;
        }
        tokio::select! {
            written = outgoing.write(&io), if !outgoing.is_empty() => {
                if written.is_err() { break None }
            }
            queued = queue.recv(), if backlog.is_none() && outgoing.len() < OUTGOING => match queued {
                Some((frames, count)) => {
                    // Whatever else is queued goes in the same write: one system call for
                    // what is ready rather than one per message.
                    outgoing.push_frames(frames, count);
                    while outgoing.len() < OUTGOING && let Some((frames, count)) = queue.try_recv() {
                        outgoing.push_frames(frames, count);
                    }
                }
                None => break None,
            },
            // Read only while there is room for an answer: a client that sends (pings, bad
            // messages) and never reads cannot make its answers pile up.
            message = incoming.next(&io), if outgoing.len() < OUTGOING => match message {
                Some(Ok(Frame::Text(text))) => {
                    last_heard = Instant::now();
                    match std::str::from_utf8(&text).map_err(|e| e.to_string()).and_then(parse_rooms) {
                        Ok(set) => if let Ok(mut r) = rooms.write() { *r = Some(set) },
                        Err(error) => {
                            let reply = serde_json::json!({"error": "bad_request", "message": error}).to_string();
                            outgoing.push(wire::text(reply.as_bytes()));
                        }
                    }
                }
                Some(Ok(Frame::Ping(bytes))) => {
                    last_heard = Instant::now();
                    outgoing.push(wire::pong(&bytes));
                }
                Some(Ok(Frame::Close(reason))) => break reason,
                Some(Ok(_)) => last_heard = Instant::now(),
                Some(Err(ProtocolError::Overflow)) => break closing(CloseCode::Size, "message too large"),
                Some(Err(_)) => break closing(CloseCode::Protocol, "not a WebSocket frame"),
                None => break None,
            },
            // The gateway is stopping (a deploy, a restart): browsers are told at once, and
            // reconnect to another instance, or to this one once it is back.
            () = stopping.notified() => break closing(CloseCode::Away, "server stopping"),
            _ = ping.tick() => {
                if outgoing.stalled_for() > patience {
                    break closing(CloseCode::Policy, "too slow: updates were not read");
                }
                if last_heard.elapsed() > patience {
                    break closing(CloseCode::Away, "no pong");
                }
                // Redis down is not a revocation: keep the socket, check again next tick.
                let check = async { still_valid(&state, &session).await.map_err(|_| ()) };
                if matches!(Box::pin(state.session_checks.answer(&session.token_hash, check)).await, Ok(false)) {
                    break closing(CloseCode::Other(SESSION_REVOKED), "session revoked");
                }
                outgoing.push(wire::ping(b"boom"));
            }
        }
    };
    drop(membership);
    drop(queue);
    outgoing.push(wire::close(close));
    wire::finish(io, outgoing, CLOSING).await;
}

/// How long a closing socket is given to take its last frames, then to close its side.
const CLOSING: Duration = Duration::from_secs(2);

/// The state of the fleet's booths (or of those of `rooms` only), then `last`, queued as the
/// socket takes them: a socket never holds more than [`OUTGOING`] frames (one message more at
/// most), whatever the size of the fleet. Live updates wait until it is sent, so that they come
/// after it.
struct Backlog {
    fleet: Arc<Fleet>,
    next: usize,
    rooms: Option<HashSet<PhotomatonId>>,
    last: Option<Bytes>,
}

impl Backlog {
    fn new(fleet: Arc<Fleet>, rooms: Option<HashSet<PhotomatonId>>, last: Option<Bytes>) -> Self {
        Self {
            fleet,
            next: 0,
            rooms,
            last,
        }
    }

    /// Queues what the socket has room for; `true` once everything is queued.
    fn fill(&mut self, outgoing: &mut Outgoing) -> bool {
        while outgoing.len() < OUTGOING {
            let Some(booth) = self.fleet.booths.get(self.next) else {
                if let Some(last) = self.last.take() {
                    outgoing.push(last);
                }
                return true;
            };
            self.next += 1;
            if self
                .rooms
                .as_ref()
                .is_none_or(|rooms| rooms.contains(&booth.id))
            {
                outgoing.push(booth.frame.clone());
            }
        }
        false
    }
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
}
