use std::time::Duration;

use boom_contracts::{EventStatus, PhotomatonId, UserRole};
use boom_db::models::{IngestBatch, NewEvent, NewPhotomaton, NewUser, Photomaton};
use boom_db::schema::{events, ingest_batches, photomatons, users};
use boom_db::{PoolOptions, is_unique_violation};
use boom_testkit::TestContext;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{ExpressionMethods, QueryDsl, SelectableHelper};
use diesel_async::RunQueryDsl;

fn booth(hostname: &str) -> NewPhotomaton {
    NewPhotomaton {
        name: format!("Booth {hostname}"),
        hostname: hostname.to_owned(),
        ..Default::default()
    }
}

fn event(page: &str) -> NewEvent {
    NewEvent {
        notion_page_id: page.to_owned(),
        photomaton_id: None,
        client_name: "Mariage Dupont".to_owned(),
        event_type: Some("Mariage".to_owned()),
        event_date: None,
        album_name: None,
        notion_url: None,
        notion_data: serde_json::json!({"id": page}),
        notion_last_edited: None,
        status: EventStatus::Active,
        window_start: None,
        window_end: None,
    }
}

fn is_check_violation(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::CheckViolation, _)
    )
}

#[tokio::test]
async fn a_new_photomaton_gets_the_paper_defaults_of_the_original_design() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    let created: Photomaton = diesel::insert_into(photomatons::table)
        .values(NewPhotomaton {
            mac_address: Some([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e]),
            ..booth("boom-01")
        })
        .returning(Photomaton::as_returning())
        .get_result(&mut conn)
        .await?;
    assert_eq!(
        (
            created.paper_capacity,
            created.remaining_prints,
            created.warning_threshold,
            created.critical_threshold
        ),
        (700, 700, 350, 275)
    );
    assert_eq!(
        created.mac_address,
        Some([0x00, 0x1a, 0x2b, 0x3c, 0x4d, 0x5e])
    );
    assert!(!created.router_connected && !created.pc_connected);
    Ok(())
}

#[tokio::test]
async fn hostnames_are_unique_whatever_their_case() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    diesel::insert_into(photomatons::table)
        .values(booth("boom-01"))
        .execute(&mut conn)
        .await?;
    let again = diesel::insert_into(photomatons::table)
        .values(booth("BOOM-01"))
        .execute(&mut conn)
        .await;
    assert!(again.as_ref().is_err_and(is_unique_violation), "{again:?}");
    let invalid = diesel::insert_into(photomatons::table)
        .values(booth("not a hostname"))
        .execute(&mut conn)
        .await;
    assert!(
        invalid.as_ref().is_err_and(is_check_violation),
        "{invalid:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_critical_threshold_above_the_warning_one_is_refused() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    let refused = diesel::insert_into(photomatons::table)
        .values(NewPhotomaton {
            warning_threshold: Some(100),
            critical_threshold: Some(200),
            ..booth("boom-02")
        })
        .execute(&mut conn)
        .await;
    assert!(
        refused.as_ref().is_err_and(is_check_violation),
        "{refused:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_notion_page_is_one_event() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    diesel::insert_into(events::table)
        .values(event("page-1"))
        .execute(&mut conn)
        .await?;
    let again = diesel::insert_into(events::table)
        .values(event("page-1"))
        .execute(&mut conn)
        .await;
    assert!(again.as_ref().is_err_and(is_unique_violation), "{again:?}");
    let status: EventStatus = events::table
        .select(events::status)
        .first(&mut conn)
        .await?;
    assert_eq!(status, EventStatus::Active);
    Ok(())
}

#[tokio::test]
async fn a_batch_is_accepted_once_per_photomaton() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    let ids: Vec<PhotomatonId> = diesel::insert_into(photomatons::table)
        .values(vec![booth("boom-01"), booth("boom-02")])
        .returning(photomatons::id)
        .get_results(&mut conn)
        .await?;
    let batch_id = uuid::Uuid::new_v4();
    let row = |photomaton_id| IngestBatch {
        photomaton_id,
        batch_id,
        media_count: 3,
        received_at: chrono::Utc::now(),
    };
    diesel::insert_into(ingest_batches::table)
        .values(row(ids[0]))
        .execute(&mut conn)
        .await?;
    let again = diesel::insert_into(ingest_batches::table)
        .values(row(ids[0]))
        .execute(&mut conn)
        .await;
    assert!(again.as_ref().is_err_and(is_unique_violation), "{again:?}");
    // The same batch id from another booth is another batch.
    diesel::insert_into(ingest_batches::table)
        .values(row(ids[1]))
        .execute(&mut conn)
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_user_row_cannot_hold_a_plain_password() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    let plain = NewUser {
        username: "eve".to_owned(),
        role: UserRole::Viewer,
        password_hash: "hunter2".to_owned(),
        email: None,
    };
    let refused = diesel::insert_into(users::table)
        .values(plain)
        .execute(&mut conn)
        .await;
    assert!(
        refused.as_ref().is_err_and(is_check_violation),
        "{refused:?}"
    );
    Ok(())
}

