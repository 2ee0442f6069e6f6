//! Scenario 2: live fan-out of the gateway's WebSocket, beside a bare tokio-tungstenite
//! broadcast server and the original design's Node.js Socket.IO server, at the same rate to
//! the same number of clients.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};

use boom_testkit::gateway::SignedIn;

use crate::harness::{Service, free_port, percentile, rss, usage};
use crate::node::{self, Node};
use crate::profile::Profile;

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn clients(
    url: &str,
    cookie: Option<&str>,
    n: usize,
) -> anyhow::Result<Vec<Socket>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    // tungstenite zeroes its whole read buffer (128 KiB by default) before each read: with a
    // frame or two per read, the clients spent 4.5 % of the machine in `memset` during the
    // end-to-end scenario, taken from the servers they measure. 16 KiB holds several frames.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(16 * 1024);
    let mut sockets = Vec::with_capacity(n);
    for i in 0..n {
        let mut request = url.into_client_request()?;
        if let Some(cookie) = cookie {
            request.headers_mut().insert("cookie", cookie.parse()?);
        }
        let (socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), false)
                .await
                .map_err(|e| anyhow::anyhow!("WebSocket client {i} of {n} to {url}: {e:?}"))?;
        sockets.push(socket);
    }
    Ok(sockets)
}

/// Reads frames carrying `sentAt` (µs since epoch) until `until`; returns latencies (ms).
fn listen(sockets: Vec<Socket>, until: Instant) -> Vec<tokio::task::JoinHandle<Vec<f32>>> {
    sockets
        .into_iter()
        .map(|mut socket| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while let Ok(Some(Ok(message))) =
                    tokio::time::timeout_at(until.into(), socket.next()).await
                {
                    if let tokio_tungstenite::tungstenite::Message::Text(text) = message
                        && let Some(start) = text.find("\"sentAt\":")
                    {
                        let digits: String = text[start + 9..]
                            .chars()
                            .take_while(|c| c.is_ascii_digit())
                            .collect();
                        if let Ok(sent) = digits.parse::<i64>() {
                            latencies.push(
                                ((chrono::Utc::now().timestamp_micros() - sent) as f32) / 1000.0,
                            );
                        }
                    }
                }
                latencies
            })
        })
        .collect()
}

pub(crate) async fn bare_server(
    port: u16,
) -> anyhow::Result<tokio::sync::broadcast::Sender<Arc<str>>> {
    let (sender, _) = tokio::sync::broadcast::channel::<Arc<str>>(1024);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let tx = sender.clone();
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, say: the clients see it, the server goes on.
                    eprintln!("bare server: accept: {error}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            };
            let mut rx = tx.subscribe();
            tokio::spawn(async move {
                let Ok(mut socket) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Ok(frame) = rx.recv().await {
                    if socket
                        .send(tokio_tungstenite::tungstenite::Message::text(
                            frame.to_string(),
                        ))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    Ok(sender)
}

/// The bare server in a process of its own (`boom-bench --bare-server PORT`), broadcasting each
/// line of its standard input as a text frame. In the bench's process, its 10,000 sockets
/// beside the 10,000 clients' would pass the file limit (20,000 here, which a process without
/// privileges cannot raise), and its CPU and memory could not be told from the clients'.
pub(crate) fn serve_bare(port: u16) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let sender = bare_server(port).await?;
        tokio::task::spawn_blocking(move || {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                let _ = sender.send(line.into());
            }
        })
        .await?;
        anyhow::Ok(())
    })
}

/// A running `boom-bench --bare-server`; killed when dropped.
struct BareProcess {
    child: tokio::process::Child,
    frames: tokio::process::ChildStdin,
}

impl BareProcess {
    async fn start(port: u16) -> anyhow::Result<Self> {
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["--bare-server", &port.to_string()])
            .stdin(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let frames = child
            .stdin
            .take()
            .ok_or_else(|| anyhow::anyhow!("bare server: no stdin"))?;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return Ok(Self { child, frames });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("the bare server did not listen on {port}")
    }

    fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    async fn send(&mut self, frame: &str) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        self.frames
            .write_all(format!("{frame}\n").as_bytes())
            .await?;
        Ok(())
    }
}

fn summarize(latencies: Vec<Vec<f32>>, seconds: f64) -> (f64, f64, f64, usize) {
    let received: usize = latencies.iter().map(Vec::len).sum();
    let mut all: Vec<f64> = latencies.into_iter().flatten().map(f64::from).collect();
    (
        received as f64 / seconds,
        percentile(&mut all, 0.5),
        percentile(&mut all, 0.99),
        received,
    )
}

