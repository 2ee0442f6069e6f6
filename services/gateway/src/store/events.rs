//! Events: what Notion planned (a wedding, a party), with what each booth produced for it.
//! An event is written from notion-sync's messages (upsert by Notion page, completion of the
//! ones no longer "En cours") and its totals by the recorder; read by the events pages.

use std::collections::{BTreeMap, HashMap};

use boom_contracts::messages::EventUpserted;
use boom_contracts::{EventId, EventStatus, PhotomatonId};
use boom_db::models::{Event, NewEvent};
use boom_db::schema::{events, photomatons};
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::upsert::excluded;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName, SelectableHelper};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

use crate::store::totals::Totals;

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
                sessions: e.total_sessions,
                photos: e.total_photos,
                prints: e.total_prints,
                digital: e.total_digital,
                gifs: e.total_gifs,
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

/// A page of events, newest first: `limit + 1` rows after the id `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    status: Option<EventStatus>,
    limit: i64,
    after: Option<i64>,
) -> QueryResult<Vec<Event>> {
    let mut query = events::table
        .order(events::id.desc())
        .limit(limit + 1)
        .select(Event::as_select())
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(events::status.eq(status));
    }
    if let Some(after) = after {
        query = query.filter(events::id.lt(i32::try_from(after).unwrap_or(i32::MAX)));
    }
    query.load(conn).await
}

pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[EventId]) -> QueryResult<Vec<Event>> {
    events::table
        .filter(events::id.eq_any(ids))
        .select(Event::as_select())
        .load(conn)
        .await
}

/// The event with its totals per booth and per hour (from `event_hourly_totals`, kept by a
/// trigger on media inserts); `None` when there is no such event.
pub async fn detail(conn: &mut AsyncPgConnection, id: EventId) -> QueryResult<Option<EventDetail>> {
    let Some(event) = events::table
        .find(id)
        .select(Event::as_select())
        .first::<Event>(conn)
        .await
        .optional()?
    else {
        return Ok(None);
    };
    let hourly: Vec<HourRow> = diesel::sql_query(
        "SELECT hour, photomaton_id, sessions, photos, prints, digital, gifs \
         FROM event_hourly_totals WHERE event_id = $1 ORDER BY hour, photomaton_id",
    )
    .bind::<diesel::sql_types::Integer, _>(id.0)
    .load(conn)
    .await?;
    let mut timeline: Vec<HourBucket> = Vec::new();
    let mut per_booth: BTreeMap<PhotomatonId, Totals> = BTreeMap::new();
    for row in hourly {
        match timeline.last_mut() {
            Some(bucket) if bucket.hour == row.hour => bucket.totals.merge(&row.totals),
            _ => timeline.push(HourBucket {
                hour: row.hour,
                totals: row.totals,
            }),
        }
        per_booth
            .entry(row.photomaton_id)
            .or_default()
            .merge(&row.totals);
    }
    let per_photomaton = per_booth
        .into_iter()
        .map(|(photomaton_id, totals)| BoothTotals {
            photomaton_id,
            totals,
        })
        .collect();
    let notion_data = event.notion_data.clone();
    Ok(Some(EventDetail {
        event: EventView::from(event),
        per_photomaton,
        timeline,
        notion_data,
    }))
}

/// A booth's ACTIVE events by date, oldest first: what its media are attributed to.
pub type Calendar = Vec<(Option<DateTime<Utc>>, EventId)>;

/// The calendars of `booths` (a booth without an active event has none).
pub async fn active_calendars(
    conn: &mut AsyncPgConnection,
    booths: &[PhotomatonId],
) -> QueryResult<HashMap<PhotomatonId, Calendar>> {
    let active: Vec<Event> = events::table
        .filter(events::status.eq(EventStatus::Active))
        .filter(events::photomaton_id.eq_any(booths))
        .select(Event::as_select())
        .load(conn)
        .await?;
    let mut calendars: HashMap<PhotomatonId, Calendar> = HashMap::new();
    for event in active {
        if let Some(booth) = event.photomaton_id {
            calendars
                .entry(booth)
                .or_default()
                .push((event.event_date, event.id));
        }
    }
    for calendar in calendars.values_mut() {
        calendar.sort();
    }
    Ok(calendars)
}

