//! boom-notifier end to end: an agent's batch, a probe or a power-on changes a booth; the
//! notifier opens the alert and tells every channel once, over real protocols on 127.0.0.1 (an
//! SMTP server, a Telegram-compatible Bot API, a webhook receiver: `boom_testkit::inbox`).

use std::time::Duration;

use boom_testkit::TestContext;
use boom_testkit::inbox::{Inbox, InboxFault, Received};
use serde_json::{Value, json};

use crate::gateway_client::Client;
use crate::helpers::{
    RunningBinary, TestApp, eventually, spawn_notifier, spawn_photomaton_control,
};
use crate::pipeline::{Pipeline, batch};

const TELEGRAM_TOKEN: &str = "4242:test-bot-token";

/// A pipeline (gateway, ingest, one booth with an agent key and an event under way) and an
/// inbox the notifier's settings point at.
struct Alerting {
    p: Pipeline,
    inbox: Inbox,
}

pub fn notify_settings(ctx: &mut TestContext, inbox: &Inbox) {
    let n = &mut ctx.settings.notify;
    n.smtp_url = Some(inbox.smtp_url().into());
    n.from = "LE BOOM <alertes@leboom.test>".into();
    n.telegram_bot_token = Some(TELEGRAM_TOKEN.to_owned().into());
    n.telegram_base_url = inbox.http_base.clone();
    n.dashboard_url = "https://boom.test".into();
    n.send_timeout_ms = 1_500;
    n.lease_ttl_secs = 3;
    // The inbox listens on 127.0.0.1.
    n.webhook_private_networks = true;
}

impl Alerting {
    async fn start(mut ctx: TestContext) -> anyhow::Result<Self> {
        let inbox = Inbox::start().await?;
        notify_settings(&mut ctx, &inbox);
        Ok(Self {
            p: Pipeline::start(ctx).await?,
            inbox,
        })
    }

    /// `who` adds the three channels for `kinds`; answers their ids.
    async fn channels(&self, who: &Client, kinds: &[&str]) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::new();
        for (kind, target) in [
            ("email", "ops@leboom.test".to_owned()),
            ("telegram", "-100777".to_owned()),
            ("webhook", format!("{}/hook/ops", self.inbox.http_base)),
        ] {
            let created = who
                .post(
                    "/api/notification-channels",
                    json!({"kind": kind, "target": target, "alertKinds": kinds}),
                )
                .await?;
            anyhow::ensure!(created.status == 201, "{created:?}");
            ids.push(created.body["id"].as_str().unwrap_or_default().to_owned());
        }
        Ok(ids)
    }

    async fn paper(&self, level: i64) -> anyhow::Result<()> {
        let reply = self
            .p
            .post(&batch(
                uuid::Uuid::new_v4(),
                "boom-01",
                &[("print", 1)],
                Some(level),
            ))
            .await?;
        anyhow::ensure!(reply.status == 202, "{reply:?}");
        Ok(())
    }

    async fn alerts(&self, state: &str) -> anyhow::Result<Vec<Value>> {
        let page = self
            .p
            .staff
            .viewer
            .get(&format!("/api/alerts?state={state}"))
            .await?;
        Ok(page.body["items"].as_array().cloned().unwrap_or_default())
    }

    fn counts(&self) -> (usize, usize, usize) {
        (
            self.inbox.of("email").len(),
            self.inbox.of("telegram").len(),
            self.inbox.of("webhook").len(),
        )
    }

    async fn stop(self, notifier: TestApp) -> anyhow::Result<()> {
        notifier.stop().await?;
        self.p.ingest.stop().await?;
        self.p.staff.app.stop().await
    }
}

fn webhook_json(received: &Received) -> Value {
    received.json.clone().unwrap_or_default()
}

