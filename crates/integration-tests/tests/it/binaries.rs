//! The six binaries as ops run them: only `BOOM__…` variables, health, SIGTERM.

use boom_testkit::TestContext;

use std::time::Duration;

use crate::helpers::{RunningBinary, eventually, run_binary};

const BINARIES: [&str; 6] = [
    "boom-gateway",
    "boom-stats-ingest",
    "boom-notion-sync",
    "boom-photomaton-control",
    "boom-notifier",
    "boom-agent",
];

#[tokio::test]
async fn every_binary_starts_from_boom_variables_answers_health_and_exits_cleanly_on_sigterm()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let client = reqwest::Client::new();
    for name in BINARIES {
        let running = RunningBinary::start(name, &ctx.environment())?;
        let health = format!("http://127.0.0.1:{}/api/health", running.port);
        let ready = eventually(Duration::from_secs(10), || async {
            Ok(client.get(&health).send().await?.status().as_u16() == 200)
        })
        .await;
        let body: serde_json::Value = client.get(&health).send().await?.json().await?;
        assert!(ready.is_ok(), "{name} not healthy: {body}");
        assert_eq!(body["status"], "ok", "{name}: {body}");
        let metrics = client
            .get(format!("http://127.0.0.1:{}/metrics", running.port))
            .send()
            .await?
            .text()
            .await?;
        assert!(
            metrics.contains("boom_http_requests_total"),
            "{name}: {metrics}"
        );
        let exit = running.terminate()?;
        assert!(exit.success(), "{name} exited with {exit}");
    }
    Ok(())
}

#[tokio::test]
async fn the_gateway_health_names_its_four_checks() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let running = RunningBinary::start("boom-gateway", &ctx.environment())?;
    let body: serde_json::Value =
        reqwest::get(format!("http://127.0.0.1:{}/api/health", running.port))
            .await?
            .json()
            .await?;
    for check in ["database", "redis", "nats", "disk"] {
        assert_eq!(body["checks"][check]["status"], "ok", "{check}: {body}");
    }
    assert!(running.terminate()?.success());
    Ok(())
}

#[test]
fn an_unknown_key_stops_every_binary_at_start_with_one_line_naming_it() -> anyhow::Result<()> {
    for name in BINARIES {
        let env = [(
            "BOOM__DATABASE__ULR".to_owned(),
            "postgres://x/y".to_owned(),
        )];
        let (code, _, stderr) = run_binary(name, &[], &env, "")?;
        assert_eq!(code, 78, "{name}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{name}: {stderr}");
        assert!(stderr.contains("`database.ulr`"), "{name}: {stderr}");
    }
    Ok(())
}

#[test]
fn a_malformed_url_stops_the_binary_with_the_key_named() -> anyhow::Result<()> {
    for (key, value, named) in [
        ("BOOM__NATS__URL", "nats//nowhere", "`nats.url`"),
        ("BOOM__DATABASE__URL", "mysql://db/boom", "`database.url`"),
        ("BOOM__HTTP__ADDR", "everywhere", "`http.addr`"),
    ] {
        let (code, _, stderr) = run_binary(
            "boom-stats-ingest",
            &[],
            &[(key.to_owned(), value.to_owned())],
            "",
        )?;
        assert_eq!(code, 78, "{key}: {stderr}");
        assert!(
            stderr.contains(named) && stderr.trim().lines().count() == 1,
            "{key}: {stderr}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn users_add_stores_an_argon2id_hash_and_never_the_password() -> anyhow::Result<()> {
    use argon2::{Argon2, PasswordHash, PasswordVerifier};
    use boom_db::schema::users;
    use diesel::{ExpressionMethods, QueryDsl};
    use diesel_async::RunQueryDsl;

    let ctx = TestContext::new().await?;
    let env = ctx.environment();
    let password = "correct horse battery staple";
    let args = ["users", "add", "--username", "marie", "--role", "installer"];
    let (code, stdout, stderr) = run_binary("boom-gateway", &args, &env, &format!("{password}\n"))?;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("marie") && !stdout.contains(password) && !stderr.contains(password));

    let mut conn = ctx.connection().await?;
    let (role, hash): (boom_contracts::UserRole, String) = users::table
        .filter(users::username.eq("marie"))
        .select((users::role, users::password_hash))
        .first(&mut conn)
        .await?;
    assert_eq!(role, boom_contracts::UserRole::Installer);
    assert!(
        hash.starts_with("$argon2id$") && !hash.contains(password),
        "{hash}"
    );
    let parsed = PasswordHash::new(&hash).map_err(|e| anyhow::anyhow!("{e}"))?;
    assert!(
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    );

    let (code, _, stderr) = run_binary("boom-gateway", &args, &env, &format!("{password}\n"))?;
    assert_ne!(code, 0);
    assert!(stderr.contains("already exists"), "{stderr}");

    let short = ["users", "add", "--username", "paul", "--role", "viewer"];
    let (code, _, stderr) = run_binary("boom-gateway", &short, &env, "short\n")?;
    assert_ne!(code, 0);
    assert!(stderr.contains("at least"), "{stderr}");

    let bad_role = ["users", "add", "--username", "paul", "--role", "boss"];
    let (code, _, stderr) = run_binary("boom-gateway", &bad_role, &env, "long enough password\n")?;
    assert_ne!(code, 0);
    assert!(stderr.contains("boss"), "{stderr}");
    Ok(())
}

#[tokio::test]
async fn migrate_is_a_command_that_can_be_run_twice() -> anyhow::Result<()> {
    let ctx = TestContext::new_unmigrated().await?;
    let env = ctx.environment();
    let (code, stdout, stderr) = run_binary("boom-gateway", &["migrate"], &env, "")?;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("migrations applied"), "{stdout}");
    let (code, stdout, _) = run_binary("boom-gateway", &["migrate"], &env, "")?;
    assert_eq!(code, 0);
    assert!(stdout.contains("none pending"), "{stdout}");
    Ok(())
}