/// A pool of two connections to the test's database, named `boom-test-pool`.
fn test_pool(ctx: &TestContext, statement_timeout: Duration) -> anyhow::Result<boom_db::DbPool> {
    Ok(boom_db::pool(
        &ctx.database_url(),
        &PoolOptions {
            application_name: "boom-test-pool".to_owned(),
            max_connections: 2,
            statement_timeout,
            acquire_timeout: Duration::from_secs(2),
        },
    )?)
}

#[tokio::test]
async fn pooled_connections_name_themselves_and_time_out_runaway_statements() -> anyhow::Result<()>
{
    let ctx = TestContext::new().await?;
    let pool = test_pool(&ctx, Duration::from_millis(300))?;
    let mut conn = pool.get().await?;
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        value: String,
    }
    let name: Setting = diesel::sql_query("SELECT current_setting('application_name') AS value")
        .get_result(&mut conn)
        .await?;
    assert_eq!(name.value, "boom-test-pool");
    let slow = diesel::sql_query("SELECT pg_sleep(5)")
        .execute(&mut conn)
        .await;
    let message = slow.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("statement timeout"), "{message}");
    // The connection is still usable after the cancelled statement.
    boom_db::ping(&pool).await?;
    let users: i64 = users::table
        .filter(users::role.eq(UserRole::Admin))
        .count()
        .get_result(&mut conn)
        .await?;
    assert_eq!(users, 0);
    Ok(())
}

fn is_foreign_key_violation(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)
    )
}

/// Two booths, each at an event, for the reference checks of `photos`.
async fn two_booths_at_events(
    conn: &mut diesel_async::AsyncPgConnection,
) -> anyhow::Result<(Vec<i32>, Vec<i32>)> {
    let booths: Vec<PhotomatonId> = diesel::insert_into(photomatons::table)
        .values(vec![booth("boom-01"), booth("boom-02")])
        .returning(photomatons::id)
        .get_results(conn)
        .await?;
    let events: Vec<boom_contracts::EventId> = diesel::insert_into(events::table)
        .values(vec![event("page-1"), event("page-2")])
        .returning(events::id)
        .get_results(conn)
        .await?;
    Ok((
        booths.into_iter().map(|b| b.0).collect(),
        events.into_iter().map(|e| e.0).collect(),
    ))
}

async fn insert_photo(
    conn: &mut diesel_async::AsyncPgConnection,
    event: Option<i32>,
    booth: i32,
) -> diesel::QueryResult<usize> {
    use diesel::sql_types::{Integer, Nullable};
    diesel::sql_query(
        "INSERT INTO photos (event_id, photomaton_id, media_type) VALUES ($1, $2, 'PHOTO')",
    )
    .bind::<Nullable<Integer>, _>(event)
    .bind::<Integer, _>(booth)
    .execute(conn)
    .await
}

async fn photos_of(conn: &mut diesel_async::AsyncPgConnection, booth: i32) -> anyhow::Result<i64> {
    use boom_db::schema::photos;
    Ok(photos::table
        .filter(photos::photomaton_id.eq(PhotomatonId(booth)))
        .count()
        .get_result(conn)
        .await?)
}

