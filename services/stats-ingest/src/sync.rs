//! `POST /api/agent/sync`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use boom_bus::{AgentCommandsView, Bus, RegistryView};
use boom_cache::Cache;
use boom_config::IngestSettings;
use boom_contracts::PhotomatonId;
use boom_contracts::agent::{AgentSync, AgentSyncAccepted};
use boom_contracts::messages::{AgentBatchAccepted, MediaStat, RegistryEntry, SpeedTestSample};
use boom_server::{ApiError, ErrorCode};
use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// How far in the future a stat may be stamped (booth clocks drift).
const MAX_CLOCK_SKEW: chrono::Duration = chrono::Duration::hours(24);
/// How old a stat may be (an agent offline for weeks still catches up).
const MAX_AGE: chrono::Duration = chrono::Duration::days(365);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
    reason: &'static str,
}

/// `boom_ingest_batches_total{outcome=accepted|duplicate|rejected, reason}`.
#[derive(Debug, Clone, Default)]
pub struct IngestMetrics {
    batches: Family<OutcomeLabels, Counter>,
}

impl IngestMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "boom_ingest_batches",
            "Agent batches, by outcome",
            metrics.batches.clone(),
        );
        metrics
    }

    fn count(&self, outcome: &'static str, reason: &'static str) {
        self.batches
            .get_or_create(&OutcomeLabels { outcome, reason })
            .inc();
    }
}

#[derive(Debug, Clone)]
pub struct IngestState {
    pub bus: Bus,
    pub cache: Cache,
    pub booths: RegistryView,
    /// What the dashboard asks of each booth's agent.
    pub commands: AgentCommandsView,
    /// When each booth's agent was last announced as seen (see `commands::seen`).
    pub seen: Arc<Mutex<HashMap<PhotomatonId, Instant>>>,
    /// Proxies whose `X-Forwarded-For` names the client (`http.trusted_proxies`).
    pub trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    pub metrics: IngestMetrics,
    pub limits: IngestSettings,
}

pub(crate) fn reject(state: &IngestState, reason: &'static str, error: ApiError) -> ApiError {
    state.metrics.count("rejected", reason);
    error
}

pub(crate) async fn rate_limit(state: &IngestState, key_hash: &str) -> Result<(), ApiError> {
    let key = format!("agent:{}", &key_hash[..16.min(key_hash.len())]);
    match state
        .cache
        .count_in_window(&key, Duration::from_secs(60))
        .await
    {
        Ok(window) if window.hits > state.limits.rate_limit_per_minute => Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "too many syncs for this key, retry in {} s",
                window.resets_in_secs
            ),
        )),
        Ok(_) => Ok(()),
        // Redis down must not stop booths from reporting: the limit is a guard, not a gate.
        Err(error) => {
            tracing::warn!(%error, "rate limiter unavailable, letting the batch through");
            Ok(())
        }
    }
}

fn validate(batch: &AgentSync, limits: &IngestSettings) -> Result<(), (&'static str, String)> {
    if batch.stats.len() > limits.max_stats {
        return Err((
            "too_many_stats",
            format!(
                "{} stats, at most {} per batch",
                batch.stats.len(),
                limits.max_stats
            ),
        ));
    }
    let now = Utc::now();
    for (i, stat) in batch.stats.iter().enumerate() {
        if !(1..=10_000).contains(&stat.count) {
            return Err((
                "count",
                format!(
                    "stats[{i}].count must be between 1 and 10000, not {}",
                    stat.count
                ),
            ));
        }
        if stat.timestamp > now + MAX_CLOCK_SKEW {
            return Err((
                "timestamp",
                format!("stats[{i}].timestamp {} is in the future", stat.timestamp),
            ));
        }
        if stat.timestamp < now - MAX_AGE {
            return Err((
                "timestamp",
                format!(
                    "stats[{i}].timestamp {} is more than a year old",
                    stat.timestamp
                ),
            ));
        }
    }
    if let Some(level) = batch.paper_level
        && !(0..=100_000).contains(&level)
    {
        return Err((
            "paper_level",
            format!("paperLevel must be between 0 and 100000, not {level}"),
        ));
    }
    if let Some(SpeedTestSample {
        download,
        upload,
        ping,
    }) = &batch.speedtest
    {
        for (name, value) in [("download", download), ("upload", upload), ("ping", ping)] {
            if !value.is_finite() || *value < 0.0 || *value > 1_000_000.0 {
                return Err((
                    "speedtest",
                    format!("speedtest.{name} must be a non-negative number, not {value}"),
                ));
            }
        }
    }
    if batch.backlog.is_some_and(|b| b < 0) {
        return Err(("backlog", "backlog must not be negative".to_owned()));
    }
    Ok(())
}