/// The active event a media of `at` belongs to: the latest one dated before it (events are
/// dated by their day, so a wedding's night still counts), else the earliest one.
pub fn event_at(calendar: &Calendar, at: DateTime<Utc>) -> Option<EventId> {
    let dated_before = calendar
        .iter()
        .rev()
        .find(|(date, _)| date.is_some_and(|d| d <= at))
        .map(|(_, id)| *id);
    dated_before.or_else(|| calendar.iter().next().map(|(_, id)| *id))
}

/// Adds media to an event's totals.
pub async fn add_totals(
    conn: &mut AsyncPgConnection,
    event: EventId,
    totals: &Totals,
) -> QueryResult<()> {
    diesel::update(events::table.find(event))
        .set((
            events::total_sessions.eq(events::total_sessions + totals.sessions),
            events::total_photos.eq(events::total_photos + totals.photos),
            events::total_prints.eq(events::total_prints + totals.prints),
            events::total_digital.eq(events::total_digital + totals.digital),
            events::total_gifs.eq(events::total_gifs + totals.gifs),
        ))
        .execute(conn)
        .await?;
    Ok(())
}

/// Inserts or updates the event of a Notion page (ACTIVE). Newer wins on the page's
/// `lastEditedTime`: an older edit than the one stored (a late redelivery) changes nothing,
/// and the same edit does not bring back an event completed since (only a later edit of
/// the page can): `None`.
pub async fn upsert(
    conn: &mut AsyncPgConnection,
    message: EventUpserted,
) -> QueryResult<Option<Event>> {
    // A booth deleted since notion-sync matched it: keep the event, without booth.
    let photomaton = match message.photomaton_id {
        Some(id) => photomatons::table
            .find(id)
            .select(photomatons::id)
            .first(conn)
            .await
            .optional()?,
        None => None,
    };
    let row = NewEvent {
        notion_page_id: message.notion_page_id,
        photomaton_id: photomaton,
        client_name: message.client_name,
        event_type: message.event_type,
        event_date: message.event_date,
        album_name: message.album_name,
        notion_url: message.notion_url,
        notion_data: message.notion_data,
        notion_last_edited: Some(message.notion_last_edited),
        status: EventStatus::Active,
    };
    let statement = diesel::insert_into(events::table)
        .values(&row)
        .on_conflict(events::notion_page_id)
        .do_update()
        .set((
            events::photomaton_id.eq(excluded(events::photomaton_id)),
            events::client_name.eq(excluded(events::client_name)),
            events::event_type.eq(excluded(events::event_type)),
            events::event_date.eq(excluded(events::event_date)),
            events::album_name.eq(excluded(events::album_name)),
            events::notion_url.eq(excluded(events::notion_url)),
            events::notion_data.eq(excluded(events::notion_data)),
            events::notion_last_edited.eq(excluded(events::notion_last_edited)),
            events::status.eq(EventStatus::Active),
            events::synced_at.eq(Utc::now()),
        ));
    let statement = diesel::query_dsl::methods::FilterDsl::filter(
        statement,
        diesel::dsl::sql::<diesel::sql_types::Bool>(
            "events.notion_last_edited IS NULL \
             OR events.notion_last_edited < excluded.notion_last_edited \
             OR (events.notion_last_edited = excluded.notion_last_edited AND events.status = 'ACTIVE')",
        ),
    );
    statement
        .returning(Event::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Makes every ACTIVE event whose Notion page is not in `active_page_ids` COMPLETED.
pub async fn complete_all_but(
    conn: &mut AsyncPgConnection,
    active_page_ids: &[String],
) -> QueryResult<Vec<Event>> {
    diesel::update(events::table)
        .filter(events::status.eq(EventStatus::Active))
        .filter(events::notion_page_id.ne_all(active_page_ids))
        .set((
            events::status.eq(EventStatus::Completed),
            events::synced_at.eq(Utc::now()),
        ))
        .returning(Event::as_returning())
        .get_results(conn)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: u32, hour: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 6, day, hour, 0, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn media_go_to_the_latest_event_dated_before_them() {
        let calendar = vec![(Some(at(12, 0)), EventId(1)), (Some(at(13, 0)), EventId(2))];
        assert_eq!(event_at(&calendar, at(12, 23)), Some(EventId(1)));
        assert_eq!(
            event_at(&calendar, at(14, 1)),
            Some(EventId(2)),
            "the night after the wedding day"
        );
        assert_eq!(
            event_at(&calendar, at(11, 9)),
            Some(EventId(1)),
            "set-up the day before"
        );
        assert_eq!(event_at(&Vec::new(), at(12, 0)), None);
    }
}
