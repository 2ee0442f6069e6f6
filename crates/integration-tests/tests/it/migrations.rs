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
