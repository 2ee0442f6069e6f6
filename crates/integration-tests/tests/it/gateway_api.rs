//! The gateway's JSON API as scripts and the dashboard use it.

use std::time::Duration;

use boom_bus::{Bus, BusMetrics};
use boom_contracts::messages::{ControlReply, ControlRequest, RegistryEntry};
use boom_contracts::{EventStatus, MediaType, PhotomatonId};
use boom_db::models::{NewEvent, NewPhoto};
use boom_db::schema::{events, photos};
use boom_testkit::TestContext;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::gateway_client::Staff;
use crate::helpers::eventually;

#[tokio::test]
async fn a_booth_is_created_read_edited_and_deleted_with_the_paper_defaults() -> anyhow::Result<()>
{
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let created = staff
        .admin
        .post(
            "/api/photomatons",
            json!({"name": "Booth 1", "hostname": "boom-01", "tailscaleIp": "100.64.0.11",
                   "routerTailscaleIp": "100.64.0.12", "macAddress": "00-1A-2B-3C-4D-5E"}),
        )
        .await?;
    assert_eq!(created.status, 201, "{created:?}");
    let booth = &created.body;
    assert_eq!(booth["macAddress"], "00:1a:2b:3c:4d:5e");
    assert_eq!(
        booth["wakeTarget"], "100.64.0.12:9",
        "defaults to the router's IP, port 9"
    );
    assert_eq!(
        (
            booth["remainingPrints"].clone(),
            booth["warningThreshold"].clone(),
            booth["criticalThreshold"].clone()
        ),
        (json!(700), json!(350), json!(275))
    );
    assert_eq!(booth["paperState"], "ok");
    let id = booth["id"].as_i64().unwrap_or_default();

    let read = staff.viewer.get(&format!("/api/photomatons/{id}")).await?;
    assert_eq!(
        (read.status, read.body["hostname"].clone()),
        (200, json!("boom-01"))
    );

    let edited = staff
        .admin
        .patch(&format!("/api/photomatons/{id}"), json!({"warningThreshold": 400, "criticalThreshold": 200, "wakeTarget": "192.168.1.255:7", "tailscaleIp": null}))
        .await?;
    assert_eq!(edited.status, 200, "{edited:?}");
    assert_eq!(
        (
            edited.body["warningThreshold"].clone(),
            edited.body["wakeTarget"].clone(),
            edited.body["tailscaleIp"].clone()
        ),
        (json!(400), json!("192.168.1.255:7"), Value::Null)
    );

    let reset = staff
        .installer
        .post(
            &format!("/api/photomatons/{id}/paper-reset"),
            json!({"remainingPrints": 300}),
        )
        .await?;
    assert_eq!(
        (
            reset.status,
            reset.body["remainingPrints"].clone(),
            reset.body["paperState"].clone()
        ),
        (200, json!(300), json!("warning"))
    );
    // A roll bigger than the printer holds is a typo, not a roll.
    let too_big = staff
        .installer
        .post(
            &format!("/api/photomatons/{id}/paper-reset"),
            json!({"remainingPrints": 5000}),
        )
        .await?;
    assert_eq!(too_big.status, 422, "{too_big:?}");
    assert!(
        too_big.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("capacity of 700")),
        "{too_big:?}"
    );

    assert_eq!(
        staff
            .admin
            .delete(&format!("/api/photomatons/{id}"))
            .await?
            .status,
        204
    );
    assert_eq!(
        staff
            .viewer
            .get(&format!("/api/photomatons/{id}"))
            .await?
            .status,
        404
    );
    staff.app.stop().await
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_never_a_500() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    staff.booth("boom-01").await?;
    let admin = &staff.admin;
    let cases: Vec<(u16, &str, Value)> = vec![
        (
            422,
            "wrong type",
            json!({"name": 12, "hostname": "boom-02"}),
        ),
        (422, "missing field", json!({"name": "x"})),
        (
            422,
            "unknown field",
            json!({"name": "x", "hostname": "boom-02", "colour": "red"}),
        ),
        (
            422,
            "bad hostname",
            json!({"name": "x", "hostname": "boom 02"}),
        ),
        (
            422,
            "bad MAC",
            json!({"name": "x", "hostname": "boom-02", "macAddress": "00:11:22"}),
        ),
        (
            422,
            "bad IP",
            json!({"name": "x", "hostname": "boom-02", "tailscaleIp": "100.64.0.300"}),
        ),
        (
            422,
            "bad wake target",
            json!({"name": "x", "hostname": "boom-02", "wakeTarget": "host:0"}),
        ),
        (
            422,
            "thresholds reversed",
            json!({"name": "x", "hostname": "boom-02", "warningThreshold": 100, "criticalThreshold": 200}),
        ),
        (
            422,
            "negative capacity",
            json!({"name": "x", "hostname": "boom-02", "paperCapacity": -5}),
        ),
        (
            409,
            "duplicate hostname",
            json!({"name": "x", "hostname": "BOOM-01"}),
        ),
    ];
    for (status, what, body) in cases {
        let reply = admin.post("/api/photomatons", body).await?;
        assert_eq!(reply.status, status, "{what}: {reply:?}");
        assert!(
            reply.body["error"].is_string() && reply.body["message"].is_string(),
            "{what}: {reply:?}"
        );
    }

    // Malformed JSON, and a body far over the limit.
    let raw = |body: String| {
        let http = admin
            .http
            .post(format!("{}/api/photomatons", admin.base))
            .header(
                "cookie",
                format!("boom_session={}", admin.cookie.clone().unwrap_or_default()),
            )
            .header("origin", admin.origin.clone().unwrap_or_default())
            .header("x-csrf-token", admin.csrf.clone().unwrap_or_default())
            .header("content-type", "application/json")
            .body(body);
        async move { crate::gateway_client::Client::reply(http.send().await?).await }
    };
    let malformed = raw("{\"name\": ".to_owned()).await?;
    assert_eq!(
        (malformed.status, malformed.body["error"].clone()),
        (400, json!("bad_request")),
        "{malformed:?}"
    );
    let huge = raw(format!(
        "{{\"name\": \"{}\", \"hostname\": \"boom-09\"}}",
        "x".repeat(1 << 20)
    ))
    .await?;
    assert_eq!(
        (huge.status, huge.body["error"].clone()),
        (413, json!("payload_too_large")),
        "{huge:?}"
    );

    for (path, status) in [
        ("/api/photomatons/999999", 404),
        ("/api/photomatons/not-a-number", 404),
        ("/api/events/999999", 404),
        ("/api/photomatons?limit=0", 400),
        ("/api/photomatons?limit=abc", 400),
        ("/api/photomatons?cursor=%%%", 400),
        ("/api/events?status=FINISHED", 400),
    ] {
        let reply = staff.viewer.get(path).await?;
        assert_eq!(reply.status, status, "{path}: {reply:?}");
        assert!(reply.body["error"].is_string(), "{path}: {reply:?}");
    }
    staff.app.stop().await
}

