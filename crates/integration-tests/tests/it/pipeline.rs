//! Booth agent → stats-ingest → JetStream → gateway recorder: every print counted once.

use std::time::Duration;

use boom_contracts::MediaType;
use boom_contracts::messages::BusMessage;
use boom_contracts::{EventStatus, PhotomatonId, StreamKind};
use boom_db::models::NewEvent;
use boom_db::schema::events;
use boom_testkit::TestContext;
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::gateway_client::{Client, Reply, Staff};
use crate::helpers::{RunningBinary, TestApp, eventually, spawn_gateway, spawn_stats_ingest};

/// A gateway with staff, one booth with an agent key and an active event, and stats-ingest.
pub struct Pipeline {
    pub ctx: TestContext,
    pub staff: Staff,
    pub ingest: TestApp,
    pub booth: i64,
    pub key: String,
    pub event: i32,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("booth", &self.booth)
            .finish_non_exhaustive()
    }
}

pub fn batch(id: uuid::Uuid, hostname: &str, stats: &[(&str, i64)], paper: Option<i64>) -> Value {
    let now = chrono::Utc::now().to_rfc3339();
    json!({
        "batchId": id,
        "hostname": hostname,
        "stats": stats.iter().map(|(kind, count)| json!({"type": kind, "count": count, "timestamp": now})).collect::<Vec<_>>(),
        "paperLevel": paper,
    })
}

