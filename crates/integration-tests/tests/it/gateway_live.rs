//! The WebSocket, driven by tokio-tungstenite as a real client.

use std::time::Duration;

use boom_bus::{Bus, BusMetrics};
use boom_contracts::messages::{BusMessage, FrameKind, LiveUpdate};
use boom_testkit::TestContext;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

use crate::gateway_client::{Client, PASSWORD, Staff};
use crate::helpers::spawn_gateway;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn connect(client: &Client) -> anyhow::Result<Socket> {
    let mut request =
        format!("{}/ws", client.base.replace("http://", "ws://")).into_client_request()?;
    if let Some(cookie) = &client.cookie {
        request
            .headers_mut()
            .insert("cookie", format!("boom_session={cookie}").parse()?);
    }
    request.headers_mut().insert("origin", client.base.parse()?);
    let (socket, _) = tokio_tungstenite::connect_async(request).await?;
    Ok(socket)
}

/// The next JSON frame, skipping pings.
async fn next_frame(socket: &mut Socket, within: Duration) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let message = tokio::time::timeout_at(deadline, socket.next())
            .await?
            .ok_or_else(|| anyhow::anyhow!("closed"))??;
        if let Message::Text(text) = message {
            return Ok(serde_json::from_str(&text)?);
        }
    }
}

/// Reads frames until one satisfies `wanted`.
pub async fn frame_where(
    socket: &mut Socket,
    within: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let frame = next_frame(
            socket,
            deadline.saturating_duration_since(tokio::time::Instant::now()),
        )
        .await?;
        if wanted(&frame) {
            return Ok(frame);
        }
    }
}

#[tokio::test]
async fn the_websocket_needs_a_session() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let app = spawn_gateway(ctx.settings.clone()).await?;
    let refused = connect(&Client::anonymous(&app)).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("401"), "{message}");
    app.stop().await
}

/// The socket is served on the bare connection once `101` is written: what the HTTP layer
/// answered before still holds, and the WebSocket protocol is kept by our own loop.
#[tokio::test]
async fn the_handed_over_socket_answers_pings_echoes_a_close_and_other_upgrades_get_http()
-> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;

    // Another site's page is refused before any switch.
    let mut request =
        format!("{}/ws", staff.viewer.base.replace("http://", "ws://")).into_client_request()?;
    if let Some(cookie) = &staff.viewer.cookie {
        request
            .headers_mut()
            .insert("cookie", format!("boom_session={cookie}").parse()?);
    }
    request
        .headers_mut()
        .insert("origin", "http://elsewhere.example".parse()?);
    let refused = tokio_tungstenite::connect_async(request).await;
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("403"), "{message}");

    // A route that does not switch answers an upgrade request over HTTP, then closes.
    let address = staff.viewer.base.trim_start_matches("http://").to_owned();
    let mut raw = tokio::net::TcpStream::connect(&address).await?;
    raw.write_all(
        format!(
            "GET /api/health HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\n\
             Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(5), raw.read_to_string(&mut answer)).await??;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.to_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(
        answer.contains("\"status\""),
        "the health document: {answer}"
    );

    // A handshake actix-http would not hand over (`Upgrade` naming more than `websocket`) is
    // refused, not answered 101 on a connection nobody would serve.
    let cookie = staff.viewer.cookie.clone().unwrap_or_default();
    let mut raw = tokio::net::TcpStream::connect(&address).await?;
    raw.write_all(
        format!(
            "GET /ws HTTP/1.1\r\nHost: {address}\r\nConnection: Upgrade\r\n\
             Upgrade: foo, websocket\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nCookie: boom_session={cookie}\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    // Answered by the ordinary dispatcher, which keeps the connection: the head is enough.
    let mut head = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), async {
        let mut chunk = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            let read = raw.read(&mut chunk).await?;
            if read == 0 {
                break;
            }
            head.extend_from_slice(&chunk[..read]);
        }
        anyhow::Ok(())
    })
    .await??;
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");

    // Ping, pong; close, close.
    let mut socket = connect(&staff.viewer).await?;
    socket
        .send(Message::Ping(b"are you there".to_vec().into()))
        .await?;
    let pong = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Pong(payload))) => return Ok(payload),
                Some(Ok(_)) => continue,
                Some(Err(error)) => return Err(anyhow::anyhow!(error)),
                None => return Err(anyhow::anyhow!("closed")),
            }
        }
    })
    .await??;
    assert_eq!(&pong[..], b"are you there");
    socket.close(None).await?;
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = socket.next().await {
            if message.is_err() {
                return false;
            }
        }
        true
    })
    .await?;
    assert!(
        ended,
        "the server answers the close and ends the connection cleanly"
    );
    staff.app.stop().await
}

