//! notion-sync against a local server that speaks the Notion API, through the gateway.

use std::time::Duration;

use boom_config::SecretString;
use boom_testkit::TestContext;
use serde_json::{Value, json};

use crate::fake_notion::{DATABASE, FakeNotion, Fault, event_properties, page, rich, select};
use crate::gateway_client::Staff;
use crate::helpers::{TestApp, eventually, spawn_notion_sync};

struct World {
    ctx: TestContext,
    staff: Staff,
    notion: FakeNotion,
}

impl World {
    /// A gateway with three booths, a fake Notion, settings pointing at it.
    async fn start() -> anyhow::Result<Self> {
        let mut ctx = TestContext::new().await?;
        let notion = FakeNotion::start().await?;
        ctx.settings.notion.token = Some(SecretString::from(crate::fake_notion::TOKEN));
        ctx.settings.notion.database_id = Some(DATABASE.to_owned());
        ctx.settings.notion.base_url = notion.base_url.clone();
        ctx.settings.notion.sync_interval_secs = 3600;
        let staff = Staff::start(&ctx).await?;
        for (hostname, name) in [
            ("boom-01", "Booth Alpha"),
            ("boom-02", "Booth Beta"),
            ("boom-03", "Booth Gamma"),
        ] {
            let reply = staff
                .admin
                .post(
                    "/api/photomatons",
                    json!({"name": name, "hostname": hostname}),
                )
                .await?;
            anyhow::ensure!(reply.status == 201, "{reply:?}");
        }
        Ok(Self { ctx, staff, notion })
    }

    async fn sync_service(&self) -> anyhow::Result<TestApp> {
        spawn_notion_sync(self.ctx.settings.clone()).await
    }