/// A batch as stats-ingest publishes it, of `count` prints at `at`, for tests that play ingest
/// on the bus (a redelivery, a poison message, an old level).
pub fn accepted(
    photomaton_id: PhotomatonId,
    hostname: &str,
    count: i32,
    at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<boom_contracts::AgentBatchAccepted> {
    Ok(boom_contracts::AgentBatchAccepted {
        batch_id: uuid::Uuid::new_v4(),
        photomaton_id,
        hostname: hostname.parse()?,
        stats: vec![boom_contracts::MediaStat {
            media_type: MediaType::Print,
            count,
            timestamp: at,
        }],
        paper_level: None,
        paper_reset_at: None,
        speedtest: None,
        backlog: None,
        agent_version: None,
        received_at: chrono::Utc::now(),
        printer: None,
        refused: Vec::new(),
    })
}

impl Pipeline {
    /// The booth, as the bus names it.
    pub fn booth_id(&self) -> anyhow::Result<PhotomatonId> {
        Ok(PhotomatonId(i32::try_from(self.booth)?))
    }

    /// A bus client of this test's stack (to play ingest or a redelivery).
    pub async fn bus(&self) -> anyhow::Result<boom_bus::Bus> {
        Ok(boom_bus::Bus::connect(
            &self.ctx.settings.nats,
            "test",
            boom_bus::BusMetrics::default(),
        )
        .await?)
    }

    /// Publishes `payloads` on the accepted-batches subject as ingest would, each stored by
    /// JetStream before the next.
    pub async fn publish_accepted(
        &self,
        bus: &boom_bus::Bus,
        payloads: Vec<Vec<u8>>,
    ) -> anyhow::Result<()> {
        let subject = boom_contracts::AgentBatchAccepted::subject(bus.namespace());
        for payload in payloads {
            bus.jetstream()
                .publish(subject.clone(), payload.into())
                .await?
                .await?;
        }
        Ok(())
    }

    /// The dead letters admins see, once there are `n` of them.
    pub async fn dead_letters(&self, n: usize) -> anyhow::Result<Vec<Value>> {
        eventually(Duration::from_secs(10), || async {
            let page = self.staff.admin.get("/api/dead-letters").await?;
            Ok(page.body["items"].as_array().map(Vec::len) == Some(n))
        })
        .await?;
        let letters = self.staff.admin.get("/api/dead-letters").await?;
        Ok(letters.body["items"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    pub async fn start(mut ctx: TestContext) -> anyhow::Result<Self> {
        ctx.settings.ingest.rate_limit_per_minute = 1_000;
        let staff = Staff::start(&ctx).await?;
        let booth = staff.booth("boom-01").await?;
        let key = staff
            .admin
            .post(&format!("/api/photomatons/{booth}/api-key"), json!({}))
            .await?
            .body["apiKey"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut conn = ctx.connection().await?;
        let event: boom_contracts::EventId = diesel::insert_into(events::table)
            .values(NewEvent {
                notion_page_id: "page-wedding".into(),
                photomaton_id: Some(PhotomatonId(i32::try_from(booth)?)),
                client_name: "Mariage Dupont".into(),
                event_type: Some("Mariage".into()),
                event_date: Some(chrono::Utc::now() - chrono::Duration::hours(6)),
                album_name: None,
                notion_url: None,
                notion_data: json!({}),
                notion_last_edited: None,
                status: EventStatus::Active,
                window_start: Some(chrono::Utc::now() - chrono::Duration::hours(6)),
                window_end: Some(chrono::Utc::now() + chrono::Duration::hours(18)),
            })
            .returning(events::id)
            .get_result(&mut conn)
            .await?;
        let ingest = spawn_stats_ingest(ctx.settings.clone()).await?;
        let pipeline = Self {
            ctx,
            staff,
            ingest,
            booth,
            key,
            event: event.0,
        };
        // Ingest knows the key once it answers something other than 401 (here 422 for `{}`).
        eventually(Duration::from_secs(10), || async {
            Ok(pipeline.post_raw("{}", &pipeline.key).await?.status == 422)
        })
        .await?;
        Ok(pipeline)
    }

    pub async fn post_raw(&self, body: &str, key: &str) -> anyhow::Result<Reply> {
        let response = reqwest::Client::new()
            .post(format!("{}/api/agent/sync", self.ingest.address))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await?;
        Client::reply(response).await
    }

    pub async fn post(&self, body: &Value) -> anyhow::Result<Reply> {
        self.post_raw(&body.to_string(), &self.key).await
    }

    /// The event's totals, after checking that its page adds up: the totals per booth (from
    /// `event_hourly_totals`) sum to the event's totals (kept by the recorder).
    pub async fn totals(&self) -> anyhow::Result<Value> {
        let detail = self
            .staff
            .viewer
            .get(&format!("/api/events/{}", self.event))
            .await?
            .body;
        let mut sums = serde_json::Map::new();
        for kind in ["sessions", "photos", "prints", "digital", "gifs"] {
            let sum: i64 = detail["perPhotomaton"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|booth| booth["totals"][kind].as_i64())
                .sum();
            sums.insert(kind.into(), sum.into());
        }
        anyhow::ensure!(
            Value::Object(sums.clone()) == detail["totals"],
            "per booth {sums:?} does not add up to {}",
            detail["totals"]
        );
        Ok(detail["totals"].clone())
    }

    /// The environment of an agent *binary* reporting for this pipeline's booth: its
    /// `BOOM__AGENT__…` variables, a sync every second, no scheduled speed test.
    pub fn agent_env(&self) -> Vec<(String, String)> {
        let mut env = self.ctx.environment();
        env.retain(|(name, _)| name.starts_with("BOOM__AGENT__"));
        env.extend([
            (
                "BOOM__AGENT__INGEST_URL".to_owned(),
                self.ingest.address.clone(),
            ),
            ("BOOM__AGENT__KEY".to_owned(), self.key.clone()),
            ("BOOM__AGENT__HOSTNAME".to_owned(), "boom-01".to_owned()),
            ("BOOM__AGENT__SYNC_INTERVAL_SECS".to_owned(), "1".to_owned()),
            (
                "BOOM__AGENT__SPEEDTEST_INTERVAL_SECS".to_owned(),
                "0".to_owned(),
            ),
        ]);
        env
    }

    /// Waits until the event's totals are `expected` (and checks they stay so).
    pub async fn expect_totals(&self, expected: Value, within: Duration) -> anyhow::Result<()> {
        let reached = eventually(within, || async { Ok(self.totals().await? == expected) }).await;
        let last = self.totals().await?;
        anyhow::ensure!(reached.is_ok(), "totals {last} never became {expected}");
        tokio::time::sleep(Duration::from_millis(300)).await;
        anyhow::ensure!(
            self.totals().await? == expected,
            "totals moved past {expected}"
        );
        Ok(())
    }
}

pub fn totals(sessions: i64, photos: i64, prints: i64, digital: i64, gifs: i64) -> Value {
    json!({"sessions": sessions, "photos": photos, "prints": prints, "digital": digital, "gifs": gifs})
}

#[tokio::test]
async fn a_batch_posted_twice_counts_once() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let body = batch(
        uuid::Uuid::new_v4(),
        "boom-01",
        &[("print", 3), ("session", 1), ("gif", 1)],
        Some(697),
    );
    let first = p.post(&body).await?;
    assert_eq!(
        (
            first.status,
            first.body["accepted"].clone(),
            first.body["duplicate"].clone()
        ),
        (202, json!(3), json!(false)),
        "{first:?}"
    );
    let again = p.post(&body).await?;
    assert_eq!(
        (again.status, again.body["duplicate"].clone()),
        (200, json!(true)),
        "{again:?}"
    );
    p.expect_totals(totals(1, 0, 3, 0, 1), Duration::from_secs(10))
        .await?;
    let booth = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}", p.booth))
        .await?
        .body;
    assert_eq!(
        (
            booth["remainingPrints"].clone(),
            booth["lastSeen"].is_string()
        ),
        (json!(697), true)
    );
    p.staff.app.stop().await
}

#[tokio::test]
async fn a_batch_redelivered_after_a_crash_between_commit_and_ack_counts_once() -> anyhow::Result<()>
{
    let p = Pipeline::start(TestContext::new().await?).await?;
    // What JetStream redelivers after a crash is the same message again: publish it twice
    // without a dedupe id, so that both copies reach the recorder.
    let bus = p.bus().await?;
    let message = accepted(p.booth_id()?, "boom-01", 2, chrono::Utc::now())?;
    let subject = boom_contracts::AgentBatchAccepted::subject(bus.namespace());
    for _ in 0..2 {
        bus.jetstream()
            .publish(subject.clone(), serde_json::to_vec(&message)?.into())
            .await?
            .await?;
    }
    p.expect_totals(totals(0, 0, 2, 0, 0), Duration::from_secs(10))
        .await?;
    let mut stream = bus.ensure_stream(StreamKind::Stats).await?;
    assert_eq!(
        stream.info().await?.state.messages,
        2,
        "both copies were delivered"
    );
    p.staff.app.stop().await
}

/// A batch that fails among the recorder's pipelined writes (here a speed test PostgreSQL
/// refuses, which ingest would not have let through) fails its group's transaction: every
/// statement after it is refused as "transaction aborted". The recorder still tells the
/// cause, a permanent error: the batch is set aside at its first delivery, not retried, and
/// the batches around it are recorded.
#[tokio::test]
async fn a_batch_failing_among_the_pipelined_writes_is_set_aside_at_once() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let other = PhotomatonId(i32::try_from(p.staff.booth("boom-02").await?)?);
    let booth = p.booth_id()?;
    let bus = p.bus().await?;
    let now = chrono::Utc::now();
    let mut refused = accepted(other, "boom-02", 2, now)?;
    refused.speedtest = Some(boom_contracts::messages::SpeedTestSample {
        download: -1.0,
        upload: 10.0,
        ping: 20.0,
    });
    let payloads = [
        accepted(booth, "boom-01", 3, now)?,
        refused,
        accepted(booth, "boom-01", 3, now)?,
    ]
    .iter()
    .map(serde_json::to_vec)
    .collect::<Result<Vec<_>, _>>()?;
    p.publish_accepted(&bus, payloads).await?;
    p.expect_totals(totals(0, 0, 6, 0, 0), Duration::from_secs(10))
        .await?;
    let letters = p.dead_letters(1).await?;
    let letter = &letters[0];
    assert_eq!(letter["photomatonId"], json!(other.0), "{letter}");
    assert_eq!(
        letter["deliveries"],
        json!(1),
        "set aside at once: {letter}"
    );
    assert!(
        letter["reason"]
            .as_str()
            .is_some_and(|r| r.contains("speed_tests") && !r.contains("aborted")),
        "the cause, not the refusals after it: {letter}"
    );
    // Nothing of the refused batch was kept: its media are not counted anywhere.
    let view = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}", other.0))
        .await?;
    assert_eq!(view.body["today"]["prints"], json!(0), "{view:?}");
    p.staff.app.stop().await
}

/// A message the recorder can never store (from an ingest that let a year -5000 through, or
/// not even JSON) is set aside in the dead-letter table admins see, at once and not retried
/// for ever, and the other booths' batches around it are recorded meanwhile.
#[tokio::test]
async fn a_poisoned_message_is_set_aside_while_other_booths_commit() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let other = PhotomatonId(i32::try_from(p.staff.booth("boom-02").await?)?);
    let booth = p.booth_id()?;
    let bus = p.bus().await?;
    let message = |photomaton_id, hostname: &str, timestamp| -> anyhow::Result<Vec<u8>> {
        Ok(serde_json::to_vec(&accepted(
            photomaton_id,
            hostname,
            3,
            timestamp,
        )?)?)
    };
    let year_minus_5000 = chrono::NaiveDate::from_ymd_opt(-5000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .ok_or_else(|| anyhow::anyhow!("date"))?;
    let now = chrono::Utc::now();
    let payloads = vec![
        message(booth, "boom-01", now)?,
        message(other, "boom-02", year_minus_5000)?,
        b"{\"not\": \"a batch\"".to_vec(),
        message(booth, "boom-01", now)?,
    ];
    p.publish_accepted(&bus, payloads).await?;
    // The good batches around the poison count, long before a retry could have passed it.
    p.expect_totals(totals(0, 0, 6, 0, 0), Duration::from_secs(10))
        .await?;
    let items = p.dead_letters(2).await?;
    assert!(
        items.iter().any(|l| l["reason"]
            .as_str()
            .is_some_and(|r| r.contains("out of range"))
            && l["photomatonId"] == json!(other.0)
            && l["deliveries"] == json!(1)),
        "the range error is set aside at its first delivery: {items:?}"
    );
    assert!(
        items.iter().any(|l| l["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("undecodable"))
            && l["payload"] == json!("{\"not\": \"a batch\"")),
        "{items:?}"
    );
    // Admins only.
    assert_eq!(
        p.staff.installer.get("/api/dead-letters").await?.status,
        403
    );
    // Once its cause is fixed, a letter is replayed byte for byte and counted (here: the range
    // error's batch, its timestamp mended in place as an operator would).
    let poisoned = items
        .iter()
        .find(|l| l["photomatonId"] == json!(other.0))
        .map(|l| l["id"].clone())
        .unwrap_or_default();
    let fixed = accepted(other, "boom-02", 4, chrono::Utc::now())?;
    let mut conn = p.ctx.connection().await?;
    diesel::sql_query("UPDATE dead_letters SET payload = $1 WHERE id = $2")
        .bind::<diesel::sql_types::Bytea, _>(serde_json::to_vec(&fixed)?)
        .bind::<diesel::sql_types::BigInt, _>(poisoned.as_i64().unwrap_or_default())
        .execute(&mut conn)
        .await?;
    let replayed = p
        .staff
        .admin
        .post(&format!("/api/dead-letters/{poisoned}/replay"), json!({}))
        .await?;
    assert_eq!(replayed.status, 202, "{replayed:?}");
    eventually(Duration::from_secs(10), || async {
        let view = p
            .staff
            .viewer
            .get(&format!("/api/photomatons/{}", other.0))
            .await?;
        Ok(view.body["today"]["prints"] == json!(4))
    })
    .await?;
    let left = p.staff.admin.get("/api/dead-letters").await?;
    assert_eq!(
        left.body["items"].as_array().map(Vec::len),
        Some(1),
        "{left:?}"
    );
    assert_eq!(
        p.staff
            .admin
            .post(&format!("/api/dead-letters/{poisoned}/replay"), json!({}))
            .await?
            .status,
        404,
        "replayed once"
    );
    // Nothing is left pending on the recorder's consumer.
    let info = crate::helpers::stats_consumer(&bus, StreamKind::Stats.gateway_consumer()).await?;
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0), "{info:?}");
    p.staff.app.stop().await
}

