//! `POST /api/agent/sync`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use boom_bus::{AgentCommandsView, Bus, RegistryView};
use boom_cache::Cache;
use boom_config::IngestSettings;
use boom_contracts::PhotomatonId;
use boom_contracts::agent::{AgentSync, AgentSyncAccepted, RefusedLine, StatLine};
use boom_contracts::messages::{
    AgentBatchAccepted, MediaStat, RefusedStat, RegistryEntry, SpeedTestSample,
};
use boom_server::{ApiError, ErrorCode};
use chrono::{DateTime, Utc};
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

/// `boom_ingest_batches_total{outcome=accepted|duplicate|rejected|lines_refused, reason}`.
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
    /// Speed-test transfers running on this instance (see `speed_test`).
    pub transfers: Arc<crate::speed_test::Transfers>,
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

/// The most a line may count: a photo booth makes a few hundred sessions in a night.
const MAX_LINE_COUNT: i64 = 10_000;
/// A refused line is kept (as JSON) up to this many bytes.
const MAX_REFUSED_LINE: usize = 1024;

/// Why one stat line cannot be counted, if it cannot: unreadable, a count out of range, or a
/// timestamp more than [`MAX_CLOCK_SKEW`] ahead or older than [`MAX_AGE`].
fn refuse_line(line: &StatLine, now: DateTime<Utc>) -> Result<MediaStat, String> {
    let stat = line.parsed()?;
    if !(1..=MAX_LINE_COUNT).contains(&stat.count) {
        return Err(format!(
            "count must be between 1 and {MAX_LINE_COUNT}, not {}",
            stat.count
        ));
    }
    if stat.timestamp > now + MAX_CLOCK_SKEW {
        return Err(format!(
            "timestamp {} is more than 24 h ahead: is the booth PC's clock right?",
            stat.timestamp
        ));
    }
    if stat.timestamp < now - MAX_AGE {
        return Err(format!(
            "timestamp {} is more than a year old",
            stat.timestamp
        ));
    }
    Ok(MediaStat {
        media_type: stat.kind,
        count: i32::try_from(stat.count).unwrap_or(i32::MAX),
        timestamp: stat.timestamp,
    })
}

/// Splits the batch's lines into those counted and those refused, one by one.
fn sort_lines(lines: Vec<StatLine>, now: DateTime<Utc>) -> (Vec<MediaStat>, Vec<RefusedStat>) {
    let mut counted = Vec::with_capacity(lines.len());
    let mut refused = Vec::new();
    for (index, line) in lines.into_iter().enumerate() {
        match refuse_line(&line, now) {
            Ok(stat) => counted.push(stat),
            Err(reason) => refused.push(RefusedStat {
                index: u32::try_from(index).unwrap_or(u32::MAX),
                reason,
                line: truncated(serde_json::to_string(&line).unwrap_or_default()),
            }),
        }
    }
    (counted, refused)
}

fn truncated(mut text: String) -> String {
    if text.len() > MAX_REFUSED_LINE {
        let mut cut = MAX_REFUSED_LINE;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// What refuses the whole batch (422): too many lines, a paper level, speed test or backlog
/// out of range. A bad line alone never does (see [`sort_lines`]).
fn validate(
    batch: &AgentSync<StatLine>,
    limits: &IngestSettings,
) -> Result<(), (&'static str, String)> {
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
async fn read_batch(
    mut payload: web::Payload,
    limit: usize,
) -> Result<AgentSync<StatLine>, ApiError> {
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

    let (stats, refused) = sort_lines(batch.stats, Utc::now());
    if !refused.is_empty() {
        state.metrics.count("lines_refused", "line");
    }
    let accepted = stats.len();
    let message = AgentBatchAccepted {
        batch_id: batch.batch_id,
        photomaton_id: booth.photomaton_id,
        hostname: booth.hostname.clone(),
        stats,
        refused,
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
    tracing::info!(batch = %message.batch_id, booth = %booth.hostname, lines = accepted, refused = message.refused.len(), duplicate, "batch");
    let answer = AgentSyncAccepted {
        batch_id: message.batch_id,
        accepted,
        duplicate,
        paper_reset,
        refused: message
            .refused
            .iter()
            .map(|r| RefusedLine {
                index: r.index as usize,
                reason: r.reason.clone(),
            })
            .collect(),
    };
    Ok(if duplicate {
        HttpResponse::Ok().json(answer)
    } else {
        HttpResponse::Accepted().json(answer)
    })
}

/// Property tests of what ingest reads from agents, which may be buggy, old or hostile.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// A stat line as an agent might send it: mostly well formed, sometimes not at all.
    fn line() -> impl Strategy<Value = Value> {
        let kind = prop::sample::select(vec![
            "session", "photo", "print", "digital", "gif", "PRINT", "hologram", "",
        ]);
        let count = prop_oneof![Just(1i64), 0i64..20_000, any::<i64>()];
        // From ten years back to ten years ahead, in seconds.
        let offset = -315_360_000i64..315_360_000;
        let well_formed = (kind, count, offset).prop_map(|(kind, count, offset)| {
            json!({"type": kind, "count": count, "timestamp": (Utc::now() + chrono::Duration::seconds(offset)).to_rfc3339()})
        });
        let odd = prop_oneof![
            any::<String>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            Just(Value::Null),
            any::<String>().prop_map(|t| json!({"type": "print", "count": 1, "timestamp": t})),
            Just(
                json!({"type": "print", "count": 1, "timestamp": "2024-01-01T00:00:00Z", "extra": true})
            ),
            ".{0,2000}".prop_map(|text| json!({"type": text, "count": 1})),
        ];
        prop_oneof![4 => well_formed, 1 => odd]
    }

    proptest! {
        #[test]
        fn every_line_is_counted_or_refused_alone(lines in prop::collection::vec(line(), 0..60)) {
            let body = json!({"batchId": uuid::Uuid::nil(), "hostname": "boom-01", "stats": lines}).to_string();
            let batch: AgentSync<StatLine> = serde_json::from_str(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let total = batch.stats.len();
            let now = Utc::now();
            let (counted, refused) = sort_lines(batch.stats, now);
            prop_assert_eq!(counted.len() + refused.len(), total);
            prop_assert!(refused.windows(2).all(|w| w[0].index < w[1].index));
            for stat in &counted {
                prop_assert!((1..=MAX_LINE_COUNT).contains(&i64::from(stat.count)));
                prop_assert!(stat.timestamp <= now + MAX_CLOCK_SKEW && stat.timestamp >= now - MAX_AGE);
            }
            for line in &refused {
                prop_assert!(!line.reason.is_empty());
                prop_assert!(line.line.len() <= MAX_REFUSED_LINE + '…'.len_utf8());
            }
        }

        #[test]
        fn any_body_is_read_or_refused_without_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = serde_json::from_slice::<AgentSync<StatLine>>(&body);
        }
    }
}
