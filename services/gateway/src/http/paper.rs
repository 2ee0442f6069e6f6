//! A booth's paper, over HTTP: a new roll declared by an installer
//! (`POST /api/photomatons/{id}/paper-reset`) and the history of levels
//! (`GET /api/photomatons/{id}/paper-levels`). The rules live in [`crate::store::paper`].

use actix_web::{HttpRequest, web};
use boom_contracts::PhotomatonId;
use boom_server::ApiError;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::announce::changed;
use crate::errors::OrApi;
use crate::http::photomatons::{count, no_such_photomaton};
use crate::http::session::Session;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;
use crate::store::audit::Audit;
use crate::store::paper::{self, PaperLevelView};
use crate::store::photomatons::{self, PhotomatonView};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PaperReset {
    /// Prints on the new roll: at most the booth's paper capacity, which is the default.
    #[schemars(range(min = 0, max = 100_000))]
    pub remaining_prints: Option<i32>,
}

/// A new roll of paper: the counter goes back to the capacity (or the count given). The
/// agent learns of it on its next sync or poll (through the registry); until then the
/// recorder counts down from here rather than take the old roll's level it reports.
pub async fn reset(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
    body: Option<web::Json<PaperReset>>,
) -> Result<web::Json<PhotomatonView>, ApiError> {
    let id = PhotomatonId(*id);
    let remaining = body
        .and_then(|b| b.into_inner().remaining_prints)
        .map(|r| count("remainingPrints", r))
        .transpose()?;
    let mut conn = state.conn().await?;
    let booth = match paper::reset(&mut conn, id, remaining).await.or_api()? {
        paper::Reset::Done(booth) => *booth,
        paper::Reset::NoSuchBooth => return Err(no_such_photomaton(id)),
        paper::Reset::MoreThanCapacity(capacity) => {
            return Err(ApiError::unprocessable(format!(
                "remainingPrints: more than this booth's paper capacity of {capacity}"
            )));
        }
    };
    let audit = Audit::new("photomaton.paper_reset", "photomaton", Some(id.0))
        .details(json!({"remainingPrints": booth.remaining_prints}));
    let view = changed(&state, &mut conn, &session.actor(&request), audit, booth)
        .await
        .or_api()?;
    Ok(web::Json(view))
}

/// Every change of the paper level, newest first.
pub async fn levels(
    state: web::Data<AppState>,
    id: web::Path<i32>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<PaperLevelView>>, ApiError> {
    let id = PhotomatonId(*id);
    let (limit, after) = (query.limit()?, query.after()?);
    let mut conn = state.conn().await?;
    if !photomatons::exists(&mut conn, id).await.or_api()? {
        return Err(no_such_photomaton(id));
    }
    let rows = paper::levels(&mut conn, id, limit, after).await.or_api()?;
    Ok(web::Json(page(rows, limit, |p| p.id, |p| p)))
}
