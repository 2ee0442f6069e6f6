//! Photomatons (booths): their rows and the view the dashboard shows of each — live state,
//! paper against the thresholds, current event, today's media, latest speed test.
//!
//! Every view is built by [`views`], for one booth or the whole fleet, in five queries
//! whatever the number of booths.

use std::collections::HashMap;

use boom_contracts::agent::PrinterState;
use boom_contracts::domain::{DEFAULT_WAKE_PORT, MacAddress, WakeTarget};
use boom_contracts::{EventId, EventStatus, PhotomatonId};
use boom_db::models::{Event, NewPhotomaton, Photomaton, PhotomatonChanges, SpeedTest};
use boom_db::schema::{events, photomatons};
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel::{
    BoolExpressionMethods, ExpressionMethods, OptionalExtension, PgSortExpressionMethods, QueryDsl,
    QueryableByName, SelectableHelper,
};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use schemars::JsonSchema;
use serde::Serialize;

use crate::store::paper::PaperState;
use crate::store::speed_tests::SpeedTestView;
use crate::store::totals::Totals;

/// The booth's printer as its agent last reported it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PrinterView {
    pub name: String,
    pub state: PrinterState,
    pub detail: Option<String>,
    pub observed_at: DateTime<Utc>,
}

/// The event a booth is working, as its card shows it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    pub id: EventId,
    pub client_name: String,
    pub event_type: Option<String>,
    pub album_name: Option<String>,
    pub event_date: Option<DateTime<Utc>>,
    /// What the event's booths made in its window so far (the card's first line: no reset
    /// at midnight in the middle of a wedding).
    pub totals: Totals,
}

/// A booth as the API and the WebSocket show it.
#[derive(Debug, Clone, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PhotomatonView {
    pub id: PhotomatonId,
    pub name: String,
    pub hostname: String,
    pub tailscale_ip: Option<String>,
    pub router_tailscale_ip: Option<String>,
    pub mac_address: Option<String>,
    /// Where the magic packet goes: the configured target, else the router's IP, port 9.
    pub wake_target: Option<String>,
    pub router_connected: bool,
    pub pc_connected: bool,
    pub last_seen: Option<DateTime<Utc>>,
    pub paper_capacity: i32,
    pub remaining_prints: i32,
    pub warning_threshold: i32,
    pub critical_threshold: i32,
    pub paper_state: PaperState,
    pub last_print_update: Option<DateTime<Utc>>,
    /// The last new roll declared on the dashboard.
    pub paper_reset_at: Option<DateTime<Utc>>,
    /// The last time an installer asked for a speed test.
    pub speed_test_requested_at: Option<DateTime<Utc>>,
    /// Events the agent still had buffered, and its version, as of its last batch.
    pub agent_backlog: Option<i64>,
    pub agent_version: Option<String>,
    /// The agent's last batch or poll, apart from the probes' router and PC state.
    pub agent_seen_at: Option<DateTime<Utc>>,
    /// The printer, once the agent reported it.
    pub printer: Option<PrinterView>,
    pub has_agent_key: bool,
    /// The booth's own alert delays (seconds); `null`: the fleet's.
    pub down_after_secs: Option<i32>,
    pub silent_after_secs: Option<i32>,
    pub agent_key_created_at: Option<DateTime<Utc>>,
    pub current_event: Option<EventSummary>,
    /// Media made since midnight (company time, Europe/Paris), event or not.
    pub today: Totals,
    pub latest_speed_test: Option<SpeedTestView>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where the magic packet for `booth` goes: its configured wake target, else its router's
/// Tailscale IP on port 9.
pub fn wake_target(booth: &Photomaton) -> Option<WakeTarget> {
    match &booth.wake_target {
        // Checked when it was written; one that no longer parses is no target.
        Some(configured) => configured.parse().ok(),
        None => booth.router_tailscale_ip.map(|ip| WakeTarget {
            host: ip.addr().to_string(),
            port: DEFAULT_WAKE_PORT,
        }),
    }
}

fn printer_view(booth: &Photomaton) -> Option<PrinterView> {
    Some(PrinterView {
        name: booth.printer_name.clone()?,
        state: booth
            .printer_state
            .as_deref()
            .and_then(PrinterState::parse)?,
        detail: booth.printer_detail.clone(),
        observed_at: booth.printer_observed_at?,
    })
}

