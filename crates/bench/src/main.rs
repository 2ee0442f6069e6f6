//! `boom-bench` (`just bench`): each scenario runs LE BOOM beside its reference, on loopback, in
//! the same run, and reports the ratio. Writes `docs/benchmarks.md` and
//! `target/bench/report.json`. Services run as child processes so that their CPU and memory
//! are measured on their own.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "LE BOOM benchmarks, beside their references")]
struct Args {
    /// A smoke run: small sizes, a few seconds each.
    #[arg(long)]
    quick: bool,
    /// WebSocket clients for the fan-out scenario.
    #[arg(long)]
    clients: Option<usize>,
    /// Seconds per measured phase.
    #[arg(long)]
    seconds: Option<u64>,
}

fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index.min(samples.len() - 1)]
}

/// CPU seconds and peak resident memory (KiB) of a process.
fn usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (cpu, peak)
}

fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

struct Service {
    child: Child,
    port: u16,
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().context("no target dir")?.join(name);
    if !path.exists() {
        bail!("{} missing: run through `just bench`", path.display());
    }
    Ok(path)
}

fn start(name: &str, env: &[(String, String)], port: u16) -> anyhow::Result<Service> {
    let child = Command::new(binary(name)?)
        .env_clear()
        .envs(env.iter().cloned())
        .env("BOOM__HTTP__ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(Service { child, port })
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn wait_healthy(port: u16) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http
            .get(format!("http://127.0.0.1:{port}/api/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("service on {port} never healthy")
}

struct Session {
    base: String,
    http: reqwest::Client,
    cookie: String,
    csrf: String,
}

impl Session {
    async fn login(base: &str, password: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"username": "bench", "password": password}))
            .send()
            .await?;
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_owned();
        let me: Value = response.json().await?;
        Ok(Self {
            base: base.to_owned(),
            http,
            cookie,
            csrf: me["csrfToken"].as_str().unwrap_or_default().to_owned(),
        })
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.base)
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await?;
        Ok(response.json().await?)
    }
}

async fn sql(ctx: &boom_testkit::TestContext, statement: &str) -> anyhow::Result<()> {
    use diesel_async::SimpleAsyncConnection;
    ctx.connection().await?.batch_execute(statement).await?;
    Ok(())
}

async fn count(ctx: &boom_testkit::TestContext, query: &str) -> anyhow::Result<i64> {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = ctx.connection().await?;
    Ok(diesel::sql_query(query).get_result::<N>(&mut conn).await?.n)
}

// ----------------------------------------------------------------------------------------------
// 1. Ingest end to end, beside COPY.