#[tokio::test]
async fn paper_critical_reaches_each_channel_once_and_so_does_its_end() -> anyhow::Result<()> {
    let a = Alerting::start(TestContext::new().await?).await?;
    a.channels(&a.p.staff.installer, &["paper_critical"])
        .await?;
    let notifier = spawn_notifier(a.p.ctx.settings.clone()).await?;

    a.paper(20).await?;
    eventually(Duration::from_secs(20), || async {
        Ok(a.counts() == (1, 1, 1))
    })
    .await?;
    let mail = &a.inbox.of("email")[0];
    assert_eq!(mail.to, "ops@leboom.test");
    assert_eq!(
        mail.subject,
        "Papier critique : Booth boom-01 (20 tirages restants)"
    );
    let booth = a.p.booth;
    assert!(
        mail.body
            .contains(&format!("https://boom.test/#/booth/{booth}")),
        "{}",
        mail.body
    );
    assert!(
        mail.key
            .as_deref()
            .is_some_and(|k| k.ends_with("@boom-notifier>"))
    );
    let telegram = &a.inbox.of("telegram")[0];
    assert_eq!(telegram.to, "-100777");
    assert!(
        telegram.body.starts_with("Papier critique"),
        "{}",
        telegram.body
    );
    let hook = &a.inbox.of("webhook")[0];
    let body = webhook_json(hook);
    assert_eq!(
        (
            &body["kind"],
            &body["state"],
            &body["photomatonId"],
            &body["hostname"],
            &body["boothName"]
        ),
        (
            &json!("paper_critical"),
            &json!("open"),
            &json!(booth),
            &json!("boom-01"),
            &json!("Booth boom-01")
        )
    );
    for field in ["alertId", "message", "at"] {
        assert!(body[field].is_string(), "{field}: {body}");
    }
    assert_eq!(hook.key.as_deref(), body["deliveryId"].as_str());

    // The dashboard shows the alert and where its messages went.
    let alert_id = body["alertId"].as_str().unwrap_or_default().to_owned();
    eventually(Duration::from_secs(10), || async {
        let open = a.alerts("open").await?;
        Ok(open.iter().any(|x| {
            x["id"] == alert_id
                && x["deliveries"].as_array().is_some_and(|d| {
                    d.len() == 3 && d.iter().all(|d| d["state"] == "sent" && d["attempts"] == 1)
                })
        }))
    })
    .await?;

    // An installer takes it; a new roll ends it, and the end is told once per channel.
    let acked =
        a.p.staff
            .installer
            .post(&format!("/api/alerts/{alert_id}/ack"), json!({}))
            .await?;
    assert_eq!(acked.status, 200, "{acked:?}");
    let reset =
        a.p.staff
            .installer
            .post(&format!("/api/photomatons/{booth}/paper-reset"), json!({}))
            .await?;
    assert_eq!(reset.status, 200, "{reset:?}");
    eventually(Duration::from_secs(20), || async {
        Ok(a.counts() == (2, 2, 2))
    })
    .await?;
    let resolved = webhook_json(&a.inbox.of("webhook")[1]);
    assert_eq!(
        (&resolved["state"], &resolved["alertId"]),
        (&json!("resolved"), &json!(alert_id))
    );
    assert!(
        a.inbox.of("email")[1]
            .subject
            .starts_with("Résolu — Papier critique")
    );
    // Every delivery is recorded as sent, and none went twice.
    eventually(Duration::from_secs(10), || async {
        let done = a.alerts("resolved").await?;
        Ok(done.iter().any(|x| {
            x["id"] == alert_id
                && x["deliveries"]
                    .as_array()
                    .is_some_and(|d| d.len() == 6 && d.iter().all(|d| d["state"] == "sent"))
        }))
    })
    .await?;
    assert_eq!(a.counts(), (2, 2, 2));
    // Every transition is in the audit log: opened and resolved by the notifier, taken by a person.
    for (action, who) in [
        ("alert.opened", "boom-notifier"),
        ("alert.ack", "installer"),
        ("alert.resolved", "boom-notifier"),
    ] {
        let log =
            a.p.staff
                .admin
                .get(&format!("/api/audit-logs?action={action}"))
                .await?;
        let items = log.body["items"].as_array().cloned().unwrap_or_default();
        assert!(
            items
                .iter()
                .any(|i| i["username"] == who && i["details"]["alertId"] == alert_id),
            "{action}: {log:?}"
        );
    }
    a.stop(notifier).await
}

