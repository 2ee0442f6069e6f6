//! A booth's speed tests, over HTTP: an installer asks for one now
//! (`POST /api/photomatons/{id}/speedtests`; the agent learns of it when it next polls
//! ingest, through the registry, and sends the result with its next batch) and the booth
//! page lists them (`GET …/speedtests`).

use actix_web::{HttpRequest, web};
use boom_contracts::PhotomatonId;
use boom_server::ApiError;

use crate::announce::changed;
use crate::errors::OrApi;
use crate::http::photomatons::no_such_photomaton;
use crate::http::session::Session;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;
use crate::store::audit::Audit;
use crate::store::photomatons::{self, PhotomatonView};
use crate::store::speed_tests::{self, SpeedTestView};

pub async fn request(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<PhotomatonView>, ApiError> {
    let id = PhotomatonId(*id);
    let mut conn = state.conn().await?;
    let booth = speed_tests::request(&mut conn, id)
        .await
        .or_api()?
        .ok_or_else(|| no_such_photomaton(id))?;
    let audit = Audit::new("photomaton.speed_test_request", "photomaton", Some(id.0));
    let view = changed(&state, &mut conn, &session.actor(&request), audit, booth)
        .await
        .or_api()?;
    Ok(web::Json(view))
}

pub async fn list(
    state: web::Data<AppState>,
    id: web::Path<i32>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<SpeedTestView>>, ApiError> {
    let id = PhotomatonId(*id);
    let (limit, after) = (query.limit()?, query.after()?);
    let mut conn = state.conn().await?;
    if !photomatons::exists(&mut conn, id).await.or_api()? {
        return Err(no_such_photomaton(id));
    }
    let rows = speed_tests::list(&mut conn, id, limit, after)
        .await
        .or_api()?;
    Ok(web::Json(page(
        rows,
        limit,
        |t| t.id.0,
        SpeedTestView::from,
    )))
}
