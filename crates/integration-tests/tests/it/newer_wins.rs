//! Newer wins: a message redelivered late (after a nak, a crash between commit and ack, a
//! recorder restart) never puts back an older state. Each test publishes the newer message
//! first and the older one after it, raw (as a redelivery: no dedupe id), then a marker
//! whose effect shows that the older one was handled.

use std::time::Duration;

use boom_contracts::messages::{BusMessage, EventUpserted, NotionSyncCompleted, PhotomatonProbed};
use boom_contracts::{AgentBatchAccepted, PhotomatonId};
use boom_testkit::TestContext;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

use crate::helpers::eventually;
use crate::pipeline::{Pipeline, accepted, totals};

async fn redeliver<M: BusMessage + Serialize>(
    bus: &boom_bus::Bus,
    message: &M,
) -> anyhow::Result<()> {
    bus.jetstream()
        .publish(
            M::subject(bus.namespace()),
            serde_json::to_vec(message)?.into(),
        )
        .await?
        .await?;
    Ok(())
}

fn ago(minutes: i64) -> DateTime<Utc> {
    Utc::now() - chrono::Duration::minutes(minutes)
}

#[tokio::test]
async fn an_older_probe_report_does_not_overwrite_a_newer_one() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let bus = p.bus().await?;
    let booth = p.booth_id()?;
    let marker = PhotomatonId(i32::try_from(p.staff.booth("boom-02").await?)?);
    let probe = |photomaton_id, up: bool, observed_at| PhotomatonProbed {
        photomaton_id,
        router_connected: up,
        pc_connected: up,
        router_rtt_ms: None,
        pc_rtt_ms: None,
        observed_at,
    };
    redeliver(&bus, &probe(booth, true, ago(1))).await?;
    redeliver(&bus, &probe(booth, false, ago(2))).await?;
    redeliver(&bus, &probe(marker, true, ago(0))).await?;
    eventually(Duration::from_secs(10), || async {
        let view = p
            .staff
            .viewer
            .get(&format!("/api/photomatons/{}", marker.0))
            .await?;
        Ok(view.body["pcConnected"] == json!(true))
    })
    .await?;
    let view = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}", p.booth))
        .await?;
    assert_eq!(
        (
            view.body["pcConnected"].clone(),
            view.body["routerConnected"].clone()
        ),
        (json!(true), json!(true)),
        "the report observed last stands: {view:?}"
    );
    // A report newer than both moves it.
    redeliver(&bus, &probe(booth, false, ago(0))).await?;
    eventually(Duration::from_secs(10), || async {
        let view = p
            .staff
            .viewer
            .get(&format!("/api/photomatons/{}", p.booth))
            .await?;
        Ok(view.body["pcConnected"] == json!(false))
    })
    .await?;
    p.staff.app.stop().await
}

/// Records the booth's batch `newer` (one print), then `older` (one print, received earlier)
/// in a later commit (in one group the recorder would pick the newest anyway, and a test
/// could not fail); returns the booth's view once both are counted.
async fn newer_then_older(
    p: &Pipeline,
    newer: AgentBatchAccepted,
    older: AgentBatchAccepted,
) -> anyhow::Result<serde_json::Value> {
    let bus = p.bus().await?;
    redeliver(&bus, &newer).await?;
    p.expect_totals(totals(0, 0, 1, 0, 0), Duration::from_secs(10))
        .await?;
    redeliver(&bus, &older).await?;
    // Both batches count (their prints are not in question).
    p.expect_totals(totals(0, 0, 2, 0, 0), Duration::from_secs(10))
        .await?;
    let view = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}", p.booth))
        .await?;
    Ok(view.body)
}

#[tokio::test]
async fn an_older_paper_level_does_not_overwrite_a_newer_one() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let booth = p.booth_id()?;
    let batch = |paper: i32, received_at| -> anyhow::Result<AgentBatchAccepted> {
        Ok(AgentBatchAccepted {
            paper_level: Some(paper),
            received_at,
            ..accepted(booth, "boom-01", 1, received_at)?
        })
    };
    let view = newer_then_older(&p, batch(500, ago(1))?, batch(650, ago(2))?).await?;
    assert_eq!(view["remainingPrints"], json!(500), "{view}");
    p.staff.app.stop().await
}

#[tokio::test]
async fn an_older_printer_report_does_not_overwrite_a_newer_one() -> anyhow::Result<()> {
    use boom_contracts::agent::{PrinterReport, PrinterState};
    let p = Pipeline::start(TestContext::new().await?).await?;
    let booth = p.booth_id()?;
    let batch = |state: PrinterState, observed_at| -> anyhow::Result<AgentBatchAccepted> {
        Ok(AgentBatchAccepted {
            printer: Some(PrinterReport {
                name: "DS620".to_owned(),
                state,
                detail: None,
                observed_at,
            }),
            ..accepted(booth, "boom-01", 1, observed_at)?
        })
    };
    let view = newer_then_older(
        &p,
        batch(PrinterState::PaperOut, ago(1))?,
        batch(PrinterState::Ready, ago(2))?,
    )
    .await?;
    assert_eq!(view["printer"]["state"], json!("paper_out"), "{view}");
    p.staff.app.stop().await
}

#[tokio::test]
async fn a_late_notion_upsert_does_not_bring_back_a_completed_event() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let bus = p.bus().await?;
    let page = |id: &str, client: &str| EventUpserted {
        window_start: None,
        window_end: None,
        notion_page_id: id.to_owned(),
        notion_last_edited: ago(60),
        notion_url: None,
        client_name: client.to_owned(),
        event_type: None,
        event_date: Some(ago(120)),
        album_name: None,
        photomaton_id: None,
        notion_data: json!({}),
    };
    let gala = page("page-gala", "Gala");
    redeliver(&bus, &gala).await?;
    redeliver(
        &bus,
        &NotionSyncCompleted {
            sync_id: uuid::Uuid::new_v4(),
            active_page_ids: vec!["page-wedding".to_owned()],
            finished_at: Utc::now(),
        },
    )
    .await?;
    // The same edit of the page, delivered again after the completion.
    redeliver(&bus, &gala).await?;
    redeliver(&bus, &page("page-marker", "Marker")).await?;
    let status_of = |client: &'static str| {
        let viewer = p.staff.viewer.clone();
        async move {
            let page = viewer.get("/api/events?limit=100").await?;
            Ok::<_, anyhow::Error>(
                page.body["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|e| e["clientName"] == client)
                    .map(|e| e["status"].clone()),
            )
        }
    };
    eventually(Duration::from_secs(10), || async {
        Ok(status_of("Marker").await?.is_some())
    })
    .await?;
    assert_eq!(status_of("Gala").await?, Some(json!("COMPLETED")));
    // A later edit of the page in Notion (back to "En cours") does bring it back.
    let mut edited = gala.clone();
    edited.notion_last_edited = ago(0);
    redeliver(&bus, &edited).await?;
    eventually(Duration::from_secs(10), || async {
        Ok(status_of("Gala").await? == Some(json!("ACTIVE")))
    })
    .await?;
    p.staff.app.stop().await
}
