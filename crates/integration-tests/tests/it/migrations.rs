use boom_testkit::TestContext;

use crate::helpers::spawn_gateway;

#[tokio::test]
async fn migrations_apply_from_empty_and_are_idempotent() -> anyhow::Result<()> {
    let ctx = TestContext::new_unmigrated().await?;
    let first = boom_db::run_migrations(&ctx.database_url()).await?;
    assert_eq!(first, boom_db::embedded_migrations()?);
    let second = boom_db::run_migrations(&ctx.database_url()).await?;
    assert!(second.is_empty(), "{second:?}");
    boom_db::ensure_migrated(&ctx.database_url()).await?;
    Ok(())
}

#[tokio::test]
async fn two_concurrent_migrate_runs_both_succeed_and_apply_once() -> anyhow::Result<()> {
    let ctx = TestContext::new_unmigrated().await?;
    let url = ctx.database_url();
    let (a, b) = tokio::join!(boom_db::run_migrations(&url), boom_db::run_migrations(&url));
    let (a, b) = (a?, b?);
    let mut applied = [a, b].concat();
    applied.sort();
    assert_eq!(
        applied,
        boom_db::embedded_migrations()?,
        "each migration applied exactly once"
    );
    Ok(())
}

#[tokio::test]
async fn the_gateway_refuses_to_serve_an_unmigrated_database() -> anyhow::Result<()> {
    let ctx = TestContext::new_unmigrated().await?;
    let error = spawn_gateway(ctx.settings.clone())
        .await
        .err()
        .map(|e| format!("{e:#}"));
    let error = error.unwrap_or_default();
    assert!(
        error.contains("not migrated") && error.contains("boom-gateway migrate"),
        "{error}"
    );
    Ok(())
}

/// What a database's schema is made of, one line per thing, sorted: relations (tables,
/// indexes, sequences, views), columns (their exact types, defaults, nullability, identity),
/// constraints, functions, triggers, enums and domains, extensions. Diesel's own bookkeeping
/// table is left out.
const SCHEMA: &str = r#"
SELECT 'relation ' || c.relname || ' ' || c.relkind::text AS line
  FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relname NOT LIKE '\_\_diesel%'
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
       || ' ' || a.attnotnull::text || ' ' || a.attidentity::text || ' ' || a.attgenerated::text
  FROM pg_attribute a
  JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
   AND a.attnum > 0 AND NOT a.attisdropped AND c.relname NOT LIKE '\_\_diesel%'
UNION ALL
SELECT 'index ' || indexdef
  FROM pg_indexes
 WHERE schemaname = 'public' AND tablename NOT LIKE '\_\_diesel%'
UNION ALL
SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint
 WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE '\_\_diesel%'
UNION ALL
SELECT 'function ' || pg_get_functiondef(p.oid)
  FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE c.relnamespace = 'public'::regnamespace AND NOT t.tgisinternal
UNION ALL
SELECT 'type ' || t.typname || ' ' || t.typtype::text || ' '
       || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
                      FROM pg_enum e WHERE e.enumtypid = t.oid), '')
  FROM pg_type t
 WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd')
UNION ALL
SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'
ORDER BY 1
"#;

#[derive(diesel::QueryableByName)]
struct SchemaLine {
    #[diesel(sql_type = diesel::sql_types::Text)]
    line: String,
}

type SyncConnection =
    diesel_async::async_connection_wrapper::AsyncConnectionWrapper<diesel_async::AsyncPgConnection>;

fn schema(conn: &mut SyncConnection) -> anyhow::Result<Vec<String>> {
    use diesel::RunQueryDsl;
    let lines: Vec<SchemaLine> = diesel::sql_query(SCHEMA).load(conn)?;
    Ok(lines.into_iter().map(|l| l.line).collect())
}

/// Fails with `what`, then what `now` has that `then` had not (`+`) and the other way round
/// (`-`), unless the two schemas are the same.
fn assert_same(then: &[String], now: &[String], what: &str) {
    let gone = then
        .iter()
        .filter(|l| !now.contains(l))
        .map(|l| format!("- {l}"));
    let new = now
        .iter()
        .filter(|l| !then.contains(l))
        .map(|l| format!("+ {l}"));
    let changes = gone.chain(new).collect::<Vec<_>>().join("\n");
    assert!(then == now, "{what}:\n{changes}");
}