#[tokio::test]
async fn a_channel_that_fails_is_retried_without_delaying_the_others() -> anyhow::Result<()> {
    let a = Alerting::start(TestContext::new().await?).await?;
    a.channels(&a.p.staff.installer, &["paper_critical"])
        .await?;
    a.inbox.with(|s| {
        s.webhook_faults
            .extend([InboxFault::Status(500), InboxFault::Status(503)]);
        // Longer than the send timeout (1.5 s): the first e-mail times out.
        s.email_faults
            .push_back(InboxFault::Hang(Duration::from_secs(5)));
    });
    let notifier = spawn_notifier(a.p.ctx.settings.clone()).await?;
    a.paper(20).await?;
    eventually(Duration::from_secs(60), || async {
        Ok(a.counts() == (1, 1, 1))
    })
    .await?;
    let (mail, telegram, hook) = (
        a.inbox.of("email")[0].clone(),
        a.inbox.of("telegram")[0].clone(),
        a.inbox.of("webhook")[0].clone(),
    );
    // Telegram went out while the mail server hung and the webhook failed: before either of
    // their retries.
    assert!(
        telegram.at < mail.at && telegram.at < hook.at,
        "{telegram:?} {mail:?} {hook:?}"
    );
    assert_eq!(a.inbox.with(|s| s.refused), [1, 0, 2]);
    let alert_id = webhook_json(&hook)["alertId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    eventually(Duration::from_secs(10), || async {
        let open = a.alerts("open").await?;
        Ok(open.iter().any(|x| {
            let d = x["deliveries"].as_array().cloned().unwrap_or_default();
            let attempts = |kind: &str| {
                d.iter()
                    .find(|d| d["channelKind"] == kind)
                    .map(|d| (d["state"].clone(), d["attempts"].clone()))
            };
            x["id"] == alert_id
                && attempts("webhook") == Some((json!("sent"), json!(3)))
                && attempts("email") == Some((json!("sent"), json!(2)))
                && attempts("telegram") == Some((json!("sent"), json!(1)))
        }))
    })
    .await?;
    assert_eq!(a.counts(), (1, 1, 1));
    a.stop(notifier).await
}

#[tokio::test]
async fn a_muted_booth_tells_nobody_while_the_others_do() -> anyhow::Result<()> {
    let a = Alerting::start(TestContext::new().await?).await?;
    a.channels(&a.p.staff.installer, &["paper_critical"])
        .await?;
    let booth = a.p.booth;
    // Viewers cannot mute; installers can.
    let refused =
        a.p.staff
            .viewer
            .post(
                "/api/alert-mutes",
                json!({"photomatonId": booth, "minutes": 60}),
            )
            .await?;
    assert_eq!(refused.status, 403);
    let muted =
        a.p.staff
            .installer
            .post(
                "/api/alert-mutes",
                json!({"photomatonId": booth, "minutes": 60, "reason": "maintenance"}),
            )
            .await?;
    assert_eq!(muted.status, 201, "{muted:?}");
    let notifier = spawn_notifier(a.p.ctx.settings.clone()).await?;
    a.paper(20).await?;
    // The alert opens (the dashboard shows it) …
    eventually(Duration::from_secs(20), || async {
        Ok(a.alerts("open")
            .await?
            .iter()
            .any(|x| x["photomatonId"] == booth))
    })
    .await?;
    // … and a booth that is not muted, after it, is told: the notifier decides in order, so
    // the muted booth's decision was made.
    let other = a.p.staff.booth("boom-02").await?;
    // A new roll of 5 prints, declared on the dashboard, is what the live update carries.
    let reset =
        a.p.staff
            .installer
            .post(
                &format!("/api/photomatons/{other}/paper-reset"),
                json!({"remainingPrints": 5}),
            )
            .await?;
    assert_eq!(reset.status, 200, "{reset:?}");
    eventually(Duration::from_secs(20), || async {
        Ok(a.counts() == (1, 1, 1))
    })
    .await?;
    assert_eq!(
        webhook_json(&a.inbox.of("webhook")[0])["photomatonId"],
        other
    );
    assert_eq!(a.counts(), (1, 1, 1));
    // The window is listed, and ends when an installer says so.
    let mutes = a.p.staff.viewer.get("/api/alert-mutes").await?;
    let mute_id = muted.body["id"].as_str().unwrap_or_default();
    assert_eq!(mutes.body["items"][0]["id"], mute_id, "{mutes:?}");
    assert_eq!(mutes.body["items"][0]["createdBy"], "installer");
    let ended =
        a.p.staff
            .installer
            .delete(&format!("/api/alert-mutes/{mute_id}"))
            .await?;
    assert_eq!(ended.status, 204);
    // A booth's own alert delays: 10 s to a day, or the fleet's (null).
    let path = format!("/api/photomatons/{booth}");
    let patch = |body: Value| a.p.staff.admin.patch(&path, body);
    assert_eq!(patch(json!({"downAfterSecs": 5})).await?.status, 422);
    let own = patch(json!({"downAfterSecs": 30, "silentAfterSecs": 900})).await?;
    assert_eq!(
        (
            own.status,
            &own.body["downAfterSecs"],
            &own.body["silentAfterSecs"]
        ),
        (200, &json!(30), &json!(900)),
        "{own:?}"
    );
    let fleet = patch(json!({"downAfterSecs": null})).await?;
    assert_eq!(fleet.body["downAfterSecs"], Value::Null, "{fleet:?}");
    a.stop(notifier).await
}