fn view(
    booth: Photomaton,
    event: Option<&Event>,
    speed_test: Option<SpeedTest>,
    today: Totals,
    delays: (Option<i32>, Option<i32>),
) -> PhotomatonView {
    let printer = printer_view(&booth);
    PhotomatonView {
        today,
        wake_target: wake_target(&booth).map(|target| target.to_string()),
        paper_state: PaperState::of(&booth),
        id: booth.id,
        name: booth.name,
        hostname: booth.hostname,
        tailscale_ip: booth.tailscale_ip.map(|ip| ip.addr().to_string()),
        router_tailscale_ip: booth.router_tailscale_ip.map(|ip| ip.addr().to_string()),
        mac_address: booth.mac_address.map(|m| MacAddress(m).to_string()),
        router_connected: booth.router_connected,
        pc_connected: booth.pc_connected,
        last_seen: booth.last_seen,
        paper_capacity: booth.paper_capacity,
        remaining_prints: booth.remaining_prints,
        warning_threshold: booth.warning_threshold,
        critical_threshold: booth.critical_threshold,
        last_print_update: booth.last_print_update,
        paper_reset_at: booth.paper_reset_at,
        speed_test_requested_at: booth.speed_test_requested_at,
        agent_backlog: booth.agent_backlog,
        agent_version: booth.agent_version,
        agent_seen_at: booth.agent_seen_at,
        printer,
        has_agent_key: booth.agent_key_sha256.is_some(),
        down_after_secs: delays.0,
        silent_after_secs: delays.1,
        agent_key_created_at: booth.agent_key_created_at,
        current_event: event.map(|e| EventSummary {
            id: e.id,
            client_name: e.client_name.clone(),
            event_type: e.event_type.clone(),
            album_name: e.album_name.clone(),
            event_date: e.event_date,
            totals: Totals {
                sessions: e.total_sessions,
                photos: e.total_photos,
                prints: e.total_prints,
                digital: e.total_digital,
                gifs: e.total_gifs,
            },
        }),
        latest_speed_test: speed_test.map(Into::into),
        created_at: booth.created_at,
        updated_at: booth.updated_at,
    }
}

/// A booth's media of today, from `photomaton_daily_totals`.
#[derive(QueryableByName)]
struct TodayRow {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    photomaton_id: PhotomatonId,
    #[diesel(embed)]
    totals: Totals,
}

