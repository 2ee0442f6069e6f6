//! Power-on: waking a booth PC with Wake-on-LAN, which photomaton-control does on request.
//!
//! The gateway asks over NATS request/reply (`<prefix>.rpc.control.action`) and pushes the
//! progress to browsers as `photomaton:action`: `pending` when sent, `failed` at once when
//! control refuses or cannot be reached; photomaton-control reports the final outcome itself
//! when the PC answers (or does not), which [`record_outcome`] writes in the audit log and
//! pushes. Where the packet goes is the booth's wake target
//! ([`store::photomatons::wake_target`](crate::store::photomatons::wake_target)).

use boom_bus::BusError;
use boom_contracts::messages::{
    ActionCode, ActionPhase, ControlReply, ControlRequest, FrameKind, PhotomatonAction,
    PhotomatonActionProgress,
};
use boom_contracts::{PhotomatonId, UserId};
use boom_db::DbError;
use chrono::Utc;
use diesel::result::QueryResult;
use diesel_async::AsyncPgConnection;
use serde_json::json;

use crate::state::AppState;
use crate::store::audit::{Actor, Audit};
use crate::store::photomatons;

/// Why a power-on was not sent.
#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    #[error("no photomaton {0}")]
    NoSuchPhotomaton(PhotomatonId),
    #[error(transparent)]
    Storage(#[from] DbError),
    /// photomaton-control did not answer (not running, timeout, NATS down).
    #[error("photomaton-control: {0}")]
    Control(BusError),
}

/// Asks photomaton-control to act on a booth for `actor`, audits the request, pushes its
/// progress; answers control's reply (packets sent is not a PC up: the outcome follows).
pub async fn power_on(
    state: &AppState,
    actor: &Actor,
    requested_by: UserId,
    photomaton_id: PhotomatonId,
    action: PhotomatonAction,
) -> Result<ControlReply, WakeError> {
    {
        let mut conn = state.db.get().await.map_err(DbError::from)?;
        if !photomatons::exists(&mut conn, photomaton_id)
            .await
            .map_err(DbError::from)?
        {
            return Err(WakeError::NoSuchPhotomaton(photomaton_id));
        }
    }
    let request = ControlRequest {
        action_id: uuid::Uuid::new_v4(),
        photomaton_id,
        action,
        requested_by: Some(requested_by),
    };
    progress(
        state,
        &request,
        ActionPhase::Pending,
        Some(ActionCode::Sent),
        "sent to photomaton-control",
    )
    .await;
    // No pooled connection is held while control works (it may take the request timeout).
    let outcome = state.bus.request(&request).await;
    let (phase, code, message) = match &outcome {
        Ok(reply) if reply.ok => (ActionPhase::Pending, reply.code, reply.message.clone()),
        Ok(reply) => (ActionPhase::Failed, reply.code, reply.message.clone()),
        Err(error) => (
            ActionPhase::Failed,
            Some(ActionCode::ControlUnavailable),
            error.to_string(),
        ),
    };
    let mut conn = state.db.get().await.map_err(DbError::from)?;
    Audit::new("photomaton.power_on", "photomaton", Some(photomaton_id.0))
        .details(json!({"actionId": request.action_id, "outcome": phase, "message": message}))
        .write(&mut conn, actor)
        .await
        .map_err(DbError::from)?;
    // Success is reported later by photomaton-control, when the PC answers; a second
    // "pending" now could overtake that report.
    if phase == ActionPhase::Failed {
        progress(state, &request, phase, code, &message).await;
    }
    outcome.map_err(WakeError::Control)
}

async fn progress(
    state: &AppState,
    request: &ControlRequest,
    phase: ActionPhase,
    code: Option<ActionCode>,
    message: &str,
) {
    let progress = PhotomatonActionProgress {
        action_id: request.action_id,
        photomaton_id: request.photomaton_id,
        action: request.action,
        phase,
        message: message.to_owned(),
        code,
        seconds: None,
        at: Utc::now(),
    };
    state
        .live
        .publish(
            FrameKind::PhotomatonAction,
            Some(request.photomaton_id),
            json!(progress),
        )
        .await;
}

/// A power-on outcome reported by photomaton-control: audited, then pushed to browsers.
pub async fn record_outcome(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    progress: PhotomatonActionProgress,
) -> QueryResult<()> {
    let booth_exists = photomatons::exists(conn, progress.photomaton_id).await?;
    Audit::new(
        "photomaton.power_on.result",
        "photomaton",
        booth_exists.then_some(progress.photomaton_id.0),
    )
    .details(json!({"actionId": progress.action_id, "outcome": progress.phase, "message": progress.message}))
    .write(conn, &Actor::service("photomaton-control"))
    .await?;
    state
        .live
        .publish(
            FrameKind::PhotomatonAction,
            Some(progress.photomaton_id),
            json!(progress),
        )
        .await;
    Ok(())
}
