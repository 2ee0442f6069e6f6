//! The booth agent: runs on each booth PC (Windows or Linux), turns dslrBooth's trigger calls
//! into media lines, buffers them in a local SQLite file, and sends them to stats-ingest when
//! online, each counted once.
//!
//! Nothing in it may assume Linux: Unix-only code stays behind `#[cfg(unix)]`, the Windows
//! service wrapper behind `#[cfg(windows)]`. It talks to no database server and no NATS.

pub mod commands;
pub mod ingest;
pub mod printer;
mod schedule;
pub mod sender;
pub mod speed_test;
pub mod store;
pub mod triggers;
#[cfg(windows)]
pub mod windows;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{HttpResponse, web};
use boom_config::{ExposeSecret, Settings};
use boom_server::{ApiError, Application, Background, Check, Health};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::Notify;

use crate::store::Store;

pub const SERVICE: &str = "boom-agent";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TriggerLabels {
    event_type: String,
}

#[derive(Debug, Clone)]
struct TriggerState {
    store: Store,
    wake: Arc<Notify>,
    batch_size: i64,
    triggers: Family<TriggerLabels, Counter>,
}

/// `GET /trigger?event_type=…&param1=…`: answered 200 once the event is stored; 403 for a
/// call that a web page made (see [`triggers::from_dslrbooth`]).
async fn trigger(
    request: actix_web::HttpRequest,
    state: web::Data<TriggerState>,
    query: web::Query<BTreeMap<String, String>>,
) -> Result<HttpResponse, ApiError> {
    let headers = request.headers();
    triggers::from_dslrbooth(
        headers.get("host").and_then(|h| h.to_str().ok()),
        headers.contains_key("origin"),
        headers.contains_key("sec-fetch-site"),
    )
    .map_err(|why| {
        tracing::warn!(%why, "trigger refused");
        ApiError::new(boom_server::ErrorCode::Forbidden, why)
    })?;
    let query = query.into_inner();
    let events = triggers::media_lines(&query).map_err(ApiError::bad_request)?;
    let event_type = query.get("event_type").cloned().unwrap_or_default();
    let stored = events.len();
    let paper = state.store.record(events).await.map_err(|e| {
        tracing::error!(error = %e, "trigger not stored");
        ApiError::unavailable(format!("the trigger could not be stored: {e}"))
    })?;
    state
        .triggers
        .get_or_create(&TriggerLabels {
            event_type: triggers::metric_label(&event_type).to_owned(),
        })
        .inc();
    if stored > 0
        && let Ok(waiting) = state.store.unbatched().await
        && waiting >= state.batch_size
    {
        state.wake.notify_one();
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"stored": stored, "paperRemaining": paper})))
}

/// Builds the agent on `agent.listen` (where dslrBooth's URL trigger calls).
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let agent = settings.agent.clone();
    let store = Store::open(&agent.data_dir, agent.paper_capacity)?;
    let wake = Arc::new(Notify::new());
    let mut registry = Registry::default();
    let triggers = Family::<TriggerLabels, Counter>::default();
    registry.register(
        "boom_agent_triggers",
        "dslrBooth triggers received",
        triggers.clone(),
    );
    let background = Background::new();
    // A pairing (boom-agent pair) is used whole: it is the latest word on this PC's identity,
    // and mixing it with a configured key or hostname would be refused by ingest.
    let paired = store.pairing().await?;
    let (ingest_url, key, hostname) = match paired {
        Some(pairing) => {
            if agent.key.is_some() || agent.hostname.is_some() || agent.ingest_url.is_some() {
                tracing::warn!(
                    "this agent is paired: agent.ingest_url, agent.key and agent.hostname are ignored"
                );
            }
            (
                Some(pairing.ingest_url),
                Some(pairing.key),
                Some(pairing.hostname),
            )
        }
        None => (
            agent.ingest_url.clone(),
            agent.key.as_ref().map(|k| k.expose_secret().to_owned()),
            agent.hostname.clone(),
        ),
    };
    match (&ingest_url, key, &hostname) {
        (Some(url), Some(key), Some(hostname)) => {
            let ingest = ingest::IngestClient::new(url, key, agent.speedtest_url.clone())?;
            let sender = sender::Sender {
                store: store.clone(),
                ingest: ingest.clone(),
                hostname: hostname.clone(),
                batch_size: agent.batch_size,
                interval: Duration::from_secs(agent.sync_interval_secs),
                wake: wake.clone(),
                printer: agent.printer.clone(),
                printer_sent: Arc::default(),
            };
            background.spawn(|cancel| sender.run(cancel));
            let test = speed_test::SpeedTest {
                ingest: ingest.clone(),
                bytes: agent.speedtest_bytes,
                interval: Duration::from_secs(agent.speedtest_interval_secs),
                store: store.clone(),
            };
            let commands = commands::Commands {
                store: store.clone(),
                ingest,
                interval: Duration::from_secs(agent.command_interval_secs),
                speed_test: test.clone(),
                wake: wake.clone(),
                allowed: Arc::new(agent.commands.clone()),
                running: Arc::default(),
            };
            background.spawn(|cancel| commands.run(cancel));
            if agent.speedtest_interval_secs > 0 {
                background.spawn(|cancel| test.run(cancel));
            }
        }
        _ => tracing::warn!(
            "not paired (boom-agent pair) and agent.ingest_url, agent.key or agent.hostname missing: buffering only, nothing is sent"
        ),
    }
    if agent
        .listen
        .parse::<std::net::SocketAddr>()
        .is_ok_and(|addr| !addr.ip().is_loopback())
    {
        tracing::warn!(
            listen = %agent.listen,
            "agent.listen is reachable from the network: anyone on it can report prints; keep 127.0.0.1 unless dslrBooth runs on another PC"
        );
    }
    let data_dir = agent.data_dir.clone();
    let health = Health::new(vec![
        Check::with("storage", data_dir.clone(), |dir| async move {
            check_writable(&dir)
        }),
        Check::disk(data_dir, 100 << 20),
    ]);
    let state = web::Data::new(TriggerState {
        store,
        wake,
        batch_size: i64::try_from(agent.batch_size).unwrap_or(i64::MAX),
        triggers,
    });
    Application::launch(
        SERVICE,
        &agent.listen,
        &settings.http,
        health,
        registry,
        background,
        move |cfg| {
            cfg.app_data(state.clone())
                .route("/trigger", web::get().to(trigger));
        },
    )
}

/// What this PC calls itself: `COMPUTERNAME` on Windows, the kernel's hostname elsewhere.
pub fn pc_hostname() -> String {
    std::env::var("COMPUTERNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The agent's buffer must be writable, or events would be lost.
fn check_writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(".health-probe");
    std::fs::write(&probe, b"ok").map_err(|e| format!("{} is not writable: {e}", dir.display()))?;
    std::fs::remove_file(&probe).map_err(|e| format!("{}: {e}", dir.display()))
}