#[tokio::test]
async fn channels_are_each_persons_own_and_checked() -> anyhow::Result<()> {
    let a = Alerting::start(TestContext::new().await?).await?;
    let staff = &a.p.staff;
    for (body, status) in [
        (
            json!({"kind": "email", "target": "not-an-address", "alertKinds": ["paper_critical"]}),
            422,
        ),
        (
            json!({"kind": "email", "target": "a@b.fr", "alertKinds": []}),
            422,
        ),
        (
            json!({"kind": "email", "target": "a@b.fr", "alertKinds": ["paper_gone"]}),
            422,
        ),
        (
            json!({"kind": "pigeon", "target": "a@b.fr", "alertKinds": ["paper_critical"]}),
            422,
        ),
        (
            json!({"kind": "telegram", "target": "@x", "alertKinds": ["booth_down"]}),
            422,
        ),
        (
            json!({"kind": "email", "target": "a@b.fr", "alertKinds": ["booth_down"], "quietHours": {"from": "23:00", "to": "7h"}}),
            422,
        ),
        // A webhook makes the server POST anywhere: not for viewers.
        (
            json!({"kind": "webhook", "target": "http://127.0.0.1:1/x", "alertKinds": ["booth_down"]}),
            403,
        ),
        (
            json!({"kind": "email", "target": "viewer@leboom.test", "alertKinds": ["booth_down"], "quietHours": {"from": "23:00", "to": "07:00"}}),
            201,
        ),
    ] {
        let reply = staff
            .viewer
            .post("/api/notification-channels", body.clone())
            .await?;
        assert_eq!(reply.status, status, "{body} → {reply:?}");
    }
    let mine = staff.viewer.get("/api/notification-channels").await?;
    let items = mine.body["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{mine:?}");
    assert_eq!(
        items[0]["quietHours"],
        json!({"from": "23:00", "to": "07:00"})
    );
    let id = items[0]["id"].as_str().unwrap_or_default();
    // Someone else's channel is not theirs to test or delete.
    let theirs = staff.installer.get("/api/notification-channels").await?;
    assert_eq!(theirs.body["items"], json!([]));
    let not_yours = staff
        .installer
        .delete(&format!("/api/notification-channels/{id}"))
        .await?;
    assert_eq!(not_yours.status, 404);
    // "Send a test" with no notifier running says so.
    let nobody = staff
        .viewer
        .post(&format!("/api/notification-channels/{id}/test"), json!({}))
        .await?;
    assert_eq!(nobody.status, 503, "{nobody:?}");
    // A notifier as deployed: webhooks may not reach private networks.
    let mut deployed = a.p.ctx.settings.clone();
    deployed.notify.webhook_private_networks = false;
    let notifier = spawn_notifier(deployed).await?;
    // Sent once the notifier answers.
    eventually(Duration::from_secs(10), || async {
        let sent = staff
            .viewer
            .post(&format!("/api/notification-channels/{id}/test"), json!({}))
            .await?;
        anyhow::ensure!(sent.status != 502, "{sent:?}");
        Ok(sent.status == 200)
    })
    .await?;
    let mail = &a.inbox.of("email")[0];
    assert_eq!(
        (mail.to.as_str(), mail.subject.as_str()),
        ("viewer@leboom.test", "Test LE BOOM : ce canal fonctionne")
    );
    // A failing channel answers its reason.
    a.inbox
        .with(|s| s.email_faults.push_back(InboxFault::Status(451)));
    let failed = staff
        .viewer
        .post(&format!("/api/notification-channels/{id}/test"), json!({}))
        .await?;
    assert_eq!(failed.status, 502, "{failed:?}");
    assert!(
        failed.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("451")),
        "{failed:?}"
    );
    let deleted = staff
        .viewer
        .delete(&format!("/api/notification-channels/{id}"))
        .await?;
    assert_eq!(deleted.status, 204);
    a.stop(notifier).await
}

