//! Scenario 6: live updates end to end, the path every real update takes: booth agents POST
//! batches to stats-ingest, the gateway's recorder commits them, the booth's new view goes to
//! every signed-in WebSocket client. Latency is measured from the POST: each batch carries its
//! send time (µs since the epoch) as the agent's `backlog`, which the booth's view shows as
//! `agentBacklog`; a client reading a view computes now − that. States of one booth may be
//! coalesced (the gateway gathers a booth's changes for `http.live_coalesce_ms`); the
//! latest must arrive, which is checked at the end on one client.
//!
//! Beside it, the same agents and the same number of clients, one after the other:
//! - the limit: a bare server that takes each POST (actix-web, no database) and broadcasts its
//!   send time to bare tokio-tungstenite clients, every batch a frame;
//! - the seed: the original design's path, POST → PostgreSQL transaction → Socket.IO emit
//!   (`crates/bench/socketio/seed.js`), to socket.io-client connections.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{Value, json};

use boom_testkit::gateway::SignedIn;

use crate::fanout::{Socket, bare_server, clients};
use crate::harness::{Service, free_port, percentile, usage};
use crate::node;
use crate::profile::Profile;

/// Booths posting, and batches per second each (500 batches/s offered in all).
const BOOTHS: usize = 50;
const BATCHES_PER_BOOTH_PER_SECOND: u64 = 10;

/// What the clients look for in a booth's view, each searcher built once (built per search,
/// it cost the clients a tenth of their time).
static BACKLOG: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\"agentBacklog\":"));
static HOSTNAME: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\"hostname\":\"e2e-"));

/// The digits after `key` in `text`.
fn number_after(text: &str, key: &memchr::memmem::Finder<'_>) -> Option<i64> {
    let start = key.find(text.as_bytes())? + key.needle().len();
    let rest = &text[start..];
    let end = rest
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// What one client saw: latencies (ms) from each view's POST, the latest `agentBacklog`
/// per booth, and how many other frames (the events' totals) came.
type Seen = (Vec<f32>, HashMap<i64, i64>, u64);

/// What the first client holds: the latest `agentBacklog` it saw per booth.
type Latest = Arc<std::sync::Mutex<HashMap<i64, i64>>>;

/// Reads booth views until told to stop; the first client also keeps `first` up to date.
fn listen(
    sockets: Vec<Socket>,
    stop: &tokio::sync::watch::Receiver<bool>,
    first: &Latest,
) -> Vec<tokio::task::JoinHandle<Seen>> {
    sockets
        .into_iter()
        .enumerate()
        .map(|(k, mut socket)| {
            let mut stop = stop.clone();
            let first = (k == 0).then(|| first.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut latest: HashMap<i64, i64> = HashMap::new();
                let mut others = 0u64;
                loop {
                    let message = tokio::select! {
                        _ = stop.changed() => break,
                        message = socket.next() => message,
                    };
                    let Some(Ok(message)) = message else { break };
                    let tokio_tungstenite::tungstenite::Message::Text(text) = message else {
                        continue;
                    };
                    if !text.starts_with("{\"event\":\"photomaton:updated\"") {
                        others += 1;
                        continue;
                    }
                    // Keyed by the booth's number in its hostname (`e2e-007`): views are
                    // serialised with sorted keys, so the first `"id"` is its event's.
                    let (Some(sent), Some(id)) = (
                        number_after(&text, &BACKLOG),
                        number_after(&text, &HOSTNAME),
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
                    if let Some(first) = &first
                        && let Ok(mut first) = first.lock()
                    {
                        first.insert(id, *seen);
                    }
                }
                (latencies, latest, others)
            })
        })
        .collect()
}

/// After the last POST: waits (at most a minute) until the first client holds every booth's
/// latest state, then stops every listener. Returns how long that took (ms), or `None`.
async fn until_latest(
    first: &Latest,
    posted: &Posted,
    stop: tokio::sync::watch::Sender<bool>,
) -> Option<f64> {
    let started = Instant::now();
    let mut arrived = None;
    while started.elapsed() < Duration::from_secs(60) {
        let all = first.lock().is_ok_and(|latest| {
            posted
                .last_sent
                .iter()
                .all(|(id, sent)| latest.get(id).is_some_and(|seen| seen >= sent))
        });
        if all {
            arrived = Some(started.elapsed().as_secs_f64() * 1000.0);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Whatever was still on its way a moment later is counted too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let _ = stop.send(true);
    arrived
}

/// A booth that posts: its number (`e2e-NNN`, how its frames are told apart), hostname and
/// agent key.
#[derive(Clone)]
struct Booth {
    number: i64,
    hostname: String,
    key: String,
}

/// What the agents managed: batches accepted and refused, and each booth's last accepted send
/// time.
struct Posted {
    accepted: u64,
    refused: u64,
    last_sent: HashMap<i64, i64>,
}

/// Every booth posts [`BATCHES_PER_BOOTH_PER_SECOND`] one-line batches to `url` (an agent's
/// sync) for `seconds`.
async fn post_batches(url: &str, booths: &[Booth], seconds: u64) -> anyhow::Result<Posted> {
    let http = reqwest::Client::new();
    let send_until = Instant::now() + Duration::from_secs(seconds);
    let mut senders = Vec::new();
    for booth in booths.iter().cloned() {
        let (http, url) = (http.clone(), url.to_owned());
        senders.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(
                1_000_000 / BATCHES_PER_BOOTH_PER_SECOND,
            ));
            let (mut accepted, mut refused, mut last) = (0u64, 0u64, 0i64);
            while Instant::now() < send_until {
                tick.tick().await;
                let sent = chrono::Utc::now().timestamp_micros();
                let batch = json!({
                    "batchId": uuid::Uuid::new_v4(), "hostname": booth.hostname, "backlog": sent,
                    "stats": [{"type": "session", "count": 1, "timestamp": chrono::Utc::now().to_rfc3339()}],
                });
                match http.post(&url).bearer_auth(&booth.key).json(&batch).send().await {
                    Ok(r) if r.status().is_success() => {
                        accepted += 1;
                        last = sent;
                    }
                    _ => refused += 1,
                }
            }
            (booth.number, accepted, refused, last)
        }));
    }
    let mut posted = Posted {
        accepted: 0,
        refused: 0,
        last_sent: HashMap::new(),
    };
    for sender in senders {
        let (id, a, r, last) = sender.await?;
        posted.accepted += a;
        posted.refused += r;
        posted.last_sent.insert(id, last);
    }
    Ok(posted)
}

