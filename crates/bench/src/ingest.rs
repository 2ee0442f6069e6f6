//! Scenario 1: ingest end to end (agents' HTTP batches → stats-ingest → NATS → gateway →
//! PostgreSQL), beside COPY of as many rows into the same table; also exactly-once and the
//! latency from POST to commit at a moderate rate.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};

use boom_testkit::gateway::SignedIn;

use crate::harness::{Service, count, percentile, usage};
use crate::profile::Profile;

pub(crate) async fn run(
    ctx: &boom_testkit::TestContext,
    session: &SignedIn,
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
        let (_, key) = session.booth_with_key(&hostname, &hostname).await?;
        keys.push((hostname, key));
    }
    // Each booth at its own event tonight, as on a Saturday: every media row is attributed to
    // its event (the event index and the event's totals are paid for, as they are in use).
    crate::harness::at_events_tonight(ctx, "bench-").await?;
    let keys_only: Vec<&str> = keys.iter().map(|(_, key)| key.as_str()).collect();
    crate::harness::until_ingest_knows(ingest.port, &keys_only).await?;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{}/api/agent/sync", ingest.port);
    let (ingest_cpu0, _) = usage(ingest.child.id());
    let (gateway_cpu0, _) = usage(gateway.child.id());
    crate::harness::settle_database(ctx).await?;
    let profile = Profile::start("ingest");
    let started = Instant::now();
    let sent_rows = post_as_fast_as_answered(&url, &keys, lines, seconds).await? as i64;
    let posting = started.elapsed().as_secs_f64();
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
            .map(|i| {
                let taken = now + chrono::TimeDelta::microseconds(i);
                json!({"type": "photo", "count": 1, "timestamp": taken.to_rfc3339()})
            })
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

    // The limit: COPY of as many rows into the same table, shaped as ours: the same booths in
    // turn, each at its event, each batch's lines in a run under its own batch id, every
    // media a microsecond after the one before. (Until 2026-12-01 every row had one booth,
    // one event and one timestamp: each index held the whole COPY as posting lists of one
    // key.)
    let csv = copy_rows(ctx, rows, lines).await?;
    crate::harness::settle_database(ctx).await?;
    let copy_started = Instant::now();
    let mut psql = Command::new("psql")
        .arg(ctx.database_url())
        .args(["-q", "-c", "\\copy photos (photomaton_id, event_id, batch_id, media_type, count, \"timestamp\") FROM STDIN WITH (FORMAT csv)"])
        .stdin(Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        psql.stdin
            .take()
            .context("psql stdin")?
            .write_all(csv.as_bytes())?;
    }
    // A COPY that failed would otherwise be reported as a very fast one.
    let copied = psql.wait()?;
    anyhow::ensure!(copied.success(), "psql \\copy into photos failed: {copied}");
    let copy_rate = rows as f64 / copy_started.elapsed().as_secs_f64();

    // The seed's path: the same agents and batches to the first design's Node.js server,
    // through Prisma as the design wrote it, and through node-postgres with the SQL Prisma
    // issues (the seed's database work without its ORM: the stricter reference).
    let seed_prisma = seed(ctx, &keys, lines, seconds, SeedClient::Prisma)
        .await
        .unwrap_or_else(|error| json!({"error": format!("{error:#}")}));
    let seed = seed(ctx, &keys, lines, seconds, SeedClient::Pg)
        .await
        .unwrap_or_else(|error| json!({"error": format!("{error:#}")}));
    // No ratio to a reference that was not measured (the report shows "—").
    let ratio_to = |reference: &Value| {
        reference["rowsPerSecond"]
            .as_f64()
            .map(|r| ours / r.max(1.0))
    };

    Ok(json!({
        "scenario": "ingest",
        "sentEvents": sent_rows, "committedEvents": committed, "lost": (sent_rows - committed).max(0), "doubleCounted": (committed - sent_rows).max(0),
        "oursRowsPerSecond": ours, "acceptedRowsPerSecond": sent_rows as f64 / posting, "drainSeconds": elapsed - posting, "copyRowsPerSecond": copy_rate, "ratio": ours / copy_rate,
        "ratioToSeed": ratio_to(&seed), "seed": seed,
        "ratioToSeedPrisma": ratio_to(&seed_prisma), "seedPrisma": seed_prisma,
        "latencyMs": {"p50": p50, "p99": p99, "batches": delivered, "rate": "20 batches/s of 10 lines"},
        "ingest": {"cpuSeconds": ingest_cpu1 - ingest_cpu0, "peakRssKiB": ingest_peak},
        "gateway": {"cpuSeconds": gateway_cpu1 - gateway_cpu0, "peakRssKiB": gateway_peak},
        "agents": booths, "linesPerBatch": lines,
        "profile": profile,
    }))
}

