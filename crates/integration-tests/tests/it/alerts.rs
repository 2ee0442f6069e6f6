//! Alerts as the gateway keeps them: opened and resolved by the notifier on the ALERTS stream,
//! acknowledged by people, pushed live as `alert:updated`.

use std::time::Duration;

use boom_contracts::messages::{AlertChanged, AlertKind, AlertState};
use boom_contracts::{PhotomatonId, StreamKind};
use boom_testkit::TestContext;
use serde_json::{Value, json};

use crate::gateway_client::Staff;
use crate::gateway_live::{connect, frame_where};
use crate::helpers::eventually;

fn change(id: uuid::Uuid, booth: PhotomatonId, state: AlertState) -> AlertChanged {
    AlertChanged {
        alert_id: id,
        kind: AlertKind::PaperCritical,
        photomaton_id: Some(booth),
        state,
        message: "paper critical: 40 prints left".to_owned(),
        opened_at: chrono::Utc::now() - chrono::Duration::minutes(1),
        at: chrono::Utc::now(),
    }
}

async fn alert_in(staff: &Staff, list: &str, id: uuid::Uuid) -> anyhow::Result<Option<Value>> {
    let page = staff
        .viewer
        .get(&format!("/api/alerts?state={list}"))
        .await?;
    Ok(page.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["id"] == json!(id))
        .cloned())
}

#[tokio::test]
async fn an_alert_opens_is_acknowledged_by_an_installer_and_resolves_by_itself()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let booth = PhotomatonId(i32::try_from(staff.booth("boom-01").await?)?);
    let bus =
        boom_bus::Bus::connect(&ctx.settings.nats, "test", boom_bus::BusMetrics::default()).await?;
    let mut socket = connect(&staff.viewer).await?;
    let id = uuid::Uuid::new_v4();

    bus.publish(&change(id, booth, AlertState::Open)).await?;
    let pushed = frame_where(&mut socket, Duration::from_secs(10), |f| {
        f["event"] == "alert:updated" && f["data"]["id"] == json!(id)
    })
    .await?;
    assert_eq!(pushed["data"]["state"], "open", "{pushed}");
    assert_eq!(pushed["data"]["kind"], "paper_critical");
    assert!(alert_in(&staff, "open", id).await?.is_some());

    // Viewers see alerts; installers acknowledge them.
    let refused = staff
        .viewer
        .post(&format!("/api/alerts/{id}/ack"), json!({}))
        .await?;
    assert_eq!(refused.status, 403);
    let acked = staff
        .installer
        .post(&format!("/api/alerts/{id}/ack"), json!({}))
        .await?;
    assert_eq!(acked.status, 200, "{acked:?}");
    assert_eq!(
        (
            acked.body["state"].clone(),
            acked.body["acknowledgedBy"].clone()
        ),
        (json!("acknowledged"), json!("installer"))
    );
    frame_where(&mut socket, Duration::from_secs(10), |f| {
        f["event"] == "alert:updated" && f["data"]["state"] == "acknowledged"
    })
    .await?;
    // The notifier is told, on the ALERTS stream.
    let mut stream = bus.ensure_stream(StreamKind::Alerts).await?;
    let told = stream
        .get_last_raw_message_by_subject(&format!(
            "{}.alerts.alert.acknowledged",
            ctx.settings.nats.prefix
        ))
        .await?;
    let told: Value = serde_json::from_slice(&told.payload)?;
    assert_eq!(
        (told["alertId"].clone(), told["byName"].clone()),
        (json!(id), json!("installer"))
    );
    assert!(stream.info().await?.state.messages >= 2);

    // A re-notification keeps the acknowledgement; the end of the condition resolves it.
    bus.publish(&AlertChanged {
        message: "paper critical: 12 prints left".to_owned(),
        ..change(id, booth, AlertState::Open)
    })
    .await?;
    bus.publish(&change(id, booth, AlertState::Resolved))
        .await?;
    eventually(Duration::from_secs(10), || async {
        Ok(alert_in(&staff, "resolved", id).await?.is_some())
    })
    .await?;
    let resolved = alert_in(&staff, "resolved", id).await?.unwrap_or_default();
    assert_eq!(resolved["acknowledgedBy"], "installer", "{resolved}");
    assert!(resolved["resolvedAt"].is_string(), "{resolved}");
    assert!(alert_in(&staff, "open", id).await?.is_none());
    let late = staff
        .installer
        .post(&format!("/api/alerts/{id}/ack"), json!({}))
        .await?;
    assert_eq!(late.status, 409, "{late:?}");
    // A late "open" (redelivered) never reopens it.
    let raw = serde_json::to_vec(&change(id, booth, AlertState::Open))?;
    bus.jetstream()
        .publish(
            format!("{}.alerts.alert.changed", ctx.settings.nats.prefix),
            raw.into(),
        )
        .await?
        .await?;
    // A marker published after it: once the marker is recorded, the late "open" was handled.
    let marker = uuid::Uuid::new_v4();
    bus.publish(&change(marker, booth, AlertState::Open))
        .await?;
    eventually(Duration::from_secs(10), || async {
        Ok(alert_in(&staff, "open", marker).await?.is_some())
    })
    .await?;
    assert!(alert_in(&staff, "resolved", id).await?.is_some());
    assert!(alert_in(&staff, "open", id).await?.is_none());
    assert_eq!(
        staff.viewer.get("/api/alerts?state=later").await?.status,
        400
    );
    staff.app.stop().await
}