async fn ingest(
    ctx: &boom_testkit::TestContext,
    session: &Session,
    ingest: &Service,
    gateway: &Service,
    seconds: u64,
    quick: bool,
) -> anyhow::Result<Value> {
    let booths = if quick { 4 } else { 16 };
    let lines = 200;
    let mut keys = Vec::new();
    for i in 0..booths {
        let hostname = format!("bench-{i:03}");
        let booth = session
            .post(
                "/api/photomatons",
                json!({"name": hostname, "hostname": hostname}),
            )
            .await?;
        let key = session
            .post(
                &format!("/api/photomatons/{}/api-key", booth["id"]),
                json!({}),
            )
            .await?["apiKey"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        keys.push((hostname, key));
    }
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/api/agent/sync", ingest.port);
    for (_, key) in &keys {
        for _ in 0..100 {
            if http
                .post(&url)
                .bearer_auth(key)
                .json(&json!({}))
                .send()
                .await?
                .status()
                .as_u16()
                == 422
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let (ingest_cpu0, _) = usage(ingest.child.id());
    let (gateway_cpu0, _) = usage(gateway.child.id());
    let sent = Arc::new(AtomicU64::new(0));
    let profile = Profile::start("ingest");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (hostname, key) in keys.clone() {
        let (http, url, sent) = (http.clone(), url.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let now = chrono::Utc::now().to_rfc3339();
                let stats: Vec<Value> = (0..lines)
                    .map(|_| json!({"type": "print", "count": 1, "timestamp": now}))
                    .collect();
                let body =
                    json!({"batchId": uuid::Uuid::new_v4(), "hostname": hostname, "stats": stats});
                match http.post(&url).bearer_auth(&key).json(&body).send().await {
                    Ok(r) if r.status().as_u16() == 202 => {
                        sent.fetch_add(lines as u64, Ordering::Relaxed);
                    }
                    _ => tokio::time::sleep(Duration::from_millis(50)).await,
                }
            }
        }));
    }
    for task in tasks {
        task.await?;
    }
    let sent_rows = sent.load(Ordering::Relaxed) as i64;
    loop {
        // One row per committed batch, not per line: polling must not load the database
        // under test (a count(*) of photos every 50 ms was a fifth of PostgreSQL's time).
        let committed = count(
            ctx,
            "SELECT coalesce(sum(media_count), 0)::bigint AS n FROM ingest_batches",
        )
        .await?;
        if committed >= sent_rows || started.elapsed() > Duration::from_secs(seconds + 120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let profile = profile.map(|p| {
        p.finish(&[
            (gateway.child.id(), "gateway"),
            (ingest.child.id(), "stats-ingest"),
            (std::process::id(), "agents (bench)"),
        ])
    });
    let committed = count(
        ctx,
        "SELECT coalesce(sum(count), 0)::bigint AS n FROM photos",
    )
    .await?;
    let rows = count(ctx, "SELECT count(*) AS n FROM photos").await?;
    let (ingest_cpu1, ingest_peak) = usage(ingest.child.id());
    let (gateway_cpu1, gateway_peak) = usage(gateway.child.id());
    let ours = rows as f64 / elapsed;

    // Latency at a moderate fixed rate: 20 batches per second of 10 lines.
    let mut sends = HashMap::new();
    let rate_end = Instant::now() + Duration::from_secs(seconds.min(5));
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    let mut i = 0;
    while Instant::now() < rate_end {
        tick.tick().await;
        let (hostname, key) = &keys[i % keys.len()];
        i += 1;
        let id = uuid::Uuid::new_v4();
        let now = chrono::Utc::now();
        let stats: Vec<Value> = (0..10)
            .map(|_| json!({"type": "photo", "count": 1, "timestamp": now.to_rfc3339()}))
            .collect();
        let (http, url, key, hostname) = (http.clone(), url.clone(), key.clone(), hostname.clone());
        sends.insert(id, now);
        tokio::spawn(async move {
            http.post(&url)
                .bearer_auth(&key)
                .json(&json!({"batchId": id, "hostname": hostname, "stats": stats}))
                .send()
                .await
        });
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut latencies = Vec::new();
    {
        use diesel_async::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Uuid)]
            batch_id: uuid::Uuid,
            #[diesel(sql_type = diesel::sql_types::Timestamptz)]
            committed_at: chrono::DateTime<chrono::Utc>,
        }
        let ids: Vec<uuid::Uuid> = sends.keys().copied().collect();
        let mut conn = ctx.connection().await?;
        let rows: Vec<Row> = diesel::sql_query(
            "SELECT batch_id, committed_at FROM ingest_batches WHERE batch_id = ANY($1)",
        )
        .bind::<diesel::sql_types::Array<diesel::sql_types::Uuid>, _>(ids)
        .load(&mut conn)
        .await?;
        for row in rows {
            if let Some(sent_at) = sends.get(&row.batch_id) {
                latencies.push(
                    (row.committed_at - *sent_at)
                        .num_microseconds()
                        .unwrap_or(0) as f64
                        / 1000.0,
                );
            }
        }
    }
    let delivered = latencies.len();
    let (p50, p99) = (
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99),
    );

    // The limit: COPY of as many rows into the same table.
    let booth_id = count(ctx, "SELECT min(id)::bigint AS n FROM photomatons").await?;
    let now = chrono::Utc::now().to_rfc3339();
    let mut csv = String::with_capacity(rows as usize * 48);
    for _ in 0..rows {
        csv.push_str(&format!("{booth_id},PRINT,1,{now}\n"));
    }
    let copy_started = Instant::now();
    let mut psql = Command::new("psql")
        .arg(ctx.database_url())
        .args(["-q", "-c", "\\copy photos (photomaton_id, media_type, count, \"timestamp\") FROM STDIN WITH (FORMAT csv)"])
        .stdin(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        psql.stdin
            .take()
            .context("psql stdin")?
            .write_all(csv.as_bytes())?;
    }
    psql.wait()?;
    let copy_rate = rows as f64 / copy_started.elapsed().as_secs_f64();

    Ok(json!({
        "scenario": "ingest",
        "sentEvents": sent_rows, "committedEvents": committed, "lost": (sent_rows - committed).max(0), "doubleCounted": (committed - sent_rows).max(0),
        "oursRowsPerSecond": ours, "copyRowsPerSecond": copy_rate, "ratio": ours / copy_rate,
        "latencyMs": {"p50": p50, "p99": p99, "batches": delivered, "rate": "20 batches/s of 10 lines"},
        "ingest": {"cpuSeconds": ingest_cpu1 - ingest_cpu0, "peakRssKiB": ingest_peak},
        "gateway": {"cpuSeconds": gateway_cpu1 - gateway_cpu0, "peakRssKiB": gateway_peak},
        "agents": booths, "linesPerBatch": lines,
        "profile": profile,
    }))
}