#[tokio::test]
async fn with_the_gateway_stopped_agents_keep_posting_and_totals_are_exact_after_it_starts()
-> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let Pipeline { staff, .. } = &p;
    let settings = p.ctx.settings.clone();
    // Stop the gateway (the staff clients keep their sessions in Redis).
    let address = staff.app.address.clone();
    let mut prints = 0;
    let p = {
        let Pipeline {
            ctx,
            staff,
            ingest,
            booth,
            key,
            event,
        } = p;
        staff.app.stop().await?;
        for i in 1..=20 {
            let body = batch(
                uuid::Uuid::new_v4(),
                "boom-01",
                &[("print", i), ("digital", 1)],
                None,
            );
            let reply = Pipeline::post_with(&ingest, &key, &body).await?;
            assert_eq!(reply.status, 202, "{reply:?}");
            prints += i;
        }
        let app = spawn_gateway(settings).await?;
        let viewer = Client::login(&app, "viewer", crate::gateway_client::PASSWORD).await?;
        let staff = Staff {
            viewer: viewer.clone(),
            admin: viewer.clone(),
            installer: viewer.clone(),
            anonymous: Client::anonymous(&app),
            app,
        };
        Pipeline {
            ctx,
            staff,
            ingest,
            booth,
            key,
            event,
        }
    };
    assert_ne!(address, p.staff.app.address);
    p.expect_totals(totals(0, 0, prints, 20, 0), Duration::from_secs(20))
        .await?;
    p.staff.app.stop().await
}