#[tokio::test]
async fn lists_are_paginated_with_stable_cursors() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let empty = staff.viewer.get("/api/photomatons").await?;
    assert_eq!(empty.status, 200, "{empty:?}");
    assert_eq!(
        (
            empty.body["items"].clone(),
            empty.body["nextCursor"].clone()
        ),
        (json!([]), Value::Null)
    );
    for i in 1..=5 {
        staff.booth(&format!("boom-0{i}")).await?;
    }
    let hostnames = |reply: &crate::gateway_client::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|b| b["hostname"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = staff.viewer.get("/api/photomatons?limit=2").await?;
    assert_eq!(hostnames(&first), ["boom-01", "boom-02"]);
    let cursor = first.body["nextCursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // A booth added meanwhile neither shifts nor repeats the next pages.
    staff.booth("boom-00").await?;
    let second = staff
        .viewer
        .get(&format!("/api/photomatons?limit=2&cursor={cursor}"))
        .await?;
    assert_eq!(hostnames(&second), ["boom-03", "boom-04"]);
    let cursor = second.body["nextCursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let third = staff
        .viewer
        .get(&format!("/api/photomatons?limit=2&cursor={cursor}"))
        .await?;
    assert_eq!(hostnames(&third), ["boom-05", "boom-00"]);
    assert_eq!(third.body["nextCursor"], Value::Null, "last page");
    let exact = staff.viewer.get("/api/photomatons?limit=6").await?;
    assert_eq!(
        (hostnames(&exact).len(), exact.body["nextCursor"].clone()),
        (6, Value::Null)
    );
    let over = staff.viewer.get("/api/photomatons?limit=1001").await?;
    assert_eq!(over.status, 400);
    staff.app.stop().await
}

#[tokio::test]
async fn an_agent_key_is_shown_once_stored_hashed_and_published_to_the_registry()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let id = staff.booth("boom-01").await?;
    let patched = staff
        .admin
        .patch(
            &format!("/api/photomatons/{id}"),
            json!({"macAddress": "00:1a:2b:3c:4d:5e", "routerTailscaleIp": "100.64.0.2"}),
        )
        .await?;
    assert_eq!(patched.status, 200);
    let reply = staff
        .admin
        .post(&format!("/api/photomatons/{id}/api-key"), json!({}))
        .await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    let key = reply.body["apiKey"].as_str().unwrap_or_default().to_owned();
    assert!(key.starts_with("boom_") && key.len() > 40, "{key}");
    let booth = staff
        .viewer
        .get(&format!("/api/photomatons/{id}"))
        .await?
        .body;
    assert_eq!(booth["hasAgentKey"], true);
    assert!(
        !booth.to_string().contains(&key[5..]),
        "the key is never shown again"
    );

    let bus = Bus::connect(&ctx.settings.nats, "test", BusMetrics::default()).await?;
    let store = bus
        .ensure_kv(&bus.namespace().registry_bucket(), Duration::ZERO)
        .await?;
    let entry: RegistryEntry =
        serde_json::from_slice(&store.get(id.to_string()).await?.unwrap_or_default())?;
    assert_eq!(
        entry.agent_key_sha256,
        Some(boom_contracts::keys::sha256_hex(&key))
    );
    assert_eq!(
        (
            entry.hostname.as_str(),
            entry.mac_address.map(|mac| mac.to_string()).as_deref(),
            entry
                .wake_target
                .map(|target| target.to_string())
                .as_deref()
        ),
        ("boom-01", Some("00:1a:2b:3c:4d:5e"), Some("100.64.0.2:9"))
    );

    assert_eq!(
        staff
            .admin
            .delete(&format!("/api/photomatons/{id}"))
            .await?
            .status,
        204
    );
    assert!(
        store.get(id.to_string()).await?.is_none(),
        "a deleted booth leaves the registry"
    );
    staff.app.stop().await
}

#[tokio::test]
async fn the_registry_is_republished_in_full_when_a_gateway_starts() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let id = staff.booth("boom-01").await?;
    staff.app.stop().await?;
    let bus = Bus::connect(&ctx.settings.nats, "test", BusMetrics::default()).await?;
    let store = bus
        .ensure_kv(&bus.namespace().registry_bucket(), Duration::ZERO)
        .await?;
    store.purge(id.to_string()).await?;
    store.put("424242", "stale".into()).await?;
    let app = crate::helpers::spawn_gateway(ctx.settings.clone()).await?;
    eventually(Duration::from_secs(10), || async {
        Ok(store.get(id.to_string()).await?.is_some() && store.get("424242").await?.is_none())
    })
    .await?;
    app.stop().await
}

