//! `GET /ws` (any signed-in role): the browser's live connection. On connect the client gets
//! every booth as `photomaton:updated` (from the fleet cache), then every live update of its
//! rooms; it may send `{"subscribe": ["photomaton:ID", …]}` to narrow them. The server pings
//! every [`PING_INTERVAL`] and closes a client silent for two intervals.

use std::collections::HashSet;
use std::time::Instant;

use actix_web::{HttpRequest, HttpResponse, web};
use actix_ws::{CloseCode, CloseReason, Message};
use boom_contracts::PhotomatonId;
use boom_server::{ApiError, ErrorCode};
use futures::StreamExt;
use serde::Deserialize;

use crate::errors::OrApi;
use crate::http::session::own_origin;
use crate::live::PING_INTERVAL;
use crate::state::AppState;

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
    let (response, mut socket, mut incoming) = actix_ws::handle(&request, body)?;
    let hub = state.live.hub.clone();
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
}