/// The booth whose agent key the request carries: 401 without one or with an unknown one.
pub fn authenticate(
    request: &HttpRequest,
    state: &IngestState,
) -> Result<(RegistryEntry, String), ApiError> {
    let key = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            reject(
                state,
                "no_key",
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "missing `Authorization: Bearer <agent key>`",
                ),
            )
        })?;
    if !state.booths.is_loaded() {
        return Err(ApiError::unavailable(
            "the booth registry is not loaded yet, retry shortly",
        ));
    }
    let key_hash = boom_contracts::keys::sha256_hex(key);
    let booth = state.booths.by_key_hash(&key_hash).ok_or_else(|| {
        reject(
            state,
            "bad_key",
            ApiError::new(ErrorCode::Unauthorized, "unknown agent key"),
        )
    })?;
    Ok((booth, key_hash))
}

/// Reads the body after the caller was authenticated: 413 past the limit, 400 for what is
/// not JSON, 422 for JSON of the wrong shape.
async fn read_batch(mut payload: web::Payload, limit: usize) -> Result<AgentSync, ApiError> {
    use futures::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::new(
                ErrorCode::PayloadTooLarge,
                format!("the body is larger than {limit} bytes"),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| {
        if e.is_data() {
            ApiError::unprocessable(e.to_string())
        } else {
            ApiError::bad_request(format!("malformed JSON: {e}"))
        }
    })
}

pub async fn sync(
    request: HttpRequest,
    state: web::Data<IngestState>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (booth, key_hash) = authenticate(&request, &state)?;
    rate_limit(&state, &key_hash)
        .await
        .map_err(|e| reject(&state, "rate_limited", e))?;
    let batch = read_batch(payload, state.limits.max_body_bytes)
        .await
        .map_err(|e| {
            let reason = match e.code {
                ErrorCode::PayloadTooLarge => "too_large",
                ErrorCode::BadRequest => "malformed",
                _ => "invalid",
            };
            reject(&state, reason, e)
        })?;
    if !booth.hostname.matches(&batch.hostname) {
        return Err(reject(
            &state,
            "wrong_booth",
            ApiError::new(
                ErrorCode::Forbidden,
                format!(
                    "this key belongs to {}, not {}",
                    booth.hostname, batch.hostname
                ),
            ),
        ));
    }
    validate(&batch, &state.limits)
        .map_err(|(reason, message)| reject(&state, reason, ApiError::unprocessable(message)))?;

    let accepted = batch.stats.len();
    let message = AgentBatchAccepted {
        batch_id: batch.batch_id,
        photomaton_id: booth.photomaton_id,
        hostname: booth.hostname.clone(),
        stats: batch
            .stats
            .into_iter()
            .map(|s| MediaStat {
                media_type: s.kind,
                count: i32::try_from(s.count).unwrap_or(i32::MAX),
                timestamp: s.timestamp,
            })
            .collect(),
        paper_level: batch
            .paper_level
            .map(|p| i32::try_from(p).unwrap_or(i32::MAX)),
        paper_reset_at: batch.paper_reset_at,
        speedtest: batch.speedtest,
        backlog: batch.backlog,
        agent_version: batch.agent_version,
        received_at: Utc::now(),
        printer: batch.printer,
    };
    // A new roll declared on the dashboard after the one this batch's counter started from:
    // the agent applies it on receipt.
    let paper_reset = state
        .commands
        .get(booth.photomaton_id)
        .paper_reset
        .filter(|reset| {
            message
                .paper_reset_at
                .is_none_or(|applied| applied < reset.at)
        });
    let duplicate =
        match tokio::time::timeout(Duration::from_secs(10), state.bus.publish(&message)).await {
            Ok(Ok(duplicate)) => duplicate,
            Ok(Err(error)) => {
                tracing::warn!(%error, batch = %message.batch_id, "batch not made durable");
                return Err(ApiError::unavailable(
                    "the batch could not be stored: retry it later, it will count once",
                ));
            }
            Err(_) => {
                return Err(ApiError::unavailable(
                    "storing the batch timed out, retry later",
                ));
            }
        };
    state
        .metrics
        .count(if duplicate { "duplicate" } else { "accepted" }, "");
    tracing::info!(batch = %message.batch_id, booth = %booth.hostname, lines = accepted, duplicate, "batch");
    let answer = AgentSyncAccepted {
        batch_id: message.batch_id,
        accepted,
        duplicate,
        paper_reset,
    };
    Ok(if duplicate {
        HttpResponse::Ok().json(answer)
    } else {
        HttpResponse::Accepted().json(answer)
    })
}