#[tokio::test]
async fn power_on_without_photomaton_control_is_a_clear_503_and_is_audited() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let id = staff.booth("boom-01").await?;
    let started = std::time::Instant::now();
    let reply = staff
        .installer
        .post(
            "/api/webhooks/action",
            json!({"photomatonId": id, "action": "power_on"}),
        )
        .await?;
    assert_eq!(
        (reply.status, reply.body["error"].clone()),
        (503, json!("unavailable")),
        "{reply:?}"
    );
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("photomaton-control"))
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "no hang until the timeout"
    );
    let unknown = staff
        .installer
        .post(
            "/api/webhooks/action",
            json!({"photomatonId": 999999, "action": "power_on"}),
        )
        .await?;
    assert_eq!(unknown.status, 404);
    let bad = staff
        .installer
        .post(
            "/api/webhooks/action",
            json!({"photomatonId": id, "action": "explode"}),
        )
        .await?;
    assert_eq!(bad.status, 422);
    let log = staff
        .admin
        .get("/api/audit-logs?action=photomaton.power_on")
        .await?;
    assert_eq!(log.body["items"][0]["username"], "installer");
    assert_eq!(log.body["items"][0]["details"]["outcome"], "failed");
    staff.app.stop().await
}

#[tokio::test]
async fn power_on_answers_what_photomaton_control_did() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let id = staff.booth("boom-01").await?;
    let bus = Bus::connect(&ctx.settings.nats, "fake-control", BusMetrics::default()).await?;
    let cancel = CancellationToken::new();
    let server = {
        let (bus, cancel) = (bus.clone(), cancel.clone());
        tokio::spawn(async move {
            bus.serve(
                |r: ControlRequest| async move {
                    ControlReply {
                        action_id: r.action_id,
                        ok: true,
                        message: format!("3 magic packets sent to booth {}", r.photomaton_id),
                        code: None,
                    }
                },
                cancel,
            )
            .await
        })
    };
    let mut reply = None;
    for _ in 0..50 {
        let r = staff
            .installer
            .post(
                "/api/webhooks/action",
                json!({"photomatonId": id, "action": "power_on"}),
            )
            .await?;
        if r.status == 200 {
            reply = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reply = reply.ok_or_else(|| anyhow::anyhow!("no 200"))?;
    assert_eq!(reply.body["ok"], true);
    assert_eq!(
        reply.body["message"],
        format!(
            "3 magic packets sent to booth {}",
            PhotomatonId(i32::try_from(id)?)
        )
    );
    cancel.cancel();
    server.await??;
    staff.app.stop().await
}

#[tokio::test]
async fn a_notion_sync_without_notion_sync_running_is_a_clear_503() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let reply = staff.installer.post("/api/notion/sync", json!({})).await?;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("notion-sync"))
    );
    staff.app.stop().await
}