// ----------------------------------------------------------------------------------------------
// 2. Live fan-out, beside a bare tokio-tungstenite broadcast server.

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn clients(url: &str, cookie: Option<&str>, n: usize) -> anyhow::Result<Vec<Socket>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut sockets = Vec::with_capacity(n);
    for i in 0..n {
        let mut request = url.into_client_request()?;
        if let Some(cookie) = cookie {
            request.headers_mut().insert("cookie", cookie.parse()?);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("WebSocket client {i} of {n} to {url}"))?;
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

async fn bare_server(port: u16) -> anyhow::Result<tokio::sync::broadcast::Sender<Arc<str>>> {
    let (sender, _) = tokio::sync::broadcast::channel::<Arc<str>>(1024);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let tx = sender.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
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

async fn fanout(
    ctx: &boom_testkit::TestContext,
    session: &Session,
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
            event: boom_contracts::messages::LiveEvent::EventsUpdated,
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

    let port = free_port()?;
    let sender = bare_server(port).await?;
    let sockets = clients(&format!("ws://127.0.0.1:{port}"), None, n).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let readers = listen(sockets, Instant::now() + Duration::from_secs(seconds + 3));
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate));
    let end = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < end {
        tick.tick().await;
        let frame = json!({"event": "events:updated", "data": {"sentAt": chrono::Utc::now().timestamp_micros(), "padding": "booth update"}}).to_string();
        let _ = sender.send(frame.into());
    }
    let mut results = Vec::new();
    for reader in readers {
        results.push(reader.await?);
    }
    let (bare, bare_p50, bare_p99, bare_received) = summarize(results, seconds as f64);
    let peer = socketio_peer(n, rate, seconds)
        .await
        .unwrap_or_else(|error| json!({"error": format!("{error:#}")}));
    let peer_ratio = ours / peer["framesPerSecond"].as_f64().unwrap_or(0.0).max(1.0);
    Ok(json!({
        "scenario": "fanout", "clients": n, "updatesPerSecond": rate,
        "oursFramesPerSecond": ours, "bareFramesPerSecond": bare, "ratio": ours / bare.max(1.0),
        "latencyMs": {"p50": p50, "p99": p99}, "bareLatencyMs": {"p50": bare_p50, "p99": bare_p99},
        "dropped": expected.saturating_sub(received as u64), "bareDropped": expected.saturating_sub(bare_received as u64),
        "gatewayRssKiB": {"idle": rss_before, "connected": rss_connected, "peak": rss_peak},
        "socketIo": peer, "ratioToSocketIo": peer_ratio,
        "profile": profile,
    }))
}

