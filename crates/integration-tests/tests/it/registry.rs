//! The booth registry that ingest and control read: a change the gateway cannot mirror there
//! fails its API call, and the reconciliation repairs it once NATS is back.

use std::time::Duration;

use boom_testkit::{Proxy, TestContext};
use serde_json::json;

use crate::gateway_client::Staff;
use crate::health::{addr, through};
use crate::helpers::{eventually, spawn_stats_ingest};

async fn sync_status(ingest: &str, key: &str) -> anyhow::Result<u16> {
    Ok(reqwest::Client::new()
        .post(format!("{ingest}/api/agent/sync"))
        .bearer_auth(key)
        .json(&json!({}))
        .send()
        .await?
        .status()
        .as_u16())
}

/// Rotating a key while the gateway cannot reach NATS: the admin is told (503) and nothing
/// changes (the booth keeps the key ingest knows); once NATS is back, a rotation is
/// confirmed and the old key stops working.
#[tokio::test]
async fn a_key_rotation_the_registry_cannot_hear_fails_and_changes_nothing() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    let ingest_settings = ctx.settings.clone();
    let nats = Proxy::start(addr(&ctx.settings.nats.url)?).await?;
    ctx.settings.nats.url = through(&ctx.settings.nats.url, &nats)?;
    ctx.settings.nats.request_timeout_ms = 1_000;
    ctx.settings.nats.registry_reconcile_secs = 1;
    let staff = Staff::start(&ctx).await?;
    let ingest = spawn_stats_ingest(ingest_settings).await?;
    let booth = staff.booth("boom-01").await?;
    let path = format!("/api/photomatons/{booth}/api-key");
    let rotate = || staff.admin.post(&path, json!({}));
    let first = rotate().await?;
    assert_eq!(first.status, 200, "{first:?}");
    let old_key = first.body["apiKey"].as_str().unwrap_or_default().to_owned();
    // Ingest knows the key once it reads the body (422 for `{}`).
    eventually(Duration::from_secs(10), || async {
        Ok(sync_status(&ingest.address, &old_key).await? == 422)
    })
    .await?;

    nats.cut().await;
    let refused = rotate().await?;
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(
        refused.body.get("apiKey").is_none(),
        "no key shown: {refused:?}"
    );
    assert_eq!(
        sync_status(&ingest.address, &old_key).await?,
        422,
        "ingest still knows the old key while the gateway cannot reach NATS"
    );

    nats.restore();
    // Nothing changed: the booth keeps its key (put back in the database), and the
    // reconciliation, once NATS is back, does not make a key nobody was shown the only one.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(sync_status(&ingest.address, &old_key).await?, 422);
    // The next rotation is confirmed, shown, and the old key stops working.
    let again = rotate().await?;
    assert_eq!(again.status, 200, "{again:?}");
    let new_key = again.body["apiKey"].as_str().unwrap_or_default().to_owned();
    eventually(Duration::from_secs(10), || async {
        Ok(sync_status(&ingest.address, &old_key).await? == 401
            && sync_status(&ingest.address, &new_key).await? == 422)
    })
    .await?;
    staff.app.stop().await
}
