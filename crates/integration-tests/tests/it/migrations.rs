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