/// Each migration's `down.sql` takes the schema back to what it was before its `up.sql`
/// (the way back the operations guide gives for a rollback), and the migration then applies
/// again to the same schema; at the end, every migration reverted in turn leaves nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_migration_reverts_to_the_schema_before_it_and_applies_again() -> anyhow::Result<()> {
    let ctx = TestContext::new_unmigrated().await?;
    let url = ctx.database_url();
    let stepped = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
        use diesel::Connection;
        use diesel_migrations::MigrationHarness;
        let mut conn = SyncConnection::establish(&url)?;
        let empty = schema(&mut conn)?;
        let mut stepped = Vec::new();
        while !conn
            .pending_migrations(boom_db::MIGRATIONS)
            .map_err(anyhow::Error::msg)?
            .is_empty()
        {
            let before = schema(&mut conn)?;
            let version = conn
                .run_next_migration(boom_db::MIGRATIONS)
                .map_err(anyhow::Error::msg)?
                .to_string();
            let after = schema(&mut conn)?;
            conn.revert_last_migration(boom_db::MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("reverting {version}: {e}"))?;
            let reverted = schema(&mut conn)?;
            assert_same(
                &before,
                &reverted,
                &format!("the down.sql of {version} leaves the schema changed"),
            );
            conn.run_next_migration(boom_db::MIGRATIONS)
                .map_err(|e| anyhow::anyhow!("applying {version} again: {e}"))?;
            let again = schema(&mut conn)?;
            assert_same(
                &after,
                &again,
                &format!("{version} applied again gives another schema"),
            );
            stepped.push(version);
        }
        conn.revert_all_migrations(boom_db::MIGRATIONS)
            .map_err(anyhow::Error::msg)?;
        let left = schema(&mut conn)?;
        assert_same(&empty, &left, "every migration reverted leaves");
        Ok(stepped)
    })
    .await??;
    assert_eq!(stepped, boom_db::embedded_migrations()?);
    Ok(())
}

/// One line per media row, and the booths and events counted: what no migration may change.
const HELD: &str = r#"
SELECT format('%s booths, %s events, %s media: %s',
              (SELECT count(*) FROM photomatons), (SELECT count(*) FROM events),
              (SELECT count(*) FROM photos),
              (SELECT md5(coalesce(string_agg(format('%s %s %s %s %s %s %s', id, event_id,
                                                     photomaton_id, batch_id, media_type, count,
                                                     "timestamp"), ',' ORDER BY id), ''))
                 FROM photos)) AS line
"#;

/// What the media sum to per event, UTC hour and booth.
const MEDIA_SUMMED: &str = r#"
SELECT format('%s %s %s %s %s %s %s %s', event_id, hour, photomaton_id, sessions, photos,
              prints, digital, gifs) AS line
  FROM (SELECT event_id, date_trunc('hour', "timestamp", 'UTC') AS hour, photomaton_id,
               coalesce(sum(count) FILTER (WHERE media_type = 'SESSION'), 0) AS sessions,
               coalesce(sum(count) FILTER (WHERE media_type = 'PHOTO'), 0) AS photos,
               coalesce(sum(count) FILTER (WHERE media_type = 'PRINT'), 0) AS prints,
               coalesce(sum(count) FILTER (WHERE media_type = 'DIGITAL'), 0) AS digital,
               coalesce(sum(count) FILTER (WHERE media_type = 'GIF'), 0) AS gifs
          FROM photos WHERE event_id IS NOT NULL GROUP BY 1, 2, 3) s
 ORDER BY 1
"#;

/// The hourly totals kept, in the same lines.
const TOTALS_KEPT: &str = r#"
SELECT format('%s %s %s %s %s %s %s %s', event_id, hour, photomaton_id, sessions, photos,
              prints, digital, gifs) AS line
  FROM event_hourly_totals
 ORDER BY 1
"#;

fn lines(conn: &mut SyncConnection, query: &str) -> anyhow::Result<Vec<String>> {
    use diesel::RunQueryDsl;
    let lines: Vec<SchemaLine> = diesel::sql_query(query).load(conn)?;
    Ok(lines.into_iter().map(|l| l.line).collect())
}

fn has_table(conn: &mut SyncConnection, table: &str) -> anyhow::Result<bool> {
    let found = lines(
        conn,
        &format!("SELECT coalesce(to_regclass('public.{table}')::text, '') AS line"),
    )?;
    Ok(found.first().is_some_and(|name| !name.is_empty()))
}

