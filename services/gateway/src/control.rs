//! Actions that other services carry out: powering a booth on (photomaton-control) and
//! syncing Notion now (notion-sync), both over NATS request/reply with a timeout. No
//! responder or no answer in time is a clear 503, never a hang.

use actix_web::{HttpRequest, web};
use boom_bus::BusError;
use boom_contracts::messages::{
    ActionCode, ActionPhase, ControlReply, ControlRequest, LiveEvent, NotionSyncRequest,
    NotionSyncSummary, PhotomatonAction, PhotomatonActionProgress,
};
use boom_contracts::{PhotomatonId, UserRole};
use boom_db::schema::photomatons;
use boom_server::ApiError;
use chrono::Utc;
use diesel::{OptionalExtension, QueryDsl};
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::audit::{Audit, Who};
use crate::auth::Session;
use crate::errors::OrApi;
use crate::live;
use crate::state::AppState;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionRequest {
    pub photomaton_id: PhotomatonId,
    pub action: PhotomatonAction,
}

fn unavailable(service: &str, error: BusError) -> ApiError {
    match error {
        BusError::NoResponders(_) => {
            ApiError::unavailable(format!("{service} is not running: nothing was done"))
        }
        BusError::Timeout(_) => ApiError::unavailable(format!("{service} did not answer in time")),
        other => ApiError::unavailable(format!("{service} is unreachable: {other}")),
    }
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
    live::publish(
        state,
        LiveEvent::PhotomatonAction,
        Some(request.photomaton_id),
        json!(progress),
    )
    .await;
}

/// `POST /api/webhooks/action`: installers and admins.
pub async fn action(
    http: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    body: web::Json<ActionRequest>,
) -> Result<web::Json<ControlReply>, ApiError> {
    session.require(UserRole::Installer)?;
    let ActionRequest {
        photomaton_id,
        action,
    } = body.into_inner();
    let mut conn = state.conn().await?;
    let exists: Option<PhotomatonId> = photomatons::table
        .find(photomaton_id)
        .select(photomatons::id)
        .first(&mut conn)
        .await
        .optional()
        .or_api()?;
    if exists.is_none() {
        return Err(ApiError::not_found(format!(
            "no photomaton {photomaton_id}"
        )));
    }
    let request = ControlRequest {
        action_id: uuid::Uuid::new_v4(),
        photomaton_id,
        action,
        requested_by: Some(session.user_id()),
    };
    progress(
        &state,
        &request,
        ActionPhase::Pending,
        Some(ActionCode::Sent),
        "sent to photomaton-control",
    )
    .await;
    let outcome = state.bus.request(&request).await;
    // Packets sent is not a PC up: photomaton-control reports the outcome when the PC answers.
    let (phase, code, message) = match &outcome {
        Ok(reply) if reply.ok => (ActionPhase::Pending, reply.code, reply.message.clone()),
        Ok(reply) => (ActionPhase::Failed, reply.code, reply.message.clone()),
        Err(error) => (
            ActionPhase::Failed,
            Some(ActionCode::ControlUnavailable),
            error.to_string(),
        ),
    };
    Audit::new("photomaton.power_on", "photomaton", Some(photomaton_id.0))
        .details(json!({"actionId": request.action_id, "outcome": phase, "message": message}))
        .write(&mut conn, &http, Who::Session(&session))
        .await?;
    // Success is reported later by photomaton-control, when the PC answers; a second
    // "pending" now could overtake that report.
    if phase == ActionPhase::Failed {
        progress(&state, &request, phase, code, &message).await;
    }
    outcome
        .map(web::Json)
        .map_err(|e| unavailable("photomaton-control", e))
}

/// `POST /api/notion/sync`: installers and admins.
pub async fn notion_sync(
    http: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<web::Json<NotionSyncSummary>, ApiError> {
    session.require(UserRole::Installer)?;
    let outcome = state
        .bus
        .request(&NotionSyncRequest {
            requested_by: Some(session.user_id()),
        })
        .await;
    let mut conn = state.conn().await?;
    Audit::new("notion.sync", "event", None)
        .details(match &outcome {
            Ok(summary) => json!(summary),
            Err(error) => json!({"error": error.to_string()}),
        })
        .write(&mut conn, &http, Who::Session(&session))
        .await?;
    outcome
        .map(web::Json)
        .map_err(|e| unavailable("notion-sync", e))
}