pub(crate) async fn run(
    ctx: &boom_testkit::TestContext,
    session: &SignedIn,
    gateway: &Service,
    n: usize,
    seconds: u64,
) -> anyhow::Result<Value> {
    let rate = 100u64;
    let expected = n as u64 * rate * seconds;
    let bus = boom_bus::Bus::connect(&ctx.settings.nats, "bench", boom_bus::BusMetrics::default())
        .await?;
    let rss_before = rss(gateway.child.id());
    let sockets = clients(
        &format!("ws://127.0.0.1:{}/ws", gateway.port),
        Some(&session.cookie),
        n,
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_connected = rss(gateway.child.id());
    let until = Instant::now() + Duration::from_secs(seconds + 3);
    let readers = listen(sockets, until);
    let profile = Profile::start("fanout");
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate));
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        tick.tick().await;
        let data =
            json!({"sentAt": chrono::Utc::now().timestamp_micros(), "padding": "booth update"});
        bus.publish(&boom_contracts::LiveUpdate {
            event: boom_contracts::messages::FrameKind::EventsUpdated,
            photomaton_id: None,
            data,
        })
        .await?;
    }
    let rss_peak = usage(gateway.child.id()).1;
    let profile = profile.map(|p| {
        p.finish(&[
            (gateway.child.id(), "gateway"),
            (std::process::id(), "clients (bench)"),
        ])
    });
    let mut results = Vec::new();
    for reader in readers {
        results.push(reader.await?);
    }
    let (ours, p50, p99, received) = summarize(results, seconds as f64);

    // The reference: a run that fails is reported as not measured, beside our figures.
    let bare = bare_reference(n, rate, seconds)
        .await
        .unwrap_or_else(|error| json!({"error": format!("{error:#}")}));
    let peer = socketio_peer(n, rate, seconds)
        .await
        .unwrap_or_else(|error| json!({"error": format!("{error:#}")}));
    let peer_ratio = ours / peer["framesPerSecond"].as_f64().unwrap_or(0.0).max(1.0);
    Ok(json!({
        "scenario": "fanout", "clients": n, "updatesPerSecond": rate,
        "oursFramesPerSecond": ours, "bareFramesPerSecond": bare["framesPerSecond"],
        "ratio": bare["framesPerSecond"].as_f64().map(|bare| ours / bare.max(1.0)),
        "latencyMs": {"p50": p50, "p99": p99}, "bareLatencyMs": bare["latencyMs"],
        "dropped": expected.saturating_sub(received as u64), "bareDropped": bare["dropped"],
        "gatewayRssKiB": {"idle": rss_before, "connected": rss_connected, "peak": rss_peak},
        "bareRssKiB": bare["rssKiB"], "bareError": bare["error"],
        "socketIo": peer, "ratioToSocketIo": peer_ratio,
        "profile": profile,
    }))
}

/// The limit: the bare tokio-tungstenite server (in its own process) broadcasting the same
/// frames at the same rate to as many clients.
async fn bare_reference(n: usize, rate: u64, seconds: u64) -> anyhow::Result<Value> {
    let expected = n as u64 * rate * seconds;
    let port = free_port()?;
    let mut bare_process = BareProcess::start(port).await?;
    let rss_idle = rss(bare_process.pid());
    let sockets = clients(&format!("ws://127.0.0.1:{port}"), None, n).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss(bare_process.pid());
    let readers = listen(sockets, Instant::now() + Duration::from_secs(seconds + 3));
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate));
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        tick.tick().await;
        let frame = json!({"event": "events:updated", "data": {"sentAt": chrono::Utc::now().timestamp_micros(), "padding": "booth update"}}).to_string();
        bare_process.send(&frame).await?;
    }
    let rss_peak = usage(bare_process.pid()).1;
    let mut results = Vec::new();
    for reader in readers {
        results.push(reader.await?);
    }
    let (frames, p50, p99, received) = summarize(results, seconds as f64);
    Ok(json!({
        "framesPerSecond": frames, "latencyMs": {"p50": p50, "p99": p99},
        "dropped": expected.saturating_sub(received as u64),
        "rssKiB": {"idle": rss_idle, "connected": rss_connected, "peak": rss_peak},
    }))
}

/// The original design's choice, measured beside ours: a Node.js Socket.IO server
/// (`crates/bench/socketio/server.js`) broadcasting the same frames at the same rate to `n`
/// socket.io-client connections in a second Node.js process (`clients.js`).
async fn socketio_peer(n: usize, rate: u64, seconds: u64) -> anyhow::Result<Value> {
    let port = free_port()?;
    let mut server = Node::spawn(
        "server.js",
        &[port.to_string(), rate.to_string(), seconds.to_string()],
        &[],
    )?;
    server
        .expect("listening", Duration::from_secs(20))
        .await
        .context("the Socket.IO server did not start")?;
    let rss_idle = rss(server.pid);
    let clients = node::socketio_clients(
        &format!("http://127.0.0.1:{port}"),
        n,
        seconds,
        "events:updated",
        "sentAt",
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss(server.pid);
    let profile = Profile::start("fanout-socketio");
    server.say("start").await?;
    let done = server.line(Duration::from_secs(seconds + 30)).await?;
    let emitted: u64 = done
        .strip_prefix("done ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let clients_pid = clients.pid;
    let summary = node::summary(clients, seconds).await?;
    let profile = profile.map(|p| {
        p.finish(&[
            (server.pid, "Socket.IO server (node)"),
            (clients_pid, "Socket.IO clients (node)"),
        ])
    });
    let peak = usage(server.pid).1;
    server.close().await;
    let received = summary["received"].as_u64().unwrap_or(0);
    Ok(json!({
        "framesPerSecond": received as f64 / seconds as f64,
        "latencyMs": {"p50": summary["p50"], "p99": summary["p99"]},
        "broadcasts": emitted,
        "dropped": (emitted * n as u64).saturating_sub(received),
        "serverRssKiB": {"idle": rss_idle, "connected": rss_connected, "peak": peak},
        "profile": profile,
    }))
}
