//! Events: what Notion planned (a wedding, a party), with what each booth produced for it.
//! An event is written from notion-sync's messages (upsert by Notion page, completion of the
//! ones no longer "En cours") and its totals by the recorder; read by the events pages.

use std::collections::{BTreeMap, HashMap};

use boom_contracts::messages::EventUpserted;
use boom_contracts::paris;
use boom_contracts::{EventId, EventStatus, PhotomatonId};
use boom_db::models::{Event, NewEvent};
use boom_db::schema::{events, photomatons};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::result::QueryResult;
use diesel::upsert::excluded;
use diesel::{
    ExpressionMethods, NullableExpressionMethods, OptionalExtension, PgTextExpressionMethods,
    QueryDsl, QueryableByName, SelectableHelper,
};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

use crate::store::event_figures::{BoothDuringEvent, during_event};
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
    /// Media made by its booth from `windowStart` (included) to `windowEnd` are the event's.
    pub window_start: Option<DateTime<Utc>>,
    pub window_end: Option<DateTime<Utc>>,
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
            window_start: e.window_start,
            window_end: e.window_end,
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
    /// Each booth of the event during its window: paper and how long it was reachable.
    pub booths: Vec<BoothDuringEvent>,
    pub notion_data: serde_json::Value,
}

/// Which events a list shows: by status, client (part of the name, any case), type (exact, any
/// case) and Notion date (Paris days, both included).
#[derive(Debug, Default)]
pub struct EventSearch {
    pub status: Option<EventStatus>,
    pub client: Option<String>,
    pub event_type: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// `text` as a LIKE pattern that matches only itself: its wildcards escaped.
fn literal_pattern(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A page of events, newest first: `limit + 1` rows after the id `after`.
pub async fn list(
    conn: &mut AsyncPgConnection,
    search: &EventSearch,
    limit: i64,
    after: Option<i64>,
) -> QueryResult<Vec<Event>> {
    let mut query = events::table
        .order(events::id.desc())
        .limit(limit + 1)
        .select(Event::as_select())
        .into_boxed();
    if let Some(status) = search.status {
        query = query.filter(events::status.eq(status));
    }
    if let Some(client) = search.client.as_deref().filter(|c| !c.trim().is_empty()) {
        query = query
            .filter(events::client_name.ilike(format!("%{}%", literal_pattern(client.trim()))));
    }
    if let Some(kind) = search
        .event_type
        .as_deref()
        .filter(|k| !k.trim().is_empty())
    {
        query = query.filter(events::event_type.ilike(literal_pattern(kind.trim())));
    }
    if let Some(from) = search.from {
        query = query.filter(events::event_date.ge(paris::at(from, NaiveTime::MIN)));
    }
    if let Some(to) = search.to.and_then(|d| d.succ_opt()) {
        query = query.filter(events::event_date.lt(paris::at(to, NaiveTime::MIN)));
    }
    if let Some(after) = after {
        query = query.filter(events::id.lt(i32::try_from(after).unwrap_or(i32::MAX)));
    }
    query.load(conn).await
}

/// The event types Notion used, for the search's choices.
pub async fn types(conn: &mut AsyncPgConnection) -> QueryResult<Vec<String>> {
    events::table
        .filter(events::event_type.is_not_null())
        .select(events::event_type.assume_not_null())
        .distinct()
        .order(events::event_type.assume_not_null().asc())
        .load(conn)
        .await
}

/// What archiving (or bringing back) an event did.
#[derive(Debug)]
pub enum Archiving {
    Done(Box<Event>),
    NoSuchEvent,
    /// Only a completed event is archived, and only an archived one brought back.
    Refused(EventStatus),
}

/// Archives a COMPLETED event (`archived`), or brings an ARCHIVED one back to COMPLETED. Its
/// media stay its own; Notion's sync leaves an archived event archived unless the page is
/// made "En cours" again.
pub async fn set_archived(
    conn: &mut AsyncPgConnection,
    id: EventId,
    archived: bool,
) -> QueryResult<Archiving> {
    let (from, to) = if archived {
        (EventStatus::Completed, EventStatus::Archived)
    } else {
        (EventStatus::Archived, EventStatus::Completed)
    };
    let updated = diesel::update(events::table.find(id).filter(events::status.eq(from)))
        .set((events::status.eq(to), events::updated_at.eq(Utc::now())))
        .returning(Event::as_returning())
        .get_result(conn)
        .await
        .optional()?;
    if let Some(event) = updated {
        return Ok(Archiving::Done(Box::new(event)));
    }
    let status: Option<EventStatus> = events::table
        .find(id)
        .select(events::status)
        .first(conn)
        .await
        .optional()?;
    Ok(status.map_or(Archiving::NoSuchEvent, Archiving::Refused))
}

pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[EventId]) -> QueryResult<Vec<Event>> {
    events::table
        .filter(events::id.eq_any(ids))
        .select(Event::as_select())
        .load(conn)
        .await
}

/// One hour of one booth of an event (a row of `event_hourly_totals`), with the booth's name.
#[derive(Debug, QueryableByName)]
pub struct HourlyRow {
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub hour: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub photomaton_id: PhotomatonId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub booth: String,
    #[diesel(embed)]
    pub totals: Totals,
}

/// An event's hours and booths, by hour then booth name.
pub async fn hourly_rows(conn: &mut AsyncPgConnection, id: EventId) -> QueryResult<Vec<HourlyRow>> {
    diesel::sql_query(
        "SELECT h.hour, h.photomaton_id, p.name AS booth, h.sessions, h.photos, h.prints, h.digital, h.gifs \
         FROM event_hourly_totals h JOIN photomatons p ON p.id = h.photomaton_id \
         WHERE h.event_id = $1 ORDER BY h.hour, p.name",
    )
    .bind::<diesel::sql_types::Integer, _>(id.0)
    .load(conn)
    .await
}

/// One event as the list shows it.
pub async fn view(conn: &mut AsyncPgConnection, id: EventId) -> QueryResult<Option<EventView>> {
    Ok(events::table
        .find(id)
        .select(Event::as_select())
        .first::<Event>(conn)
        .await
        .optional()?
        .map(EventView::from))
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
    let hourly = hourly_rows(conn, id).await?;
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
    let per_photomaton: Vec<BoothTotals> = per_booth
        .into_iter()
        .map(|(photomaton_id, totals)| BoothTotals {
            photomaton_id,
            totals,
        })
        .collect();
    let notion_data = event.notion_data.clone();
    let made_media: Vec<PhotomatonId> = per_photomaton.iter().map(|b| b.photomaton_id).collect();
    let booths = during_event(conn, &event, &made_media).await?;
    Ok(Some(EventDetail {
        event: EventView::from(event),
        per_photomaton,
        timeline,
        booths,
        notion_data,
    }))
}

/// Where and when an event's media are made: its booth and window, as stored.
pub type Placement = (
    Option<PhotomatonId>,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
);

/// A booth's event windows `(start, end, event)`, by start: what its media are attributed to.
pub type Calendar = Vec<(DateTime<Utc>, DateTime<Utc>, EventId)>;

/// The calendars of `booths` over `[from, to]`: every event (whatever its status) whose
/// window meets that span.
pub async fn calendars(
    conn: &mut AsyncPgConnection,
    booths: &[PhotomatonId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<HashMap<PhotomatonId, Calendar>> {
    let rows: Vec<(Placement, EventId)> = events::table
        .filter(events::photomaton_id.eq_any(booths))
        .filter(events::window_start.le(to))
        .filter(events::window_end.gt(from))
        .select((
            (
                events::photomaton_id,
                events::window_start,
                events::window_end,
            ),
            events::id,
        ))
        .load(conn)
        .await?;
    let mut calendars: HashMap<PhotomatonId, Calendar> = HashMap::new();
    for ((booth, start, end), id) in rows {
        if let (Some(booth), Some(start), Some(end)) = (booth, start, end) {
            calendars.entry(booth).or_default().push((start, end, id));
        }
    }
    for calendar in calendars.values_mut() {
        calendar.sort();
    }
    Ok(calendars)
}

/// The event a media made at `at` belongs to: the latest-starting window that holds it (the
/// same rule as SQL's `event_at`); none outside every window (set-up, a day off).
pub fn event_at(calendar: &Calendar, at: DateTime<Utc>) -> Option<EventId> {
    calendar
        .iter()
        .filter(|(start, end, _)| *start <= at && at < *end)
        .max_by_key(|(start, _, id)| (*start, id.0))
        .map(|(_, _, id)| *id)
}

/// Attributes again the media of `booths` made in `[from, to)` (an event's window or booth
/// changed) and counts again every event that lost or gained some. Answers those events.
pub async fn reattribute(
    conn: &mut AsyncPgConnection,
    booths: &[PhotomatonId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> QueryResult<Vec<EventId>> {
    use diesel::sql_types::{Array, Integer, Timestamptz};
    #[derive(QueryableByName)]
    struct Moved {
        #[diesel(sql_type = diesel::sql_types::Nullable<Integer>)]
        event: Option<i32>,
    }
    let ids: Vec<i32> = booths.iter().map(|b| b.0).collect();
    let moved: Vec<Moved> = diesel::sql_query(
        "WITH old AS ( \
             SELECT id, event_id FROM photos \
             WHERE photomaton_id = ANY($1) AND \"timestamp\" >= $2 AND \"timestamp\" < $3 \
             FOR UPDATE), \
         moved AS ( \
             UPDATE photos p SET event_id = event_at(p.photomaton_id, p.\"timestamp\") \
             FROM old WHERE p.id = old.id \
               AND old.event_id IS DISTINCT FROM event_at(p.photomaton_id, p.\"timestamp\") \
             RETURNING old.event_id AS before, p.event_id AS after) \
         SELECT DISTINCT e AS event FROM moved, unnest(ARRAY[before, after]) AS e",
    )
    .bind::<Array<Integer>, _>(ids)
    .bind::<Timestamptz, _>(from)
    .bind::<Timestamptz, _>(to)
    .load(conn)
    .await?;
    let events: Vec<EventId> = moved
        .into_iter()
        .filter_map(|m| m.event.map(EventId))
        .collect();
    recount(conn, &events).await?;
    Ok(events)
}

/// Rebuilds the totals of `events` from their media rows (SQL `recount_events`).
pub async fn recount(conn: &mut AsyncPgConnection, events: &[EventId]) -> QueryResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<i32> = events.iter().map(|e| e.0).collect();
    diesel::sql_query("SELECT recount_events($1)")
        .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(ids)
        .execute(conn)
        .await?;
    Ok(())
}

/// The window of an event written from a message: the message's, else (an older notion-sync)
/// the Paris day of its date.
fn window_of(
    message: &EventUpserted,
    overrun_hours: u32,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    match (message.window_start, message.window_end) {
        (Some(start), Some(end)) => (Some(start), Some(end)),
        _ => match message.event_date {
            Some(date) => {
                let day = boom_contracts::paris::day_of(date);
                let (start, end) = boom_contracts::paris::event_window(
                    boom_contracts::paris::Planned::Day(day),
                    None,
                    overrun_hours,
                );
                (Some(start), Some(end))
            }
            None => (None, None),
        },
    }
}

/// Adds media to an event's totals.
pub async fn add_totals(
    mut conn: &AsyncPgConnection,
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
        .execute(&mut conn)
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
    overrun_hours: u32,
) -> QueryResult<Option<Event>> {
    let (window_start, window_end) = window_of(&message, overrun_hours);
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
        window_start,
        window_end,
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
            events::window_start.eq(excluded(events::window_start)),
            events::window_end.eq(excluded(events::window_end)),
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

/// Writes an event from Notion ([`upsert`]) and, when its window or booth changed (or it is
/// new), attributes the media of the old and new windows again. Answers every event that
/// changed: the one written, and those whose media moved.
pub async fn record_upsert(
    conn: &mut AsyncPgConnection,
    message: EventUpserted,
    overrun_hours: u32,
) -> QueryResult<Vec<Event>> {
    conn.transaction(async move |conn| {
        let before: Option<Placement> = events::table
            .filter(events::notion_page_id.eq(&message.notion_page_id))
            .select((
                events::photomaton_id,
                events::window_start,
                events::window_end,
            ))
            .for_update()
            .first(conn)
            .await
            .optional()?;
        let Some(saved) = upsert(conn, message, overrun_hours).await? else {
            return Ok(Vec::new());
        };
        let after = (saved.photomaton_id, saved.window_start, saved.window_end);
        let mut changed = vec![saved.clone()];
        if before != Some(after) {
            let mut booths = Vec::new();
            let mut spans = Vec::new();
            for (booth, start, end) in before.into_iter().chain([after]) {
                if let (Some(booth), Some(start), Some(end)) = (booth, start, end) {
                    booths.push(booth);
                    spans.push((start, end));
                }
            }
            let from = spans.iter().map(|s| s.0).min();
            let to = spans.iter().map(|s| s.1).max();
            if let (Some(from), Some(to)) = (from, to) {
                booths.sort_unstable_by_key(|b| b.0);
                booths.dedup();
                let moved = reattribute(conn, &booths, from, to).await?;
                let others: Vec<EventId> = moved.into_iter().filter(|e| *e != saved.id).collect();
                changed.extend(
                    events::table
                        .filter(events::id.eq_any(&others))
                        .select(Event::as_select())
                        .load(conn)
                        .await?,
                );
                // The written event's totals changed too.
                if let Some(now) = events::table
                    .find(saved.id)
                    .select(Event::as_select())
                    .first(conn)
                    .await
                    .optional()?
                {
                    changed[0] = now;
                }
            }
        }
        Ok(changed)
    })
    .await
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
    fn media_go_to_the_window_that_holds_them() {
        // Friday's party 12th 00:00 → 13th 08:00; Saturday's wedding 13th → 14th 08:00.
        let calendar = vec![
            (at(12, 0), at(13, 8), EventId(1)),
            (at(13, 0), at(14, 8), EventId(2)),
        ];
        assert_eq!(event_at(&calendar, at(12, 23)), Some(EventId(1)));
        assert_eq!(
            event_at(&calendar, at(13, 3)),
            Some(EventId(2)),
            "where windows overlap, the later-starting event"
        );
        assert_eq!(
            event_at(&calendar, at(14, 1)),
            Some(EventId(2)),
            "the night after the wedding day"
        );
        assert_eq!(
            event_at(&calendar, at(11, 9)),
            None,
            "set-up the day before"
        );
        assert_eq!(event_at(&calendar, at(14, 9)), None, "the morning after");
        assert_eq!(event_at(&Vec::new(), at(12, 0)), None);
    }
}