#[tokio::test]
async fn an_event_shows_totals_per_media_type_per_booth_and_per_hour() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let booth = PhotomatonId(i32::try_from(staff.booth("boom-01").await?)?);
    let mut conn = ctx.connection().await?;
    let event_id: boom_contracts::EventId = diesel::insert_into(events::table)
        .values(NewEvent {
            notion_page_id: "page-1".into(),
            photomaton_id: Some(booth),
            client_name: "Mariage Dupont".into(),
            event_type: Some("Mariage".into()),
            event_date: None,
            album_name: Some("dupont-2026".into()),
            notion_url: None,
            notion_data: json!({"id": "page-1"}),
            notion_last_edited: None,
            status: EventStatus::Active,
            window_start: None,
            window_end: None,
        })
        .returning(events::id)
        .get_result(&mut conn)
        .await?;
    let at = |h: u32| {
        chrono::DateTime::parse_from_rfc3339(&format!("2026-06-13T{h:02}:15:00Z"))
            .map(|t| t.to_utc())
    };
    let photo = |media_type, count, hour| -> anyhow::Result<NewPhoto> {
        Ok(NewPhoto {
            event_id: Some(event_id),
            photomaton_id: booth,
            batch_id: None,
            media_type,
            count,
            timestamp: at(hour)?,
            metadata: None,
        })
    };
    diesel::insert_into(photos::table)
        .values(vec![
            photo(MediaType::Session, 1, 20)?,
            photo(MediaType::Print, 2, 20)?,
            photo(MediaType::Print, 3, 21)?,
            photo(MediaType::Gif, 1, 21)?,
        ])
        .execute(&mut conn)
        .await?;

    let active = staff.viewer.get("/api/events?status=ACTIVE").await?;
    assert_eq!(active.body["items"][0]["clientName"], "Mariage Dupont");
    assert_eq!(
        staff.viewer.get("/api/events?status=COMPLETED").await?.body["items"],
        json!([])
    );
    let detail = staff.viewer.get(&format!("/api/events/{event_id}")).await?;
    assert_eq!(detail.status, 200, "{detail:?}");
    assert_eq!(
        detail.body["perPhotomaton"][0]["totals"],
        json!({"sessions": 1, "photos": 0, "prints": 5, "digital": 0, "gifs": 1})
    );
    assert_eq!(detail.body["timeline"].as_array().map(Vec::len), Some(2));
    assert_eq!(detail.body["timeline"][1]["totals"]["prints"], 3);
    let booth_view = staff
        .viewer
        .get(&format!("/api/photomatons/{booth}"))
        .await?;
    assert_eq!(
        booth_view.body["currentEvent"]["clientName"],
        "Mariage Dupont"
    );
    staff.app.stop().await
}

