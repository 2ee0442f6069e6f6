//! Batches: what an agent sends in one `POST /api/agent/sync`, accepted by stats-ingest and
//! recorded here exactly once. [`record`] commits a group of batches in one transaction, in
//! named steps: lock the booths ([`paper::lock_resets`]), keep the batches not recorded yet
//! ([`dedupe`]), read their booths' event calendars, then, sent together in one round trip,
//! write their media, refused lines and speed tests, add them to the day's and the events'
//! totals, and move each booth's last contact, printer and paper level (one statement for
//! every booth of the group).

use std::collections::{BTreeMap, HashMap, HashSet};

use boom_contracts::messages::AgentBatchAccepted;
use boom_contracts::{EventId, PhotomatonId};
use boom_db::models::{IngestBatch, NewPhoto, NewSpeedTest};
use boom_db::schema::ingest_batches;
use chrono::{DateTime, Utc};
use diesel::result::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::future::{BoxFuture, FutureExt};

use crate::store::events::{self, Calendar};
use crate::store::paper::{self, PaperUpdate, prints_since};
use crate::store::refused_lines;
use crate::store::speed_tests;
use crate::store::totals::Totals;

/// What one commit did, for the live push.
#[derive(Debug, Default)]
pub struct Recorded {
    pub batches: usize,
    pub duplicates: usize,
    pub booths: HashSet<PhotomatonId>,
    pub events: HashSet<EventId>,
}

/// Commits a group of batches in one transaction; a batch already recorded is skipped.
pub async fn record(
    conn: &mut AsyncPgConnection,
    group: Vec<AgentBatchAccepted>,
) -> QueryResult<Recorded> {
    conn.transaction(async move |conn| record_in(conn, group).await)
        .await
}

async fn record_in(
    conn: &mut AsyncPgConnection,
    group: Vec<AgentBatchAccepted>,
) -> QueryResult<Recorded> {
    let ids: Vec<PhotomatonId> = distinct(group.iter().map(|b| b.photomaton_id));
    let resets = paper::lock_resets(conn, &ids).await?;
    let mut recorded = Recorded::default();
    let batches = dedupe(conn, group, &resets, &mut recorded).await?;
    if batches.is_empty() {
        return Ok(recorded);
    }
    let booths: Vec<PhotomatonId> = distinct(batches.iter().map(|b| b.photomaton_id));
    recorded.booths.extend(booths.iter().copied());

    let times = batches
        .iter()
        .flat_map(|b| b.stats.iter().map(|s| s.timestamp));
    let (from, to) = times.fold(
        (None, None),
        |(lo, hi): (Option<DateTime<Utc>>, Option<DateTime<Utc>>), t| {
            (
                Some(lo.map_or(t, |l| l.min(t))),
                Some(hi.map_or(t, |h| h.max(t))),
            )
        },
    );
    let calendars = match (from, to) {
        (Some(from), Some(to)) => events::calendars(conn, &booths, from, to).await?,
        _ => HashMap::new(),
    };
    let (media, per_event) = media_rows(&batches, &calendars);
    let speed_tests = speed_test_rows(&batches);
    recorded.events.extend(per_event.keys().copied());

    // Every write left depends on nothing the others return: they are pipelined on the one
    // connection rather than each waiting for the answer to the one before. Diesel prepares
    // an `UPDATE` or raw SQL afresh on every call (it never caches them), one preparation at
    // a time under diesel-async's statement cache lock; each statement's execution now goes
    // out with the next one's preparation, so each costs about one round trip where it cost
    // two. The booths' own columns go in one statement for the whole group
    // ([`BoothUpdates`]); the events' totals in one per event. PostgreSQL executes them in
    // this order, except where a statement first looks up a type (the media's, once per
    // connection).
    let conn: &AsyncPgConnection = conn;
    let mut writes: Vec<BoxFuture<'_, QueryResult<()>>> = vec![
        insert_media(conn, &media).boxed(),
        refused_lines::insert(conn, &batches).boxed(),
        speed_tests::insert(conn, &speed_tests).boxed(),
        add_daily_totals(conn, &media).boxed(),
    ];
    // In key order, as any other writer of several events' totals (were two transactions
    // ever to lock two events in opposite orders, PostgreSQL would abort one, and its group
    // would be retried).
    for (event, totals) in &per_event {
        writes.push(events::add_totals(conn, *event, totals).boxed());
    }
    let mut updates = BoothUpdates::default();
    for booth in booths {
        let mine: Vec<&AgentBatchAccepted> = batches
            .iter()
            .filter(|b| b.photomaton_id == booth)
            .collect();
        // The booth's latest batch speaks for its state (the last one received wins a tie).
        let Some(latest) = mine.iter().copied().reduce(|newest, b| {
            if b.received_at >= newest.received_at {
                b
            } else {
                newest
            }
        }) else {
            continue;
        };
        let reset = resets.get(&booth).copied().flatten();
        updates.push(booth, latest, PaperUpdate::decide(latest, reset), &mine);
    }
    writes.push(updates.apply(conn).boxed());
    first_cause(futures::future::join_all(writes).await)?;
    Ok(recorded)
}