/// `photos` has no row-by-row foreign keys (they were most of the cost of recording a batch):
/// its references are checked once per statement, with the same outcome for a writer.
#[tokio::test]
async fn media_name_only_booths_and_events_that_exist_and_go_with_them() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    let (booths, events) = two_booths_at_events(&mut conn).await?;
    insert_photo(&mut conn, Some(events[0]), booths[0]).await?;
    insert_photo(&mut conn, Some(events[1]), booths[1]).await?;
    insert_photo(&mut conn, None, booths[1]).await?;

    let unknown_booth = insert_photo(&mut conn, None, booths[1] + 100).await;
    assert!(
        unknown_booth.as_ref().is_err_and(is_foreign_key_violation),
        "{unknown_booth:?}"
    );
    let unknown_event = insert_photo(&mut conn, Some(events[1] + 100), booths[0]).await;
    assert!(
        unknown_event.as_ref().is_err_and(is_foreign_key_violation),
        "{unknown_event:?}"
    );
    // Refused by the check of `photos` itself, before any total is touched.
    assert!(
        format!("{unknown_event:?}").contains("photos name event"),
        "{unknown_event:?}"
    );
    let moved_nowhere = diesel::sql_query("UPDATE photos SET event_id = event_id + 100")
        .execute(&mut conn)
        .await;
    assert!(
        moved_nowhere.as_ref().is_err_and(is_foreign_key_violation),
        "{moved_nowhere:?}"
    );

    // Deleting an event takes its media; deleting a booth takes the rest of its own.
    diesel::delete(events::table.filter(events::id.eq(boom_contracts::EventId(events[1]))))
        .execute(&mut conn)
        .await?;
    assert_eq!(photos_of(&mut conn, booths[1]).await?, 1);
    diesel::delete(photomatons::table.filter(photomatons::id.eq(PhotomatonId(booths[1]))))
        .execute(&mut conn)
        .await?;
    assert_eq!(photos_of(&mut conn, booths[1]).await?, 0);
    assert_eq!(photos_of(&mut conn, booths[0]).await?, 1);
    Ok(())
}

/// What one insert adds to `event_hourly_totals` (two booths, their events and none, media
/// of every type over several hours, counts above one, in two statements) is what summing
/// the media rows gives, and `recount_events` rebuilds the same rows.
#[tokio::test]
async fn the_hourly_totals_an_insert_adds_are_its_media_summed() -> anyhow::Result<()> {
    use diesel::sql_types::{BigInt, Integer, Text};
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Row {
        #[diesel(sql_type = Text)]
        row: String,
    }
    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    let (booths, events) = two_booths_at_events(&mut conn).await?;
    // Each statement: 500 media, booth and event by turns (a third without an event), every
    // media type, counts 1 to 3, spread over five hours that straddle midnight UTC.
    let insert = "INSERT INTO photos (event_id, photomaton_id, media_type, count, \"timestamp\") \
         SELECT CASE WHEN g % 3 = 2 THEN NULL ELSE (ARRAY[$1, $2])[1 + g % 2] END, \
                (ARRAY[$3, $4])[1 + g % 2], \
                (enum_range(NULL::media_type))[1 + g % 5], 1 + g % 3, \
                TIMESTAMPTZ '2026-06-20 21:30:00+00' + $5 * interval '1 s' + g * interval '37 s' \
         FROM generate_series(0, 499) AS g";
    // And media on the hour and just before it, some before 2000 (a clock reset).
    diesel::sql_query(
        "INSERT INTO photos (event_id, photomaton_id, media_type, count, \"timestamp\") \
         SELECT $1, $2, 'PRINT', 2, t FROM unnest(ARRAY[ \
             TIMESTAMPTZ '2026-06-21 00:00:00+00', TIMESTAMPTZ '2026-06-20 23:59:59.999999+00', \
             TIMESTAMPTZ '1999-12-31 23:00:00+00', TIMESTAMPTZ '1999-12-31 22:59:59.999999+00', \
             TIMESTAMPTZ '2000-01-01 00:00:00+00']) AS t",
    )
    .bind::<Integer, _>(events[0])
    .bind::<Integer, _>(booths[0])
    .execute(&mut conn)
    .await?;
    for offset in [0, 1] {
        diesel::sql_query(insert)
            .bind::<Integer, _>(events[0])
            .bind::<Integer, _>(events[1])
            .bind::<Integer, _>(booths[0])
            .bind::<Integer, _>(booths[1])
            .bind::<Integer, _>(offset)
            .execute(&mut conn)
            .await?;
    }
    let summed = "SELECT format('%s %s %s %s %s %s %s %s', event_id, hour, photomaton_id, \
                sessions, photos, prints, digital, gifs) AS row FROM ( \
         SELECT event_id, date_trunc('hour', \"timestamp\", 'UTC') AS hour, photomaton_id, \
                coalesce(sum(count) FILTER (WHERE media_type = 'SESSION'), 0) AS sessions, \
                coalesce(sum(count) FILTER (WHERE media_type = 'PHOTO'), 0) AS photos, \
                coalesce(sum(count) FILTER (WHERE media_type = 'PRINT'), 0) AS prints, \
                coalesce(sum(count) FILTER (WHERE media_type = 'DIGITAL'), 0) AS digital, \
                coalesce(sum(count) FILTER (WHERE media_type = 'GIF'), 0) AS gifs \
         FROM photos WHERE event_id IS NOT NULL GROUP BY 1, 2, 3) s ORDER BY 1";
    let kept = "SELECT format('%s %s %s %s %s %s %s %s', event_id, hour, photomaton_id, \
                sessions, photos, prints, digital, gifs) AS row \
         FROM event_hourly_totals ORDER BY 1";
    let expected: Vec<Row> = diesel::sql_query(summed).load(&mut conn).await?;
    let added: Vec<Row> = diesel::sql_query(kept).load(&mut conn).await?;
    assert!(expected.len() >= 10, "hours and events: {expected:?}");
    assert_eq!(added, expected, "added by the inserts");
    let media: Count = diesel::sql_query(
        "SELECT (SELECT sum(count) FROM photos WHERE event_id IS NOT NULL) \
              - (SELECT sum(sessions + photos + prints + digital + gifs) FROM event_hourly_totals) AS n",
    )
    .get_result(&mut conn)
    .await?;
    assert_eq!(media.n, 0, "every attributed media counted once");
    diesel::sql_query("SELECT recount_events($1)")
        .bind::<diesel::sql_types::Array<Integer>, _>(events.clone())
        .execute(&mut conn)
        .await?;
    let recounted: Vec<Row> = diesel::sql_query(kept).load(&mut conn).await?;
    assert_eq!(recounted, expected, "rebuilt by recount_events");
    Ok(())
}

