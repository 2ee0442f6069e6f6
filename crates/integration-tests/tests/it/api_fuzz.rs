//! schemathesis (PyPI) over `GET /api/openapi.json`, with a signed-in admin's session, against
//! the whole stack (gateway, photomaton-control, notion-sync with a local Notion): no answer
//! is a 5xx, and none breaks the document's own response schemas.

use std::path::PathBuf;

use boom_config::SecretString;
use boom_testkit::TestContext;

use crate::gateway_client::Staff;
use crate::helpers::{spawn_notion_sync, spawn_photomaton_control};

/// The `st` command `scripts/schemathesis.sh` installs beside the build cache.
fn schemathesis() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("BOOM_SCHEMATHESIS") {
        return Ok(PathBuf::from(path));
    }
    // .../target/debug/deps/it-… → .../target
    let target = std::env::current_exe()?
        .ancestors()
        .nth(3)
        .map(PathBuf::from)
        .ok_or_else(|| anyhow::anyhow!("no target directory"))?;
    let st = target.join("schemathesis-venv/bin/st");
    anyhow::ensure!(
        st.exists(),
        "{} is missing: run the tests with `just test` (it installs schemathesis)",
        st.display()
    );
    Ok(st)
}

#[tokio::test]
async fn schemathesis_finds_no_server_error_and_no_answer_off_its_schema() -> anyhow::Result<()> {
    let st = schemathesis()?;
    let mut ctx = TestContext::new().await?;
    let notion = crate::fake_notion::FakeNotion::start().await?;
    ctx.settings.notion.token = Some(SecretString::from(crate::fake_notion::TOKEN));
    ctx.settings.notion.database_id = Some(crate::fake_notion::DATABASE.to_owned());
    ctx.settings.notion.base_url = notion.base_url.clone();
    ctx.settings.notion.sync_interval_secs = 3600;
    // The fuzzer signs in many times from 127.0.0.1 and posts far more than an agent would.
    ctx.settings.nats.request_timeout_ms = 2_000;
    let staff = Staff::start(&ctx).await?;
    let control = spawn_photomaton_control(ctx.settings.clone()).await?;
    let notion_sync = spawn_notion_sync(ctx.settings.clone()).await?;
    let booth = staff.booth("boom-01").await?;
    let base = staff.app.address.clone();
    let cookie = staff.admin.cookie.clone().unwrap_or_default();
    let csrf = staff.admin.csrf.clone().unwrap_or_default();

    // The booth's routes get a booth that exists (else they would only ever answer 404);
    // deleting it is left to random ids.
    let config = std::env::temp_dir().join(format!("boom-schemathesis-{}.toml", ctx.id));
    std::fs::write(
        &config,
        format!(
            r#"
[auth.openapi.session]
api_key = "{cookie}"

[[operations]]
include-path-regex = "^/api/photomatons/\\{{id\\}}/"
parameters = {{ "path.id" = {booth} }}

[[operations]]
include-path = "/api/photomatons/{{id}}"
include-method-regex = "^(GET|PATCH)$"
parameters = {{ "path.id" = {booth} }}
"#
        ),
    )?;
    // Run in a directory of its own: schemathesis keeps caches (crashes, examples) where it
    // runs, and one run's must not steer the next.
    let workdir = std::env::temp_dir().join(format!("boom-schemathesis-{}", ctx.id));
    std::fs::create_dir_all(&workdir)?;
    let output = tokio::process::Command::new(&st)
        .current_dir(&workdir)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{base}/api/openapi.json"))
        .args(["-H", &format!("X-CSRF-Token: {csrf}")])
        .args(["-H", &format!("Origin: {base}")])
        .args(["--checks", "not_a_server_error,response_schema_conformance"])
        // The WebSocket is not HTTP JSON; signing out would end the fuzzer's session.
        .args([
            "--exclude-path",
            "/ws",
            "--exclude-path",
            "/api/auth/logout",
        ])
        .args([
            "--max-examples",
            "25",
            // One worker: CPython 3.11's `ast` can fail across threads ("AST constructor
            // recursion depth mismatch") when hypothesis describes its strategies.
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--seed",
            "20261130",
        ])
        .args(["--request-timeout", "10", "--no-color"])
        .env("SCHEMATHESIS_HOOKS", "")
        .kill_on_drop(true)
        .output()
        .await?;
    let _ = std::fs::remove_file(&config);
    let _ = std::fs::remove_dir_all(&workdir);
    let report = String::from_utf8_lossy(&output.stdout);
    // Kept in the test's output (shown by nextest on failure, or with --no-capture).
    println!("{report}");
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    control.stop().await?;
    notion_sync.stop().await?;
    staff.app.stop().await
}