/// Frames per second of offered load, latencies, and how many booths' latest state reached
/// the first client, from what the listeners saw.
async fn tally(
    listeners: Vec<tokio::task::JoinHandle<Seen>>,
    posted: &Posted,
    seconds: u64,
) -> anyhow::Result<Value> {
    let mut latencies = Vec::new();
    let mut latest_ok = 0usize;
    let mut other_frames = 0u64;
    let mut clients_complete = 0usize;
    for (k, listener) in listeners.into_iter().enumerate() {
        let (l, latest, others) = listener.await?;
        other_frames += others;
        latencies.push(l);
        let arrived = posted
            .last_sent
            .iter()
            .filter(|(id, sent)| latest.get(id).is_some_and(|seen| seen >= sent))
            .count();
        if k == 0 {
            latest_ok = arrived;
        }
        if arrived == posted.last_sent.len() {
            clients_complete += 1;
        }
    }
    let received: usize = latencies.iter().map(Vec::len).sum();
    let mut all: Vec<f64> = latencies.into_iter().flatten().map(f64::from).collect();
    // Per second of offered load (the listeners' tail only collects what was still coming).
    let window = seconds.max(1) as f64;
    Ok(json!({
        "batchesAccepted": posted.accepted,
        "batchesRefused": posted.refused,
        "framesPerSecond": received as f64 / window,
        "framesDelivered": received,
        "otherFramesDelivered": other_frames,
        "latencyMs": {"p50": percentile(&mut all, 0.5), "p99": percentile(&mut all, 0.99)},
        "latestArrived": {"booths": posted.last_sent.len(), "arrived": latest_ok, "clientsWithEveryLatest": clients_complete},
    }))
}