#[tokio::test]
async fn the_audit_log_filters_by_user_action_and_time() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    staff.booth("boom-01").await?;
    let admin_id = staff.admin.get("/api/auth/me").await?.body["id"].clone();
    let by_action = staff
        .admin
        .get("/api/audit-logs?action=photomaton.create")
        .await?;
    assert_eq!(by_action.body["items"].as_array().map(Vec::len), Some(1));
    let by_user = staff
        .admin
        .get(&format!("/api/audit-logs?userId={admin_id}"))
        .await?;
    assert!(
        by_user.body["items"]
            .as_array()
            .is_some_and(|a| a.iter().all(|i| i["userId"] == admin_id))
    );
    let future = staff
        .admin
        .get("/api/audit-logs?from=2100-01-01T00:00:00Z")
        .await?;
    assert_eq!(future.body["items"], json!([]));
    // A date PostgreSQL cannot hold is the caller's error, not a 500.
    for date in ["-5000-01-01T00:00:00Z", "+200000-01-01T00:00:00Z"] {
        let absurd = staff
            .admin
            .get(&format!(
                "/api/audit-logs?from={}",
                date.replace('+', "%2B")
            ))
            .await?;
        assert_eq!(absurd.status, 400, "{date}: {absurd:?}");
    }
    let paged = staff.admin.get("/api/audit-logs?limit=1").await?;
    assert!(paged.body["nextCursor"].is_string());
    staff.app.stop().await
}

#[tokio::test]
async fn users_are_managed_by_admins() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let created = staff
        .admin
        .post(
            "/api/users",
            json!({"username": "paul", "password": "long enough password", "role": "VIEWER"}),
        )
        .await?;
    assert_eq!(
        (created.status, created.body["role"].clone()),
        (201, json!("VIEWER"))
    );
    assert!(created.body.get("passwordHash").is_none());
    let duplicate = staff
        .admin
        .post(
            "/api/users",
            json!({"username": "PAUL", "password": "long enough password", "role": "VIEWER"}),
        )
        .await?;
    assert_eq!(duplicate.status, 409);
    let short = staff
        .admin
        .post(
            "/api/users",
            json!({"username": "anne", "password": "short", "role": "VIEWER"}),
        )
        .await?;
    assert_eq!(short.status, 422);
    let id = created.body["id"].clone();
    let language = staff
        .admin
        .patch(
            &format!("/api/users/{id}"),
            json!({"preferredLanguage": "en"}),
        )
        .await?;
    assert_eq!(language.body["preferredLanguage"], "en");
    let me = staff.admin.get("/api/auth/me").await?.body["id"].clone();
    assert_eq!(
        staff
            .admin
            .delete(&format!("/api/users/{me}"))
            .await?
            .status,
        409,
        "no deleting oneself"
    );
    staff.app.stop().await
}

