//! The recorder: turns accepted agent batches into rows, exactly once.
//!
//! It pulls from the STATS stream through the durable consumer `gateway-recorder`, shared by
//! every gateway instance, and commits each group of batches in one transaction: the
//! accepted-batch rows (unique per booth and batch id: a batch already recorded is skipped,
//! whatever redelivered it), the media rows, the totals of the event each media belongs to,
//! the booth's paper level, last seen and last print, and speed tests. Messages are acked
//! only after the commit; then the committed booths and events are pushed to browsers.

use std::collections::{BTreeMap, HashMap, HashSet};

use boom_bus::HandleError;
use boom_contracts::messages::{AgentBatchAccepted, LiveEvent};
use boom_contracts::{EventId, EventStatus, MediaType, PhotomatonId, StreamKind};
use boom_db::models::{Event, IngestBatch, NewPhoto, NewSpeedTest};
use boom_db::schema::{events, ingest_batches, photomatons, speed_tests};
use chrono::{DateTime, Utc};
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// A booth's active events, by date.
type Calendar = Vec<(Option<DateTime<Utc>>, EventId)>;

/// Batches committed in one transaction at most.
pub const MAX_GROUP: usize = 256;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BoothLabels {
    hostname: String,
}

/// `boom_recorder_batches_total{outcome=recorded|duplicate|unknown_photomaton}`,
/// `boom_recorder_lag_seconds` (ingest to commit), `boom_agent_backlog{hostname}`.
#[derive(Debug, Clone)]
pub struct RecorderMetrics {
    batches: Family<OutcomeLabels, Counter>,
    lag: Histogram,
    backlog: Family<BoothLabels, Gauge>,
}

impl RecorderMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            batches: Family::default(),
            lag: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            backlog: Family::default(),
        };
        registry.register(
            "boom_recorder_batches",
            "Agent batches handled by the recorder",
            metrics.batches.clone(),
        );
        registry.register(
            "boom_recorder_lag_seconds",
            "From ingest to commit",
            metrics.lag.clone(),
        );
        registry.register(
            "boom_agent_backlog",
            "Events an agent still had buffered",
            metrics.backlog.clone(),
        );
        metrics
    }
}

/// What one commit did, for the live push.
#[derive(Debug, Default)]
pub struct Recorded {
    pub batches: usize,
    pub duplicates: usize,
    pub booths: HashSet<PhotomatonId>,
    pub events: HashSet<EventId>,
}

/// Runs the recorder until `cancel`.
pub async fn run(state: AppState, metrics: RecorderMetrics, cancel: CancellationToken) {
    let bus = state.bus.clone();
    let handler = |group: Vec<AgentBatchAccepted>| {
        let (state, metrics) = (state.clone(), metrics.clone());
        async move {
            let received: Vec<(DateTime<Utc>, String, Option<i64>)> = group
                .iter()
                .map(|b| (b.received_at, b.hostname.clone(), b.backlog))
                .collect();
            let recorded = record(&state, group).await?;
            let now = Utc::now();
            for (at, hostname, backlog) in received {
                metrics
                    .lag
                    .observe((now - at).num_microseconds().unwrap_or(0) as f64 / 1e6);
                if let Some(backlog) = backlog {
                    metrics
                        .backlog
                        .get_or_create(&BoothLabels { hostname })
                        .set(backlog);
                }
            }
            metrics
                .batches
                .get_or_create(&OutcomeLabels {
                    outcome: "recorded",
                })
                .inc_by(recorded.batches as u64);
            metrics
                .batches
                .get_or_create(&OutcomeLabels {
                    outcome: "duplicate",
                })
                .inc_by(recorded.duplicates as u64);
            announce(&state, &recorded).await;
            Ok(())
        }
    };
    while !cancel.is_cancelled() {
        let result = bus
            .consume_groups(
                StreamKind::Stats,
                StreamKind::Stats.gateway_consumer(),
                MAX_GROUP,
                handler,
                cancel.clone(),
            )
            .await;
        if let Err(error) = result {
            tracing::warn!(%error, "recorder cannot consume yet, retrying");
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
            }
        }
    }
}