/// Every agent (`keys`: hostname, agent key) posts batches of `lines` media to `url` as fast as
/// they are answered, for `seconds`; returns the media lines of the batches accepted (202 from
/// stats-ingest, 200 from the seed's server).
async fn post_as_fast_as_answered(
    url: &str,
    keys: &[(String, String)],
    lines: usize,
    seconds: u64,
) -> anyhow::Result<u64> {
    let http = reqwest::Client::new();
    let sent = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for (hostname, key) in keys {
        let (hostname, key) = (hostname.clone(), key.clone());
        let (http, url, sent) = (http.clone(), url.to_owned(), sent.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let request = http
                    .post(&url)
                    .bearer_auth(&key)
                    .header("content-type", "application/json")
                    .body(batch_body(&hostname, lines));
                match request.send().await {
                    Ok(r) if r.status().is_success() => {
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
    Ok(sent.load(Ordering::Relaxed))
}

/// `rows` media rows for `COPY` (CSV), shaped as the agents' (see [`batch_body`]): the bench's
/// booths in turn, each at its event, `lines` rows a batch under the batch's id, each media a
/// microsecond after the one before.
async fn copy_rows(
    ctx: &boom_testkit::TestContext,
    rows: i64,
    lines: usize,
) -> anyhow::Result<String> {
    use diesel_async::RunQueryDsl;
    use std::fmt::Write;
    anyhow::ensure!(lines > 0, "batches of at least one line");
    #[derive(diesel::QueryableByName)]
    struct AtEvent {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        booth: i32,
        #[diesel(sql_type = diesel::sql_types::Integer)]
        event: i32,
    }
    let mut conn = ctx.connection().await?;
    let booths: Vec<AtEvent> = diesel::sql_query(
        "SELECT DISTINCT ON (p.id) p.id AS booth, e.id AS event FROM photomatons p \
         JOIN events e ON e.photomaton_id = p.id WHERE p.hostname LIKE 'bench-%' \
         ORDER BY p.id, e.id",
    )
    .load(&mut conn)
    .await?;
    anyhow::ensure!(!booths.is_empty(), "no bench booth at an event to COPY for");
    let start = chrono::Utc::now();
    let rows = usize::try_from(rows)?;
    let mut csv = String::with_capacity(rows * 96);
    let mut batch = uuid::Uuid::nil();
    for row in 0..rows {
        if row % lines == 0 {
            batch = uuid::Uuid::new_v4();
        }
        let at = &booths[(row / lines) % booths.len()];
        let taken = start + chrono::TimeDelta::microseconds(i64::try_from(row)?);
        let _ = writeln!(
            csv,
            "{},{},{batch},PRINT,1,{}",
            at.booth,
            at.event,
            taken.format("%Y-%m-%dT%H:%M:%S%.6fZ")
        );
    }
    Ok(csv)
}

/// One batch of `lines` prints as an agent sends it, written straight as JSON text: each line
/// one media, a microsecond after the one before (a booth's triggers each have their own
/// time; until 2026-12-01 every line of a batch had the same, which let the indexes fold a
/// batch into one entry and made every path look cheaper than it is). The agents share the
/// machine with what they measure, so they spend as little as they can (a real agent runs
/// on its booth's PC): each line is copied from one template and only its microseconds are
/// written. Built as `serde_json::Value`s, a map per line, the agents took 12–15 % of the
/// machine, most of it in `malloc` and `free`.
fn batch_body(hostname: &str, lines: usize) -> String {
    use std::fmt::Write;
    let now = chrono::Utc::now();
    // Every line within the same second, so that only the microseconds change (a batch of
    // more than a million lines would repeat times; every line is still sent).
    let first = now
        .timestamp_subsec_micros()
        .min(1_000_000 - u32::try_from(lines.min(1_000_000)).unwrap_or(1_000_000));
    let template = format!(
        r#"{{"type":"print","count":1,"timestamp":"{}.000000Z"}}"#,
        now.format("%Y-%m-%dT%H:%M:%S")
    );
    let micros_at = template.len() - "000000Z\"}".len();
    let mut line = template.into_bytes();
    let mut body = String::with_capacity(96 + hostname.len() + lines * (line.len() + 1));
    let _ = write!(
        body,
        r#"{{"batchId":"{}","hostname":{},"stats":["#,
        uuid::Uuid::new_v4(),
        Value::from(hostname)
    );
    let mut body = body.into_bytes();
    for i in 0..lines {
        if i > 0 {
            body.push(b',');
        }
        let mut micros = (first as usize + i) % 1_000_000;
        for digit in line[micros_at..micros_at + 6].iter_mut().rev() {
            *digit = b'0' + (micros % 10) as u8;
            micros /= 10;
        }
        body.extend_from_slice(&line);
    }
    body.extend_from_slice(b"]}");
    // Only ASCII digits were written into valid UTF-8: nothing is lost here.
    String::from_utf8(body).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// How the seed's server reaches PostgreSQL (`seed.js`'s `SEED_CLIENT`).
#[derive(Debug, Clone, Copy)]
enum SeedClient {
    /// Prisma Client, as the first design wrote it.
    Prisma,
    /// node-postgres with the SQL Prisma issues: the seed's work without its ORM.
    Pg,
}

/// The seed's ingest (`seed.js`: POST → one transaction → 200), fed by the same agents: its
/// answer comes after its commit, so the clock stops at the last answer. Its rows are counted
/// in its own tables afterwards.
async fn seed(
    ctx: &boom_testkit::TestContext,
    keys: &[(String, String)],
    lines: usize,
    seconds: u64,
    client: SeedClient,
) -> anyhow::Result<Value> {
    let (schema, client, label) = match client {
        SeedClient::Prisma => ("seed_ingest_prisma", "prisma", "ingest-seed-prisma"),
        SeedClient::Pg => ("seed_ingest", "pg", "ingest-seed"),
    };
    let (mut server, port) = crate::node::seed_server(ctx, schema, client).await?;
    for (hostname, key) in keys {
        server.say(&format!("booth {hostname} {key}")).await?;
        server.line(Duration::from_secs(10)).await?;
    }
    crate::harness::settle_database(ctx).await?;
    let cpu = usage(server.pid).0;
    let profile = Profile::start(label);
    let started = Instant::now();
    let url = format!("http://127.0.0.1:{port}/api/agent/sync");
    let sent = post_as_fast_as_answered(&url, keys, lines, seconds).await?;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = usage(server.pid).0 - cpu;
    let profile = profile.map(|p| {
        p.finish(&[
            (server.pid, "seed server (node)"),
            (std::process::id(), "agents (bench)"),
        ])
    });
    let stored = count(ctx, &format!("SELECT count(*) AS n FROM {schema}.photos")).await?;
    server.close().await;
    Ok(json!({
        "rowsPerSecond": sent as f64 / elapsed,
        "accepted": sent,
        "stored": stored,
        "cpuSeconds": cpu,
        "profile": profile,
    }))
}
