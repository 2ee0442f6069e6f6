//! The recorder: agent batches accepted by stats-ingest (STATS stream, durable consumer
//! `gateway-recorder`, shared by every gateway instance), dealt out by booth to [`LANES`]
//! lanes, each committing its groups (up to `MAX_GROUP / LANES` batches) by
//! [`store::batches::record`](crate::store::batches::record) while the others do the same,
//! each group acked after its commit, then the booths and events it changed are pushed to
//! browsers.

use boom_contracts::StreamKind;
use boom_contracts::messages::AgentBatchAccepted;
use chrono::{DateTime, Utc};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::consumers::{failure, transient, until_cancelled};
use crate::state::AppState;
use crate::store::batches::{self, Recorded};

/// Batches in hand at once at most, across the lanes (as many again may wait in the lanes,
/// besides what the NATS client prefetched). 256 was no faster once the lanes stopped
/// waiting for each other (190-201k rows/s either way in `boom-bench --only ingest`), and
/// held 25-30 MB more at its peak.
pub const MAX_GROUP: usize = 128;

/// Transactions at once: the batches are dealt out by booth to this many lanes, each
/// committing its own groups while the others do. A booth is always in the same lane, so its
/// batches commit in order; booths of different lanes lock different rows and do not wait
/// for each other. One lane was one PostgreSQL backend: a core at most, while the rest of the
/// machine waited for its commits.
pub const LANES: usize = 2;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BoothLabels {
    hostname: String,
}

/// `boom_recorder_batches_total{outcome=recorded|duplicate}`, `boom_recorder_lag_seconds`
/// (ingest to commit), `boom_recorder_commit_seconds` (one group's transaction, from taking a
/// connection to its commit: what of the lag the database takes), `boom_agent_backlog{hostname}`.
#[derive(Debug, Clone)]
pub struct RecorderMetrics {
    batches: Family<OutcomeLabels, Counter>,
    lag: Histogram,
    commit: Histogram,
    backlog: Family<BoothLabels, Gauge>,
}

impl RecorderMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            batches: Family::default(),
            lag: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            commit: Histogram::new(exponential_buckets(0.0005, 2.0, 16)),
            backlog: Family::default(),
        };
        registry.register(
            "boom_recorder_batches",
            "Agent batches handled by the recorder",
            metrics.batches.clone(),
        );
        registry.register(
            "boom_recorder_lag_seconds",
            "From ingest to commit",
            metrics.lag.clone(),
        );
        registry.register(
            "boom_recorder_commit_seconds",
            "One group of batches, from taking a database connection to the commit",
            metrics.commit.clone(),
        );
        registry.register(
            "boom_agent_backlog",
            "Events an agent still had buffered",
            metrics.backlog.clone(),
        );
        metrics
    }

    /// What a committed group tells: the lag of each batch, each agent's backlog, the
    /// batches recorded and the duplicates skipped.
    fn observe(&self, received: Vec<Received>, recorded: &Recorded) {
        let now = Utc::now();
        for Received {
            at,
            hostname,
            backlog,
        } in received
        {
            self.lag
                .observe((now - at).num_microseconds().unwrap_or(0) as f64 / 1e6);
            if let Some(backlog) = backlog {
                self.backlog
                    .get_or_create(&BoothLabels { hostname })
                    .set(backlog);
            }
        }
        for (outcome, n) in [
            ("recorded", recorded.batches),
            ("duplicate", recorded.duplicates),
        ] {
            self.batches
                .get_or_create(&OutcomeLabels { outcome })
                .inc_by(n as u64);
        }
    }
}

/// What the metrics keep of a batch once the group is handed to the store.
struct Received {
    at: DateTime<Utc>,
    hostname: String,
    backlog: Option<i64>,
}

/// Records one group of batches: commit, metrics, live push.
async fn handle(
    state: &AppState,
    metrics: &RecorderMetrics,
    group: Vec<AgentBatchAccepted>,
) -> Result<(), boom_bus::HandleError> {
    let received: Vec<Received> = group
        .iter()
        .map(|b| Received {
            at: b.received_at,
            hostname: b.hostname.to_string(),
            backlog: b.backlog,
        })
        .collect();
    let started = std::time::Instant::now();
    let mut conn = state.db.get().await.map_err(transient)?;
    let recorded = batches::record(&mut conn, group).await.map_err(failure)?;
    drop(conn);
    metrics.commit.observe(started.elapsed().as_secs_f64());
    metrics.observe(received, &recorded);
    announce(state, &recorded).await;
    Ok(())
}

/// Pushes the committed booths and events to browsers, gathered with other changes (see
/// `http.live_coalesce_ms`): nothing is read on the recorder's path.
async fn announce(state: &AppState, recorded: &Recorded) {
    let ids: Vec<_> = recorded.booths.iter().copied().collect();
    let events: Vec<_> = recorded.events.iter().copied().collect();
    state.live.changed(&state.db, &ids, &events).await;
}

/// Runs the recorder until `cancel`.
pub async fn run(state: AppState, metrics: RecorderMetrics, cancel: CancellationToken) {
    until_cancelled("gateway-recorder", cancel, |cancel| {
        let (state, metrics) = (state.clone(), metrics.clone());
        async move {
            state
                .bus
                .consume_lanes(
                    StreamKind::Stats,
                    StreamKind::Stats.gateway_consumer(),
                    MAX_GROUP,
                    LANES,
                    |batch: &AgentBatchAccepted| u64::from(batch.photomaton_id.0.unsigned_abs()),
                    |group: Vec<AgentBatchAccepted>| {
                        let (state, metrics) = (state.clone(), metrics.clone());
                        async move { handle(&state, &metrics, group).await }
                    },
                    cancel,
                )
                .await
        }
    })
    .await;
}