/// A report newer than the printer kept (`p` the booth's row, `u` its update).
macro_rules! printer_newer {
    () => {
        "(u.printer_at IS NOT NULL \
          AND (p.printer_observed_at IS NULL OR p.printer_observed_at < u.printer_at))"
    };
}

/// The agent's level, observed no earlier than the level kept.
macro_rules! level_newer {
    () => {
        "(u.level_at IS NOT NULL \
          AND (p.paper_observed_at IS NULL OR p.paper_observed_at <= u.level_at))"
    };
}

/// What a group's batches change on their booths, one entry per booth, written by
/// [`BoothUpdates::apply`] in one statement: when the agent was last heard, its backlog and
/// version, its printer (unless a later report is kept) and its paper level.
#[derive(Debug, Default)]
struct BoothUpdates {
    ids: Vec<i32>,
    backlogs: Vec<Option<i64>>,
    versions: Vec<Option<String>>,
    printer_names: Vec<Option<String>>,
    printer_states: Vec<Option<&'static str>>,
    printer_details: Vec<Option<String>>,
    printers_observed_at: Vec<Option<DateTime<Utc>>>,
    /// The agent's level and when it was observed (none: the level is not the agent's to set).
    levels: Vec<i32>,
    levels_observed_at: Vec<Option<DateTime<Utc>>>,
    /// Prints to count down from the level kept (after a roll declared on the dashboard).
    prints: Vec<i32>,
    /// Whether the batches printed: when the level last moved changes.
    printed: Vec<bool>,
}

impl BoothUpdates {
    /// The booth's `latest` batch (its state) and all of its `batches` of this group (its
    /// prints).
    fn push(
        &mut self,
        booth: PhotomatonId,
        latest: &AgentBatchAccepted,
        paper: PaperUpdate,
        batches: &[&AgentBatchAccepted],
    ) {
        self.ids.push(booth.0);
        self.backlogs.push(latest.backlog);
        self.versions.push(latest.agent_version.clone());
        let printer = latest.printer.as_ref();
        self.printer_names.push(printer.map(|p| p.name.clone()));
        self.printer_states.push(printer.map(|p| p.state.as_str()));
        self.printer_details
            .push(printer.and_then(|p| p.detail.clone()));
        self.printers_observed_at
            .push(printer.map(|p| p.observed_at));
        let (level, observed_at, prints, printed) = match paper {
            PaperUpdate::Level { level, observed_at } => (level, Some(observed_at), 0, false),
            PaperUpdate::CountDownSince(reset) => {
                let prints = prints_since(batches, reset).max(0);
                (0, None, prints, prints > 0)
            }
            PaperUpdate::Unknown => (
                0,
                None,
                0,
                prints_since(batches, DateTime::<Utc>::MIN_UTC) > 0,
            ),
        };
        self.levels.push(level);
        self.levels_observed_at.push(observed_at);
        self.prints.push(prints);
        self.printed.push(printed);
    }