impl Pipeline {
    async fn post_with(ingest: &TestApp, key: &str, body: &Value) -> anyhow::Result<Reply> {
        let response = reqwest::Client::new()
            .post(format!("{}/api/agent/sync", ingest.address))
            .bearer_auth(key)
            .json(body)
            .send()
            .await?;
        Client::reply(response).await
    }
}

/// A booth whose clock is wrong, or whose agent wrote one bad line, loses only that line:
/// the batch is accepted, the answer lists what was refused and why, the other lines count,
/// and the booth page shows the refusals.
#[tokio::test]
async fn a_batch_with_bad_lines_counts_the_others_and_shows_what_it_refused() -> anyhow::Result<()>
{
    let p = Pipeline::start(TestContext::new().await?).await?;
    let now = chrono::Utc::now();
    let two_years_ago = (now - chrono::Duration::days(730)).to_rfc3339();
    let tomorrow_and_more = (now + chrono::Duration::hours(30)).to_rfc3339();
    let body = json!({
        "batchId": uuid::Uuid::new_v4(),
        "hostname": "boom-01",
        "stats": [
            {"type": "print", "count": 2, "timestamp": now},
            {"type": "print", "count": 1, "timestamp": two_years_ago},
            {"type": "digital", "count": 1, "timestamp": tomorrow_and_more},
            {"type": "print", "count": 0, "timestamp": now},
            {"type": "hologram", "count": 1, "timestamp": now},
            {"type": "print", "count": 1, "timestamp": "yesterday"},
            {"type": "gif", "count": 1, "timestamp": now},
        ],
    });
    let reply = p.post(&body).await?;
    assert_eq!(reply.status, 202, "{reply:?}");
    assert_eq!(reply.body["accepted"], 2, "{reply:?}");
    let refused: Vec<i64> = reply.body["refused"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["index"].as_i64())
        .collect();
    assert_eq!(refused, [1, 2, 3, 4, 5], "{reply:?}");
    assert!(
        reply.body["refused"][0]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("more than a year old")),
        "{reply:?}"
    );
    assert!(
        reply.body["refused"][1]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("24 h ahead")),
        "{reply:?}"
    );
    p.expect_totals(totals(0, 0, 2, 0, 1), Duration::from_secs(10))
        .await?;
    let shown = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}/refused-lines", p.booth))
        .await?;
    assert_eq!(shown.status, 200, "{shown:?}");
    let mut indexes: Vec<i64> = shown.body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["index"].as_i64())
        .collect();
    indexes.sort_unstable();
    assert_eq!(indexes, [1, 2, 3, 4, 5], "{shown:?}");
    assert!(
        shown.body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["line"].as_str().is_some_and(|l| l.contains("hologram"))),
        "the line is kept as it was sent: {shown:?}"
    );
    // The same batch again is a duplicate: nothing counts twice, nothing is refused twice.
    let again = p.post(&body).await?;
    assert_eq!(again.status, 200, "{again:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    p.expect_totals(totals(0, 0, 2, 0, 1), Duration::from_secs(5))
        .await?;
    let shown = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}/refused-lines", p.booth))
        .await?;
    assert_eq!(shown.body["items"].as_array().map(Vec::len), Some(5));
    p.staff.app.stop().await
}

#[tokio::test]
async fn bad_batches_get_their_own_status_and_change_nothing() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    ctx.settings.ingest.max_body_bytes = 64 * 1024;
    let p = Pipeline::start(ctx).await?;
    let other = p.staff.booth("boom-02").await?;
    let other_key = p
        .staff
        .admin
        .post(&format!("/api/photomatons/{other}/api-key"), json!({}))
        .await?
        .body["apiKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    eventually(Duration::from_secs(10), || async {
        Ok(p.post_raw("{}", &other_key).await?.status == 422)
    })
    .await?;
    let good = batch(uuid::Uuid::new_v4(), "boom-01", &[("print", 1)], None).to_string();
    let cases: Vec<(u16, &str, String, &str)> = vec![
        (401, "no such key", good.clone(), "boom_not-a-key"),
        (403, "another booth's key", good.clone(), &other_key),
        (400, "malformed JSON", "{\"batchId\": ".to_owned(), &p.key),
        (
            422,
            "wrong types",
            json!({"batchId": "not-a-uuid", "hostname": "boom-01", "stats": []}).to_string(),
            &p.key,
        ),
        (
            422,
            "negative paper",
            batch(uuid::Uuid::new_v4(), "boom-01", &[], Some(-1)).to_string(),
            &p.key,
        ),
        (
            413,
            "oversized body",
            format!(
                "{{\"batchId\": \"{}\", \"pad\": \"{}\"}}",
                uuid::Uuid::new_v4(),
                "x".repeat(100 * 1024)
            ),
            &p.key,
        ),
    ];
    for (status, what, body, key) in cases {
        let reply = p.post_raw(&body, key).await?;
        assert_eq!(reply.status, status, "{what}: {reply:?}");
        assert!(
            reply.body["error"].is_string() && reply.body["message"].is_string(),
            "{what}: {reply:?}"
        );
    }
    let unauthenticated = reqwest::Client::new()
        .post(format!("{}/api/agent/sync", p.ingest.address))
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(unauthenticated.status().as_u16(), 401);

    let bus = boom_bus::Bus::connect(
        &p.ctx.settings.nats,
        "test",
        boom_bus::BusMetrics::default(),
    )
    .await?;
    let mut stream = bus.ensure_stream(StreamKind::Stats).await?;
    assert_eq!(
        stream.info().await?.state.messages,
        0,
        "nothing reached the stream"
    );
    assert_eq!(p.totals().await?, totals(0, 0, 0, 0, 0));
    p.staff.app.stop().await
}