/// Waits until a statement of another connection waits for a lock.
async fn someone_waits_for_a_lock(
    conn: &mut diesel_async::AsyncPgConnection,
) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Waiting {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    for _ in 0..200 {
        let waiting: Waiting = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .get_result(conn)
        .await?;
        if waiting.n > 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    anyhow::bail!("nobody waited for a lock")
}

/// A booth deleted while a batch of its media is being recorded: whichever comes first, no
/// media is left naming a booth that is gone.
#[tokio::test]
async fn a_booth_deleted_while_its_media_are_written_leaves_no_orphan() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut watcher = ctx.connection().await?;
    let (booths, _) = two_booths_at_events(&mut watcher).await?;

    // The media first: the deletion waits for their commit, then takes them.
    let mut writer = ctx.connection().await?;
    diesel::sql_query("BEGIN").execute(&mut writer).await?;
    insert_photo(&mut writer, None, booths[0]).await?;
    let mut deleter = ctx.connection().await?;
    let booth = booths[0];
    let deletion = tokio::spawn(async move {
        diesel::delete(photomatons::table.filter(photomatons::id.eq(PhotomatonId(booth))))
            .execute(&mut deleter)
            .await
    });
    someone_waits_for_a_lock(&mut watcher).await?;
    diesel::sql_query("COMMIT").execute(&mut writer).await?;
    assert_eq!(deletion.await??, 1);
    assert_eq!(photos_of(&mut watcher, booths[0]).await?, 0);

    // The deletion first: the media wait for it, then are refused.
    let mut deleter = ctx.connection().await?;
    diesel::sql_query("BEGIN").execute(&mut deleter).await?;
    diesel::delete(photomatons::table.filter(photomatons::id.eq(PhotomatonId(booths[1]))))
        .execute(&mut deleter)
        .await?;
    let booth = booths[1];
    let write = tokio::spawn(async move { insert_photo(&mut writer, None, booth).await });
    someone_waits_for_a_lock(&mut watcher).await?;
    diesel::sql_query("COMMIT").execute(&mut deleter).await?;
    let refused = write.await?;
    assert!(
        refused.as_ref().is_err_and(is_foreign_key_violation),
        "{refused:?}"
    );
    assert_eq!(photos_of(&mut watcher, booths[1]).await?, 0);
    Ok(())
}

/// Moving media to another event (Notion moved its window) checks the event, not the booth:
/// the recorder may hold the booth's row for a batch meanwhile, and waiting for it while it
/// waits for the event would deadlock.
#[tokio::test]
async fn moving_media_between_events_does_not_wait_for_their_booth() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    let (booths, events) = two_booths_at_events(&mut conn).await?;
    insert_photo(&mut conn, Some(events[0]), booths[0]).await?;

    let mut recorder = ctx.connection().await?;
    diesel::sql_query("BEGIN").execute(&mut recorder).await?;
    diesel::sql_query("SELECT id FROM photomatons WHERE id = $1 FOR UPDATE")
        .bind::<diesel::sql_types::Integer, _>(booths[0])
        .execute(&mut recorder)
        .await?;

    diesel::sql_query("SET statement_timeout = '3s'")
        .execute(&mut conn)
        .await?;
    let moved = diesel::sql_query("UPDATE photos SET event_id = $1 WHERE photomaton_id = $2")
        .bind::<diesel::sql_types::Integer, _>(events[1])
        .bind::<diesel::sql_types::Integer, _>(booths[0])
        .execute(&mut conn)
        .await;
    assert_eq!(
        moved.ok(),
        Some(1),
        "moved without waiting for the booth's lock"
    );
    diesel::sql_query("ROLLBACK").execute(&mut recorder).await?;
    Ok(())
}