fn transient(error: impl std::fmt::Display) -> HandleError {
    HandleError::Transient(error.to_string())
}

/// Commits a group of batches in one transaction; a batch already recorded is skipped.
pub async fn record(
    state: &AppState,
    group: Vec<AgentBatchAccepted>,
) -> Result<Recorded, HandleError> {
    let mut conn = state.db.get().await.map_err(transient)?;
    conn.transaction::<_, diesel::result::Error, _>(async move |conn| record_in(conn, group).await)
        .await
        .map_err(transient)
}

async fn record_in(
    conn: &mut AsyncPgConnection,
    group: Vec<AgentBatchAccepted>,
) -> Result<Recorded, diesel::result::Error> {
    let mut recorded = Recorded::default();

    // Booths that still exist (a booth deleted meanwhile: its batches have nowhere to go).
    let ids: Vec<PhotomatonId> = group
        .iter()
        .map(|b| b.photomaton_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    // With the last new roll declared on the dashboard, which decides whose paper level counts.
    // Locked (in id order, like every writer of several booths) until the commit: a new roll
    // declared meanwhile waits for this transaction, then counts from what it wrote, instead
    // of being overwritten by a level this transaction decided on before it.
    let resets: HashMap<PhotomatonId, Option<DateTime<Utc>>> = photomatons::table
        .filter(photomatons::id.eq_any(&ids))
        .order(photomatons::id)
        .for_update()
        .select((photomatons::id, photomatons::paper_reset_at))
        .load::<(PhotomatonId, Option<DateTime<Utc>>)>(conn)
        .await?
        .into_iter()
        .collect();

    // One accepted-batch row per (booth, batch): what is already there is a duplicate.
    let mut seen = HashSet::new();
    let candidates: Vec<AgentBatchAccepted> = group
        .into_iter()
        .filter(|b| {
            if !resets.contains_key(&b.photomaton_id) {
                tracing::warn!(photomaton = %b.photomaton_id, batch = %b.batch_id, "batch of a deleted photomaton dropped");
                return false;
            }
            seen.insert((b.photomaton_id, b.batch_id))
        })
        .collect();
    let rows: Vec<IngestBatch> = candidates
        .iter()
        .map(|b| IngestBatch {
            photomaton_id: b.photomaton_id,
            batch_id: b.batch_id,
            media_count: i32::try_from(b.stats.len()).unwrap_or(i32::MAX),
            received_at: b.received_at,
        })
        .collect();
    let fresh: HashSet<(PhotomatonId, uuid::Uuid)> = diesel::insert_into(ingest_batches::table)
        .values(&rows)
        .on_conflict_do_nothing()
        .returning((ingest_batches::photomaton_id, ingest_batches::batch_id))
        .get_results(conn)
        .await?
        .into_iter()
        .collect();
    let (batches, duplicates): (Vec<_>, Vec<_>) = candidates
        .into_iter()
        .partition(|b| fresh.contains(&(b.photomaton_id, b.batch_id)));
    recorded.duplicates = duplicates.len();
    recorded.batches = batches.len();
    if batches.is_empty() {
        return Ok(recorded);
    }

    // The events media belong to: the booth's active events, by date.
    let booths: Vec<PhotomatonId> = batches
        .iter()
        .map(|b| b.photomaton_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let active: Vec<Event> = events::table
        .filter(events::status.eq(EventStatus::Active))
        .filter(events::photomaton_id.eq_any(&booths))
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

    let mut media = Vec::new();
    let mut totals: BTreeMap<EventId, [i64; 5]> = BTreeMap::new();
    let mut latest: HashMap<PhotomatonId, &AgentBatchAccepted> = HashMap::new();
    let mut tests = Vec::new();
    for batch in &batches {
        recorded.booths.insert(batch.photomaton_id);
        for stat in &batch.stats {
            let event = calendars
                .get(&batch.photomaton_id)
                .and_then(|c| event_at(c, stat.timestamp));
            if let Some(event) = event {
                totals.entry(event).or_default()[slot(stat.media_type)] += i64::from(stat.count);
                recorded.events.insert(event);
            }
            media.push(NewPhoto {
                event_id: event,
                photomaton_id: batch.photomaton_id,
                batch_id: Some(batch.batch_id),
                media_type: stat.media_type,
                count: stat.count,
                timestamp: stat.timestamp,
                metadata: None,
            });
        }
        if let Some(test) = &batch.speedtest {
            tests.push(NewSpeedTest {
                photomaton_id: batch.photomaton_id,
                download_speed: test.download,
                upload_speed: test.upload,
                ping: test.ping,
                created_at: batch.received_at,
            });
        }
        let newest = latest.entry(batch.photomaton_id).or_insert(batch);
        if batch.received_at >= newest.received_at {
            *newest = batch;
        }
    }
    insert_media(conn, &media).await?;
    if !tests.is_empty() {
        diesel::insert_into(speed_tests::table)
            .values(&tests)
            .execute(conn)
            .await?;
    }
    add_daily_totals(conn, &media).await?;
    for (event, [sessions, photos_n, prints, digital, gifs]) in totals {
        let add = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
        diesel::update(events::table.find(event))
            .set((
                events::total_sessions.eq(events::total_sessions + add(sessions)),
                events::total_photos.eq(events::total_photos + add(photos_n)),
                events::total_prints.eq(events::total_prints + add(prints)),
                events::total_digital.eq(events::total_digital + add(digital)),
                events::total_gifs.eq(events::total_gifs + add(gifs)),
            ))
            .execute(conn)
            .await?;
    }
    for (booth, batch) in latest {
        let mine = || batches.iter().filter(move |b| b.photomaton_id == booth);
        let printed = mine().any(|b| b.stats.iter().any(|s| s.media_type == MediaType::Print));
        let now = Utc::now();
        let target = photomatons::table.find(booth);
        diesel::update(target)
            .set((
                photomatons::last_seen.eq(diesel::dsl::sql::<
                    diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
                >("greatest(last_seen, now())")),
                photomatons::agent_backlog.eq(batch.backlog),
                photomatons::agent_version.eq(batch.agent_version.clone()),
            ))
            .execute(conn)
            .await?;
        match paper(batch, resets.get(&booth).copied().flatten()) {
            Paper::Level(level) => {
                diesel::update(target)
                    .set((
                        photomatons::remaining_prints.eq(level),
                        photomatons::last_print_update.eq(Some(now)),
                    ))
                    .execute(conn)
                    .await?;
            }
            Paper::CountDownSince(reset) => {
                let prints: i64 = mine()
                    .flat_map(|b| &b.stats)
                    .filter(|s| s.media_type == MediaType::Print && s.timestamp >= reset)
                    .map(|s| i64::from(s.count))
                    .sum();
                let prints = i32::try_from(prints).unwrap_or(i32::MAX);
                if prints == 0 {
                    continue;
                }
                diesel::update(target)
                    .set((
                        photomatons::remaining_prints.eq(diesel::dsl::sql::<
                            diesel::sql_types::Integer,
                        >(
                            "greatest(remaining_prints - "
                        )
                        .bind::<diesel::sql_types::Integer, _>(prints)
                        .sql(", 0)")),
                        photomatons::last_print_update.eq(Some(now)),
                    ))
                    .execute(conn)
                    .await?;
            }
            Paper::Unknown if printed => {
                diesel::update(target)
                    .set(photomatons::last_print_update.eq(Some(now)))
                    .execute(conn)
                    .await?;
            }
            Paper::Unknown => {}
        }
    }
    Ok(recorded)
}

/// What a booth's latest batch says of its paper.
#[derive(Debug, PartialEq, Eq)]
enum Paper {
    /// The agent's level, counted from the last reset: it is the truth.
    Level(i32),
    /// The agent still counts the roll before the reset declared on the dashboard at this
    /// time (it learns of it in the answer to this batch): count its prints down instead.
    CountDownSince(DateTime<Utc>),
    Unknown,
}

fn paper(batch: &AgentBatchAccepted, reset: Option<DateTime<Utc>>) -> Paper {
    match (batch.paper_level, reset) {
        (Some(level), None) => Paper::Level(level),
        (Some(level), Some(reset)) if batch.paper_reset_at.is_some_and(|a| a >= reset) => {
            Paper::Level(level)
        }
        (_, Some(reset)) => Paper::CountDownSince(reset),
        (None, None) => Paper::Unknown,
    }
}

/// Writes the media rows with one `INSERT … SELECT FROM unnest(…)`: six array parameters
/// whatever the number of rows, where a multi-row `VALUES` takes seven parameters per row
/// (and PostgreSQL parses and plans each of them).
async fn insert_media(
    conn: &mut AsyncPgConnection,
    media: &[NewPhoto],
) -> Result<usize, diesel::result::Error> {
    use diesel::sql_types::{Array, Integer, Nullable, Timestamptz, Uuid};
    if media.is_empty() {
        return Ok(0);
    }
    let n = media.len();
    let (mut events, mut booths, mut batches) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    let (mut types, mut counts, mut times) = (
        Vec::with_capacity(n),
        Vec::with_capacity(n),
        Vec::with_capacity(n),
    );
    for m in media {
        events.push(m.event_id.map(|e| e.0));
        booths.push(m.photomaton_id.0);
        batches.push(m.batch_id);
        types.push(m.media_type);
        counts.push(m.count);
        times.push(m.timestamp);
    }
    diesel::sql_query(
        "INSERT INTO photos (event_id, photomaton_id, batch_id, media_type, count, \"timestamp\") \
         SELECT * FROM unnest($1::integer[], $2::integer[], $3::uuid[], $4::media_type[], $5::integer[], $6::timestamptz[])",
    )
    .bind::<Array<Nullable<Integer>>, _>(events)
    .bind::<Array<Integer>, _>(booths)
    .bind::<Array<Nullable<Uuid>>, _>(batches)
    .bind::<Array<boom_contracts::vocabulary::sql::MediaType>, _>(types)
    .bind::<Array<Integer>, _>(counts)
    .bind::<Array<Timestamptz>, _>(times)
    .execute(conn)
    .await
}

/// Adds the media to `photomaton_daily_totals`. They are summed per booth and UTC hour here
/// (a handful of rows per batch); PostgreSQL turns each hour into the company's day (Paris
/// changes offset on whole hours, so an hour never straddles two days).
async fn add_daily_totals(
    conn: &mut AsyncPgConnection,
    media: &[NewPhoto],
) -> Result<(), diesel::result::Error> {
    use diesel::sql_types::{Array, BigInt, Integer, Timestamptz};
    let mut hours: BTreeMap<(PhotomatonId, i64), [i64; 5]> = BTreeMap::new();
    for m in media {
        let hour = m.timestamp.timestamp().div_euclid(3600);
        hours.entry((m.photomaton_id, hour)).or_default()[slot(m.media_type)] += i64::from(m.count);
    }
    if hours.is_empty() {
        return Ok(());
    }
    let (mut booths, mut starts) = (Vec::new(), Vec::new());
    let mut columns: [Vec<i64>; 5] = Default::default();
    for ((booth, hour), totals) in hours {
        booths.push(booth.0);
        starts.push(DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default());
        for (column, total) in columns.iter_mut().zip(totals) {
            column.push(total);
        }
    }
    let [sessions, photos_n, prints, digital, gifs] = columns;
    diesel::sql_query(
        "INSERT INTO photomaton_daily_totals (photomaton_id, day, sessions, photos, prints, digital, gifs) \
         SELECT b, (h AT TIME ZONE 'Europe/Paris')::date, sum(s), sum(p), sum(pr), sum(d), sum(g) \
         FROM unnest($1, $2, $3, $4, $5, $6, $7) AS t(b, h, s, p, pr, d, g) GROUP BY 1, 2 \
         ON CONFLICT (photomaton_id, day) DO UPDATE SET \
           sessions = photomaton_daily_totals.sessions + excluded.sessions, \
           photos = photomaton_daily_totals.photos + excluded.photos, \
           prints = photomaton_daily_totals.prints + excluded.prints, \
           digital = photomaton_daily_totals.digital + excluded.digital, \
           gifs = photomaton_daily_totals.gifs + excluded.gifs",
    )
    .bind::<Array<Integer>, _>(booths)
    .bind::<Array<Timestamptz>, _>(starts)
    .bind::<Array<BigInt>, _>(sessions)
    .bind::<Array<BigInt>, _>(photos_n)
    .bind::<Array<BigInt>, _>(prints)
    .bind::<Array<BigInt>, _>(digital)
    .bind::<Array<BigInt>, _>(gifs)
    .execute(conn)
    .await?;
    Ok(())
}

fn slot(media: MediaType) -> usize {
    match media {
        MediaType::Session => 0,
        MediaType::Photo => 1,
        MediaType::Print => 2,
        MediaType::Digital => 3,
        MediaType::Gif => 4,
    }
}

/// The active event a media of `at` belongs to: the latest one dated before it (events are
/// dated by their day, so a wedding's night still counts), else the earliest one.
fn event_at(calendar: &Calendar, at: DateTime<Utc>) -> Option<EventId> {
    let dated_before = calendar
        .iter()
        .rev()
        .find(|(date, _)| date.is_some_and(|d| d <= at))
        .map(|(_, id)| *id);
    dated_before.or_else(|| calendar.iter().next().map(|(_, id)| *id))
}

/// Pushes the committed booths and events to browsers.
async fn announce(state: &AppState, recorded: &Recorded) {
    if recorded.booths.is_empty() {
        return;
    }
    let ids: Vec<PhotomatonId> = recorded.booths.iter().copied().collect();
    crate::photomatons::publish_views(state, &ids).await;
    let Ok(mut conn) = state.db.get().await else {
        return;
    };
    let event_ids: Vec<EventId> = recorded.events.iter().copied().collect();
    if let Ok(events) = events::table
        .filter(events::id.eq_any(&event_ids))
        .select(Event::as_select())
        .load::<Event>(&mut conn)
        .await
    {
        for event in events {
            let booth = event.photomaton_id;
            let view = crate::events::EventView::from(event);
            crate::live::publish(state, LiveEvent::EventsUpdated, booth, json!(view)).await;
        }
    }
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
    fn a_level_counted_before_the_dashboards_reset_is_not_taken() {
        let batch = |level: Option<i32>, reset_at: Option<DateTime<Utc>>| AgentBatchAccepted {
            batch_id: uuid::Uuid::nil(),
            photomaton_id: PhotomatonId(1),
            hostname: "b".into(),
            stats: Vec::new(),
            paper_level: level,
            paper_reset_at: reset_at,
            speedtest: None,
            backlog: None,
            agent_version: None,
            received_at: at(13, 20),
        };
        let reset = at(13, 18);
        assert_eq!(paper(&batch(Some(90), None), None), Paper::Level(90));
        assert_eq!(paper(&batch(None, None), None), Paper::Unknown);
        // The agent has not heard of the reset yet (an old agent never will).
        assert_eq!(
            paper(&batch(Some(90), None), Some(reset)),
            Paper::CountDownSince(reset)
        );
        assert_eq!(
            paper(&batch(Some(90), Some(at(12, 9))), Some(reset)),
            Paper::CountDownSince(reset)
        );
        assert_eq!(
            paper(&batch(None, None), Some(reset)),
            Paper::CountDownSince(reset)
        );
        // It applied it, or reset its own counter later.
        assert_eq!(
            paper(&batch(Some(690), Some(reset)), Some(reset)),
            Paper::Level(690)
        );
        assert_eq!(
            paper(&batch(Some(40), Some(at(13, 19))), Some(reset)),
            Paper::Level(40)
        );
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
