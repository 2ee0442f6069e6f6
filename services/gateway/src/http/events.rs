//! `/api/events`: the events Notion planned, with what each booth produced.

use actix_web::web;
use boom_contracts::{EventId, EventStatus};
use boom_server::ApiError;
use schemars::JsonSchema;
use serde::Deserialize;

use crate::errors::OrApi;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;
use crate::store::events::{self, EventDetail, EventView};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventQuery {
    pub status: Option<EventStatus>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<EventQuery>,
) -> Result<web::Json<Page<EventView>>, ApiError> {
    let query = query.into_inner();
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, after) = (paging.limit()?, paging.after()?);
    let mut conn = state.conn().await?;
    let rows = events::list(&mut conn, query.status, limit, after)
        .await
        .or_api()?;
    Ok(web::Json(page(
        rows,
        limit,
        |e| i64::from(e.id.0),
        EventView::from,
    )))
}

pub async fn get(
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<EventDetail>, ApiError> {
    let id = EventId(*id);
    let mut conn = state.conn().await?;
    events::detail(&mut conn, id)
        .await
        .or_api()?
        .map(web::Json)
        .ok_or_else(|| ApiError::not_found(format!("no event {id}")))
}
