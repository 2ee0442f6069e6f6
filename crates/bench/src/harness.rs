//! What every scenario stands on: starting the services as child processes and waiting for
//! them, reading a process's CPU and memory from `/proc`, a logged-in dashboard session,
//! direct SQL on the test database, and percentiles.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

pub(crate) fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index.min(samples.len() - 1)]
}

/// CPU seconds and peak resident memory (KiB) of a process.
pub(crate) fn usage(pid: u32) -> (f64, u64) {
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

pub(crate) fn rss(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub(crate) struct Service {
    pub(crate) child: Child,
    pub(crate) port: u16,
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

pub(crate) fn start(name: &str, env: &[(String, String)], port: u16) -> anyhow::Result<Service> {
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

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub(crate) async fn wait_healthy(port: u16) -> anyhow::Result<()> {
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

pub(crate) async fn sql(ctx: &boom_testkit::TestContext, statement: &str) -> anyhow::Result<()> {
    use diesel_async::SimpleAsyncConnection;
    ctx.connection().await?.batch_execute(statement).await?;
    Ok(())
}

/// Puts every booth whose hostname starts with `prefix` at its own event tonight (ACTIVE, its
/// window from an hour ago to twelve hours ahead), as at a Saturday's weddings: each media
/// row is attributed to its event and changes its totals.
pub(crate) async fn at_events_tonight(
    ctx: &boom_testkit::TestContext,
    prefix: &str,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "a hostname prefix of letters, digits and dashes, not {prefix:?}: it is written into SQL"
    );
    sql(
        ctx,
        &format!(
            "INSERT INTO events (notion_page_id, client_name, photomaton_id, status, event_date, window_start, window_end)
             SELECT '{prefix}' || id, '{prefix}' || id, id, 'ACTIVE', now(), now() - interval '1 hour', now() + interval '12 hours'
             FROM photomatons WHERE hostname LIKE '{prefix}%'"
        ),
    )
    .await
}

/// Waits until stats-ingest knows every agent key (booths reach it through the registry on
/// NATS): an empty body is refused as malformed (422) once the key is known, as unknown
/// (401) before.
pub(crate) async fn until_ingest_knows(ingest_port: u16, keys: &[&str]) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{ingest_port}/api/agent/sync");
    for key in keys {
        let mut status = 0;
        for _ in 0..100 {
            status = http
                .post(&url)
                .bearer_auth(key)
                .json(&serde_json::json!({}))
                .send()
                .await?
                .status()
                .as_u16();
            if status == 422 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::ensure!(
            status == 422,
            "stats-ingest still answers {status} to a booth's key after 10 s"
        );
    }
    Ok(())
}

/// Starts a measured phase on a settled database: the previous phase's dead rows vacuumed and
/// its WAL checkpointed, so that no phase pays for the one before it (the references run
/// after ours, and would otherwise pay for our writes).
pub(crate) async fn settle_database(ctx: &boom_testkit::TestContext) -> anyhow::Result<()> {
    // One statement per call: VACUUM cannot run in the transaction of a multi-statement query.
    sql(ctx, "VACUUM (ANALYZE)").await?;
    sql(ctx, "CHECKPOINT").await
}

pub(crate) async fn count(ctx: &boom_testkit::TestContext, query: &str) -> anyhow::Result<i64> {
    use diesel_async::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut conn = ctx.connection().await?;
    Ok(diesel::sql_query(query).get_result::<N>(&mut conn).await?.n)
}