/// The server process behind a pooled connection.
async fn backend_of(pool: &boom_db::DbPool) -> anyhow::Result<i32> {
    #[derive(diesel::QueryableByName)]
    struct Pid {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        pid: i32,
    }
    let mut conn = pool.get().await?;
    let pid: Pid = diesel::sql_query("SELECT pg_backend_pid() AS pid")
        .get_result(&mut *conn)
        .await?;
    Ok(pid.pid)
}

/// Ends the server process `pid` and waits until it is gone.
async fn terminate(ctx: &TestContext, pid: i32) -> anyhow::Result<()> {
    #[derive(diesel::QueryableByName)]
    struct Done {
        #[diesel(sql_type = diesel::sql_types::Bool)]
        done: bool,
    }
    let done: Done = diesel::sql_query("SELECT pg_terminate_backend($1, 5000) AS done")
        .bind::<diesel::sql_types::Integer, _>(pid)
        .get_result(&mut ctx.connection().await?)
        .await?;
    anyhow::ensure!(
        done.done,
        "backend {pid} was not there to end, or outlived 5 s"
    );
    Ok(())
}

/// The pool hands a connection used moments ago out again without a round trip, checks one
/// idle for a while first (and replaces it, unseen, if its server process is gone), and
/// never hands out again one whose use failed.
#[tokio::test]
async fn the_pool_checks_only_a_connection_idle_for_a_while_and_replaces_a_broken_one()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let pool = test_pool(&ctx, Duration::from_secs(10))?;
    // Steady use: one connection, not checked (unless the machine stalled past 250 ms).
    let first = backend_of(&pool).await?;
    let mut gaps = Vec::new();
    for _ in 0..20 {
        let started = std::time::Instant::now();
        assert_eq!(backend_of(&pool).await?, first, "the one used last");
        gaps.push(started.elapsed());
    }
    let checks = pool.manager().connection_checks();
    if gaps.iter().all(|g| *g < Duration::from_millis(150)) {
        assert_eq!(checks, 0, "checks for gaps {gaps:?}");
    }
    // Terminated moments after its last use: the server closed the socket, so the pool knows
    // it closed and replaces it without a round trip; had the socket not said so yet, its
    // next use fails instead, and a new one serves after that.
    terminate(&ctx, first).await?;
    match backend_of(&pool).await {
        Err(_) => {}
        Ok(pid) => assert_ne!(pid, first, "a terminated backend answered"),
    }
    let second = backend_of(&pool).await?;
    assert_ne!(second, first);
    // Terminated while idle: checked before it is handed out, replaced, nobody sees an error.
    terminate(&ctx, second).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let checks = pool.manager().connection_checks();
    let third = backend_of(&pool).await?;
    assert_ne!(third, second);
    assert!(
        pool.manager().connection_checks() > checks,
        "an idle connection is checked"
    );
    Ok(())
}

/// A connection whose use was cancelled in the middle of a transaction is never handed out
/// again, however recently it was used.
#[tokio::test]
async fn a_connection_left_in_a_transaction_is_not_handed_out_again() -> anyhow::Result<()> {
    use diesel_async::AsyncConnection;
    let ctx = TestContext::new().await?;
    let pool = test_pool(&ctx, Duration::from_secs(10))?;
    let first = backend_of(&pool).await?;
    {
        let mut conn = pool.get().await?;
        let cancelled = tokio::time::timeout(
            Duration::from_millis(100),
            conn.transaction(async |conn| {
                diesel::sql_query("SELECT pg_sleep(5)")
                    .execute(conn)
                    .await?;
                diesel::QueryResult::Ok(())
            }),
        )
        .await;
        assert!(cancelled.is_err(), "the transaction was cut short");
    }
    let next = backend_of(&pool).await?;
    assert_ne!(
        next, first,
        "the connection left in its transaction was handed out"
    );
    Ok(())
}
