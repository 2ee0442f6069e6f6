//! What could not be counted, for the people who can act on it: `GET /api/dead-letters`
//! (admins: bus messages set aside, see `consumers`) and
//! `GET /api/photomatons/{id}/refused-lines` (the stat lines ingest refused one by one).

use actix_web::web;
use boom_contracts::PhotomatonId;
use boom_server::ApiError;

use crate::errors::OrApi;
use crate::http::photomatons::no_such_photomaton;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;
use crate::store::dead_letters::{self, DeadLetterView};
use crate::store::photomatons;
use crate::store::refused_lines::{self, RefusedLineView};

pub async fn dead_letters(
    state: web::Data<AppState>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<DeadLetterView>>, ApiError> {
    let (limit, after) = (query.limit()?, query.after()?);
    let mut conn = state.conn().await?;
    let rows = dead_letters::list(&mut conn, limit, after).await.or_api()?;
    Ok(web::Json(page(rows, limit, |d| d.id, DeadLetterView::from)))
}

pub async fn refused_lines(
    state: web::Data<AppState>,
    id: web::Path<i32>,
    query: web::Query<PageQuery>,
) -> Result<web::Json<Page<RefusedLineView>>, ApiError> {
    let id = PhotomatonId(*id);
    let (limit, after) = (query.limit()?, query.after()?);
    let mut conn = state.conn().await?;
    if !photomatons::exists(&mut conn, id).await.or_api()? {
        return Err(no_such_photomaton(id));
    }
    let rows = refused_lines::list(&mut conn, id, limit, after)
        .await
        .or_api()?;
    Ok(web::Json(page(
        rows,
        limit,
        |r| r.id,
        RefusedLineView::from,
    )))
}
