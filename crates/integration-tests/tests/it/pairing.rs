//! Pairing a booth PC by code: an installer asks the gateway for a code, the PC runs
//! `boom-agent pair --ingest-url URL CODE`, stats-ingest redeems the code once and the agent
//! keeps the key — then counts dslrBooth's triggers with no key or hostname configured.

use std::time::Duration;

use boom_cache::redis;
use boom_testkit::TestContext;
use serde_json::{Value, json};

use crate::gateway_client::Reply;
use crate::helpers::{RunningBinary, run_binary};
use crate::pipeline::{Pipeline, totals, trigger};

/// An installer's pairing code for the pipeline's booth: the whole answer.
async fn pairing_reply(p: &Pipeline) -> anyhow::Result<Reply> {
    p.staff
        .installer
        .post(
            &format!("/api/photomatons/{}/pairing-code", p.booth),
            json!({}),
        )
        .await
}

async fn pairing_code(p: &Pipeline) -> anyhow::Result<String> {
    let reply = pairing_reply(p).await?;
    anyhow::ensure!(reply.status == 200, "{reply:?}");
    Ok(reply.body["code"].as_str().unwrap_or_default().to_owned())
}

async fn redeem(p: &Pipeline, code: &str) -> anyhow::Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(format!("{}/api/agent/pair", p.ingest.address))
        .json(&json!({"code": code, "hostname": "DESKTOP-BOOTH"}))
        .send()
        .await?;
    Ok((
        response.status().as_u16(),
        response.json().await.unwrap_or_default(),
    ))
}

#[tokio::test]
async fn a_pc_paired_by_code_reports_without_a_key_typed_and_the_code_works_once()
-> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let reply = pairing_reply(&p).await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    let code = reply.body["code"].as_str().unwrap_or_default().to_owned();
    assert_eq!(code.len(), 6);
    assert!(
        code.bytes()
            .all(|b| b"0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(&b)),
        "{code}"
    );
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(reply.body["expiresAt"].clone())?;
    let minutes = (expires - chrono::Utc::now()).num_seconds() as f64 / 60.0;
    assert!((14.5..=15.0).contains(&minutes), "{minutes}");
    assert_eq!(
        p.staff
            .viewer
            .post(
                &format!("/api/photomatons/{}/pairing-code", p.booth),
                json!({})
            )
            .await?
            .status,
        403
    );

    // On the PC: the agent pairs, in lowercase with a hyphen as people type it.
    let mut env = p.ctx.environment();
    env.retain(|(name, _)| name.starts_with("BOOM__AGENT__"));
    let typed = format!("{}-{}", &code[..3], &code[3..]).to_lowercase();
    // Off this thread: the in-process gateway and ingest run on it and must answer meanwhile.
    let (status, stdout, stderr) = tokio::task::spawn_blocking({
        let (env, ingest) = (env.clone(), p.ingest.address.clone());
        move || {
            run_binary(
                "boom-agent",
                &["pair", "--ingest-url", &ingest, &typed],
                &env,
                "",
            )
        }
    })
    .await??;
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("paired with booth boom-01"), "{stdout}");
    assert!(
        !stdout.contains("boom_") && !stderr.contains("boom_"),
        "the key was printed"
    );

    // The booth's previous key stopped working; the paired agent reports with none configured.
    assert_eq!(p.post(&json!({})).await?.status, 401);
    env.extend([
        ("BOOM__AGENT__SYNC_INTERVAL_SECS".to_owned(), "1".to_owned()),
        (
            "BOOM__AGENT__SPEEDTEST_INTERVAL_SECS".to_owned(),
            "0".to_owned(),
        ),
    ]);
    let agent = RunningBinary::start("boom-agent", &env)?;
    let address = format!("http://127.0.0.1:{}", agent.port);
    for _ in 0..3 {
        assert_eq!(
            trigger(&address, &[("event_type", "printing"), ("param2", "1")]).await?,
            200
        );
    }
    p.expect_totals(totals(0, 0, 3, 0, 0), Duration::from_secs(20))
        .await?;
    assert!(agent.terminate()?.success());
    let (_, stdout, _) = run_binary("boom-agent", &["status"], &env, "")?;
    assert!(stdout.contains("paired as:       boom-01"), "{stdout}");

    // Once only.
    let (status, body) = redeem(&p, &code).await?;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("already used")
    );
    let audit = p
        .staff
        .admin
        .get("/api/audit-logs?action=photomaton.")
        .await?
        .body;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|line| line["action"].as_str())
        .collect();
    assert!(actions.contains(&"photomaton.paired"), "{actions:?}");
    assert!(actions.contains(&"photomaton.pairing_code"), "{actions:?}");
    p.staff.app.stop().await
}

#[tokio::test]
async fn wrong_expired_and_malformed_codes_are_refused_clearly_and_guessing_is_limited()
-> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let (status, body) = redeem(&p, "ZZZZZZ").await?;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("unknown or expired")
    );
    let (status, _) = redeem(&p, "not a code").await?;
    assert_eq!(status, 422);

    // A code whose 15 minutes are over is gone: said like an unknown one.
    let code = pairing_code(&p).await?;
    let cache = boom_cache::Cache::new(&p.ctx.settings.redis)?;
    let mut conn = cache.connection().await?;
    let _: () = redis::cmd("PEXPIRE")
        .arg(cache.key(&format!("pairing:{code}")))
        .arg(1)
        .query_async(&mut conn)
        .await?;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let (status, body) = redeem(&p, &code).await?;
    assert_eq!(status, 404, "{body}");

    // A new code for the booth revokes the one asked for before it.
    let first = pairing_code(&p).await?;
    let _second = pairing_code(&p).await?;
    let (status, _) = redeem(&p, &first).await?;
    assert_eq!(status, 404, "a revoked code still worked");

    // Guessing from one address stops after a few wrong codes.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        statuses.push(redeem(&p, "ZZZZZZ").await?.0);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // The booth's key still works: nothing was paired.
    assert_eq!(p.post(&json!({})).await?.status, 422);
    p.staff.app.stop().await
}
