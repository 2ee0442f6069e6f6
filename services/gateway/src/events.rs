//! `/api/events`: the events Notion planned, with what each booth produced.

use actix_web::web;
use boom_contracts::{EventId, EventStatus, MediaType, PhotomatonId, UserRole};
use boom_db::models::Event;
use boom_db::schema::events;
use boom_server::ApiError;
use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::auth::Session;
use crate::errors::OrApi;
use crate::pagination::{Page, PageQuery, page};
use crate::state::AppState;

/// Media counts by type; also the columns of the totals tables (`photomaton_daily_totals`,
/// `event_hourly_totals`).
#[derive(Debug, Clone, Default, Serialize, JsonSchema, QueryableByName)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub sessions: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub photos: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub prints: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub digital: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub gifs: i64,
}

impl Totals {
    pub fn merge(&mut self, other: &Self) {
        self.sessions += other.sessions;
        self.photos += other.photos;
        self.prints += other.prints;
        self.digital += other.digital;
        self.gifs += other.gifs;
    }

    pub fn add(&mut self, media: MediaType, n: i64) {
        match media {
            MediaType::Session => self.sessions += n,
            MediaType::Photo => self.photos += n,
            MediaType::Print => self.prints += n,
            MediaType::Digital => self.digital += n,
            MediaType::Gif => self.gifs += n,
        }
    }
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: EventId,
    pub notion_page_id: String,
    pub notion_url: Option<String>,
    pub photomaton_id: Option<PhotomatonId>,
    pub client_name: String,
    pub event_type: Option<String>,
    pub event_date: Option<DateTime<Utc>>,
    pub album_name: Option<String>,
    pub status: EventStatus,
    pub totals: Totals,
    pub synced_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Event> for EventView {
    fn from(e: Event) -> Self {
        Self {
            id: e.id,
            notion_page_id: e.notion_page_id,
            notion_url: e.notion_url,
            photomaton_id: e.photomaton_id,
            client_name: e.client_name,
            event_type: e.event_type,
            event_date: e.event_date,
            album_name: e.album_name,
            status: e.status,
            totals: Totals {
                sessions: i64::from(e.total_sessions),
                photos: i64::from(e.total_photos),
                prints: i64::from(e.total_prints),
                digital: i64::from(e.total_digital),
                gifs: i64::from(e.total_gifs),
            },
            synced_at: e.synced_at,
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// Media of one hour.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HourBucket {
    pub hour: DateTime<Utc>,
    pub totals: Totals,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoothTotals {
    pub photomaton_id: PhotomatonId,
    pub totals: Totals,
}

#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventDetail {
    #[serde(flatten)]
    pub event: EventView,
    /// Totals per booth that recorded media for this event.
    pub per_photomaton: Vec<BoothTotals>,
    /// Media per hour, oldest first.
    pub timeline: Vec<HourBucket>,
    pub notion_data: serde_json::Value,
}

/// A row of `event_hourly_totals`.
#[derive(QueryableByName)]
struct HourRow {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    hour: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    photomaton_id: PhotomatonId,
    #[diesel(embed)]
    totals: Totals,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventQuery {
    pub status: Option<EventStatus>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    session: Session,
    state: web::Data<AppState>,
    query: web::Query<EventQuery>,
) -> Result<web::Json<Page<EventView>>, ApiError> {
    session.require(UserRole::Viewer)?;
    let query = query.into_inner();
    let paging = PageQuery {
        limit: query.limit,
        cursor: query.cursor,
    };
    let (limit, after) = (paging.limit()?, paging.after()?);
    let mut conn = state.conn().await?;
    let mut q = events::table
        .order(events::id.desc())
        .limit(limit + 1)
        .select(Event::as_select())
        .into_boxed();
    if let Some(status) = query.status {
        q = q.filter(events::status.eq(status));
    }
    if let Some(after) = after {
        q = q.filter(events::id.lt(i32::try_from(after).unwrap_or(i32::MAX)));
    }
    let rows: Vec<Event> = q.load(&mut conn).await.or_api()?;
    Ok(web::Json(page(
        rows,
        limit,
        |e| i64::from(e.id.0),
        EventView::from,
    )))
}

pub async fn get(
    session: Session,
    state: web::Data<AppState>,
    id: web::Path<i32>,
) -> Result<web::Json<EventDetail>, ApiError> {
    session.require(UserRole::Viewer)?;
    let id = EventId(*id);
    let mut conn = state.conn().await?;
    let event: Event = events::table
        .find(id)
        .select(Event::as_select())
        .first(&mut conn)
        .await
        .optional()
        .or_api()?
        .ok_or_else(|| ApiError::not_found(format!("no event {id}")))?;

    let hourly: Vec<HourRow> = diesel::sql_query(
        "SELECT hour, photomaton_id, sessions, photos, prints, digital, gifs \
         FROM event_hourly_totals WHERE event_id = $1 ORDER BY hour, photomaton_id",
    )
    .bind::<diesel::sql_types::Integer, _>(id.0)
    .load(&mut conn)
    .await
    .or_api()?;
    let mut timeline: Vec<HourBucket> = Vec::new();
    let mut per_booth: std::collections::BTreeMap<PhotomatonId, Totals> =
        std::collections::BTreeMap::new();
    for row in hourly {
        let totals = row.totals;
        match timeline.last_mut() {
            Some(bucket) if bucket.hour == row.hour => bucket.totals.merge(&totals),
            _ => timeline.push(HourBucket {
                hour: row.hour,
                totals: totals.clone(),
            }),
        }
        per_booth
            .entry(row.photomaton_id)
            .or_default()
            .merge(&totals);
    }
    let per_photomaton = per_booth
        .into_iter()
        .map(|(photomaton_id, totals)| BoothTotals {
            photomaton_id,
            totals,
        })
        .collect();

    let notion_data = event.notion_data.clone();
    Ok(web::Json(EventDetail {
        event: EventView::from(event),
        per_photomaton,
        timeline,
        notion_data,
    }))
}
