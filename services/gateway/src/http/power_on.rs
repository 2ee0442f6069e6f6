//! `POST /api/webhooks/action` (installers, admins): act on a booth — power it on — through
//! photomaton-control. The flow lives in [`crate::wake`].

use actix_web::{HttpRequest, web};
use boom_contracts::PhotomatonId;
use boom_contracts::messages::{ControlReply, PhotomatonAction};
use boom_server::ApiError;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::errors::{OrApi, from_bus, from_db};
use crate::http::photomatons::no_such_photomaton;
use crate::http::session::Session;
use crate::state::AppState;
use crate::wake::{self, WakeError};

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionRequest {
    pub photomaton_id: PhotomatonId,
    pub action: PhotomatonAction,
}

pub async fn action(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    body: web::Json<ActionRequest>,
) -> Result<web::Json<ControlReply>, ApiError> {
    let ActionRequest {
        photomaton_id,
        action,
    } = body.into_inner();
    let actor = session.actor(&request);
    wake::power_on(&state, &actor, session.user_id(), photomaton_id, action)
        .await
        .map(web::Json)
        .map_err(|error| match error {
            WakeError::NoSuchPhotomaton(id) => no_such_photomaton(id),
            WakeError::Storage(error) => from_db(error),
            WakeError::Control(error) => from_bus("photomaton-control", error),
        })
}

/// The booth's latest power-ons (who asked, when, and what came of it), newest first: what
/// its page shows under "Actions récentes", also after a reload.
pub async fn recent(
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<Vec<crate::store::audit::PowerOnEntry>>, ApiError> {
    let id = PhotomatonId(*id);
    let mut conn = state.conn().await?;
    if !crate::store::photomatons::exists(&mut conn, id)
        .await
        .or_api()?
    {
        return Err(no_such_photomaton(id));
    }
    Ok(web::Json(
        crate::store::audit::power_ons(&mut conn, id.0, 10)
            .await
            .or_api()?,
    ))
}
