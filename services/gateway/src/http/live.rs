//! `GET /ws` (any signed-in role): the browser's live connection. On connect the client gets
//! every booth as `photomaton:updated` (from the fleet cache), then every live update of its
//! rooms; it may send `{"subscribe": ["photomaton:ID", …]}` to narrow them. The server pings
//! every `http.ws_ping_secs` (20 s) and closes a client silent for two intervals. At each ping it also
//! checks that the session still stands: a signed-out, deleted, demoted or re-passworded
//! user's socket closes with 4001 "session revoked" (the page then shows the sign-in form
//! instead of reconnecting).

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix_http::ws::{CloseCode, CloseReason, Frame};
use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::PhotomatonId;
use boom_contracts::messages::FrameKind;
use boom_server::{ApiError, ErrorCode};
use serde::Deserialize;

use crate::errors::OrApi;
use crate::http::session::{Session, own_origin, still_valid};
use crate::live::wire::{Closed, Incoming, Socket};
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
pub async fn websocket(
    request: HttpRequest,
    session: Session,
    body: web::Payload,
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
    let snapshot = state.live.fleet.get(&state.db).await.or_api()?;
    let mut handshake = actix_http::ws::handshake(request.head())?;
    let (socket, outgoing) = Socket::new();
    let response: HttpResponse = handshake
        .message_body(actix_web::body::MessageBody::boxed(
            actix_web::body::BodyStream::new(outgoing),
        ))?
        .into();
    let mut incoming = Incoming::new(body);
    let hub = state.live.hub.clone();
    let Joined {
        id,
        mut queue,
        rooms,
        lagged,
    } = hub.join();
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let ping_interval = state.ping_interval;
        // The first tick at a random point of the first interval: sockets opened together
        // (a gateway restarted under a thousand browsers) do not ping and check together.
        let first = ping_interval.mul_f64(0.5 + rand::random::<f64>() / 2.0);
        let mut ping = actix_web::rt::time::interval_at(
            actix_web::rt::time::Instant::now() + first,
            ping_interval,
        );
        let mut last_heard = Instant::now();
        let mut close = None;
        if send_booths(&socket, &snapshot, None).await.is_err() {
            hub.leave(id);
            return;
        }
        // Shared by every client that connected meanwhile: not kept for the connection's life.
        drop(snapshot);
        loop {
            tokio::select! {
                queued = queue.recv() => match queued {
                    Some(frame) => {
                        // A client gone without a word (Wi-Fi lost) stops reading: once its
                        // socket is full, a send waits, and the pings below would never run.
                        match tokio::time::timeout(ping_interval * 2, socket.send(frame)).await {
                            Ok(Ok(())) => {}
                            Ok(Err(_)) => break,
                            Err(_) => {
                                close = Some(CloseReason { code: CloseCode::Policy, description: Some("too slow: updates were not read".into()) });
                                break;
                            }
                        }
                        if queue.is_empty() && lagged.load(Ordering::Acquire) {
                            // Caught up after skipped frames: the state of every booth now.
                            // Cleared first, so that what changes meanwhile is queued after.
                            lagged.store(false, Ordering::Release);
                            let Ok(snapshot) = state.live.fleet.get(&state.db).await else { break };
                            let wanted = rooms.read().ok().and_then(|r| r.clone());
                            // Bounded: a client too slow to take its rooms' state within two
                            // pings is closed rather than left holding this task.
                            let resent = tokio::time::timeout(ping_interval * 2, async {
                                send_booths(&socket, &snapshot, wanted.as_ref()).await?;
                                socket.send(frame_of(FrameKind::LiveResync, &serde_json::json!({}))).await
                            })
                            .await;
                            drop(snapshot);
                            match resent {
                                Ok(Ok(())) => {}
                                Ok(Err(_)) => break,
                                Err(_) => {
                                    close = Some(CloseReason { code: CloseCode::Policy, description: Some("too slow: updates were not read".into()) });
                                    break;
                                }
                            }
                        }
                    }
                    None => break,
                },
                message = incoming.next() => match message {
                    Some(Ok(Frame::Text(text))) => {
                        last_heard = Instant::now();
                        match std::str::from_utf8(&text).map_err(|e| e.to_string()).and_then(parse_rooms) {
                            Ok(set) => if let Ok(mut r) = rooms.write() { *r = Some(set) },
                            Err(error) => {
                                let reply = serde_json::json!({"error": "bad_request", "message": error}).to_string();
                                if socket.text(reply.as_bytes()).await.is_err() { break }
                            }
                        }
                    }
                    Some(Ok(Frame::Ping(bytes))) => {
                        last_heard = Instant::now();
                        if socket.pong(&bytes).await.is_err() { break }
                    }
                    Some(Ok(Frame::Close(reason))) => { close = reason; break }
                    Some(Ok(_)) => last_heard = Instant::now(),
                    Some(Err(_)) | None => break,
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > ping_interval * 2 {
                        close = Some(CloseReason { code: CloseCode::Away, description: Some("no pong".into()) });
                        break;
                    }
                    // Redis down is not a revocation: keep the socket, check again next tick.
                    let check = async { still_valid(&state, &session).await.map_err(|_| ()) };
                    if matches!(state.session_checks.answer(&session.token_hash, check).await, Ok(false)) {
                        close = Some(CloseReason { code: CloseCode::Other(SESSION_REVOKED), description: Some("session revoked".into()) });
                        break;
                    }
                    if socket.ping(b"boom").await.is_err() { break }
                }
            }
        }
        hub.leave(id);
        socket.close(close).await;
    });
    Ok(response)
}

/// Sends the state of the fleet's booths, or of those of `rooms` only.
async fn send_booths(
    socket: &Socket,
    fleet: &Fleet,
    rooms: Option<&HashSet<PhotomatonId>>,
) -> Result<(), Closed> {
    for booth in &fleet.booths {
        if rooms.is_none_or(|rooms| rooms.contains(&booth.id)) {
            socket.send(booth.frame.clone()).await?;
        }
    }
    Ok(())
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