    /// One `UPDATE … FROM unnest(…)` for every booth of the group, where there were two or
    /// three statements per booth, each prepared afresh by Diesel (a round trip each; with
    /// the machine busy, each round trip waits for both processes to be scheduled). The
    /// booths' rows are locked already ([`paper::lock_resets`], in id order), so the order
    /// in which this statement updates them cannot deadlock.
    async fn apply(self, mut conn: &AsyncPgConnection) -> QueryResult<()> {
        use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz};
        if self.ids.is_empty() {
            return Ok(());
        }
        // `printer_newer!` and `level_newer!` read the row as it was: every expression of a
        // `SET` does.
        diesel::sql_query(concat!(
            "UPDATE photomatons AS p SET \
                last_seen = greatest(p.last_seen, now()), \
                agent_seen_at = greatest(p.agent_seen_at, now()), \
                agent_backlog = u.backlog, \
                agent_version = u.version, ",
            "printer_name = CASE WHEN ",
            printer_newer!(),
            " THEN u.printer_name ELSE p.printer_name END, ",
            "printer_state = CASE WHEN ",
            printer_newer!(),
            " THEN u.printer_state ELSE p.printer_state END, ",
            "printer_detail = CASE WHEN ",
            printer_newer!(),
            " THEN u.printer_detail ELSE p.printer_detail END, ",
            "printer_observed_at = CASE WHEN ",
            printer_newer!(),
            " THEN u.printer_at ELSE p.printer_observed_at END, ",
            "remaining_prints = CASE WHEN ",
            level_newer!(),
            " THEN u.level \
                 WHEN u.prints > 0 THEN greatest(p.remaining_prints - u.prints, 0) \
                 ELSE p.remaining_prints END, ",
            "last_print_update = CASE WHEN ",
            level_newer!(),
            " OR u.printed THEN $12 \
                 ELSE p.last_print_update END, ",
            "paper_observed_at = CASE WHEN ",
            level_newer!(),
            " THEN u.level_at ELSE p.paper_observed_at END \
             FROM unnest($1::integer[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
                         $6::text[], $7::timestamptz[], $8::integer[], $9::timestamptz[], \
                         $10::integer[], $11::boolean[]) \
                  AS u(id, backlog, version, printer_name, printer_state, printer_detail, \
                       printer_at, level, level_at, prints, printed) \
             WHERE p.id = u.id",
        ))
        .bind::<Array<Integer>, _>(self.ids)
        .bind::<Array<Nullable<BigInt>>, _>(self.backlogs)
        .bind::<Array<Nullable<Text>>, _>(self.versions)
        .bind::<Array<Nullable<Text>>, _>(self.printer_names)
        .bind::<Array<Nullable<Text>>, _>(self.printer_states)
        .bind::<Array<Nullable<Text>>, _>(self.printer_details)
        .bind::<Array<Nullable<Timestamptz>>, _>(self.printers_observed_at)
        .bind::<Array<Integer>, _>(self.levels)
        .bind::<Array<Nullable<Timestamptz>>, _>(self.levels_observed_at)
        .bind::<Array<Integer>, _>(self.prints)
        .bind::<Array<Bool>, _>(self.printed)
        .bind::<Timestamptz, _>(Utc::now())
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}

/// The error that failed a transaction's pipelined statements, if one did: after the first
/// failure PostgreSQL refuses every later statement of the transaction ("current transaction
/// is aborted", which is not permanent), and those answers may be looked at first. A
/// permanent error is the cause (the group's batches are then tried one by one and a poisoned
/// one is set aside); otherwise any error says the group may pass on a retry.
fn first_cause(results: Vec<QueryResult<()>>) -> QueryResult<()> {
    let mut errors = results.into_iter().filter_map(Result::err);
    let Some(first) = errors.next() else {
        return Ok(());
    };
    if boom_db::is_permanent(&first) {
        return Err(first);
    }
    Err(errors.find(boom_db::is_permanent).unwrap_or(first))
}

fn distinct(ids: impl Iterator<Item = PhotomatonId>) -> Vec<PhotomatonId> {
    ids.collect::<HashSet<_>>().into_iter().collect()
}