/// Views of `booths` with their current event, latest speed test, today's media and own alert delays: five
/// queries in all.
pub async fn views(
    conn: &mut AsyncPgConnection,
    booths: Vec<Photomaton>,
) -> QueryResult<Vec<PhotomatonView>> {
    let ids: Vec<PhotomatonId> = booths.iter().map(|b| b.id).collect();
    let active: Vec<Event> = events::table
        .filter(events::status.eq(EventStatus::Active))
        .filter(events::photomaton_id.eq_any(&ids))
        .order((events::event_date.desc().nulls_last(), events::id.desc()))
        .select(Event::as_select())
        .load(conn)
        .await?;
    let mut current: HashMap<PhotomatonId, Event> = HashMap::new();
    for event in active {
        if let Some(booth) = event.photomaton_id {
            current.entry(booth).or_insert(event);
        }
    }
    // Each booth's latest, one index probe per booth: `DISTINCT ON` read every test of every
    // booth (one an hour per booth, millions a year) on each rebuild of the fleet.
    let latest: Vec<SpeedTest> = diesel::sql_query(
        "SELECT s.* FROM unnest($1::integer[]) AS b(id) \
         CROSS JOIN LATERAL (SELECT * FROM speed_tests t WHERE t.photomaton_id = b.id \
                             ORDER BY t.created_at DESC, t.id DESC LIMIT 1) s",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(
        ids.iter().map(|id| id.0).collect::<Vec<_>>(),
    )
    .load(conn)
    .await?;
    let mut speed_tests: HashMap<PhotomatonId, SpeedTest> =
        latest.into_iter().map(|t| (t.photomaton_id, t)).collect();
    let counts: Vec<TodayRow> = diesel::sql_query(
        "SELECT photomaton_id, sessions, photos, prints, digital, gifs FROM photomaton_daily_totals \
         WHERE photomaton_id = ANY($1) AND day = (now() AT TIME ZONE 'Europe/Paris')::date",
    )
    .bind::<diesel::sql_types::Array<diesel::sql_types::Integer>, _>(ids.iter().map(|id| id.0).collect::<Vec<_>>())
    .load(conn)
    .await?;
    let mut today: HashMap<PhotomatonId, Totals> = counts
        .into_iter()
        .map(|r| (r.photomaton_id, r.totals))
        .collect();
    let delays: HashMap<PhotomatonId, (Option<i32>, Option<i32>)> = {
        use boom_db::schema::photomaton_alert_delays as d;
        d::table
            .filter(d::photomaton_id.eq_any(&ids))
            .select((d::photomaton_id, d::down_after_secs, d::silent_after_secs))
            .load::<(PhotomatonId, Option<i32>, Option<i32>)>(conn)
            .await?
            .into_iter()
            .map(|(id, down, silent)| (id, (down, silent)))
            .collect()
    };
    Ok(booths
        .into_iter()
        .map(|b| {
            let (event, speed_test) = (current.get(&b.id), speed_tests.remove(&b.id));
            let counts = today.remove(&b.id).unwrap_or_default();
            let own = delays.get(&b.id).copied().unwrap_or_default();
            view(b, event, speed_test, counts, own)
        })
        .collect())
}

/// The view of one booth.
pub async fn view_of(
    conn: &mut AsyncPgConnection,
    booth: Photomaton,
) -> QueryResult<PhotomatonView> {
    views(conn, vec![booth])
        .await?
        .pop()
        .ok_or(diesel::result::Error::NotFound)
}

/// The views of `ids` (those that still exist).
pub async fn views_of(
    conn: &mut AsyncPgConnection,
    ids: &[PhotomatonId],
) -> QueryResult<Vec<PhotomatonView>> {
    let booths: Vec<Photomaton> = photomatons::table
        .filter(photomatons::id.eq_any(ids))
        .select(Photomaton::as_select())
        .load(conn)
        .await?;
    views(conn, booths).await
}

/// Every booth's view, by id.
pub async fn all_views(conn: &mut AsyncPgConnection) -> QueryResult<Vec<PhotomatonView>> {
    let booths: Vec<Photomaton> = photomatons::table
        .order(photomatons::id)
        .select(Photomaton::as_select())
        .load(conn)
        .await?;
    views(conn, booths).await
}

/// Every booth's row, for the registry.
pub async fn all(conn: &mut AsyncPgConnection) -> QueryResult<Vec<Photomaton>> {
    photomatons::table
        .select(Photomaton::as_select())
        .load(conn)
        .await
}

pub async fn find(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
) -> QueryResult<Option<Photomaton>> {
    photomatons::table
        .find(id)
        .select(Photomaton::as_select())
        .first(conn)
        .await
        .optional()
}

pub async fn exists(conn: &mut AsyncPgConnection, id: PhotomatonId) -> QueryResult<bool> {
    let found: Option<PhotomatonId> = photomatons::table
        .find(id)
        .select(photomatons::id)
        .first(conn)
        .await
        .optional()?;
    Ok(found.is_some())
}

pub async fn insert(conn: &mut AsyncPgConnection, new: &NewPhotomaton) -> QueryResult<Photomaton> {
    diesel::insert_into(photomatons::table)
        .values(new)
        .returning(Photomaton::as_returning())
        .get_result(conn)
        .await
}

/// Applies `changes` (none: the booth as it is); `None` when there is no such booth.
/// Sets a booth's own alert delays: `Some(None)` goes back to the fleet's, `None` leaves it.
pub async fn set_alert_delays(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    down: Option<Option<i32>>,
    silent: Option<Option<i32>>,
) -> QueryResult<()> {
    use boom_db::schema::photomaton_alert_delays as d;
    diesel::insert_into(d::table)
        .values((
            d::photomaton_id.eq(id),
            d::down_after_secs.eq(down.flatten()),
            d::silent_after_secs.eq(silent.flatten()),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    if let Some(down) = down {
        diesel::update(d::table.find(id))
            .set(d::down_after_secs.eq(down))
            .execute(conn)
            .await?;
    }
    if let Some(silent) = silent {
        diesel::update(d::table.find(id))
            .set(d::silent_after_secs.eq(silent))
            .execute(conn)
            .await?;
    }
    Ok(())
}

pub async fn update(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    changes: &PhotomatonChanges,
) -> QueryResult<Option<Photomaton>> {
    if changes.is_empty() {
        return find(conn, id).await;
    }
    diesel::update(photomatons::table.find(id))
        .set(changes)
        .returning(Photomaton::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes a booth; its hostname, or `None` when there was no such booth.
pub async fn delete(conn: &mut AsyncPgConnection, id: PhotomatonId) -> QueryResult<Option<String>> {
    diesel::delete(photomatons::table.find(id))
        .returning(photomatons::hostname)
        .get_result(conn)
        .await
        .optional()
}

/// The booth's agent key before a replacement, to put back if the replacement cannot reach
/// the registry (see `announce::key_changed`).
#[derive(Debug, Clone)]
pub struct PreviousKey {
    pub sha256: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

/// Replaces the booth's agent key by the one hashing to `key_sha256`; answers the booth and
/// the key it had.
pub async fn set_agent_key(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    key_sha256: String,
) -> QueryResult<Option<(Photomaton, PreviousKey)>> {
    let previous = photomatons::table
        .find(id)
        .select((
            photomatons::agent_key_sha256,
            photomatons::agent_key_created_at,
        ))
        .first::<(Option<String>, Option<DateTime<Utc>>)>(conn)
        .await
        .optional()?;
    let Some((sha256, created_at)) = previous else {
        return Ok(None);
    };
    let changes = PhotomatonChanges {
        agent_key_sha256: Some(Some(key_sha256)),
        agent_key_created_at: Some(Some(Utc::now())),
        ..PhotomatonChanges::default()
    };
    Ok(update(conn, id, &changes)
        .await?
        .map(|booth| (booth, PreviousKey { sha256, created_at })))
}

/// Puts `previous` back, unless the key changed again since `replaced_by` was set.
pub async fn restore_agent_key(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    replaced_by: &str,
    previous: PreviousKey,
) -> QueryResult<()> {
    diesel::update(
        photomatons::table
            .find(id)
            .filter(photomatons::agent_key_sha256.eq(replaced_by)),
    )
    .set((
        photomatons::agent_key_sha256.eq(previous.sha256),
        photomatons::agent_key_created_at.eq(previous.created_at),
    ))
    .execute(conn)
    .await?;
    Ok(())
}

/// A connectivity report from the probes: `last_seen` moves only when something answered,
/// and never backwards.
pub async fn set_connectivity(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    router_connected: bool,
    pc_connected: bool,
    observed_at: DateTime<Utc>,
) -> QueryResult<Option<Photomaton>> {
    let seen = router_connected || pc_connected;
    // Newer wins: a report observed before the one applied last changes nothing.
    diesel::update(
        photomatons::table.find(id).filter(
            photomatons::probed_at
                .is_null()
                .or(photomatons::probed_at.le(observed_at)),
        ),
    )
    .set((
        photomatons::probed_at.eq(Some(observed_at)),
        photomatons::router_connected.eq(router_connected),
        photomatons::pc_connected.eq(pc_connected),
        photomatons::last_seen.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >(if seen {
            "greatest(last_seen, now())"
        } else {
            "last_seen"
        })),
    ))
    .returning(Photomaton::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// The agent polled at `at`: moves `agent_seen_at` forward (never back). The booth, when
/// that moved it.
pub async fn set_agent_seen(
    conn: &mut AsyncPgConnection,
    id: PhotomatonId,
    at: DateTime<Utc>,
) -> QueryResult<Option<Photomaton>> {
    diesel::update(
        photomatons::table.find(id).filter(
            photomatons::agent_seen_at
                .is_null()
                .or(photomatons::agent_seen_at.lt(at)),
        ),
    )
    .set(photomatons::agent_seen_at.eq(Some(at)))
    .returning(Photomaton::as_returning())
    .get_result(conn)
    .await
    .optional()
}
