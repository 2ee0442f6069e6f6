//! What an event's page and its exports add to the totals: each booth during the event's window
//! (its paper, and how long its router and PC answered, from `paper_levels` and
//! `connectivity_changes`), and the figures of every event over a span of dates, for invoicing.

use boom_contracts::{EventId, EventStatus, PhotomatonId, paris};
use boom_db::models::Event;
use boom_db::schema::{connectivity_changes, paper_levels, photomatons};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use diesel::result::QueryResult;
use diesel::{ExpressionMethods, OptionalExtension, QueryDsl, QueryableByName};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

use crate::store::totals::Totals;

/// The most paper levels an event's page draws per booth (a roll is 700 prints at most, so a
/// night holds a few rolls).
const PAPER_POINTS: i64 = 5_000;

/// One level of a booth's paper.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaperPoint {
    pub at: DateTime<Utc>,
    pub remaining_prints: i32,
}

/// How much of a span a booth answered, from the changes the probes saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Uptime {
    /// Seconds of the span whose state is known (from the first probe on).
    pub observed_secs: i64,
    /// Share of `observedSecs` the router answered, in percent; `null` if never observed.
    pub router_percent: Option<f64>,
    /// Share of `observedSecs` the PC answered, in percent; `null` if never observed.
    pub pc_percent: Option<f64>,
    /// Times the PC stopped answering during the span.
    pub pc_outages: i64,
}

/// A booth during an event's window (up to now for an event under way).
#[derive(Debug, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BoothDuringEvent {
    pub photomaton_id: PhotomatonId,
    pub name: String,
    /// Its paper levels, oldest first: the level at the window's start, then every change.
    pub paper: Vec<PaperPoint>,
    pub uptime: Uptime,
}

/// A change of state seen by the probes: `(at, router answered, PC answered)`, oldest first.
pub type Change = (DateTime<Utc>, bool, bool);

/// The uptime over `[start, end)` of a booth whose state changed as `changes` says (the first
/// may precede `start`: the state the span began in). Before the first change nothing is known.
pub fn uptime(changes: &[Change], start: DateTime<Utc>, end: DateTime<Utc>) -> Uptime {
    let (mut observed, mut router, mut pc, mut outages) = (0i64, 0i64, 0i64, 0i64);
    for (k, &(at, router_up, pc_up)) in changes.iter().enumerate() {
        let from = at.max(start);
        let to = changes.get(k + 1).map_or(end, |next| next.0).min(end);
        if k > 0 && at >= start && at < end && !pc_up && changes[k - 1].2 {
            outages += 1;
        }
        if to <= from {
            continue;
        }
        let secs = (to - from).num_seconds();
        observed += secs;
        router += if router_up { secs } else { 0 };
        pc += if pc_up { secs } else { 0 };
    }
    #[allow(clippy::cast_precision_loss)]
    let percent = |part: i64| {
        (observed > 0).then(|| ((part as f64) * 1000.0 / (observed as f64)).round() / 10.0)
    };
    Uptime {
        observed_secs: observed,
        router_percent: percent(router),
        pc_percent: percent(pc),
        pc_outages: outages,
    }
}

/// Each booth of `event` (its Notion booth and `made_media`, those that made media for it)
/// during its window: nothing when the event has no window yet.
pub async fn during_event(
    conn: &mut AsyncPgConnection,
    event: &Event,
    made_media: &[PhotomatonId],
) -> QueryResult<Vec<BoothDuringEvent>> {
    let (Some(start), Some(window_end)) = (event.window_start, event.window_end) else {
        return Ok(Vec::new());
    };
    let end = window_end.min(Utc::now());
    let mut ids: Vec<PhotomatonId> = made_media.to_vec();
    ids.extend(event.photomaton_id);
    ids.sort_unstable_by_key(|b| b.0);
    ids.dedup();
    let names: Vec<(PhotomatonId, String)> = photomatons::table
        .filter(photomatons::id.eq_any(&ids))
        .order(photomatons::name.asc())
        .select((photomatons::id, photomatons::name))
        .load(conn)
        .await?;
    let mut booths = Vec::with_capacity(names.len());
    for (id, name) in names {
        let mut paper: Vec<PaperPoint> = paper_levels::table
            .filter(paper_levels::photomaton_id.eq(id))
            .filter(paper_levels::at.lt(start))
            .order(paper_levels::at.desc())
            .select((paper_levels::at, paper_levels::remaining))
            .first::<(DateTime<Utc>, i32)>(conn)
            .await
            .optional()?
            .map(|(_, remaining)| PaperPoint {
                at: start,
                remaining_prints: remaining,
            })
            .into_iter()
            .collect();
        let during: Vec<(DateTime<Utc>, i32)> = paper_levels::table
            .filter(paper_levels::photomaton_id.eq(id))
            .filter(paper_levels::at.ge(start))
            .filter(paper_levels::at.lt(end))
            .order((paper_levels::at.asc(), paper_levels::id.asc()))
            .limit(PAPER_POINTS)
            .select((paper_levels::at, paper_levels::remaining))
            .load(conn)
            .await?;
        paper.extend(during.into_iter().map(|(at, remaining)| PaperPoint {
            at,
            remaining_prints: remaining,
        }));
        let before: Option<Change> = connectivity_changes::table
            .filter(connectivity_changes::photomaton_id.eq(id))
            .filter(connectivity_changes::at.lt(start))
            .order(connectivity_changes::at.desc())
            .select((
                connectivity_changes::at,
                connectivity_changes::router_connected,
                connectivity_changes::pc_connected,
            ))
            .first(conn)
            .await
            .optional()?;
        let changes: Vec<Change> = connectivity_changes::table
            .filter(connectivity_changes::photomaton_id.eq(id))
            .filter(connectivity_changes::at.ge(start))
            .filter(connectivity_changes::at.lt(end))
            .order((
                connectivity_changes::at.asc(),
                connectivity_changes::id.asc(),
            ))
            .select((
                connectivity_changes::at,
                connectivity_changes::router_connected,
                connectivity_changes::pc_connected,
            ))
            .load(conn)
            .await?;
        let all: Vec<Change> = before.into_iter().chain(changes).collect();
        booths.push(BoothDuringEvent {
            photomaton_id: id,
            name,
            paper,
            uptime: uptime(&all, start, end),
        });
    }
    Ok(booths)
}