pub(crate) async fn run(
    ctx: &boom_testkit::TestContext,
    session: &SignedIn,
    gateway: &Service,
    ingest: &Service,
    clients_n: usize,
    seconds: u64,
) -> anyhow::Result<Value> {
    let booths = booths(ctx, session).await?;
    let keys: Vec<&str> = booths.iter().map(|b| b.key.as_str()).collect();
    crate::harness::until_ingest_knows(ingest.port, &keys).await?;
    let mut ours = ours(gateway, ingest, session, &booths, clients_n, seconds).await?;
    let bare = bare(&booths, clients_n, seconds)
        .await
        .unwrap_or_else(|error| json!({"error": format!("{error:#}")}));
    let seed = seed(ctx, &booths, clients_n, seconds)
        .await
        .unwrap_or_else(|error| json!({"error": format!("{error:#}")}));
    let frames = |v: &Value| v["framesPerSecond"].as_f64().unwrap_or(0.0);
    ours["scenario"] = json!("endToEnd");
    ours["clients"] = json!(clients_n);
    ours["booths"] = json!(BOOTHS);
    ours["batchesOffered"] = json!(BOOTHS as u64 * BATCHES_PER_BOOTH_PER_SECOND * seconds);
    ours["seconds"] = json!(seconds);
    ours["ratioToBare"] = json!(frames(&ours) / frames(&bare).max(1.0));
    ours["ratioToSeed"] = json!(frames(&ours) / frames(&seed).max(1.0));
    ours["bare"] = bare;
    ours["seed"] = seed;
    Ok(ours)
}

/// LE BOOM's booths with agent keys (known to ingest through the registry), each at its own
/// event tonight, as at a Saturday's weddings: every batch also changes its event's totals.
async fn booths(ctx: &boom_testkit::TestContext, session: &SignedIn) -> anyhow::Result<Vec<Booth>> {
    let mut booths = Vec::with_capacity(BOOTHS);
    for i in 0..BOOTHS {
        let hostname = format!("e2e-{i:03}");
        let (_, key) = session
            .booth_with_key(&format!("E2E {i}"), &hostname)
            .await?;
        booths.push(Booth {
            number: i as i64,
            hostname,
            key,
        });
    }
    crate::harness::at_events_tonight(ctx, "e2e-").await?;
    Ok(booths)
}

/// LE BOOM: agents → stats-ingest → NATS → the gateway's recorder → browsers.
async fn ours(
    gateway: &Service,
    ingest: &Service,
    session: &SignedIn,
    booths: &[Booth],
    clients_n: usize,
    seconds: u64,
) -> anyhow::Result<Value> {
    let sockets = clients(
        &format!("ws://127.0.0.1:{}/ws", gateway.port),
        Some(&session.cookie),
        clients_n,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (cpu_gateway, cpu_ingest) = (usage(gateway.child.id()).0, usage(ingest.child.id()).0);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first = Latest::default();
    let listeners = listen(sockets, &stopped, &first);
    let metrics_before = gateway_metrics(gateway.port).await.unwrap_or_default();
    let profile = Profile::start("e2e");
    let url = format!("http://127.0.0.1:{}/api/agent/sync", ingest.port);
    let posted = post_batches(&url, booths, seconds).await?;
    let last_state_ms = until_latest(&first, &posted, stop).await;
    let cpu = (
        usage(gateway.child.id()).0 - cpu_gateway,
        usage(ingest.child.id()).0 - cpu_ingest,
    );
    let profile = profile.map(|p| {
        p.finish(&[
            (gateway.child.id(), "gateway"),
            (ingest.child.id(), "stats-ingest"),
            (std::process::id(), "agents and clients (bench)"),
        ])
    });
    let mut figures = tally(listeners, &posted, seconds).await?;
    let metrics_after = gateway_metrics(gateway.port).await.unwrap_or_default();
    let delta = |name: &str| {
        metrics_after[name].as_f64().unwrap_or(0.0) - metrics_before[name].as_f64().unwrap_or(0.0)
    };
    figures["gatewayMetrics"] = json!({
        "recorderLagMeanMs": delta("recorderLagSumSeconds") * 1000.0 / delta("batchesRecorded").max(1.0),
        "recorderCommitMeanMs": delta("recorderCommitSumSeconds") * 1000.0 / delta("groupsRecorded").max(1.0),
        "groupsRecorded": delta("groupsRecorded"),
        "batchesRecorded": delta("batchesRecorded"),
        "clientsLagged": delta("clientsLagged"),
        "framesQueued": delta("framesDelivered"),
    });
    figures["lastStateAfterLastPostMs"] = json!(last_state_ms);
    figures["framesIfNoneCoalesced"] = json!(posted.accepted * clients_n as u64);
    figures["cpuSeconds"] = json!({"gateway": cpu.0, "ingest": cpu.1});
    figures["profile"] = json!(profile);
    Ok(figures)
}

/// What the gateway's counters say (`/metrics`, since it started): the recorder's summed lag
/// from ingest to commit and batches recorded, its summed time per group's transaction and
/// groups recorded, WebSocket clients that fell behind, frames
/// queued to clients.
async fn gateway_metrics(port: u16) -> anyhow::Result<Value> {
    let text = reqwest::get(format!("http://127.0.0.1:{port}/metrics"))
        .await?
        .text()
        .await?;
    let sum = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && !l.starts_with('#'))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    Ok(json!({
        "recorderLagSumSeconds": sum("boom_recorder_lag_seconds_sum"),
        "batchesRecorded": sum("boom_recorder_lag_seconds_count"),
        "recorderCommitSumSeconds": sum("boom_recorder_commit_seconds_sum"),
        "groupsRecorded": sum("boom_recorder_commit_seconds_count"),
        "clientsLagged": sum("boom_ws_clients_lagged_total"),
        "framesDelivered": sum("boom_ws_frames_delivered_total"),
    }))
}

