//! `POST /api/notion/sync` (installers, admins): asks notion-sync to sync now, over NATS
//! request/reply, audits it and answers the summary; no responder or no answer in time is a
//! clear 503. Notion's events reach the database through [`crate::consumers::notion`].

use actix_web::{HttpRequest, web};
use boom_contracts::messages::{NotionSyncRequest, NotionSyncSummary};
use boom_server::ApiError;
use serde_json::json;

use crate::errors::{OrApi, from_bus};
use crate::http::session::Session;
use crate::state::AppState;
use crate::store::audit::Audit;

pub async fn sync(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
) -> Result<web::Json<NotionSyncSummary>, ApiError> {
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
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    outcome
        .map(web::Json)
        .map_err(|e| from_bus("notion-sync", e))
}
