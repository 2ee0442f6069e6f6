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

/// The reconciliation reads the fleet in two queries and writes only the booths whose entries
/// differ from the database (changed behind the API, here in SQL, or not in the registry
/// yet); every other booth is compared and left alone.
#[tokio::test]
async fn the_reconciliation_writes_only_the_booths_whose_entries_differ() -> anyhow::Result<()> {
    use boom_gateway::registry::{Reconciled, RegistryPublisher};
    use diesel_async::RunQueryDsl;

    let mut ctx = TestContext::new().await?;
    // The gateway's own reconciliation runs at its start only: this test runs the others.
    ctx.settings.nats.registry_reconcile_secs = 3600;
    let staff = Staff::start(&ctx).await?;
    let (a, b) = (staff.booth("boom-01").await?, staff.booth("boom-02").await?);
    staff.booth("boom-03").await?;
    // Open commands on two booths: the reconciliation reads them all in one query.
    for (booth, command) in [(a, "say_hello"), (b, "say_hello"), (a, "restart_dslrbooth")] {
        let queued = staff
            .installer
            .post(
                &format!("/api/photomatons/{booth}/commands"),
                json!({"command": command}),
            )
            .await?;
        assert_eq!(queued.status, 202, "{queued:?}");
    }
    let bus =
        boom_bus::Bus::connect(&ctx.settings.nats, "test", boom_bus::BusMetrics::default()).await?;
    let publisher = RegistryPublisher::new(bus.clone());
    let db = boom_db::pool(
        &ctx.database_url(),
        &boom_db::PoolOptions {
            application_name: "boom-test-registry".to_owned(),
            max_connections: 2,
            statement_timeout: Duration::from_secs(10),
            acquire_timeout: Duration::from_secs(5),
        },
    )?;
    let reconcile = || async { publisher.sync_all(&db).await.map_err(anyhow::Error::msg) };

    // Each booth was mirrored when it was created through the API.
    assert_eq!(
        reconcile().await?,
        Reconciled {
            mirrored: 3,
            read_again: 0,
            written: 0
        }
    );

    let mut conn = ctx.connection().await?;
    for statement in [
        format!("UPDATE photomatons SET name = 'Renamed' WHERE id = {a}"),
        format!("UPDATE photomatons SET speed_test_requested_at = now() WHERE id = {b}"),
        "INSERT INTO photomatons (name, hostname) VALUES ('Booth boom-04', 'boom-04')".to_owned(),
    ] {
        diesel::sql_query(statement).execute(&mut conn).await?;
    }
    assert_eq!(
        reconcile().await?,
        Reconciled {
            mirrored: 4,
            read_again: 3,
            written: 3
        }
    );
    let read = |bucket: String, id: i64| {
        let bus = bus.clone();
        async move {
            let store = bus.ensure_kv(&bucket, Duration::ZERO).await?;
            let value = store.get(id.to_string()).await?.unwrap_or_default();
            anyhow::Ok(serde_json::from_slice::<serde_json::Value>(&value)?)
        }
    };
    let namespace = bus.namespace();
    assert_eq!(
        read(namespace.registry_bucket(), a).await?["name"],
        "Renamed"
    );
    let b_commands = read(namespace.agent_commands_bucket(), b).await?;
    assert!(
        b_commands["speedTestRequestedAt"].is_string(),
        "the speed test asked in SQL reached the booth's commands: {b_commands}"
    );
    assert_eq!(b_commands["queued"].as_array().map(Vec::len), Some(1));
    let a_commands = read(namespace.agent_commands_bucket(), a).await?;
    assert_eq!(
        a_commands["queued"]
            .as_array()
            .map(|q| q.iter().map(|c| c["command"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("say_hello"), json!("restart_dslrbooth")]),
        "{a_commands}"
    );
    let registry = bus
        .ensure_kv(&namespace.registry_bucket(), Duration::ZERO)
        .await?;
    let mut hostnames = Vec::new();
    for key in futures::TryStreamExt::try_collect::<Vec<String>>(registry.keys().await?).await? {
        let entry: serde_json::Value =
            serde_json::from_slice(&registry.get(&key).await?.unwrap_or_default())?;
        hostnames.push(entry["hostname"].as_str().unwrap_or_default().to_owned());
    }
    hostnames.sort();
    assert_eq!(hostnames, ["boom-01", "boom-02", "boom-03", "boom-04"]);

    // Nothing differs any more.
    assert_eq!(
        reconcile().await?,
        Reconciled {
            mirrored: 4,
            read_again: 0,
            written: 0
        }
    );
    staff.app.stop().await
}