/// The original design's choice, measured beside ours: a Node.js Socket.IO server
/// (`crates/bench/socketio/server.js`) broadcasting the same frames at the same rate to `n`
/// socket.io-client connections in a second Node.js process (`clients.js`).
async fn socketio_peer(n: usize, rate: u64, seconds: u64) -> anyhow::Result<Value> {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("socketio");
    if !dir.join("node_modules/socket.io").exists() {
        bail!(
            "the Socket.IO peer is not installed: run through `just bench` (scripts/bench-tools.sh)"
        );
    }
    let port = free_port()?;
    let mut server = tokio::process::Command::new("node")
        .arg("server.js")
        .args([port.to_string(), rate.to_string(), seconds.to_string()])
        .current_dir(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("node not found: run through `just bench`")?;
    let server_pid = server.id().context("server pid")?;
    let mut server_out = BufReader::new(server.stdout.take().context("server stdout")?).lines();
    let mut server_in = server.stdin.take().context("server stdin")?;
    let line = tokio::time::timeout(Duration::from_secs(20), server_out.next_line()).await;
    if !matches!(line, Ok(Ok(Some(ref l))) if l == "listening") {
        bail!("the Socket.IO server did not start: {line:?}");
    }
    let rss_idle = rss(server_pid);
    let mut clients = tokio::process::Command::new("node")
        .arg("clients.js")
        .args([
            format!("http://127.0.0.1:{port}"),
            n.to_string(),
            seconds.to_string(),
        ])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let clients_pid = clients.id().context("clients pid")?;
    let mut clients_out = BufReader::new(clients.stdout.take().context("clients stdout")?).lines();
    let line = tokio::time::timeout(Duration::from_secs(120), clients_out.next_line()).await;
    if !matches!(line, Ok(Ok(Some(ref l))) if l == "ready") {
        bail!("the Socket.IO clients did not connect: {line:?}");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_connected = rss(server_pid);
    let profile = Profile::start("fanout-socketio");
    server_in.write_all(b"start\n").await?;
    let done = tokio::time::timeout(Duration::from_secs(seconds + 30), server_out.next_line())
        .await??
        .unwrap_or_default();
    let emitted: u64 = done
        .strip_prefix("done ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let summary = tokio::time::timeout(Duration::from_secs(seconds + 30), clients_out.next_line())
        .await??
        .unwrap_or_default();
    let profile = profile.map(|p| {
        p.finish(&[
            (server_pid, "Socket.IO server (node)"),
            (clients_pid, "Socket.IO clients (node)"),
        ])
    });
    let peak = usage(server_pid).1;
    drop(server_in);
    let _ = server.wait().await;
    let _ = clients.wait().await;
    let summary: Value = serde_json::from_str(&summary)
        .with_context(|| format!("the Socket.IO clients answered {summary:?}"))?;
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

// ----------------------------------------------------------------------------------------------
// 3. API under closed-loop load, beside a minimal actix-web handler serving the same bytes.

async fn closed_loop(
    url: String,
    cookie: Option<String>,
    workers: usize,
    seconds: u64,
) -> (f64, f64) {
    let end = Instant::now() + Duration::from_secs(seconds);
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (http, url, cookie) = (http.clone(), url.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let started = Instant::now();
                let mut request = http.get(&url);
                if let Some(cookie) = &cookie {
                    request = request.header("cookie", cookie);
                }
                if let Ok(response) = request.send().await
                    && response.bytes().await.is_ok()
                {
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    (
        all.len() as f64 / seconds as f64,
        percentile(&mut all, 0.99),
    )
}

async fn api(
    ctx: &boom_testkit::TestContext,
    session: &Session,
    gateway: &Service,
    seconds: u64,
) -> anyhow::Result<Value> {
    sql(ctx, "INSERT INTO photomatons (name, hostname, tailscale_ip, router_tailscale_ip)
              SELECT 'Booth ' || i, 'api-' || i, '100.64.0.1', '100.64.0.2' FROM generate_series(1, 1000) i").await?;
    sql(ctx, "INSERT INTO events (notion_page_id, client_name, photomaton_id, status)
              SELECT 'bench-page', 'Bench', min(id), 'ACTIVE' FROM photomatons;
              INSERT INTO photos (event_id, photomaton_id, media_type, count, \"timestamp\")
              SELECT e.id, e.photomaton_id, (ARRAY['SESSION','PHOTO','PRINT','DIGITAL','GIF']::media_type[])[1 + i % 5], 1, now() - (i || ' seconds')::interval
              FROM events e, generate_series(1, 100000) i WHERE e.notion_page_id = 'bench-page'").await?;
    let event = count(
        ctx,
        "SELECT id::bigint AS n FROM events WHERE notion_page_id = 'bench-page'",
    )
    .await?;
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let list_url = format!("{base}/api/photomatons?limit=1000");
    let event_url = format!("{base}/api/events/{event}");
    let cookie = Some(session.cookie.clone());
    let programs = [
        (gateway.child.id(), "gateway"),
        (std::process::id(), "clients (bench)"),
    ];
    let profile = Profile::start("api-photomatons");
    let (list_rps, list_p99) = closed_loop(list_url.clone(), cookie.clone(), 32, seconds).await;
    let list_profile = profile.map(|p| p.finish(&programs));
    let profile = Profile::start("api-event");
    let (event_rps, event_p99) = closed_loop(event_url.clone(), cookie.clone(), 32, seconds).await;
    let event_profile = profile.map(|p| p.finish(&programs));

    let get = |url: String| {
        let cookie = session.cookie.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await?
                .bytes()
                .await
        }
    };
    let list_bytes = get(list_url).await?;
    let event_bytes = get(event_url).await?;
    let port = free_port()?;
    let (lb, eb) = (list_bytes.clone(), event_bytes.clone());
    let server = actix_web::HttpServer::new(move || {
        let (lb, eb) = (lb.clone(), eb.clone());
        actix_web::App::new()
            .route(
                "/list",
                actix_web::web::get().to(move || {
                    let b = lb.clone();
                    async move {
                        actix_web::HttpResponse::Ok()
                            .content_type("application/json")
                            .body(b)
                    }
                }),
            )
            .route(
                "/event",
                actix_web::web::get().to(move || {
                    let b = eb.clone();
                    async move {
                        actix_web::HttpResponse::Ok()
                            .content_type("application/json")
                            .body(b)
                    }
                }),
            )
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", port))?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let (ref_list_rps, ref_list_p99) =
        closed_loop(format!("http://127.0.0.1:{port}/list"), None, 32, seconds).await;
    let (ref_event_rps, ref_event_p99) =
        closed_loop(format!("http://127.0.0.1:{port}/event"), None, 32, seconds).await;
    handle.stop(false).await;
    Ok(json!({
        "scenario": "api", "concurrency": 32,
        "photomatons": {"bytes": list_bytes.len(), "oursRps": list_rps, "oursP99Ms": list_p99, "referenceRps": ref_list_rps, "referenceP99Ms": ref_list_p99, "ratio": list_rps / ref_list_rps.max(1.0), "profile": list_profile},
        "eventDetail": {"mediaRows": 100000, "bytes": event_bytes.len(), "oursRps": event_rps, "oursP99Ms": event_p99, "referenceRps": ref_event_rps, "referenceP99Ms": ref_event_p99, "ratio": event_rps / ref_event_rps.max(1.0), "profile": event_profile},
    }))
}

// ----------------------------------------------------------------------------------------------
// Profiles: `perf record` of the whole machine during our side of a scenario, with the
// software clock (these virtual machines expose no hardware counters) and without call graphs
// (Rust omits frame pointers). Each sample is put down to a program (our services by pid,
// others by name) and a symbol: the report gives each program's share and the hottest symbols.

/// A system-wide sampling profile, running until [`Profile::finish`]ed or dropped.
struct Profile {
    name: String,
    child: Option<Child>,
    data: PathBuf,
}

fn bench_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench")
}

impl Profile {
    /// Starts sampling every CPU at 250 Hz; `None` when `perf` is missing.
    fn start(name: &str) -> Option<Self> {
        std::fs::create_dir_all(bench_dir()).ok()?;
        let data = bench_dir().join(format!("{name}.perf.data"));
        let child = Command::new("perf")
            .args([
                "record",
                "-a",
                "-F",
                "250",
                "-e",
                "cpu-clock",
                "--quiet",
                "-o",
            ])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        // perf needs a moment to open its buffers on every CPU.
        std::thread::sleep(Duration::from_millis(300));
        Some(Self {
            name: name.to_owned(),
            child: Some(child),
            data,
        })
    }

    /// Stops sampling and puts the samples down to programs (`programs`: pid → name).
    fn finish(mut self, programs: &[(u32, &str)]) -> Value {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
        let Ok(output) = Command::new("perf")
            .args(["script", "-F", "comm,pid,ip,sym,dso", "-i"])
            .arg(&self.data)
            .stderr(Stdio::null())
            .output()
        else {
            return json!({"error": "perf script failed"});
        };
        let text = String::from_utf8_lossy(&output.stdout);
        let mut by_program: HashMap<String, usize> = HashMap::new();
        let mut by_symbol: HashMap<(String, String), usize> = HashMap::new();
        let mut total = 0usize;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let Some(at) = fields.iter().position(|f| f.parse::<u32>().is_ok()) else {
                continue;
            };
            let (Ok(pid), Some(comm)) = (fields[at].parse::<u32>(), fields.get(..at)) else {
                continue;
            };
            let comm = comm.join(" ");
            let program = programs
                .iter()
                .find(|(p, _)| *p == pid)
                .map(|(_, name)| (*name).to_owned())
                .unwrap_or_else(|| match comm.as_str() {
                    "swapper" => "idle".to_owned(),
                    "postgres" => "PostgreSQL".to_owned(),
                    "nats-server" => "NATS".to_owned(),
                    "redis-server" => "Redis".to_owned(),
                    "perf" => "perf (the profiler)".to_owned(),
                    other => other.to_owned(),
                });
            let symbol = fields
                .get(at + 2..fields.len().saturating_sub(1))
                .map(|s| s.join(" "))
                .unwrap_or_default();
            let dso = fields.last().copied().unwrap_or_default();
            let symbol = if symbol == "[unknown]" || symbol.is_empty() {
                format!(
                    "[{}]",
                    dso.trim_matches(['(', ')'])
                        .rsplit('/')
                        .next()
                        .unwrap_or(dso)
                )
            } else {
                symbol
            };
            total += 1;
            *by_program.entry(program.clone()).or_default() += 1;
            *by_symbol
                .entry((program, short_symbol(&symbol)))
                .or_default() += 1;
        }
        let share = |n: usize| (n as f64 * 1000.0 / total.max(1) as f64).round() / 10.0;
        let mut programs: Vec<(String, usize)> = by_program.into_iter().collect();
        programs.sort_by_key(|p| std::cmp::Reverse(p.1));
        let mut symbols: Vec<((String, String), usize)> = by_symbol
            .into_iter()
            .filter(|((program, _), _)| program != "idle")
            .collect();
        symbols.sort_by_key(|s| std::cmp::Reverse(s.1));
        let _ = std::fs::remove_file(&self.data);
        json!({
            "name": self.name,
            "samples": total,
            "programs": programs.iter().take(8).map(|(p, n)| json!({"program": p, "share": share(*n)})).collect::<Vec<_>>(),
            "hottest": symbols.iter().take(12).map(|((p, s), n)| json!({"program": p, "symbol": s, "share": share(*n)})).collect::<Vec<_>>(),
        })
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A symbol without its hash and with generic arguments elided, at most 100 characters.
fn short_symbol(symbol: &str) -> String {
    let symbol = symbol.split("+0x").next().unwrap_or(symbol);
    let mut out = String::with_capacity(symbol.len());
    let mut depth = 0usize;
    for c in symbol.chars() {
        match c {
            '<' => {
                depth += 1;
                match depth {
                    1 => out.push('<'),
                    2 => out.push_str("<…>"),
                    _ => {}
                }
            }
            '>' => {
                if depth == 1 {
                    out.push('>');
                }
                depth = depth.saturating_sub(1);
            }
            _ if depth <= 1 => out.push(c),
            _ => {}
        }
    }
    let out = match out.rfind("::h") {
        Some(i) if out.len() - i == 19 => out[..i].to_owned(),
        _ => out,
    };
    out.chars().take(100).collect()
}

// ----------------------------------------------------------------------------------------------
// 4. Probing at scale.

fn probing(booths: usize) -> anyhow::Result<Value> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        tokio::spawn(async move { while listener.accept().await.is_ok() {} });
        let entries: Vec<boom_contracts::messages::RegistryEntry> = (0..booths)
            .map(|i| boom_contracts::messages::RegistryEntry {
                photomaton_id: boom_contracts::PhotomatonId(i as i32),
                name: format!("Booth {i}"),
                hostname: format!("p-{i}"),
                tailscale_ip: Some(format!("127.0.{}.{}", 1 + i / 250, 1 + i % 250)),
                router_tailscale_ip: Some("127.0.0.1".into()),
                mac_address: None,
                wake_target: None,
                agent_key_sha256: None,
                paper_reset: None,
                speed_test_requested_at: None,
            })
            .collect();
        let settings = boom_config::ControlSettings {
            icmp: false,
            router_tcp_port: port,
            pc_tcp_port: port,
            ..Default::default()
        };
        let cpu0 = usage(std::process::id()).0;
        let profile = Profile::start("probing");
        let started = Instant::now();
        let observed = boom_photomaton_control::prober::observe(
            &entries,
            &settings,
            boom_photomaton_control::probe::IcmpAccess::None,
        )
        .await;
        let round = started.elapsed().as_secs_f64();
        let profile =
            profile.map(|p| p.finish(&[(std::process::id(), "photomaton-control's prober")]));
        let cpu = usage(std::process::id()).0 - cpu0;
        let up = observed
            .iter()
            .filter(|o| o.pc.is_some() && o.router.is_some())
            .count();
        anyhow::Ok(json!({
            "scenario": "probing", "booths": booths, "probes": booths * 2, "answered": up,
            "roundSeconds": round, "cpuSeconds": cpu, "coreShareAt30sInterval": cpu / 30.0,
            "profile": profile,
        }))
    })
}

// ----------------------------------------------------------------------------------------------

fn report(results: &[Value], args: &Args) -> anyhow::Result<()> {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let meta = json!({"date": chrono::Utc::now().to_rfc3339(), "commit": commit, "cores": cores, "memory": memory, "quick": args.quick});
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::create_dir_all(root.join("target/bench"))?;
    std::fs::write(
        root.join("target/bench/report.json"),
        serde_json::to_string_pretty(&json!({"machine": meta, "scenarios": results}))?,
    )?;
    let find = |name: &str| {
        results
            .iter()
            .find(|r| r["scenario"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let (i, f, a, p) = (find("ingest"), find("fanout"), find("api"), find("probing"));
    let num = |v: &Value| {
        v.as_f64()
            .map(|x| {
                if x >= 100.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.2}")
                }
            })
            .unwrap_or_else(|| "—".into())
    };
    let pct = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{:.0} %", x * 100.0))
            .unwrap_or_else(|| "—".into())
    };
    let table = format!(
        "| scenario | LE BOOM | reference | ratio | target (SPEC §6) |
|---|---|---|---|---|
| ingest, end to end (rows/s) | {} | COPY {} | {} | ≥ 50 % |
| ingest latency POST→commit (ms, p50 / p99, 20 batches/s) | {} / {} | — | — | — |
| ingest exactly-once (lost / double) | {} / {} | — | — | 0 / 0 |
| fan-out, {} clients (frames/s) | {} | bare tokio-tungstenite {} | {} | ≥ 70 % |
| fan-out latency (ms, p50 / p99) | {} / {} | {} / {} | — | p99 < 100 |
| fan-out gateway RSS (KiB: idle / connected / peak) | {} / {} / {} | — | — | 10k clients < 200 MB |
| fan-out vs the original design (frames/s) | {} | Node.js Socket.IO {} | {} | — |
| Socket.IO peer: latency (ms, p50 / p99), server RSS (KiB, connected / peak) | — | {} / {}, {} / {} | — | — |
| `GET /api/photomatons`, 1,000 booths (req/s, p99 ms) | {} / {} | {} / {} | {} | p99 < 20 ms |
| `GET /api/events/{{id}}`, 100,000 media (req/s, p99 ms) | {} / {} | {} / {} | {} | — |
| probing {} booths: one round (s), CPU (s) | {} / {} | — | {} of a core per 30 s | < 25 % |",
        num(&i["oursRowsPerSecond"]),
        num(&i["copyRowsPerSecond"]),
        pct(&i["ratio"]),
        num(&i["latencyMs"]["p50"]),
        num(&i["latencyMs"]["p99"]),
        i["lost"],
        i["doubleCounted"],
        f["clients"],
        num(&f["oursFramesPerSecond"]),
        num(&f["bareFramesPerSecond"]),
        pct(&f["ratio"]),
        num(&f["latencyMs"]["p50"]),
        num(&f["latencyMs"]["p99"]),
        num(&f["bareLatencyMs"]["p50"]),
        num(&f["bareLatencyMs"]["p99"]),
        f["gatewayRssKiB"]["idle"],
        f["gatewayRssKiB"]["connected"],
        f["gatewayRssKiB"]["peak"],
        num(&f["oursFramesPerSecond"]),
        f["socketIo"]["framesPerSecond"]
            .as_f64()
            .map_or_else(|| format!("not measured: {}", f["socketIo"]["error"]), |v| num(&json!(v))),
        pct(&f["ratioToSocketIo"]),
        num(&f["socketIo"]["latencyMs"]["p50"]),
        num(&f["socketIo"]["latencyMs"]["p99"]),
        f["socketIo"]["serverRssKiB"]["connected"],
        f["socketIo"]["serverRssKiB"]["peak"],
        num(&a["photomatons"]["oursRps"]),
        num(&a["photomatons"]["oursP99Ms"]),
        num(&a["photomatons"]["referenceRps"]),
        num(&a["photomatons"]["referenceP99Ms"]),
        pct(&a["photomatons"]["ratio"]),
        num(&a["eventDetail"]["oursRps"]),
        num(&a["eventDetail"]["oursP99Ms"]),
        num(&a["eventDetail"]["referenceRps"]),
        num(&a["eventDetail"]["referenceP99Ms"]),
        pct(&a["eventDetail"]["ratio"]),
        p["booths"],
        num(&p["roundSeconds"]),
        num(&p["cpuSeconds"]),
        pct(&p["coreShareAt30sInterval"]),
    );
    let notes = std::fs::read_to_string(root.join("docs/benchmarks-notes.md")).unwrap_or_default();
    let profiles = [
        ("Ingest, end to end", &i["profile"]),
        ("Live fan-out, LE BOOM", &f["profile"]),
        (
            "Live fan-out, the Socket.IO peer",
            &f["socketIo"]["profile"],
        ),
        ("`GET /api/photomatons`", &a["photomatons"]["profile"]),
        ("`GET /api/events/{id}`", &a["eventDetail"]["profile"]),
        ("Probing", &p["profile"]),
    ]
    .iter()
    .map(|(title, profile)| profile_section(title, profile))
    .collect::<String>();
    let doc = format!(
        "# Benchmarks\n\nGenerated by `just bench{}` on {} (commit {}, {} cores, {}). Each scenario runs beside its reference in the same run; figures are ratios because this machine is noisy. Raw figures: `target/bench/report.json`.\n\n{}\n\n{}\n## Profiles of this run\n\n`perf record -a -F 250 -e cpu-clock` over the whole machine during our side of each scenario (software clock: these virtual machines expose no hardware counters; no call graphs: Rust omits frame pointers). Shares are of all samples on both cores, idle included; our services are told apart by process id, the rest by program name.\n\n{}",
        if args.quick { " --quick" } else { "" },
        meta["date"].as_str().unwrap_or(""),
        commit,
        cores,
        memory.trim(),
        table,
        notes,
        profiles
    );
    std::fs::write(root.join("docs/benchmarks.md"), doc)?;
    println!("{table}");
    Ok(())
}

/// One scenario's profile as Markdown: the share of each program, then the hottest symbols.
fn profile_section(title: &str, profile: &Value) -> String {
    if profile.is_null() {
        return format!(
            "### {title}\n\nNo profile: `perf` is missing (Debian's `linux-perf`).\n\n"
        );
    }
    let programs = profile["programs"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| format!("{} {} %", p["program"].as_str().unwrap_or("?"), p["share"]))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let hottest = profile["hottest"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|h| {
                    format!(
                        "| {} % | {} | `{}` |\n",
                        h["share"],
                        h["program"].as_str().unwrap_or("?"),
                        h["symbol"].as_str().unwrap_or("?").replace('|', "\\|")
                    )
                })
                .collect::<String>()
        })
        .unwrap_or_default();
    format!(
        "### {title}\n\n{} samples. By program: {programs}.\n\n| share | program | hottest symbols |\n|---|---|---|\n{hottest}\n",
        profile["samples"]
    )
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let seconds = args.seconds.unwrap_or(if args.quick { 3 } else { 10 });
    let clients_n = args.clients.unwrap_or(if args.quick { 100 } else { 1000 });
    boom_server::install_crypto_provider();
    let mut results = Vec::new();
    results.push(probing(if args.quick { 1000 } else { 10_000 })?);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let ctx = boom_testkit::TestContext::new().await?;
        let password = "bench password long enough";
        let hash = boom_gateway::passwords::hash_password(password)?;
        sql(&ctx, &format!("INSERT INTO users (username, role, password_hash) VALUES ('bench', 'ADMIN', '{hash}')")).await?;
        let mut env = ctx.environment();
        env.retain(|(k, _)| k != "BOOM__HTTP__WORKERS");
        env.push(("BOOM__INGEST__RATE_LIMIT_PER_MINUTE".into(), "100000".into()));
        env.push(("BOOM__DATABASE__MAX_CONNECTIONS".into(), "16".into()));
        let gateway = start("boom-gateway", &env, free_port()?)?;
        let ingest_service = start("boom-stats-ingest", &env, free_port()?)?;
        wait_healthy(gateway.port).await?;
        wait_healthy(ingest_service.port).await?;
        let session = Session::login(&format!("http://127.0.0.1:{}", gateway.port), password).await?;
        println!("ingest…");
        results.push(ingest(&ctx, &session, &ingest_service, &gateway, seconds, args.quick).await?);
        println!("fan-out…");
        results.push(fanout(&ctx, &session, &gateway, clients_n, seconds).await?);
        println!("api…");
        results.push(api(&ctx, &session, &gateway, seconds).await?);
        anyhow::Ok(())
    })?;
    report(&results, &args)
}
