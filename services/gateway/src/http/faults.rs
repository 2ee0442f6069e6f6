//! What could not be counted, for the people who can act on it: `GET /api/dead-letters`
//! (admins: bus messages set aside, see `consumers`), `POST /api/dead-letters/{id}/replay`
//! (once the cause is fixed), and `GET /api/photomatons/{id}/refused-lines` (the stat lines
//! ingest refused one by one).

use actix_web::{HttpRequest, HttpResponse, web};
use boom_contracts::PhotomatonId;
use boom_server::ApiError;
use serde_json::json;

use crate::errors::OrApi;
use crate::http::photomatons::no_such_photomaton;
use crate::http::session::Session;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;
use crate::store::audit::Audit;
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

/// Puts a dead letter back on its subject, as it came; it is forgotten once JetStream holds it
/// again (the recorder counts a batch once, whatever delivers it twice).
pub async fn replay(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let mut conn = state.conn().await?;
    let (subject, payload) = dead_letters::find(&mut conn, id)
        .await
        .or_api()?
        .ok_or_else(|| ApiError::not_found(format!("no dead letter {id}")))?;
    drop(conn);
    // No pooled connection is held while JetStream stores it.
    let stored = state
        .bus
        .jetstream()
        .publish(subject.clone(), payload.into())
        .await
        .map_err(|e| ApiError::unavailable(format!("NATS did not take it: {e}")))?;
    stored
        .await
        .map_err(|e| ApiError::unavailable(format!("NATS did not store it: {e}")))?;
    let mut conn = state.conn().await?;
    dead_letters::delete(&mut conn, id).await.or_api()?;
    Audit::new("dead_letter.replay", "dead_letter", i32::try_from(id).ok())
        .details(json!({"subject": subject}))
        .write(&mut conn, &session.actor(&request))
        .await
        .or_api()?;
    Ok(HttpResponse::Accepted().json(json!({"replayed": id})))
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