#[tokio::test]
async fn a_stopping_gateway_says_goodbye_to_its_sockets_at_once() -> anyhow::Result<()> {
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let mut socket = connect(&staff.viewer).await?;
    next_frame(&mut socket, Duration::from_secs(5)).await.ok();
    let stopped = tokio::spawn(staff.app.stop());
    // A socket cut when the grace period (10 s) ends gets no close frame at all.
    let close = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(message) = socket.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame;
            }
        }
        None
    })
    .await?;
    assert_eq!(
        close.map(|frame| (frame.code, frame.reason.to_string())),
        Some((CloseCode::Away, "server stopping".to_owned()))
    );
    stopped.await??;
    Ok(())
}

#[tokio::test]
async fn a_client_gets_every_booth_on_connect_then_live_updates_of_its_rooms() -> anyhow::Result<()>
{
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let first = staff.booth("boom-01").await?;
    let second = staff.booth("boom-02").await?;
    let mut socket = connect(&staff.viewer).await?;
    let a = next_frame(&mut socket, Duration::from_secs(5)).await?;
    let b = next_frame(&mut socket, Duration::from_secs(5)).await?;
    assert_eq!(
        (
            a["event"].clone(),
            a["data"]["id"].clone(),
            b["data"]["id"].clone()
        ),
        (json!("photomaton:updated"), json!(first), json!(second))
    );

    socket
        .send(Message::Text(
            format!(r#"{{"subscribe": ["photomaton:{second}"]}}"#).into(),
        ))
        .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    staff
        .admin
        .patch(
            &format!("/api/photomatons/{first}"),
            json!({"name": "Ignored"}),
        )
        .await?;
    staff
        .admin
        .patch(
            &format!("/api/photomatons/{second}"),
            json!({"name": "Salle des fêtes"}),
        )
        .await?;
    let update = next_frame(&mut socket, Duration::from_secs(2)).await?;
    assert_eq!(
        (update["data"]["id"].clone(), update["data"]["name"].clone()),
        (json!(second), json!("Salle des fêtes")),
        "only the subscribed room"
    );

    socket
        .send(Message::Text("not a subscription".into()))
        .await?;
    let error = next_frame(&mut socket, Duration::from_secs(2)).await?;
    assert_eq!(error["error"], "bad_request");
    staff.app.stop().await
}

#[tokio::test]
async fn a_change_committed_through_one_gateway_reaches_a_browser_on_another() -> anyhow::Result<()>
{
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let other = spawn_gateway(ctx.settings.clone()).await?;
    let viewer_on_other = Client::login(&other, "viewer", PASSWORD).await?;
    let id = staff.booth("boom-01").await?;
    let mut socket = connect(&viewer_on_other).await?;
    next_frame(&mut socket, Duration::from_secs(5)).await?; // the snapshot
    let started = std::time::Instant::now();
    let edit = staff
        .admin
        .patch(
            &format!("/api/photomatons/{id}"),
            json!({"name": "Château"}),
        )
        .await?;
    assert_eq!(edit.status, 200);
    let update = frame_where(&mut socket, Duration::from_secs(1), |f| {
        f["data"]["name"] == "Château"
    })
    .await?;
    assert_eq!(update["event"], "photomaton:updated");
    assert!(started.elapsed() < Duration::from_secs(1));
    other.stop().await?;
    staff.app.stop().await
}

#[tokio::test]
async fn a_client_that_stops_reading_does_not_delay_the_others_and_is_resynchronised()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let mut stalled = connect(&staff.viewer).await?;
    let mut live = connect(&staff.installer).await?;
    let bus = Bus::connect(&ctx.settings.nats, "test", BusMetrics::default()).await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Far more than the stalled client's queue and socket buffers can hold.
    let payload = json!({"padding": "x".repeat(16 * 1024)});
    let total = 1500;
    // The reading client reads as fast as it can; the publisher never runs more than half a
    // queue ahead of it, so that a slow machine cannot make the reader itself look stalled.
    let (progress, mut read) = tokio::sync::watch::channel(0usize);
    let reader = tokio::spawn(async move {
        let mut received = 0;
        while received < total {
            match next_frame(&mut live, Duration::from_secs(20)).await {
                Ok(frame) if frame["event"] == "events:updated" => {
                    received += 1;
                    let _ = progress.send(received);
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        Ok::<_, anyhow::Error>(received)
    });
    for published in 0..total {
        while published >= *read.borrow() + boom_gateway::CLIENT_QUEUE / 2 {
            tokio::time::timeout(Duration::from_secs(20), read.changed()).await??;
        }
        bus.publish(&LiveUpdate {
            event: FrameKind::EventsUpdated,
            photomaton_id: None,
            data: payload.clone(),
        })
        .await?;
    }
    assert_eq!(reader.await??, total, "the reading client got every update");
    // The stalled client was skipped, not dropped: once it reads again it gets what was
    // queued, then every booth's state and `live:resync`, and stays connected.
    let resync = frame_where(&mut stalled, Duration::from_secs(30), |f| {
        f["event"] == "live:resync"
    })
    .await?;
    assert_eq!(resync["event"], "live:resync");
    bus.publish(&LiveUpdate {
        event: FrameKind::EventsUpdated,
        photomaton_id: None,
        data: json!({"after": "resync"}),
    })
    .await?;
    let after = frame_where(&mut stalled, Duration::from_secs(10), |f| {
        f["data"]["after"] == "resync"
    })
    .await?;
    assert_eq!(
        after["event"], "events:updated",
        "live again after catching up"
    );
    let metrics = staff.app.get("/metrics").await?.1;
    assert!(
        metrics.contains("boom_ws_clients_lagged_total 1"),
        "{metrics}"
    );
    // The reader has hung up; the once-stalled client is still connected.
    assert!(metrics.contains("boom_ws_clients 1\n"), "{metrics}");
    staff.app.stop().await
}

/// Updates published in a burst (more than the fan-out hands to the hub at once) reach a
/// client every one, in the order published, an undecodable one among them skipped without
/// losing its neighbours.
#[tokio::test]
async fn a_burst_of_updates_arrives_whole_and_in_order_past_an_undecodable_one()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let mut socket = connect(&staff.viewer).await?;
    let bus = Bus::connect(&ctx.settings.nats, "test", BusMetrics::default()).await?;
    // The socket hears the bus once an update published now reaches it.
    let mut heard = false;
    for _ in 0..50 {
        bus.publish(&LiveUpdate {
            event: FrameKind::EventsUpdated,
            photomaton_id: None,
            data: json!({"ready": true}),
        })
        .await?;
        if frame_where(&mut socket, Duration::from_millis(200), |f| {
            f["data"]["ready"] == true
        })
        .await
        .is_ok()
        {
            heard = true;
            break;
        }
    }
    anyhow::ensure!(heard, "the socket never heard the bus");
    // Readiness probes still on their way are let through before the burst is counted.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let total = 200;
    let subject = LiveUpdate::subject(bus.namespace());
    for n in 0..total {
        if n == 50 {
            bus.client()
                .publish(subject.clone(), "{not a live update".into())
                .await?;
        }
        bus.publish(&LiveUpdate {
            event: FrameKind::EventsUpdated,
            photomaton_id: None,
            data: json!({"n": n}),
        })
        .await?;
    }
    bus.client().flush().await?;
    let mut received = Vec::new();
    while received.len() < total {
        let frame = frame_where(&mut socket, Duration::from_secs(10), |f| {
            f["event"] == "events:updated" && f["data"]["ready"].is_null()
        })
        .await?;
        received.push(frame["data"]["n"].as_u64().unwrap_or(u64::MAX));
    }
    assert_eq!(received, (0..total as u64).collect::<Vec<_>>());
    staff.app.stop().await
}