#[tokio::test]
async fn the_openapi_document_lists_every_route_of_the_contract() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let doc = staff.anonymous.get("/api/openapi.json").await?.body;
    assert_eq!(doc["openapi"], "3.1.0");
    let contract = [
        ("get", "/api/health"),
        ("post", "/api/auth/login"),
        ("post", "/api/auth/logout"),
        ("get", "/api/auth/me"),
        ("get", "/api/photomatons"),
        ("post", "/api/photomatons"),
        ("get", "/api/photomatons/{id}"),
        ("patch", "/api/photomatons/{id}"),
        ("delete", "/api/photomatons/{id}"),
        ("post", "/api/photomatons/{id}/api-key"),
        ("get", "/api/events"),
        ("get", "/api/events/{id}"),
        ("get", "/api/photomatons/{id}/speedtests"),
        ("get", "/api/audit-logs"),
        ("get", "/api/users"),
        ("post", "/api/users"),
        ("patch", "/api/users/{id}"),
        ("delete", "/api/users/{id}"),
        ("post", "/api/notion/sync"),
        ("post", "/api/webhooks/action"),
        ("get", "/ws"),
        ("get", "/metrics"),
        ("get", "/api/openapi.json"),
    ];
    for (method, path) in contract {
        assert!(
            doc["paths"][path][method].is_object(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    // Every schema reference resolves.
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().unwrap_or_default();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "dangling reference {name}"
        );
    }
    staff.app.stop().await
}

#[tokio::test]
async fn the_dashboard_loads_small_compressed_and_from_nowhere_else() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let app = crate::helpers::spawn_gateway(ctx.settings.clone()).await?;
    let http = reqwest::Client::new();
    let mut transferred = 0;
    // What the fleet page loads; the charts library only comes with a page that draws one.
    for path in [
        "/",
        "/app.js",
        "/app.css",
        "/charts.js",
        "/vendor/uplot.js",
        "/vendor/uplot.css",
        "/report.js",
        "/favicon.ico",
        "/manifest.webmanifest",
        "/sw.js",
    ] {
        let response = http
            .get(format!("{}{path}", app.address))
            .header("accept-encoding", "gzip")
            .send()
            .await?;
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert_eq!(
            response
                .headers()
                .get("content-encoding")
                .and_then(|v| v.to_str().ok()),
            Some("gzip"),
            "{path}"
        );
        let etag = response.headers().get("etag").cloned();
        let body = response.bytes().await?.len();
        if ["/", "/app.js", "/app.css", "/charts.js"].contains(&path) {
            transferred += body;
        }
        let again = http
            .get(format!("{}{path}", app.address))
            .header(
                "if-none-match",
                etag.ok_or_else(|| anyhow::anyhow!("no etag"))?,
            )
            .send()
            .await?;
        assert_eq!(again.status().as_u16(), 304, "{path} revalidates");
    }
    assert!(
        // The page's own files; the fleet's JSON comes on top (see docs/benchmarks.md).
        transferred < 40 * 1024,
        "first load transfers {transferred} bytes"
    );
    // The fleet's JSON goes compressed to a browser: the same booths, a fraction of the bytes.
    let staff = crate::gateway_client::Staff::start(&ctx).await?;
    for i in 0..30 {
        staff.booth(&format!("boom-{i:02}")).await?;
    }
    let cookie = format!(
        "boom_session={}",
        staff.admin.cookie.clone().unwrap_or_default()
    );
    let fleet = |gzip: bool| {
        let mut request = http
            .get(format!("{}/api/photomatons?limit=1000", staff.app.address))
            .header("cookie", cookie.clone());
        if gzip {
            request = request.header("accept-encoding", "gzip");
        }
        request.send()
    };
    let plain = fleet(false).await?.bytes().await?;
    let packed = fleet(true).await?;
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    let packed = packed.bytes().await?;
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&packed[..]),
        &mut unpacked,
    )?;
    assert_eq!(unpacked, plain.to_vec());
    assert!(
        packed.len() * 4 < plain.len(),
        "{} of {}",
        packed.len(),
        plain.len()
    );
    staff.app.stop().await?;

    // The icons an installed app and a phone's home screen ask for.
    for size in ["192", "512"] {
        let icon = http
            .get(format!("{}/icon-{size}.png", app.address))
            .send()
            .await?;
        assert_eq!(icon.status().as_u16(), 200);
        assert_eq!(icon.headers()["content-type"], "image/png");
        let png = icon.bytes().await?;
        assert_eq!(&png[1..4], b"PNG");
    }
    let html = http.get(&app.address).send().await?.text().await?;
    assert!(
        html.contains(r#"<link rel="icon""#) && html.contains(r#"<link rel="manifest""#),
        "the page names its icon (no 404 for /favicon.ico) and its manifest"
    );
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no third-party resource"
    );
    app.stop().await
}

