//! The backup and restore procedure of docs/operations.md, against the real PostgreSQL.

use std::process::Command;

use boom_testkit::TestContext;
use diesel_async::{RunQueryDsl, SimpleAsyncConnection};

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Totals {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    booths: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    prints: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    batches: i64,
}

async fn totals(ctx: &TestContext) -> anyhow::Result<Totals> {
    let mut conn = ctx.connection().await?;
    Ok(diesel::sql_query(
        "SELECT (SELECT count(*) FROM photomatons) AS booths, \
                (SELECT coalesce(sum(count), 0) FROM photos WHERE media_type = 'PRINT')::bigint AS prints, \
                (SELECT count(*) FROM ingest_batches) AS batches",
    )
    .get_result(&mut conn)
    .await?)
}

fn run(program: &str, args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new(program).args(args).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{program} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

#[tokio::test]
async fn a_dump_restored_into_an_empty_database_gives_the_same_totals() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut conn = ctx.connection().await?;
    conn.batch_execute(
        "INSERT INTO photomatons (name, hostname) VALUES ('Booth 1', 'boom-01'), ('Booth 2', 'boom-02');
         INSERT INTO ingest_batches (photomaton_id, batch_id, media_count, received_at)
             SELECT id, gen_random_uuid(), 2, now() FROM photomatons;
         INSERT INTO photos (photomaton_id, media_type, count) SELECT id, 'PRINT', 3 FROM photomatons;",
    )
    .await?;
    drop(conn);
    let before = totals(&ctx).await?;
    assert_eq!(
        before,
        Totals {
            booths: 2,
            prints: 6,
            batches: 2
        }
    );

    let dump = std::env::temp_dir().join(format!("boom-{}.dump", ctx.id));
    let url = ctx.database_url();
    // docs/operations.md: pg_dump --format=custom, then pg_restore into an empty database.
    run(
        "pg_dump",
        &[
            "--format=custom",
            "--no-owner",
            "--file",
            &dump.to_string_lossy(),
            &url,
        ],
    )?;
    let admin = boom_testkit::admin_database_url();
    run(
        "psql",
        &[
            &admin,
            "-q",
            "-c",
            &format!("DROP DATABASE {} WITH (FORCE)", ctx.database),
        ],
    )?;
    run(
        "psql",
        &[
            &admin,
            "-q",
            "-c",
            &format!("CREATE DATABASE {}", ctx.database),
        ],
    )?;
    run(
        "pg_restore",
        &[
            "--no-owner",
            "--exit-on-error",
            "--dbname",
            &url,
            &dump.to_string_lossy(),
        ],
    )?;
    assert_eq!(totals(&ctx).await?, before);
    boom_db::ensure_migrated(&url).await?;
    std::fs::remove_file(dump)?;
    Ok(())
}
