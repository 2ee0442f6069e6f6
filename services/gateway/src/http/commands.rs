//! `POST /api/photomatons/{id}/commands` (installers, admins) sends a command to the booth's
//! agent: `{"command": NAME, "expiresInSecs"?: N}` → 202 `{id, status: "queued"}`; NAME is one
//! of the command lines the agent's configuration names (`agent.commands.<NAME>`), and the
//! agent refuses any other. `GET …/commands` lists them, newest first. The command reaches the
//! agent through the agent commands bucket when it next polls (within seconds: it long-polls);
//! a booth offline longer than `expiresInSecs` (default one hour) sees it expire.

use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::PhotomatonId;
use boom_contracts::messages::FrameKind;
use boom_db::models::NewAgentCommand;
use boom_server::ApiError;
use chrono::Utc;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::errors::OrApi;
use crate::http::photomatons::no_such_photomaton;
use crate::http::session::Session;
use crate::state::AppState;
use crate::store::audit::Audit;
use crate::store::commands::{self, CommandView};
use crate::store::photomatons;

/// How long a command waits for its agent when the request does not say.
pub const DEFAULT_EXPIRY_SECS: u32 = 60 * 60;
/// The longest a command may wait: a week.
pub const MAX_EXPIRY_SECS: u32 = 7 * 24 * 60 * 60;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SendCommand {
    /// A name of the agent's configuration: letters, digits, `_` (1 to 64; case ignored).
    #[schemars(pattern(r"^\s*[A-Za-z0-9_]{1,64}\s*$"))]
    pub command: String,
    /// Seconds the command may wait for an offline booth before it expires (default 3600).
    #[schemars(range(min = 1, max = MAX_EXPIRY_SECS))]
    pub expires_in_secs: Option<u32>,
}

pub async fn send(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
    body: web::Json<SendCommand>,
) -> Result<HttpResponse, ApiError> {
    let id = PhotomatonId(*id);
    let SendCommand {
        command,
        expires_in_secs,
    } = body.into_inner();
    let command = command.trim().to_ascii_lowercase();
    let valid = (1..=64).contains(&command.len())
        && command
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(ApiError::unprocessable(
            "command: the name of one of the agent's commands (letters, digits, `_`, up to 64)",
        ));
    }
    let expires_in = expires_in_secs.unwrap_or(DEFAULT_EXPIRY_SECS);
    if !(1..=MAX_EXPIRY_SECS).contains(&expires_in) {
        return Err(ApiError::unprocessable(format!(
            "expiresInSecs: 1 to {MAX_EXPIRY_SECS}"
        )));
    }
    let mut conn = state.conn().await?;
    if !photomatons::exists(&mut conn, id).await.or_api()? {
        return Err(no_such_photomaton(id));
    }
    let queued = commands::insert(
        &mut conn,
        NewAgentCommand {
            id: uuid::Uuid::new_v4(),
            photomaton_id: id,
            command: command.clone(),
            requested_by: Some(session.user_id()),
            expires_at: Utc::now() + chrono::Duration::seconds(i64::from(expires_in)),
        },
    )
    .await
    .or_api()?;
    Audit::new("photomaton.command", "photomaton", Some(id.0))
        .details(json!({"commandId": queued.id, "command": command}))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    let mirrored = state.registry.put(&mut conn, id).await;
    let view = CommandView::from(queued);
    state
        .live
        .publish(FrameKind::PhotomatonCommand, Some(id), json!(view))
        .await;
    mirrored.or_api()?;
    Ok(HttpResponse::Accepted().json(json!({"id": view.id, "status": view.status})))
}

pub async fn list(
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<Vec<CommandView>>, ApiError> {
    let id = PhotomatonId(*id);
    let mut conn = state.conn().await?;
    if !photomatons::exists(&mut conn, id).await.or_api()? {
        return Err(no_such_photomaton(id));
    }
    let rows = commands::list(&mut conn, id, 50).await.or_api()?;
    Ok(web::Json(rows.into_iter().map(CommandView::from).collect()))
}