/// Each booth's view carries its own latest speed test (read per booth, newest first), and
/// none for a booth that never ran one.
#[tokio::test]
async fn each_booth_shows_its_own_latest_speed_test() -> anyhow::Result<()> {
    use diesel_async::SimpleAsyncConnection;
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let created = staff
            .admin
            .post(
                "/api/photomatons",
                json!({"name": format!("Booth {n}"), "hostname": format!("boom-0{n}")}),
            )
            .await?;
        assert_eq!(created.status, 201, "{created:?}");
        ids.push(created.body["id"].as_i64().unwrap_or_default());
    }
    let mut conn = ctx.connection().await?;
    // Booth 1: three tests, the newest inserted second; booth 2: one; booth 3: none.
    conn.batch_execute(&format!(
        "INSERT INTO speed_tests (photomaton_id, download_speed, upload_speed, ping, created_at) VALUES \
         ({a}, 10, 1, 50, '2026-11-30 08:00:00+00'), ({a}, 30, 3, 30, '2026-11-30 10:00:00+00'), \
         ({a}, 20, 2, 40, '2026-11-30 09:00:00+00'), ({b}, 55, 5, 15, '2026-11-29 18:00:00+00')",
        a = ids[0],
        b = ids[1]
    ))
    .await?;
    // Written behind the gateway's back: the fleet it keeps is rebuilt within 2 s.
    let latest = |listed: &Value, id: i64| {
        listed["items"]
            .as_array()
            .and_then(|items| items.iter().find(|b| b["id"] == json!(id)))
            .map(|b| b["latestSpeedTest"]["download"].clone())
    };
    eventually(Duration::from_secs(10), || async {
        let listed = staff.viewer.get("/api/photomatons").await?;
        Ok(latest(&listed.body, ids[1]) == Some(json!(55.0)))
    })
    .await?;
    let listed = staff.viewer.get("/api/photomatons").await?.body;
    assert_eq!(
        latest(&listed, ids[0]),
        Some(json!(30.0)),
        "the newest of three"
    );
    assert_eq!(latest(&listed, ids[2]), Some(Value::Null), "never tested");
    let one = staff
        .viewer
        .get(&format!("/api/photomatons/{}", ids[0]))
        .await?;
    assert_eq!(one.body["latestSpeedTest"]["ping"], json!(30.0), "{one:?}");
    Ok(())
}
