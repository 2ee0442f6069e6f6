//! `/api/events`: the events Notion planned, with what each booth produced; searched by
//! client, type and date; archived by admins once the client has had their report.

use actix_web::{HttpRequest, web};
use boom_contracts::{EventId, EventStatus};
use boom_server::{ApiError, ErrorCode};
use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::errors::OrApi;
use crate::http::session::Session;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;
use crate::store::audit::Audit;
use crate::store::events::{self, Archiving, EventDetail, EventSearch, EventView};

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventQuery {
    pub status: Option<EventStatus>,
    /// Part of the client's name, any case.
    pub client: Option<String>,
    /// The event's type as Notion names it ("Mariage"), any case.
    #[serde(rename = "type")]
    pub event_type: Option<String>,
    /// Events dated from this Paris day on (YYYY-MM-DD).
    pub from: Option<NaiveDate>,
    /// Events dated up to this Paris day, included (YYYY-MM-DD).
    pub to: Option<NaiveDate>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// `from` ≤ `to` when both are given, each between the years 2000 and 9999 (what an event's
/// date can be; beyond, a 400 rather than a range error further down).
pub fn check_dates(from: Option<NaiveDate>, to: Option<NaiveDate>) -> Result<(), ApiError> {
    use chrono::Datelike;
    for (name, date) in [("from", from), ("to", to)] {
        if let Some(date) = date
            && !(2000..=9999).contains(&date.year())
        {
            return Err(ApiError::bad_request(format!(
                "`{name}` must be a date between the years 2000 and 9999, not {date}"
            )));
        }
    }
    match (from, to) {
        (Some(from), Some(to)) if from > to => Err(ApiError::bad_request(format!(
            "from ({from}) is after to ({to})"
        ))),
        _ => Ok(()),
    }
}

pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<EventQuery>,
) -> Result<web::Json<Page<EventView>>, ApiError> {
    let query = query.into_inner();
    check_dates(query.from, query.to)?;
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, after) = (paging.limit()?, paging.after()?);
    let search = EventSearch {
        status: query.status,
        client: query.client,
        event_type: query.event_type,
        from: query.from,
        to: query.to,
    };
    let mut conn = state.conn().await?;
    let rows = events::list(&mut conn, &search, limit, after)
        .await
        .or_api()?;
    Ok(web::Json(page(
        rows,
        limit,
        |e| i64::from(e.id.0),
        EventView::from,
    )))
}

/// The event types Notion used, sorted: the search's choices.
pub async fn types(state: web::Data<AppState>) -> Result<web::Json<Vec<String>>, ApiError> {
    let mut conn = state.conn().await?;
    Ok(web::Json(events::types(&mut conn).await.or_api()?))
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

async fn set_archived(
    request: &HttpRequest,
    session: &Session,
    state: &AppState,
    id: EventId,
    archived: bool,
) -> Result<web::Json<EventView>, ApiError> {
    let mut conn = state.conn().await?;
    let event = match events::set_archived(&mut conn, id, archived)
        .await
        .or_api()?
    {
        Archiving::Done(event) => *event,
        Archiving::NoSuchEvent => return Err(ApiError::not_found(format!("no event {id}"))),
        Archiving::Refused(status) => {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                if archived {
                    format!("event {id} is {status}: only a completed event is archived")
                } else {
                    format!("event {id} is {status}, not archived")
                },
            ));
        }
    };
    Audit::new(
        if archived {
            "event.archive"
        } else {
            "event.unarchive"
        },
        "event",
        Some(id.0),
    )
    .details(json!({"clientName": event.client_name}))
    .write(&mut conn, &session.actor(request))
    .await
    .or_api()?;
    drop(conn);
    let view = EventView::from(event.clone());
    state.live.events(vec![event]).await;
    Ok(web::Json(view))
}

/// Archives a completed event: it leaves the completed list, keeps its media and figures.
pub async fn archive(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<EventView>, ApiError> {
    set_archived(&request, &session, &state, EventId(*id), true).await
}

/// Brings an archived event back among the completed ones.
pub async fn unarchive(
    request: HttpRequest,
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<EventView>, ApiError> {
    set_archived(&request, &session, &state, EventId(*id), false).await
}