/// Keeps the batches never recorded before: one `ingest_batches` row per (booth, batch id),
/// inserted or found there already (a duplicate, whatever redelivered it). Batches of a
/// booth deleted meanwhile have nowhere to go and are dropped.
async fn dedupe(
    conn: &mut AsyncPgConnection,
    group: Vec<AgentBatchAccepted>,
    existing_booths: &HashMap<PhotomatonId, Option<DateTime<Utc>>>,
    recorded: &mut Recorded,
) -> QueryResult<Vec<AgentBatchAccepted>> {
    let mut seen = HashSet::new();
    let candidates: Vec<AgentBatchAccepted> = group
        .into_iter()
        .filter(|b| {
            if !existing_booths.contains_key(&b.photomaton_id) {
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
    Ok(batches)
}

/// The media rows of `batches`, each attributed to its booth's event (if any), and the
/// totals this adds to each event.
fn media_rows(
    batches: &[AgentBatchAccepted],
    calendars: &HashMap<PhotomatonId, Calendar>,
) -> (Vec<NewPhoto>, BTreeMap<EventId, Totals>) {
    let mut media = Vec::new();
    let mut per_event: BTreeMap<EventId, Totals> = BTreeMap::new();
    for batch in batches {
        let calendar = calendars.get(&batch.photomaton_id);
        for stat in &batch.stats {
            let event = calendar.and_then(|c| events::event_at(c, stat.timestamp));
            if let Some(event) = event {
                per_event
                    .entry(event)
                    .or_default()
                    .add(stat.media_type, i64::from(stat.count));
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
    }
    (media, per_event)
}

fn speed_test_rows(batches: &[AgentBatchAccepted]) -> Vec<NewSpeedTest> {
    batches
        .iter()
        .filter_map(|batch| {
            batch.speedtest.as_ref().map(|test| NewSpeedTest {
                photomaton_id: batch.photomaton_id,
                download_speed: test.download,
                upload_speed: test.upload,
                ping: test.ping,
                created_at: batch.received_at,
            })
        })
        .collect()
}

/// Writes the media rows with one `INSERT … SELECT unnest(…), …`: six array parameters
/// whatever the number of rows, where a multi-row `VALUES` takes seven parameters per row
/// (and PostgreSQL parses and plans each of them). The arrays are unnested side by side in
/// the select list (a `ProjectSet`, row by row), not `FROM unnest(…)` (a function scan,
/// which first copies every row into a tuplestore): in `pgbench`, 20,000-row inserts ran
/// at 13.7-13.8 a second against 12.1.
async fn insert_media(mut conn: &AsyncPgConnection, media: &[NewPhoto]) -> QueryResult<()> {
    use diesel::sql_types::{Array, Integer, Nullable, Timestamptz, Uuid};
    if media.is_empty() {
        return Ok(());
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
         SELECT unnest($1::integer[]), unnest($2::integer[]), unnest($3::uuid[]), \
                unnest($4::media_type[]), unnest($5::integer[]), unnest($6::timestamptz[])",
    )
    .bind::<Array<Nullable<Integer>>, _>(events)
    .bind::<Array<Integer>, _>(booths)
    .bind::<Array<Nullable<Uuid>>, _>(batches)
    .bind::<Array<boom_contracts::vocabulary::sql::MediaType>, _>(types)
    .bind::<Array<Integer>, _>(counts)
    .bind::<Array<Timestamptz>, _>(times)
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// Adds the media to `photomaton_daily_totals`. They are summed per booth and UTC hour here
/// (a handful of rows per batch); PostgreSQL turns each hour into the company's day (Paris
/// changes offset on whole hours, so an hour never straddles two days).
async fn add_daily_totals(mut conn: &AsyncPgConnection, media: &[NewPhoto]) -> QueryResult<()> {
    use diesel::sql_types::{Array, BigInt, Integer, Timestamptz};
    let mut hours: BTreeMap<(PhotomatonId, i64), Totals> = BTreeMap::new();
    for m in media {
        let hour = m.timestamp.timestamp().div_euclid(3600);
        hours
            .entry((m.photomaton_id, hour))
            .or_default()
            .add(m.media_type, i64::from(m.count));
    }
    if hours.is_empty() {
        return Ok(());
    }
    let (mut booths, mut starts) = (Vec::new(), Vec::new());
    let (mut sessions, mut photos, mut prints, mut digital, mut gifs) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((booth, hour), totals) in hours {
        booths.push(booth.0);
        starts.push(DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default());
        sessions.push(totals.sessions);
        photos.push(totals.photos);
        prints.push(totals.prints);
        digital.push(totals.digital);
        gifs.push(totals.gifs);
    }
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
    .bind::<Array<BigInt>, _>(photos)
    .bind::<Array<BigInt>, _>(prints)
    .bind::<Array<BigInt>, _>(digital)
    .bind::<Array<BigInt>, _>(gifs)
    .execute(&mut conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::result::{DatabaseErrorKind, Error};

    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> QueryResult<()> {
        Err(Error::DatabaseError(kind, Box::new(message.to_owned())))
    }

    fn aborted() -> QueryResult<()> {
        database_error(
            DatabaseErrorKind::Unknown,
            "current transaction is aborted, commands ignored until end of transaction block",
        )
    }

    #[test]
    fn the_cause_of_a_failed_pipeline_is_its_permanent_error_wherever_it_lies() {
        assert!(first_cause(vec![Ok(()), Ok(())]).is_ok());
        // The refusals that follow the cause may come first.
        let cause = first_cause(vec![
            Ok(()),
            aborted(),
            database_error(
                DatabaseErrorKind::ForeignKeyViolation,
                "photos name event 7",
            ),
            aborted(),
        ]);
        assert!(
            matches!(
                cause,
                Err(Error::DatabaseError(
                    DatabaseErrorKind::ForeignKeyViolation,
                    _
                ))
            ),
            "{cause:?}"
        );
        // A transient cause stays transient (the group is retried as a whole).
        let cause = first_cause(vec![
            database_error(DatabaseErrorKind::SerializationFailure, "deadlock detected"),
            aborted(),
        ]);
        assert!(
            matches!(
                cause,
                Err(Error::DatabaseError(
                    DatabaseErrorKind::SerializationFailure,
                    _
                ))
            ),
            "{cause:?}"
        );
    }
}