/// A booth at an event, with 200 media written as the schema of the moment takes them (its
/// triggers included): every media type, counts 1 to 3, over five hours that straddle
/// midnight UTC, each wave on its own day. A quarter of them, three days later, belong to no
/// event. Each media is where the event windows of migration 13 put it (the event's Paris day
/// until 08:00 the next), so that attributing the media by window changes none of them.
fn write_a_wave(conn: &mut SyncConnection, wave: i32) -> anyhow::Result<()> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::Integer;
    let host = format!("upgrade-{wave}");
    diesel::sql_query("INSERT INTO photomatons (name, hostname) VALUES ($1, $1)")
        .bind::<diesel::sql_types::Text, _>(&host)
        .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO events (notion_page_id, client_name, photomaton_id, event_date) \
         SELECT hostname, 'Mariage ' || hostname, id, \
                TIMESTAMPTZ '2026-06-20 16:00:00+02' + $2 * interval '1 day' \
         FROM photomatons WHERE hostname = $1",
    )
    .bind::<diesel::sql_types::Text, _>(&host)
    .bind::<Integer, _>(wave)
    .execute(conn)?;
    diesel::sql_query(
        "INSERT INTO photos (event_id, photomaton_id, media_type, count, \"timestamp\") \
         SELECT CASE WHEN g % 4 = 3 THEN NULL ELSE e.id END, e.photomaton_id, \
                (enum_range(NULL::media_type))[1 + g % 5], 1 + g % 3, \
                TIMESTAMPTZ '2026-06-20 21:30:00+00' + $1 * interval '1 day' + g * interval '97 s' \
                + CASE WHEN g % 4 = 3 THEN interval '3 days' ELSE interval '0' END \
         FROM events e, generate_series(0, 199) AS g WHERE e.notion_page_id = $2",
    )
    .bind::<Integer, _>(wave)
    .bind::<diesel::sql_types::Text, _>(&host)
    .execute(conn)?;
    Ok(())
}

/// Every migration applies to a database that holds data, written through the schema (and
/// triggers) of every version before it, as a production database's is: it keeps every
/// booth, event and media row, and leaves each event's hourly totals what its media sum to.
/// The last schema then counts, checks and deletes as a fresh one does, and is the same
/// schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_migration_applies_to_a_database_holding_data_and_keeps_it() -> anyhow::Result<()> {
    let fresh = TestContext::new().await?;
    let fresh_url = fresh.database_url();
    let ctx = TestContext::new_unmigrated().await?;
    let url = ctx.database_url();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use diesel::Connection;
        use diesel::RunQueryDsl;
        use diesel_migrations::MigrationHarness;
        let mut conn = SyncConnection::establish(&url)?;
        let mut waves = 0;
        let mut stepped = Vec::new();
        while !conn
            .pending_migrations(boom_db::MIGRATIONS)
            .map_err(anyhow::Error::msg)?
            .is_empty()
        {
            let held = has_table(&mut conn, "photos")?
                .then(|| lines(&mut conn, HELD))
                .transpose()?;
            let version = conn
                .run_next_migration(boom_db::MIGRATIONS)
                .map_err(|e| {
                    anyhow::anyhow!("applying a migration to a database holding data: {e}")
                })?
                .to_string();
            if let Some(held) = held {
                assert_eq!(lines(&mut conn, HELD)?, held, "{version} changed the data");
            }
            if has_table(&mut conn, "photos")? {
                write_a_wave(&mut conn, waves)?;
                waves += 1;
            }
            if has_table(&mut conn, "event_hourly_totals")? {
                assert_eq!(
                    lines(&mut conn, TOTALS_KEPT)?,
                    lines(&mut conn, MEDIA_SUMMED)?,
                    "the hourly totals at {version}, after {waves} waves of media"
                );
            }
            stepped.push(version);
        }
        assert_eq!(stepped, boom_db::embedded_migrations()?);
        assert!(waves >= 20, "{waves} waves");

        // Media naming an event that does not exist are refused, as by a foreign key.
        let orphan = diesel::sql_query(
            "INSERT INTO photos (event_id, photomaton_id, media_type) \
             SELECT -1, min(id), 'PHOTO' FROM photomatons",
        )
        .execute(&mut conn);
        assert!(
            matches!(
                orphan,
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::ForeignKeyViolation,
                    _
                ))
            ),
            "{orphan:?}"
        );
        // Deleting the first wave's event deletes its media and its totals, and nothing else.
        let before = lines(&mut conn, "SELECT count(*)::text AS line FROM photos")?;
        diesel::sql_query("DELETE FROM events WHERE notion_page_id = 'upgrade-0'")
            .execute(&mut conn)?;
        let after = lines(&mut conn, "SELECT count(*)::text AS line FROM photos")?;
        let (before, after): (i64, i64) = (before.concat().parse()?, after.concat().parse()?);
        assert_eq!(before - after, 150, "the first wave's media at its event");
        assert_eq!(
            lines(&mut conn, TOTALS_KEPT)?,
            lines(&mut conn, MEDIA_SUMMED)?
        );

        let mut fresh = SyncConnection::establish(&fresh_url)?;
        assert_same(
            &schema(&mut fresh)?,
            &schema(&mut conn)?,
            "the schema of a database migrated while it held data, against a fresh one",
        );
        Ok(())
    })
    .await??;
    Ok(())
}