/// The limit: each POST's send time goes at once, as a frame, to every bare client.
async fn bare(booths: &[Booth], clients_n: usize, seconds: u64) -> anyhow::Result<Value> {
    let ws_port = free_port()?;
    let frames = bare_server(ws_port).await?;
    let http_port = free_port()?;
    let server = actix_web::HttpServer::new(move || {
        let frames = frames.clone();
        actix_web::App::new().route(
            "/api/agent/sync",
            actix_web::web::post().to(move |batch: actix_web::web::Json<Value>| {
                let frames = frames.clone();
                async move {
                    let hostname = batch["hostname"].as_str().unwrap_or_default().to_owned();
                    let sent = batch["backlog"].as_i64().unwrap_or(0);
                    let frame = format!(
                        r#"{{"event":"photomaton:updated","data":{{"agentBacklog":{sent},"hostname":"{hostname}"}}}}"#
                    );
                    let _ = frames.send(frame.into());
                    actix_web::HttpResponse::Accepted().finish()
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .bind(("127.0.0.1", http_port))?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let sockets = clients(&format!("ws://127.0.0.1:{ws_port}"), None, clients_n).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let first = Latest::default();
    let listeners = listen(sockets, &stopped, &first);
    let url = format!("http://127.0.0.1:{http_port}/api/agent/sync");
    let posted = post_batches(&url, booths, seconds).await?;
    let last_state_ms = until_latest(&first, &posted, stop).await;
    let figures = tally(listeners, &posted, seconds).await.map(|mut figures| {
        figures["lastStateAfterLastPostMs"] = json!(last_state_ms);
        figures
    });
    handle.stop(false).await;
    figures
}

/// The seed: POST → PostgreSQL → Socket.IO emit, in Node.js, to socket.io-client connections.
async fn seed(
    ctx: &boom_testkit::TestContext,
    booths: &[Booth],
    clients_n: usize,
    seconds: u64,
) -> anyhow::Result<Value> {
    // node-postgres: the faster of the seed's two clients (see `ingest::seed`).
    let (mut server, port) = node::seed_server(ctx, "seed_e2e", "pg").await?;
    for booth in booths {
        server
            .say(&format!("booth {} {}", booth.hostname, booth.key))
            .await?;
        let line = server.line(Duration::from_secs(10)).await?;
        if !line.starts_with("booth ") {
            anyhow::bail!("the seed answered {line:?}");
        }
    }
    let clients = node::socketio_clients(
        &format!("http://127.0.0.1:{port}"),
        clients_n,
        seconds,
        "photomaton:updated",
        "agentBacklog",
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu = usage(server.pid).0;
    let profile = Profile::start("e2e-seed");
    let url = format!("http://127.0.0.1:{port}/api/agent/sync");
    let posted = post_batches(&url, booths, seconds).await?;
    let cpu = usage(server.pid).0 - cpu;
    let clients_pid = clients.pid;
    let profile = profile.map(|p| {
        p.finish(&[
            (server.pid, "seed server (node)"),
            (clients_pid, "Socket.IO clients (node)"),
            (std::process::id(), "agents (bench)"),
        ])
    });
    let summary = node::summary(clients, seconds).await?;
    server.close().await;
    let received = summary["received"].as_u64().unwrap_or(0);
    Ok(json!({
        "batchesAccepted": posted.accepted,
        "batchesRefused": posted.refused,
        "framesPerSecond": received as f64 / seconds.max(1) as f64,
        "framesDelivered": received,
        "latencyMs": {"p50": summary["p50"], "p99": summary["p99"]},
        "cpuSeconds": {"server": cpu},
        "profile": profile,
    }))
}