#[tokio::test]
async fn an_agent_key_that_posts_too_often_is_rate_limited() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    ctx.settings.ingest.rate_limit_per_minute = 3;
    let staff = Staff::start(&ctx).await?;
    let booth = staff.booth("boom-01").await?;
    let key = staff
        .admin
        .post(&format!("/api/photomatons/{booth}/api-key"), json!({}))
        .await?
        .body["apiKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let ingest = spawn_stats_ingest(ctx.settings.clone()).await?;
    let mut statuses = Vec::new();
    for _ in 0..100 {
        let reply = Pipeline::post_with(
            &ingest,
            &key,
            &batch(uuid::Uuid::new_v4(), "boom-01", &[("photo", 1)], None),
        )
        .await?;
        statuses.push(reply.status);
        if reply.status == 429 {
            assert_eq!(reply.body["error"], "rate_limited");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await; // until ingest knows the key
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        3,
        "{statuses:?}"
    );
    staff.app.stop().await
}

fn agent_settings(p: &Pipeline) -> boom_config::Settings {
    let mut settings = p.ctx.settings.clone();
    settings.agent.ingest_url = Some(p.ingest.address.clone());
    settings.agent.key = Some(boom_config::SecretString::from(p.key.clone()));
    settings.agent.hostname = Some("boom-01".into());
    settings.agent.sync_interval_secs = 1;
    settings.agent.speedtest_interval_secs = 0;
    settings
}

/// dslrBooth calls its URL trigger like this.
pub async fn trigger(agent: &str, query: &[(&str, &str)]) -> anyhow::Result<u16> {
    let url = url::Url::parse_with_params(&format!("{agent}/trigger"), query)?;
    Ok(reqwest::Client::new()
        .get(url)
        .send()
        .await?
        .status()
        .as_u16())
}

#[tokio::test]
async fn dslrbooth_triggers_reach_the_dashboard_counted_once() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let agent = crate::helpers::spawn_agent(agent_settings(&p)).await?;
    let a = agent.address.clone();
    for _ in 0..3 {
        assert_eq!(
            trigger(&a, &[("event_type", "session_start"), ("param1", "print")]).await?,
            200
        );
        for step in ["countdown_start", "capture_start"] {
            assert_eq!(trigger(&a, &[("event_type", step)]).await?, 200);
        }
        assert_eq!(
            trigger(
                &a,
                &[("event_type", "file_download"), ("param1", "IMG_0001.JPG")]
            )
            .await?,
            200
        );
        assert_eq!(
            trigger(
                &a,
                &[
                    ("event_type", "printing"),
                    ("param1", "final.jpg"),
                    ("param2", "2"),
                    ("param3", "DS620")
                ]
            )
            .await?,
            200
        );
        assert_eq!(
            trigger(
                &a,
                &[
                    ("event_type", "file_upload"),
                    ("param1", "final.jpg"),
                    ("param2", "https://x"),
                    ("param3", "jpg")
                ]
            )
            .await?,
            200
        );
        assert_eq!(trigger(&a, &[("event_type", "session_end")]).await?, 200);
    }
    assert_eq!(
        trigger(
            &a,
            &[("event_type", "session_start"), ("param1", "boomerang")]
        )
        .await?,
        200
    );
    assert_eq!(
        trigger(&a, &[("event_type", "brand_new_event")]).await?,
        200,
        "unknown events are kept, not refused"
    );
    assert_eq!(trigger(&a, &[("param1", "x")]).await?, 400);
    // A web page open on the booth PC cannot fake prints: a browser's request names its site
    // (Sec-Fetch-Site, Origin), and DNS rebinding shows as a Host that is a name.
    let forged = |header: &'static str, value: &'static str| {
        reqwest::Client::new()
            .get(format!("{a}/trigger?event_type=printing&param2=50"))
            .header(header, value)
            .send()
    };
    for (header, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "https://evil.example"),
        ("host", "evil.example:8765"),
    ] {
        assert_eq!(
            forged(header, value).await?.status().as_u16(),
            403,
            "{header}"
        );
    }
    // Unknown event types share one metrics label, whatever a caller invents.
    let (_, metrics) = agent.get("/metrics").await?;
    assert!(
        metrics.contains(r#"boom_agent_triggers_total{event_type="unknown"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("brand_new_event"), "{metrics}");
    p.expect_totals(totals(4, 3, 6, 3, 1), Duration::from_secs(15))
        .await?;
    let booth = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}", p.booth))
        .await?
        .body;
    assert_eq!(booth["remainingPrints"], 694, "700 minus 3 × 2 copies");
    // The booth page's agent line and paper history.
    assert_eq!(booth["agentVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(booth["agentBacklog"], 0);
    let history = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}/paper-levels", p.booth))
        .await?
        .body;
    let levels: Vec<i64> = history["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["remainingPrints"].as_i64())
        .collect();
    // Newest first, from 694 back to the booth's creation at 700.
    assert!(matches!(levels.as_slice(), [694, .., 700]), "{history}");
    assert!(levels.windows(2).all(|w| w[0] < w[1]), "{levels:?}");
    agent.stop().await?;
    p.staff.app.stop().await
}

/// A print trigger as dslrBooth sends it; answers the agent's paper counter.
async fn print(agent: &str, copies: u32) -> anyhow::Result<Value> {
    let copies = copies.to_string();
    let url = url::Url::parse_with_params(
        &format!("{agent}/trigger"),
        &[
            ("event_type", "printing"),
            ("param1", "final.jpg"),
            ("param2", copies.as_str()),
            ("param3", "DS620"),
        ],
    )?;
    let response = reqwest::Client::new().get(url).send().await?;
    anyhow::ensure!(
        response.status() == 200,
        "trigger answered {}",
        response.status()
    );
    Ok(response.json::<Value>().await?["paperRemaining"].clone())
}

#[tokio::test]
async fn a_new_roll_declared_on_the_dashboard_is_not_undone_by_the_agent_and_reaches_it()
-> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let agent = crate::helpers::spawn_agent(agent_settings(&p)).await?;
    let a = agent.address.clone();
    let remaining = || async {
        Ok::<_, anyhow::Error>(
            p.staff
                .viewer
                .get(&format!("/api/photomatons/{}", p.booth))
                .await?
                .body["remainingPrints"]
                .clone(),
        )
    };
    assert_eq!(print(&a, 2).await?, 698);
    assert_eq!(print(&a, 2).await?, 696);
    eventually(Duration::from_secs(10), || async {
        Ok(remaining().await? == 696)
    })
    .await?;

    // At 11 p.m. the installer puts a new roll in and says so on the dashboard.
    let reset = p
        .staff
        .installer
        .post(
            &format!("/api/photomatons/{}/paper-reset", p.booth),
            json!({}),
        )
        .await?;
    assert_eq!(reset.status, 200, "{reset:?}");
    assert_eq!(reset.body["remainingPrints"], 700);
    assert!(reset.body["paperResetAt"].is_string());

    // A batch counted before the agent heard of the roll (sent meanwhile, or by an agent too
    // old to know) still says the old roll's level: 695. The dashboard counts its print on the
    // new roll instead.
    let stale = batch(uuid::Uuid::new_v4(), "boom-01", &[("print", 1)], Some(695));
    assert_eq!(p.post(&stale).await?.status, 202);
    eventually(Duration::from_secs(10), || async {
        Ok(remaining().await? == 699)
    })
    .await?;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(remaining().await?, 699, "the old roll's level came back");
    // The agent hears of the roll within moments (it long-polls ingest), counts on it from
    // then on, and its levels are taken again.
    let store = boom_agent::store::Store::open(&agent_settings(&p).agent.data_dir, 700)?;
    eventually(Duration::from_secs(10), || async {
        Ok(store.status().await?.paper_reset_at.is_some())
    })
    .await?;
    assert_eq!(print(&a, 1).await?, 699);
    assert_eq!(print(&a, 1).await?, 698);
    eventually(Duration::from_secs(10), || async {
        Ok(remaining().await? == 698)
    })
    .await?;
    agent.stop().await?;
    p.staff.app.stop().await
}

#[tokio::test]
async fn a_speed_test_and_a_new_roll_asked_on_the_dashboard_reach_an_idle_agent()
-> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let mut settings = agent_settings(&p);
    settings.agent.command_interval_secs = 1;
    settings.agent.speedtest_bytes = 64 * 1024;
    let data_dir = settings.agent.data_dir.clone();
    // No trigger at all: the agent has nothing to send, it only polls for commands.
    let agent = crate::helpers::spawn_agent(settings).await?;
    let tests_path = format!("/api/photomatons/{}/speedtests", p.booth);
    let speed_tests = || async {
        Ok::<_, anyhow::Error>(
            p.staff.viewer.get(&tests_path).await?.body["items"]
                .as_array()
                .map_or(0, Vec::len),
        )
    };
    assert_eq!(speed_tests().await?, 0);

    // Commands are the booth's own: no key or another key is refused.
    let commands = format!("{}/api/agent/commands", p.ingest.address);
    let http = reqwest::Client::new();
    assert_eq!(http.get(&commands).send().await?.status(), 401);
    assert_eq!(
        http.get(&commands)
            .bearer_auth("boom_not-a-key")
            .send()
            .await?
            .status(),
        401
    );
    let nothing: Value = http
        .get(&commands)
        .bearer_auth(&p.key)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        nothing,
        json!({"paperReset": null, "speedTestRequestedAt": null})
    );

    let asked = p.staff.installer.post(&tests_path, json!({})).await?;
    assert_eq!(asked.status, 200, "{asked:?}");
    assert!(asked.body["speedTestRequestedAt"].is_string());
    assert_eq!(
        p.staff.viewer.post(&tests_path, json!({})).await?.status,
        403
    );
    eventually(Duration::from_secs(15), || async {
        Ok(speed_tests().await? == 1)
    })
    .await?;
    // One request, one test, however many polls see it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(speed_tests().await?, 1);

    // A new roll reaches the idle agent as well.
    let reset = p
        .staff
        .installer
        .post(
            &format!("/api/photomatons/{}/paper-reset", p.booth),
            json!({"remainingPrints": 500}),
        )
        .await?;
    assert_eq!(reset.status, 200, "{reset:?}");
    let store = boom_agent::store::Store::open(&data_dir, 700)?;
    eventually(Duration::from_secs(10), || async {
        Ok(store.status().await?.paper_remaining == 500)
    })
    .await?;
    agent.stop().await?;
    p.staff.app.stop().await
}

