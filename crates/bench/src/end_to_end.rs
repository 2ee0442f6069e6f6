//! Scenario 6: live updates end to end, the path every real update takes: booth agents POST
//! batches to stats-ingest, the gateway's recorder commits them, the booth's new view goes to
//! every signed-in WebSocket client. Latency is measured from the POST: each batch carries its
//! send time (µs since the epoch) as the agent's `backlog`, which the booth's view shows as
//! `agentBacklog`; a client reading a view computes now − that. States of one booth may be
//! coalesced (the gateway publishes a booth's latest view at most every 200 ms); the latest
//! must arrive, which is checked at the end on one client per booth.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use serde_json::{Value, json};

use boom_testkit::gateway::SignedIn;

use crate::harness::{Service, percentile, usage};

/// Booths posting, and batches per second each (500 batches/s offered in all).
const BOOTHS: usize = 50;
const BATCHES_PER_BOOTH_PER_SECOND: u64 = 10;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The digits after `"key":` in `text`.
fn number_after(text: &str, key: &str) -> Option<i64> {
    let start = text.find(key)? + key.len();
    let digits: String = text[start..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

/// What one client saw: latencies (ms) from each view's POST, and the latest `agentBacklog`
/// per booth.
type Seen = (Vec<f32>, HashMap<i64, i64>);

/// Reads booth views until `until`.
fn listen(sockets: Vec<Socket>, until: Instant) -> Vec<tokio::task::JoinHandle<Seen>> {
    sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut latest: HashMap<i64, i64> = HashMap::new();
                while let Ok(Some(Ok(message))) =
                    tokio::time::timeout_at(until.into(), socket.next()).await
                {
                    let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
                        continue;
                    };
                    if !text.starts_with("{\"event\":\"photomaton:updated\"") {
                        continue;
                    }
                    let (Some(sent), Some(id)) = (
                        number_after(&text, "\"agentBacklog\":"),
                        number_after(&text, "\"id\":"),
                    ) else {
                        continue;
                    };
                    // Views of booths not posting in this run (the snapshot on connect).
                    if sent < 1_000_000_000_000_000 {
                        continue;
                    }
                    let now = chrono::Utc::now().timestamp_micros();
                    latencies.push(((now - sent) as f32) / 1000.0);
                    let seen = latest.entry(id).or_default();
                    *seen = (*seen).max(sent);
                }
                (latencies, latest)
            })
        })
        .collect()
}

pub(crate) async fn run(
    session: &SignedIn,
    gateway: &Service,
    ingest: &Service,
    clients_n: usize,
    seconds: u64,
) -> anyhow::Result<Value> {
    // Booths with agent keys, known to ingest through the registry.
    let mut booths = Vec::with_capacity(BOOTHS);
    for i in 0..BOOTHS {
        let hostname = format!("e2e-{i:03}");
        let created = session
            .send(
                reqwest::Method::POST,
                "/api/photomatons",
                Some(json!({"name": format!("E2E {i}"), "hostname": hostname})),
            )
            .await?;
        let id = created["id"].as_i64().context("no booth id")?;
        let key = session
            .send(
                reqwest::Method::POST,
                &format!("/api/photomatons/{id}/api-key"),
                Some(json!({})),
            )
            .await?["apiKey"]
            .as_str()
            .context("no agent key")?
            .to_owned();
        booths.push((id, hostname, key));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let mut sockets = Vec::with_capacity(clients_n);
    for i in 0..clients_n {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = format!("ws://127.0.0.1:{}/ws", gateway.port).into_client_request()?;
        request
            .headers_mut()
            .insert("cookie", session.cookie.parse()?);
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("WebSocket client {i} of {clients_n}"))?;
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let (cpu_gateway, cpu_ingest) = (usage(gateway.child.id()).0, usage(ingest.child.id()).0);
    let started = Instant::now();
    let send_until = started + Duration::from_secs(seconds);
    let listen_until = send_until + Duration::from_secs(5);
    let listeners = listen(sockets, listen_until);
    let http = reqwest::Client::new();
    let ingest_url = format!("http://127.0.0.1:{}/api/agent/sync", ingest.port);
    let mut senders = Vec::new();
    for (id, hostname, key) in booths.clone() {
        let (http, url) = (http.clone(), ingest_url.clone());
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(
                1_000_000 / BATCHES_PER_BOOTH_PER_SECOND,
            ));
            let (mut accepted, mut refused, mut last) = (0u64, 0u64, 0i64);
            while Instant::now() < send_until {
                tick.tick().await;
                let sent = chrono::Utc::now().timestamp_micros();
                let batch = json!({
                    "batchId": uuid::Uuid::new_v4(), "hostname": hostname, "backlog": sent,
                    "stats": [{"type": "session", "count": 1, "timestamp": chrono::Utc::now().to_rfc3339()}],
                });
                match http.post(&url).bearer_auth(&key).json(&batch).send().await {
                    Ok(r) if r.status().is_success() => {
                        accepted += 1;
                        last = sent;
                    }
                    _ => refused += 1,
                }
            }
            (id, accepted, refused, last)
        }));
    }
    let mut accepted = 0;
    let mut refused = 0;
    let mut last_sent: HashMap<i64, i64> = HashMap::new();
    for sender in senders {
        let (id, a, r, last) = sender.await?;
        accepted += a;
        refused += r;
        last_sent.insert(id, last);
    }
    let cpu = (
        usage(gateway.child.id()).0 - cpu_gateway,
        usage(ingest.child.id()).0 - cpu_ingest,
    );
    let mut latencies = Vec::new();
    let mut latest_ok = 0usize;
    for (k, listener) in listeners.into_iter().enumerate() {
        let (l, latest) = listener.await?;
        latencies.push(l);
        // The first client: did every booth's latest state reach it?
        if k == 0 {
            latest_ok = last_sent
                .iter()
                .filter(|(id, sent)| latest.get(id).is_some_and(|seen| seen >= sent))
                .count();
        }
    }
    let received: usize = latencies.iter().map(Vec::len).sum();
    let mut all: Vec<f64> = latencies.into_iter().flatten().map(f64::from).collect();
    // Per second of offered load (the listeners' tail only collects what was still coming).
    let window = seconds.max(1) as f64;
    Ok(json!({
        "scenario": "endToEnd",
        "clients": clients_n,
        "booths": BOOTHS,
        "batchesOffered": BOOTHS as u64 * BATCHES_PER_BOOTH_PER_SECOND * seconds,
        "batchesAccepted": accepted,
        "batchesRefused": refused,
        "framesPerSecond": received as f64 / window,
        "framesDelivered": received,
        "framesIfNoneCoalesced": accepted * clients_n as u64,
        "latencyMs": {"p50": percentile(&mut all, 0.5), "p99": percentile(&mut all, 0.99)},
        "latestArrived": {"booths": last_sent.len(), "arrived": latest_ok},
        "cpuSeconds": {"gateway": cpu.0, "ingest": cpu.1},
        "seconds": seconds,
    }))
}
