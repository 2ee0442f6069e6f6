//! The agent's side of what the dashboard asks of it. `GET /api/agent/commands` answers what is
//! asked of its booth (a new roll, a speed test, remote commands): at once, or — with
//! `?wait=SECS&version=V` — as soon as it differs from version `V` the agent last saw (a long
//! poll: a command reaches an idle booth behind 4G NAT within moments). Each poll also tells
//! the gateway the agent is alive (`AgentSeen`, once a minute at most). `POST
//! /api/agent/commands/{id}` takes the agent's report on a remote command and puts it on the
//! bus for the gateway.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use boom_bus::agent_commands::version;
use boom_contracts::PhotomatonId;
use boom_contracts::agent::{CommandReport, CommandStatus};
use boom_contracts::messages::{AgentCommandReported, AgentSeen};
use boom_server::ApiError;
use chrono::Utc;
use serde::Deserialize;

use crate::sync::{IngestState, authenticate, rate_limit, reject};

/// The longest a poll is held open (under proxies' and 4G links' idle timeouts).
pub const MAX_WAIT: Duration = Duration::from_secs(25);
/// How often an agent's polls are announced as `AgentSeen`.
const SEEN_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Deserialize)]
pub struct PollQuery {
    /// Seconds to wait for a change (capped at 25); none: answer at once.
    wait: Option<u64>,
    /// The version of what the agent saw last (the `X-Commands-Version` of that answer).
    version: Option<String>,
}

pub async fn poll(
    request: HttpRequest,
    state: web::Data<IngestState>,
    query: web::Query<PollQuery>,
) -> Result<HttpResponse, ApiError> {
    let (booth, key_hash) = authenticate(&request, &state)?;
    rate_limit(&state, &key_hash)
        .await
        .map_err(|e| reject(&state, "rate_limited", e))?;
    seen(&state, booth.photomaton_id).await;
    let wait = Duration::from_secs(query.wait.unwrap_or(0)).min(MAX_WAIT);
    let commands = state
        .commands
        .changed_from(booth.photomaton_id, query.version.as_deref(), wait)
        .await;
    Ok(HttpResponse::Ok()
        .insert_header(("x-commands-version", version(&commands)))
        .json(commands))
}

/// Announces that the booth's agent is alive, at most once a minute; a failure only waits
/// for the next poll.
async fn seen(state: &IngestState, id: PhotomatonId) {
    let due = state.seen.lock().is_ok_and(|mut seen| {
        let now = Instant::now();
        let due = seen
            .get(&id)
            .is_none_or(|last| now.duration_since(*last) >= SEEN_EVERY);
        if due {
            seen.insert(id, now);
        }
        due
    });
    if due {
        let message = AgentSeen {
            photomaton_id: id,
            at: Utc::now(),
        };
        match tokio::time::timeout(Duration::from_secs(5), state.bus.publish(&message)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::debug!(%error, "agent seen not published"),
            Err(_) => tracing::debug!("agent seen not published in time"),
        }
    }
}

pub async fn report(
    request: HttpRequest,
    state: web::Data<IngestState>,
    id: web::Path<uuid::Uuid>,
    body: web::Json<CommandReport>,
) -> Result<HttpResponse, ApiError> {
    let (booth, key_hash) = authenticate(&request, &state)?;
    rate_limit(&state, &key_hash)
        .await
        .map_err(|e| reject(&state, "rate_limited", e))?;
    let CommandReport {
        status,
        output,
        exit_code,
    } = body.into_inner();
    if matches!(status, CommandStatus::Queued | CommandStatus::Expired) {
        return Err(ApiError::unprocessable(
            "status: `sent`, `succeeded` or `failed`",
        ));
    }
    let message = AgentCommandReported {
        photomaton_id: booth.photomaton_id,
        command_id: *id,
        status,
        output,
        exit_code,
        at: Utc::now(),
    };
    match tokio::time::timeout(Duration::from_secs(10), state.bus.publish(&message)).await {
        Ok(Ok(_)) => Ok(HttpResponse::Accepted().json(serde_json::json!({"status": status}))),
        _ => Err(ApiError::unavailable(
            "the report could not be stored: send it again",
        )),
    }
}