/// One event and one of its booths over a span of dates: what an invoice is made from.
#[derive(Debug, QueryableByName)]
pub struct RangeRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub event_id: EventId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub client_name: String,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    pub event_type: Option<String>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>)]
    pub event_date: Option<DateTime<Utc>>,
    #[diesel(sql_type = boom_contracts::vocabulary::sql::EventStatus)]
    pub status: EventStatus,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub booth: String,
    #[diesel(embed)]
    pub totals: Totals,
}

/// Every event whose Notion date falls in `[from, to]` (Paris days, both included), one row per
/// booth that made media for it (one row with its Notion booth and zeros when none did), by
/// date, event, then booth.
pub async fn range_rows(
    conn: &mut AsyncPgConnection,
    from: NaiveDate,
    to: NaiveDate,
) -> QueryResult<Vec<RangeRow>> {
    let start = paris::at(from, NaiveTime::MIN);
    let end = paris::at(to.succ_opt().unwrap_or(to), NaiveTime::MIN);
    diesel::sql_query(
        "SELECT e.id AS event_id, e.client_name, e.event_type, e.event_date, e.status, \
                coalesce(p.name, '') AS booth, \
                coalesce(sum(h.sessions), 0)::bigint AS sessions, \
                coalesce(sum(h.photos), 0)::bigint AS photos, \
                coalesce(sum(h.prints), 0)::bigint AS prints, \
                coalesce(sum(h.digital), 0)::bigint AS digital, \
                coalesce(sum(h.gifs), 0)::bigint AS gifs \
         FROM events e \
         LEFT JOIN event_hourly_totals h ON h.event_id = e.id \
         LEFT JOIN photomatons p ON p.id = coalesce(h.photomaton_id, e.photomaton_id) \
         WHERE e.event_date >= $1 AND e.event_date < $2 \
         GROUP BY e.id, p.name \
         ORDER BY e.event_date, e.id, p.name",
    )
    .bind::<diesel::sql_types::Timestamptz, _>(start)
    .bind::<diesel::sql_types::Timestamptz, _>(end)
    .load(conn)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32, minute: u32) -> DateTime<Utc> {
        chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 6, 13, hour, minute, 0)
            .single()
            .unwrap_or_default()
    }

    #[test]
    fn uptime_counts_from_the_state_the_window_began_in() {
        // Up since the afternoon; the PC drops 20:00–20:30; the router holds.
        let changes = [
            (at(14, 0), true, true),
            (at(20, 0), true, false),
            (at(20, 30), true, true),
        ];
        let u = uptime(&changes, at(18, 0), at(22, 0));
        assert_eq!(u.observed_secs, 4 * 3600);
        assert_eq!(u.router_percent, Some(100.0));
        assert_eq!(u.pc_percent, Some(87.5));
        assert_eq!(u.pc_outages, 1);
    }

    #[test]
    fn nothing_is_known_before_the_first_probe() {
        let u = uptime(&[(at(21, 0), false, false)], at(18, 0), at(22, 0));
        assert_eq!(u.observed_secs, 3600);
        assert_eq!(u.pc_percent, Some(0.0));
        assert_eq!(u.pc_outages, 0, "never seen up: not an outage");
        assert_eq!(uptime(&[], at(18, 0), at(22, 0)), Uptime::default());
        let later = uptime(&[(at(23, 0), true, true)], at(18, 0), at(22, 0));
        assert_eq!(
            later.pc_percent, None,
            "a change after the window says nothing of it"
        );
    }
}