#[tokio::test]
async fn an_agent_offline_for_a_day_catches_up_in_bounded_batches_with_exact_totals()
-> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let settings = agent_settings(&p);
    let store = boom_agent::store::Store::open(&settings.agent.data_dir, 700)?;
    // A day of events while the 4G link is down.
    let start = chrono::Utc::now() - chrono::Duration::hours(5);
    let events: Vec<boom_agent::store::MediaLine> = (0..10_000)
        .map(|i| boom_agent::store::MediaLine {
            kind: Some(if i % 4 == 0 {
                MediaType::Print
            } else {
                MediaType::Photo
            }),
            count: 1,
            event_type: "simulated".into(),
            params: json!({}),
            at: start + chrono::Duration::seconds(i),
        })
        .collect();
    store.record(events).await?;
    assert_eq!(store.status().await?.backlog, 10_000);
    drop(store);
    let agent = crate::helpers::spawn_agent(settings.clone()).await?;
    p.expect_totals(totals(0, 7_500, 2_500, 0, 0), Duration::from_secs(60))
        .await?;
    agent.stop().await?;
    // Bounded batches: none larger than agent.batch_size.
    use diesel::{ExpressionMethods, QueryDsl};
    let mut conn = p.ctx.connection().await?;
    let sizes: Vec<i32> = boom_db::schema::ingest_batches::table
        .select(boom_db::schema::ingest_batches::media_count)
        .order(boom_db::schema::ingest_batches::media_count.desc())
        .load(&mut conn)
        .await?;
    assert!(
        sizes.len() >= 20 && sizes[0] as usize <= settings.agent.batch_size,
        "{sizes:?}"
    );
    let store = boom_agent::store::Store::open(&settings.agent.data_dir, 700)?;
    assert_eq!(store.status().await?.backlog, 0);
    p.staff.app.stop().await
}