#[tokio::test]
async fn a_flapping_router_keeps_one_alert_and_reminds_at_most_once_per_interval()
-> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    let pc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let router_port = {
        let probe = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        probe.local_addr()?.port()
    };
    let c = &mut ctx.settings.control;
    c.icmp = false;
    c.probe_interval_secs = 1;
    c.probe_timeout_ms = 300;
    c.heartbeat_secs = 1;
    c.lease_ttl_secs = 3;
    c.pc_tcp_port = pc.local_addr()?.port();
    c.router_tcp_port = router_port;
    let n = &mut ctx.settings.notify;
    n.down_after_secs = 1;
    n.clear_after_secs = 6;
    n.renotify_secs = 8;
    let a = Alerting::start(ctx).await?;
    a.channels(&a.p.staff.installer, &["booth_down"]).await?;
    let booth = a.p.booth;
    let set =
        a.p.staff
            .admin
            .patch(
                &format!("/api/photomatons/{booth}"),
                json!({"tailscaleIp": "127.0.0.1", "routerTailscaleIp": "127.0.0.1"}),
            )
            .await?;
    assert_eq!(set.status, 200, "{set:?}");
    let control = spawn_photomaton_control(a.p.ctx.settings.clone()).await?;
    let notifier = spawn_notifier(a.p.ctx.settings.clone()).await?;

    // The venue's 4G: the router answers 2 s, then not for 2 s, for 24 s.
    let started = tokio::time::Instant::now();
    let flapping = Duration::from_secs(24);
    while started.elapsed() < flapping {
        let router = tokio::net::TcpListener::bind(("127.0.0.1", router_port)).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(router);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let during = a.inbox.of("webhook");
    let opened: std::collections::HashSet<String> = during
        .iter()
        .map(|r| {
            webhook_json(r)["alertId"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        opened.len(),
        1,
        "one alert for the whole flapping: {during:?}"
    );
    // Told when it opened, then at most once per 8 s interval: 24 s → at most 1 + 3.
    assert!(
        (1..=4).contains(&during.len()),
        "{} messages: {during:?}",
        during.len()
    );
    assert!(during.iter().all(|r| webhook_json(r)["state"] == "open"));
    // Back for good: resolved once, after 6 s of calm.
    let _router = tokio::net::TcpListener::bind(("127.0.0.1", router_port)).await?;
    eventually(Duration::from_secs(30), || async {
        Ok(a.inbox
            .of("webhook")
            .iter()
            .any(|r| webhook_json(r)["state"] == "resolved"))
    })
    .await?;
    let all = a.inbox.of("webhook");
    assert_eq!(
        all.iter()
            .filter(|r| webhook_json(r)["state"] == "resolved")
            .count(),
        1
    );
    // The e-mails tell the same story (each channel delivers on its own).
    eventually(Duration::from_secs(10), || async {
        Ok(a.inbox.of("email").len() == all.len())
    })
    .await?;
    control.stop().await?;
    a.stop(notifier).await
}

#[tokio::test]
async fn killing_the_notifier_mid_delivery_loses_and_duplicates_nothing() -> anyhow::Result<()> {
    let a = Alerting::start(TestContext::new().await?).await?;
    a.channels(&a.p.staff.installer, &["paper_warning", "paper_critical"])
        .await?;
    let mut env = a.p.ctx.environment();
    env.extend([
        ("BOOM__NOTIFY__SMTP_URL".to_owned(), a.inbox.smtp_url()),
        (
            "BOOM__NOTIFY__FROM".to_owned(),
            "alertes@leboom.test".to_owned(),
        ),
        (
            "BOOM__NOTIFY__TELEGRAM_BOT_TOKEN".to_owned(),
            TELEGRAM_TOKEN.to_owned(),
        ),
        (
            "BOOM__NOTIFY__TELEGRAM_BASE_URL".to_owned(),
            a.inbox.http_base.clone(),
        ),
        (
            "BOOM__NOTIFY__SEND_TIMEOUT_MS".to_owned(),
            "1500".to_owned(),
        ),
        ("BOOM__NOTIFY__LEASE_TTL_SECS".to_owned(), "3".to_owned()),
        (
            "BOOM__NOTIFY__WEBHOOK_PRIVATE_NETWORKS".to_owned(),
            "true".to_owned(),
        ),
    ]);
    // The webhook fails, then hangs while the notifier is killed.
    a.inbox.with(|s| {
        s.webhook_faults.extend([
            InboxFault::Status(503),
            InboxFault::Status(503),
            InboxFault::Hang(Duration::from_secs(8)),
            InboxFault::Hang(Duration::from_secs(8)),
        ]);
    });
    let mut notifier = RunningBinary::start("boom-notifier", &env)?;
    // Paper critical: two alerts (low and critical), six deliveries.
    a.paper(20).await?;
    eventually(Duration::from_secs(30), || async {
        Ok(a.inbox.with(|s| s.refused[2]) >= 3)
    })
    .await?;
    // Mid-delivery: a webhook request is in flight, others wait for their retry.
    notifier.child.kill()?;
    notifier.child.wait()?;
    let restarted = RunningBinary::start("boom-notifier", &env)?;
    // Redelivered after the ack wait (30 s) at the latest.
    let all_in = eventually(Duration::from_secs(90), || async {
        Ok(a.counts() == (2, 2, 2))
    })
    .await;
    assert!(
        all_in.is_ok(),
        "{:?} refused {:?}: {:?}",
        a.counts(),
        a.inbox.with(|s| s.refused),
        a.alerts("open").await?
    );
    let keys: std::collections::HashSet<Option<String>> = a
        .inbox
        .of("webhook")
        .iter()
        .map(|r| r.key.clone())
        .collect();
    assert_eq!(keys.len(), 2, "two distinct deliveries");
    let kinds: std::collections::HashSet<String> = a
        .inbox
        .of("webhook")
        .iter()
        .map(|r| {
            webhook_json(r)["kind"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    // The restarted notifier found both alerts open in its book: it announced nothing again.
    let open = a.alerts("open").await?;
    assert_eq!(open.len(), 2, "{open:?}");
    eventually(Duration::from_secs(10), || async {
        let open = a.alerts("open").await?;
        Ok(open.iter().all(|x| {
            x["deliveries"]
                .as_array()
                .is_some_and(|d| d.len() == 3 && d.iter().all(|d| d["state"] == "sent"))
        }))
    })
    .await?;
    assert_eq!(a.counts(), (2, 2, 2));
    assert!(restarted.terminate()?.success());
    a.p.ingest.stop().await?;
    a.p.staff.app.stop().await
}