    /// `POST /api/notion/sync` until a notion-sync instance holds the lease and answers.
    async fn sync(&self) -> anyhow::Result<Value> {
        for _ in 0..100 {
            let reply = self
                .staff
                .installer
                .post("/api/notion/sync", json!({}))
                .await?;
            if reply.status == 200 {
                return Ok(reply.body);
            }
            // Only "no instance holds the lease yet" is worth another try.
            anyhow::ensure!(
                reply.body["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("not running")),
                "{reply:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("notion-sync never answered")
    }

    async fn events(&self, status: &str) -> anyhow::Result<Vec<Value>> {
        Ok(self
            .staff
            .viewer
            .get(&format!("/api/events?status={status}&limit=1000"))
            .await?
            .body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    async fn booth_id(&self, hostname: &str) -> anyhow::Result<Value> {
        let list = self.staff.viewer.get("/api/photomatons").await?.body;
        Ok(list["items"]
            .as_array()
            .and_then(|a| a.iter().find(|b| b["hostname"] == hostname))
            .map(|b| b["id"].clone())
            .unwrap_or_default())
    }

    /// The first sync on demand, once the instance's own first (scheduled) sync is done too,
    /// so that what the test changes next is seen by the sync it asks for, not by that one.
    async fn first_sync(&self) -> anyhow::Result<Value> {
        let summary = self.sync().await?;
        let syncs = || {
            self.notion.with(|s| {
                s.requests
                    .iter()
                    .filter(|(_, path, _)| path.contains("/databases/"))
                    .count()
            })
        };
        eventually(Duration::from_secs(15), || async { Ok(syncs() >= 2) }).await?;
        // The second sync may still be reading: let it finish.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        Ok(summary)
    }

    fn queries(&self) -> usize {
        self.notion.with(|s| {
            s.requests
                .iter()
                .filter(|(_, path, _)| path.ends_with("/query"))
                .count()
        })
    }
}

fn active(id: &str, client: &str, booth: Value) -> Value {
    page(
        id,
        "2026-06-10T08:00:00.000Z",
        event_properties(client, "En cours", booth),
    )
}

#[tokio::test]
async fn active_pages_become_events_matched_by_relation_select_and_text() -> anyhow::Result<()> {
    let w = World::start().await?;
    w.notion.with(|s| {
        s.booth_pages.push(page("booth-page-beta", "2026-01-01T00:00:00.000Z", json!({"Nom": {"id": "title", "type": "title", "title": rich("Booth Beta")}})));
        s.pages = vec![
            active("page-1", "Mariage Dupont", json!({"id": "p", "type": "select", "select": select("boom-01")})),
            active("page-2", "Soirée Acme", json!({"id": "p", "type": "relation", "relation": [{"id": "booth-page-beta"}], "has_more": false})),
            active("page-3", "Anniversaire Léa", json!({"id": "p", "type": "rich_text", "rich_text": rich("booth gamma")})),
            active("page-4", "Salon", json!({"id": "p", "type": "select", "select": select("boom-99")})),
            page("page-5", "2026-06-10T08:00:00.000Z", event_properties("Fini", "Terminé", json!({"id": "p", "type": "select", "select": select("boom-01")}))),
        ];
    });
    let service = w.sync_service().await?;
    let summary = w.sync().await?;
    assert_eq!(
        (summary["pagesRead"].clone(), summary["errors"].clone()),
        (json!(4), json!([])),
        "{summary}"
    );
    assert_eq!(
        summary["unmatched"].as_array().map(Vec::len),
        Some(1),
        "{summary}"
    );
    assert!(
        summary["unmatched"][0]
            .as_str()
            .is_some_and(|u| u.contains("Salon"))
    );
    eventually(Duration::from_secs(10), || async {
        Ok(w.events("ACTIVE").await?.len() == 4)
    })
    .await?;
    let events = w.events("ACTIVE").await?;
    let by_client = |name: &str| {
        events
            .iter()
            .find(|e| e["clientName"] == name)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        by_client("Mariage Dupont")["photomatonId"],
        w.booth_id("boom-01").await?
    );
    assert_eq!(
        by_client("Soirée Acme")["photomatonId"],
        w.booth_id("boom-02").await?
    );
    assert_eq!(
        by_client("Anniversaire Léa")["photomatonId"],
        w.booth_id("boom-03").await?
    );
    assert_eq!(
        by_client("Salon")["photomatonId"],
        Value::Null,
        "reported, not dropped"
    );
    let dupont = &by_client("Mariage Dupont");
    assert_eq!(
        (dupont["eventType"].clone(), dupont["albumName"].clone()),
        (json!("Mariage"), json!("album-dupont"))
    );
    assert_eq!(dupont["eventDate"], "2026-06-13T00:00:00Z");
    let detail = w
        .staff
        .viewer
        .get(&format!("/api/events/{}", dupont["id"]))
        .await?
        .body;
    assert_eq!(
        detail["notionData"]["id"], "page-1",
        "the page is kept as notionData"
    );
    assert!(w.notion.with(|s| {
        s.requests
            .iter()
            .all(|(_, _, v)| v.as_deref() == Some(boom_notion_sync::client::NOTION_VERSION))
    }));
    // A second sync with nothing changed publishes nothing new.
    let again = w.sync().await?;
    assert_eq!(
        (again["unchanged"].clone(), again["upserted"].clone()),
        (json!(4), json!(0)),
        "{again}"
    );
    service.stop().await?;
    w.staff.app.stop().await
}

#[tokio::test]
async fn every_page_of_results_is_read() -> anyhow::Result<()> {
    let w = World::start().await?;
    w.notion.with(|s| {
        s.pages = (0..230)
            .map(|i| {
                active(
                    &format!("page-{i:03}"),
                    &format!("Client {i}"),
                    json!({"id": "p", "type": "select", "select": select("boom-01")}),
                )
            })
            .collect();
    });
    let service = w.sync_service().await?;
    let summary = w.sync().await?;
    assert_eq!(summary["pagesRead"], 230, "{summary}");
    eventually(Duration::from_secs(15), || async {
        Ok(w.events("ACTIVE").await?.len() == 230)
    })
    .await?;
    service.stop().await?;
    w.staff.app.stop().await
}

#[tokio::test]
async fn a_429_is_waited_out_as_asked_and_a_500_retried() -> anyhow::Result<()> {
    let w = World::start().await?;
    w.notion.with(|s| {
        s.pages = vec![active(
            "page-1",
            "Mariage",
            json!({"id": "p", "type": "select", "select": select("boom-01")}),
        )]
    });
    let service = w.sync_service().await?;
    w.first_sync().await?;
    w.notion.with(|s| {
        s.requests.clear();
        s.faults = [
            Fault::RateLimited {
                retry_after_secs: 1,
            },
            Fault::ServerError,
        ]
        .into_iter()
        .collect();
    });
    let summary = w.sync().await?;
    assert_eq!(summary["errors"], json!([]), "{summary}");
    let gaps: Vec<Duration> = w
        .notion
        .with(|s| s.requests.windows(2).map(|p| p[1].0 - p[0].0).collect());
    assert!(
        gaps[0] >= Duration::from_millis(950),
        "Retry-After: 1 was honoured: {gaps:?}"
    );
    assert!(
        gaps.iter().all(|g| *g >= Duration::from_millis(300)),
        "at most 3 requests per second: {gaps:?}"
    );
    service.stop().await?;
    w.staff.app.stop().await
}

#[tokio::test]
async fn a_bad_token_stops_the_sync_with_what_to_fix() -> anyhow::Result<()> {
    let mut w = World::start().await?;
    w.ctx.settings.notion.token = Some(SecretString::from("ntn_wrong"));
    w.notion.with(|s| {
        s.pages = vec![active(
            "page-1",
            "Mariage",
            json!({"id": "p", "type": "select", "select": select("boom-01")}),
        )]
    });
    let service = w.sync_service().await?;
    let summary = w.sync().await?;
    assert!(
        summary["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("BOOM__NOTION__TOKEN")),
        "{summary}"
    );
    assert!(
        !summary.to_string().contains("ntn_wrong"),
        "the token is never shown"
    );
    assert!(w.events("ACTIVE").await?.is_empty());
    service.stop().await?;
    w.staff.app.stop().await
}

#[tokio::test]
async fn a_malformed_answer_fails_the_sync_and_completes_nothing() -> anyhow::Result<()> {
    let w = World::start().await?;
    w.notion.with(|s| {
        s.pages = vec![active(
            "page-1",
            "Mariage",
            json!({"id": "p", "type": "select", "select": select("boom-01")}),
        )]
    });
    let service = w.sync_service().await?;
    w.first_sync().await?;
    eventually(Duration::from_secs(10), || async {
        Ok(w.events("ACTIVE").await?.len() == 1)
    })
    .await?;
    w.notion.with(|s| {
        s.pages.clear(); // were the answer readable, page-1 would be completed
        s.faults = [Fault::Pass, Fault::Pass, Fault::Garbage]
            .into_iter()
            .collect();
    });
    let summary = w.sync().await?;
    assert!(
        summary["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("not what its API documents")),
        "{summary}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(w.events("ACTIVE").await?.len(), 1, "nothing completed");
    service.stop().await?;
    w.staff.app.stop().await
}

#[tokio::test]
async fn an_event_that_leaves_en_cours_is_completed_and_pushed_live() -> anyhow::Result<()> {
    let w = World::start().await?;
    w.notion.with(|s| {
        s.pages = vec![
            active(
                "page-1",
                "Mariage",
                json!({"id": "p", "type": "select", "select": select("boom-01")}),
            ),
            active(
                "page-2",
                "Gala",
                json!({"id": "p", "type": "select", "select": select("boom-02")}),
            ),
        ]
    });
    let service = w.sync_service().await?;
    w.first_sync().await?;
    eventually(Duration::from_secs(10), || async {
        Ok(w.events("ACTIVE").await?.len() == 2)
    })
    .await?;
    let mut socket = crate::gateway_live::connect(&w.staff.viewer).await?;
    w.notion.with(|s| {
        s.pages[0] = page(
            "page-1",
            "2026-06-14T08:00:00.000Z",
            event_properties(
                "Mariage",
                "Terminé",
                json!({"id": "p", "type": "select", "select": select("boom-01")}),
            ),
        )
    });
    let summary = w.sync().await?;
    assert_eq!(summary["completed"], 1, "{summary}");
    let pushed = crate::gateway_live::frame_where(&mut socket, Duration::from_secs(5), |f| {
        f["event"] == "events:updated" && f["data"]["status"] == "COMPLETED"
    })
    .await?;
    assert_eq!(pushed["data"]["clientName"], "Mariage");
    assert_eq!(w.events("COMPLETED").await?.len(), 1);
    assert_eq!(w.events("ACTIVE").await?.len(), 1);
    service.stop().await?;
    w.staff.app.stop().await
}

#[tokio::test]
async fn a_partial_read_completes_nothing() -> anyhow::Result<()> {
    let w = World::start().await?;
    w.notion.with(|s| {
        s.pages = (0..150)
            .map(|i| {
                active(
                    &format!("page-{i:03}"),
                    &format!("Client {i}"),
                    json!({"id": "p", "type": "select", "select": select("boom-01")}),
                )
            })
            .collect()
    });
    let service = w.sync_service().await?;
    w.first_sync().await?;
    eventually(Duration::from_secs(10), || async {
        Ok(w.events("ACTIVE").await?.len() == 150)
    })
    .await?;
    w.notion.with(|s| {
        s.pages.remove(0);
        s.fail_cursor = Some("cursor-100".to_owned());
    });
    let summary = w.sync().await?;
    assert!(
        !summary["errors"].as_array().is_none_or(Vec::is_empty),
        "{summary}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        w.events("ACTIVE").await?.len(),
        150,
        "the page missing from a partial read stays active"
    );
    service.stop().await?;
    w.staff.app.stop().await
}

#[tokio::test]
async fn two_instances_sync_once() -> anyhow::Result<()> {
    let w = World::start().await?;
    w.notion.with(|s| {
        s.pages = vec![active(
            "page-1",
            "Mariage",
            json!({"id": "p", "type": "select", "select": select("boom-01")}),
        )]
    });
    let first = w.sync_service().await?;
    let second = w.sync_service().await?;
    eventually(Duration::from_secs(10), || async { Ok(w.queries() >= 1) }).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(w.queries(), 1, "one scheduled sync for two instances");
    w.sync().await?;
    assert_eq!(w.queries(), 2, "one on-demand sync for two instances");
    first.stop().await?;
    second.stop().await?;
    w.staff.app.stop().await
}