#[tokio::test]
async fn an_agent_killed_while_sending_counts_every_answered_trigger_once() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let mut env = p.agent_env();
    env.push(("BOOM__AGENT__BATCH_SIZE".to_owned(), "7".to_owned()));
    let mut answered = 0;
    for round in 0..3 {
        let mut agent = RunningBinary::start("boom-agent", &env)?;
        let address = format!("http://127.0.0.1:{}", agent.port);
        for i in 0..40 {
            if trigger(&address, &[("event_type", "printing"), ("param2", "1")]).await? == 200 {
                answered += 1;
            }
            if i % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(150)).await; // let sends overlap
            }
        }
        // kill -9, while the sender is busy.
        tokio::time::sleep(Duration::from_millis(100 * (round + 1))).await;
        agent.child.kill()?;
        agent.child.wait()?;
    }
    let agent = RunningBinary::start("boom-agent", &env)?;
    p.expect_totals(totals(0, 0, answered, 0, 0), Duration::from_secs(30))
        .await?;
    assert!(agent.terminate()?.success());
    let (code, stdout, _) =
        crate::helpers::run_binary("boom-agent", &["status", "--json"], &env, "")?;
    assert_eq!(code, 0);
    let status: Value = serde_json::from_str(&stdout)?;
    assert_eq!(
        (status["backlog"].clone(), status["paperRemaining"].clone()),
        (json!(0), json!(700 - answered))
    );
    assert!(status["lastSync"].is_string());
    p.staff.app.stop().await
}

#[tokio::test]
async fn a_recorded_batch_reaches_browsers_on_another_gateway_within_a_second() -> anyhow::Result<()>
{
    let p = Pipeline::start(TestContext::new().await?).await?;
    let other = spawn_gateway(p.ctx.settings.clone()).await?;
    let viewer = Client::login(&other, "viewer", crate::gateway_client::PASSWORD).await?;
    let mut socket = crate::gateway_live::connect(&viewer).await?;
    crate::gateway_live::frame_where(&mut socket, Duration::from_secs(5), |f| {
        f["event"] == "photomaton:updated"
    })
    .await?;
    let started = std::time::Instant::now();
    let reply = p
        .post(&batch(
            uuid::Uuid::new_v4(),
            "boom-01",
            &[("print", 1)],
            Some(650),
        ))
        .await?;
    assert_eq!(reply.status, 202);
    // The event's totals and the booth's view, in either order: both are gathered for a
    // moment (`http.live_coalesce_ms`), then the latest of each goes.
    let mut update = None;
    let mut totals = None;
    while update.is_none() || totals.is_none() {
        let frame = crate::gateway_live::frame_where(&mut socket, Duration::from_secs(1), |f| {
            (f["event"] == "photomaton:updated" && f["data"]["remainingPrints"] == 650)
                || f["event"] == "events:updated"
        })
        .await?;
        if frame["event"] == "events:updated" {
            totals = Some(frame);
        } else {
            update = Some(frame);
        }
    }
    let (update, totals) = (update.unwrap_or_default(), totals.unwrap_or_default());
    assert_eq!(update["data"]["hostname"], "boom-01");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(totals["data"]["totals"]["prints"], 1);
    other.stop().await?;
    p.staff.app.stop().await
}

/// Batches in quick succession: browsers may get fewer views than batches (they are
/// gathered), but never an older state after a newer one, and the last view is the latest.
#[tokio::test]
async fn quick_batches_reach_browsers_in_order_and_the_latest_last() -> anyhow::Result<()> {
    quick_batches_in_order(TestContext::new().await?).await
}

/// The same with `http.live_coalesce_ms = 0`: each change sent at once, no beat.
#[tokio::test]
async fn quick_batches_reach_browsers_in_order_without_gathering() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    ctx.settings.http.live_coalesce_ms = 0;
    quick_batches_in_order(ctx).await
}

