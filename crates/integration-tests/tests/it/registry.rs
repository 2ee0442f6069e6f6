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

/// Rotating a key while the gateway cannot reach NATS: the admin is told (503) rather than
/// shown a key while ingest still takes the old one; once NATS is back, the reconciliation
/// writes the registry and the old key stops working.
#[tokio::test]
async fn a_change_the_registry_missed_fails_its_call_and_is_repaired() -> anyhow::Result<()> {
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
    eventually(Duration::from_secs(20), || async {
        Ok(sync_status(&ingest.address, &old_key).await? == 401)
    })
    .await?;
    // And the next rotation is confirmed again.
    let again = rotate().await?;
    assert_eq!(again.status, 200, "{again:?}");
    staff.app.stop().await
}