async fn quick_batches_in_order(ctx: TestContext) -> anyhow::Result<()> {
    let gathered = ctx.settings.http.live_coalesce_ms > 0;
    let p = Pipeline::start(ctx).await?;
    let booth = p.booth_id()?;
    let viewer = Client::login(&p.staff.app, "viewer", crate::gateway_client::PASSWORD).await?;
    let mut socket = crate::gateway_live::connect(&viewer).await?;
    crate::gateway_live::frame_where(&mut socket, Duration::from_secs(5), |f| {
        f["event"] == "photomaton:updated"
    })
    .await?;
    // A batch every 50 ms for a second, each printing once.
    let levels: Vec<i64> = (0..20).map(|i| 690 - i).collect();
    let posting = async {
        for level in &levels {
            let reply = p
                .post(&batch(
                    uuid::Uuid::new_v4(),
                    "boom-01",
                    &[("print", 1)],
                    Some(*level),
                ))
                .await?;
            assert_eq!(reply.status, 202);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok::<_, anyhow::Error>(())
    };
    // Every view of the booth and of its event until a second passes without one.
    let reading = async {
        let mut seen = Vec::new();
        let mut totals = Vec::new();
        while let Ok(frame) =
            crate::gateway_live::frame_where(&mut socket, Duration::from_secs(1), |f| {
                (f["event"] == "photomaton:updated" && f["data"]["hostname"] == "boom-01")
                    || (f["event"] == "events:updated" && f["data"]["photomatonId"] == booth.0)
            })
            .await
        {
            if frame["event"] == "events:updated" {
                let prints = frame["data"]["totals"]["prints"].as_i64();
                totals.push((std::time::Instant::now(), prints.unwrap_or_default()));
            } else {
                let level = frame["data"]["remainingPrints"].as_i64();
                seen.push(level.unwrap_or_default());
            }
        }
        (seen, totals)
    };
    let (posted, (seen, totals)) = tokio::join!(posting, reading);
    posted?;
    assert_eq!(
        seen.last(),
        levels.last(),
        "the latest state arrives last: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|pair| pair[0] >= pair[1]),
        "never an older state after a newer one: {seen:?}"
    );
    let prints: Vec<i64> = totals.iter().map(|(_, prints)| *prints).collect();
    assert_eq!(
        prints.last(),
        Some(&20),
        "the event's latest totals: {prints:?}"
    );
    assert!(
        prints.windows(2).all(|pair| pair[0] <= pair[1]),
        "never older totals after newer ones: {prints:?}"
    );
    if gathered {
        // The event's views go every 500 ms at most, where the booth's go every beat.
        let span = totals
            .last()
            .zip(<[_]>::first(&totals))
            .map_or(Duration::ZERO, |(last, first)| last.0 - first.0);
        assert!(
            totals.len() as u128 <= 2 + span.as_millis() / 400,
            "{} views of the event in {span:?}: {prints:?}",
            totals.len()
        );
    }
    p.staff.app.stop().await
}

/// The speed-test endpoint is bounded per key: one transfer at a time, an hourly allowance
/// (429 with Retry-After beyond it), sizes capped; downloads are streamed, the bytes exact.
#[tokio::test]
async fn speed_tests_are_bounded_per_key() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let http = reqwest::Client::new();
    let url = format!("{}/api/agent/speedtest", p.ingest.address);
    let download = |bytes: usize| {
        http.get(format!("{url}?bytes={bytes}"))
            .bearer_auth(&p.key)
            .send()
    };
    let whole = download(3 << 20).await?;
    assert_eq!(whole.status().as_u16(), 200);
    assert_eq!(whole.bytes().await?.len(), 3 << 20);
    assert_eq!(download((20 << 20) + 1).await?.status().as_u16(), 413);
    assert_eq!(
        http.get(&url)
            .bearer_auth("boom_not-a-key")
            .send()
            .await?
            .status()
            .as_u16(),
        401
    );

    // One at a time: a second transfer while the first is being read is refused.
    let mut first = download(20 << 20).await?;
    assert_eq!(first.status().as_u16(), 200);
    let _ = first.chunk().await?;
    let second = download(1 << 20).await?;
    assert_eq!(
        second.status().as_u16(),
        429,
        "a second transfer of the same key"
    );
    assert!(second.headers().contains_key("retry-after"));
    while first.chunk().await?.is_some() {}
    // Latency probes (zero bytes) are never refused.
    assert_eq!(download(0).await?.status().as_u16(), 200);

    // An empty upload (a probe) is no transfer either.
    let probe = http
        .post(&url)
        .bearer_auth(&p.key)
        .body(Vec::new())
        .send()
        .await?;
    assert_eq!(probe.status().as_u16(), 200);

    // The hourly allowance: 20 transfers in all, this one included.
    let mut statuses = Vec::new();
    for _ in 0..20 {
        let reply = http
            .post(&url)
            .bearer_auth(&p.key)
            .body(vec![0u8; 1024])
            .send()
            .await?;
        statuses.push(reply.status().as_u16());
        if reply.status().as_u16() == 429 {
            assert!(reply.headers().contains_key("retry-after"));
            break;
        }
    }
    // Transfers so far: the 3 MiB and the 20 MiB ones (the 413 and the refused concurrent
    // one cost nothing), so the 19th upload is the 21st transfer.
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        18,
        "{statuses:?}"
    );
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    p.staff.app.stop().await
}

/// Event totals are 64-bit: an event whose prints pass 2^31 (what a few hundred full batches,
/// or one stolen key, could add) still counts exactly instead of failing every later batch.
#[tokio::test]
async fn event_totals_count_past_two_billion() -> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let mut batch = accepted(p.booth_id()?, "boom-01", 2_000_000_000, chrono::Utc::now())?;
    batch.stats.push(batch.stats[0].clone());
    p.bus().await?.publish(&batch).await?;
    p.expect_totals(totals(0, 0, 4_000_000_000, 0, 0), Duration::from_secs(10))
        .await?;
    p.staff.app.stop().await
}

/// A connectivity report for booth `id`, published as photomaton-control does.
pub async fn probe(
    bus: &boom_bus::Bus,
    id: i64,
    (router, pc): (bool, bool),
    observed_at: chrono::DateTime<chrono::Utc>,
) -> anyhow::Result<()> {
    bus.publish(&boom_contracts::messages::PhotomatonProbed {
        photomaton_id: boom_contracts::PhotomatonId(i32::try_from(id)?),
        router_connected: router,
        pc_connected: pc,
        router_rtt_ms: None,
        pc_rtt_ms: None,
        observed_at,
    })
    .await?;
    Ok(())
}
