//! The dashboard as a person uses it, in headless Chromium driven over WebDriver
//! (chromedriver), against the real gateway, ingest and photomaton-control. Screenshots go to
//! `screenshots/` at the top of the workspace.

use std::time::Duration;

use boom_testkit::browser::{Browser, Locator};
use serde_json::json;

use crate::helpers::{eventually, spawn_gateway, spawn_photomaton_control};
use crate::pipeline::{Pipeline, batch};

#[tokio::test]
async fn staff_watch_the_fleet_live_and_power_a_booth_on() -> anyhow::Result<()> {
    let mut ctx = boom_testkit::TestContext::new().await?;
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let pc = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    ctx.settings.control.pc_tcp_port = pc.local_addr()?.port();
    ctx.settings.control.icmp = false;
    ctx.settings.control.probe_interval_secs = 3600;
    ctx.settings.control.lease_ttl_secs = 3;
    let p = Pipeline::start(ctx).await?;
    let booth = p.booth;
    p.staff
        .admin
        .patch(
            &format!("/api/photomatons/{booth}"),
            json!({"name": "Château de Vaux", "macAddress": "00:1a:2b:3c:4d:5e",
            "tailscaleIp": "127.0.0.1", "wakeTarget": udp.local_addr()?.to_string()}),
        )
        .await?;
    p.staff.booth("boom-02").await?;
    let control = spawn_photomaton_control(p.ctx.settings.clone()).await?;
    let base = p.staff.app.address.clone();

    let browser = Browser::start().await?;
    // Signed out, the dashboard asks to sign in, in French.
    browser.client.goto(&base).await?;
    browser.wait_for("form.login").await?;
    assert_eq!(browser.text("form.login h1").await?, "Connexion");
    browser
        .sign_in(&base, "installer", crate::gateway_client::PASSWORD)
        .await?;
    let card = format!("[data-booth=\"{booth}\"]");
    browser.wait_for(&card).await?;
    assert!(
        browser
            .text(&format!("{card} h3"))
            .await?
            .contains("Château de Vaux")
    );
    assert!(
        browser.text("#user").await?.contains("Installateur"),
        "the role is visible"
    );

    // An agent batch changes the card without reload.
    assert_eq!(
        p.post(&batch(
            uuid::Uuid::new_v4(),
            "boom-01",
            &[("print", 3), ("session", 2)],
            Some(300)
        ))
        .await?
        .status,
        202
    );
    eventually(Duration::from_secs(10), || async {
        Ok(browser
            .text(&format!("{card} [data-count=prints] b"))
            .await?
            == "3"
            && browser.text(&format!("{card} .remaining")).await? == "300")
    })
    .await?;
    assert_eq!(
        browser.attr(&card, "data-paper").await?.as_deref(),
        Some("warning")
    );
    // Below the critical threshold (275), the card turns critical.
    assert_eq!(
        p.post(&batch(
            uuid::Uuid::new_v4(),
            "boom-01",
            &[("print", 1)],
            Some(200)
        ))
        .await?
        .status,
        202
    );
    eventually(Duration::from_secs(10), || async {
        Ok(browser.attr(&card, "data-paper").await?.as_deref() == Some("critical"))
    })
    .await?;
    browser.screenshot("fleet-desktop").await?;

    // Power on: packets reach the booth's wake target, the card shows pending then success.
    browser
        .client
        .find(Locator::Css(&format!("{card} button.power")))
        .await?
        .click()
        .await?;
    let mut packet = [0u8; 128];
    let (n, _) =
        tokio::time::timeout(Duration::from_secs(10), udp.recv_from(&mut packet)).await??;
    assert_eq!((n, &packet[..6]), (102, &[0xff; 6][..]));
    eventually(Duration::from_secs(15), || async {
        Ok(browser
            .attr(&format!("{card} [data-phase]"), "data-phase")
            .await?
            .as_deref()
            == Some("succeeded"))
    })
    .await?;
    // Said in French, the dashboard's first language (the English detail is in the tooltip).
    let said = browser.text(&format!("{card} [data-phase]")).await?;
    assert!(
        said.starts_with("Allumé — le PC a répondu après "),
        "{said}"
    );

    // The booth page.
    browser
        .client
        .goto(&format!("{base}/#/booth/{booth}"))
        .await?;
    browser.wait_for("section.panel").await?;
    // The power-on is on the booth's page, from the audit log: it survives a reload.
    let actions = browser.wait_for("[data-power-ons]").await?.text().await?;
    assert!(
        actions.contains("installer") && actions.contains("Résultat de l’allumage"),
        "{actions}"
    );
    assert_ne!(
        browser
            .attr("[data-paper-history]", "data-paper-history")
            .await?
            .as_deref(),
        Some("0"),
        "the paper history has points"
    );
    // Ask for a speed test: the page says it is on its way until the agent answers.
    browser
        .wait_for("[data-speed-request]")
        .await?
        .click()
        .await?;
    let requested = browser
        .wait_for("[data-speed-requested]")
        .await?
        .text()
        .await?;
    assert!(requested.starts_with("Test demandé à "), "{requested}");
    browser.screenshot("booth-page").await?;

    // Pair a PC: the page shows a code, the PC redeems it, and the booth's old key is gone.
    // (Back to the top first: the charts below have made the page longer than the screen, and
    // the sticky header would take the click.)
    browser
        .client
        .execute("window.scrollTo(0, 0)", vec![])
        .await?;
    browser.wait_for("[data-pair]").await?.click().await?;
    let code = browser
        .wait_for("[data-pairing-code]")
        .await?
        .text()
        .await?;
    assert_eq!(code.len(), 6, "{code}");
    browser.screenshot("pairing").await?;
    let mut env = p.ctx.environment();
    env.retain(|(name, _)| name.starts_with("BOOM__AGENT__"));
    let ingest = p.ingest.address.clone();
    let (status, stdout, stderr) = tokio::task::spawn_blocking(move || {
        crate::helpers::run_binary(
            "boom-agent",
            &["pair", "--ingest-url", &ingest, &code],
            &env,
            "",
        )
    })
    .await??;
    assert_eq!(status, 0, "{stderr}");
    assert!(stdout.contains("paired with booth boom-01"), "{stdout}");
    assert_eq!(
        p.post(&json!({})).await?.status,
        401,
        "the old key stopped working"
    );
    browser
        .client
        .find(Locator::Css("dialog[data-pairing] button.primary"))
        .await?
        .click()
        .await?;

    // The paired agent runs (no key typed) with one harmless remote command configured; the
    // installer sends it from the booth page and sees its result arrive live.
    let mut env = p.ctx.environment();
    env.retain(|(name, _)| name.starts_with("BOOM__AGENT__"));
    env.extend([
        (
            "BOOM__AGENT__COMMANDS__SAY_HELLO".to_owned(),
            "echo hello from the booth".to_owned(),
        ),
        (
            "BOOM__AGENT__COMMAND_INTERVAL_SECS".to_owned(),
            "1".to_owned(),
        ),
        (
            "BOOM__AGENT__SPEEDTEST_INTERVAL_SECS".to_owned(),
            "0".to_owned(),
        ),
    ]);
    let agent = crate::helpers::RunningBinary::start("boom-agent", &env)?;
    let done = "[data-command=\"say_hello\"][data-status=\"succeeded\"]";
    let mut sent = false;
    for _ in 0..5 {
        // A live update may redraw the page while typing: type again if nothing was sent.
        let attempt = async {
            let input = browser
                .wait_for("[data-commands] input[name=command]")
                .await?;
            input.send_keys("say_hello").await?;
            browser
                .client
                .find(Locator::Css("[data-commands] button[type=submit]"))
                .await?
                .click()
                .await?;
            browser
                .client
                .wait()
                .at_most(Duration::from_secs(3))
                .for_element(Locator::Css("[data-command=\"say_hello\"]"))
                .await?;
            anyhow::Ok(())
        }
        .await;
        if attempt.is_ok() {
            sent = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(sent, "the command never showed on the page");
    eventually(Duration::from_secs(15), || async {
        Ok(browser.client.find(Locator::Css(done)).await.is_ok())
    })
    .await?;
    let row = browser.text(done).await?;
    assert!(
        row.contains("Réussie") && row.contains("hello from the booth"),
        "{row}"
    );
    browser.screenshot("remote-command").await?;
    assert!(agent.terminate()?.success());

    // A phone.
    browser.client.set_window_size(390, 844).await?;
    browser.client.goto(&format!("{base}/#/")).await?;
    browser.wait_for(&card).await?;
    browser.screenshot("fleet-phone").await?;
    browser.client.set_window_size(1440, 900).await?;

    // English, remembered for the user.
    browser
        .client
        .find(Locator::Css("#lang"))
        .await?
        .click()
        .await?;
    eventually(Duration::from_secs(5), || async {
        Ok(browser.text("nav a[href='#/']").await? == "Fleet")
    })
    .await?;
    assert_eq!(
        p.staff.installer.get("/api/auth/me").await?.body["preferredLanguage"],
        "en"
    );

    // Sign out.
    browser
        .client
        .find(Locator::Css("#logout"))
        .await?
        .click()
        .await?;
    browser.wait_for("form.login").await?;

    // A viewer sees the fleet but no Power on button.
    browser
        .sign_in(&base, "viewer", crate::gateway_client::PASSWORD)
        .await?;
    browser.wait_for(&card).await?;
    assert!(
        browser
            .client
            .find(Locator::Css(&format!("{card} button.power")))
            .await
            .is_err(),
        "no Power on for a viewer"
    );

    browser.client.clone().close().await?;
    control.stop().await?;
    p.staff.app.stop().await
}

#[tokio::test]
async fn the_dashboard_reconnects_after_the_gateway_restarts_and_shows_fresh_state()
-> anyhow::Result<()> {
    let ctx = boom_testkit::TestContext::new().await?;
    let p = Pipeline::start(ctx).await?;
    let booth = p.booth;
    let port = url::Url::parse(&p.staff.app.address)?.port().unwrap_or(0);
    let base = p.staff.app.address.clone();
    let browser = Browser::start().await?;
    browser
        .sign_in(&base, "viewer", crate::gateway_client::PASSWORD)
        .await?;
    let card = format!("[data-booth=\"{booth}\"]");
    browser.wait_for(&card).await?;
    eventually(Duration::from_secs(5), || async {
        Ok(browser
            .attr("#live", "class")
            .await?
            .is_some_and(|c| c.contains("on")))
    })
    .await?;

    // The gateway goes away; the page says so.
    let mut settings = p.ctx.settings.clone();
    let Pipeline {
        staff,
        ingest,
        key,
        ctx,
        ..
    } = p;
    staff.app.stop().await?;
    eventually(Duration::from_secs(10), || async {
        Ok(browser.attr("#banner", "hidden").await?.is_none())
    })
    .await?;
    // Meanwhile a booth reports.
    let body = batch(
        uuid::Uuid::new_v4(),
        "boom-01",
        &[("digital", 4)],
        Some(650),
    );
    let reply = reqwest::Client::new()
        .post(format!("{}/api/agent/sync", ingest.address))
        .bearer_auth(&key)
        .json(&body)
        .send()
        .await?;
    assert_eq!(reply.status().as_u16(), 202);
    // The gateway comes back on the same address: the page reconnects and shows the new state.
    settings.http.addr = format!("127.0.0.1:{port}");
    let gateway = spawn_gateway(settings).await?;
    eventually(Duration::from_secs(40), || async {
        Ok(browser.attr("#banner", "hidden").await?.is_some()
            && browser
                .text(&format!("{card} [data-count=digital] b"))
                .await?
                == "4"
            && browser.text(&format!("{card} .remaining")).await? == "650")
    })
    .await?;
    browser.client.clone().close().await?;
    drop(ctx);
    gateway.stop().await
}

#[tokio::test]
async fn an_admin_changes_a_role_and_filters_the_audit_log() -> anyhow::Result<()> {
    let ctx = boom_testkit::TestContext::new().await?;
    let staff = crate::gateway_client::Staff::start(&ctx).await?;
    let base = staff.app.address.clone();
    let browser = Browser::start().await?;
    browser
        .sign_in(&base, "admin", crate::gateway_client::PASSWORD)
        .await?;
    browser.client.goto(&format!("{base}/#/admin")).await?;

    // The viewer becomes an installer.
    let select = browser.wait_for("select[data-role-of=viewer]").await?;
    select.select_by_value("INSTALLER").await?;
    eventually(Duration::from_secs(10), || async {
        let users = staff.admin.get("/api/users").await?.body;
        Ok(users["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|u| u["username"] == "viewer" && u["role"] == "INSTALLER"))
    })
    .await?;

    // Only the role changes in the audit log, once filtered. The page is drawn again once the
    // change is saved: wait for that drawing (it shows the change) before using its form.
    eventually(Duration::from_secs(10), || async {
        Ok(browser
            .text("[data-audit]")
            .await
            .is_ok_and(|t| t.contains("Compte modifié")))
    })
    .await?;
    let filter = browser.wait_for("form[data-audit-filter]").await?;
    filter
        .find(Locator::Css("input[name=action]"))
        .await?
        .send_keys("user.update")
        .await?;
    filter
        .find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    eventually(Duration::from_secs(10), || async {
        let rows = browser
            .client
            .find_all(Locator::Css("[data-audit] tr td:nth-child(3)"))
            .await?;
        // Said in words, the code in the cell's title.
        let mut actions = Vec::new();
        for row in rows {
            actions.push((row.text().await?, row.attr("title").await?));
        }
        Ok(actions == [("Compte modifié".to_owned(), Some("user.update".to_owned()))])
    })
    .await?;
    browser.screenshot("admin").await?;
    staff.app.stop().await
}

/// What could not be counted is shown where people act on it: a booth's refused lines on its
/// page (its PC's clock is wrong), and messages set aside on the admin page.
#[tokio::test]
async fn refused_lines_and_set_aside_messages_are_shown() -> anyhow::Result<()> {
    let p = crate::pipeline::Pipeline::start(boom_testkit::TestContext::new().await?).await?;
    let two_years_ago = (chrono::Utc::now() - chrono::Duration::days(730)).to_rfc3339();
    let reply = p
        .post(&serde_json::json!({
            "batchId": uuid::Uuid::new_v4(),
            "hostname": "boom-01",
            "stats": [
                {"type": "print", "count": 1, "timestamp": chrono::Utc::now()},
                {"type": "print", "count": 1, "timestamp": two_years_ago},
            ],
        }))
        .await?;
    assert_eq!(reply.status, 202, "{reply:?}");
    let bus = boom_bus::Bus::connect(
        &p.ctx.settings.nats,
        "test",
        boom_bus::BusMetrics::default(),
    )
    .await?;
    bus.jetstream()
        .publish(
            <boom_contracts::AgentBatchAccepted as boom_contracts::messages::BusMessage>::subject(
                bus.namespace(),
            ),
            "not a batch".into(),
        )
        .await?
        .await?;
    // Both are recorded before the pages are opened.
    eventually(Duration::from_secs(10), || async {
        let refused = p
            .staff
            .admin
            .get(&format!("/api/photomatons/{}/refused-lines", p.booth))
            .await?;
        let set_aside = p.staff.admin.get("/api/dead-letters").await?;
        Ok(refused.body["items"]
            .as_array()
            .is_some_and(|i| !i.is_empty())
            && set_aside.body["items"]
                .as_array()
                .is_some_and(|i| !i.is_empty()))
    })
    .await?;
    let base = p.staff.app.address.clone();
    let browser = Browser::start().await?;
    browser
        .sign_in(&base, "admin", crate::gateway_client::PASSWORD)
        .await?;
    browser
        .client
        .goto(&format!("{base}/#/booth/{}", p.booth))
        .await?;
    browser.wait_for("[data-refused]").await?;
    let panel = browser.text("[data-refused]").await?;
    assert!(
        panel.contains("Lignes refusées") && panel.contains("more than a year old"),
        "{panel}"
    );
    browser
        .client
        .execute(
            "document.querySelector('[data-refused]').scrollIntoView()",
            vec![],
        )
        .await?;
    browser.screenshot("refused-lines").await?;
    browser.client.goto(&format!("{base}/#/admin")).await?;
    browser.wait_for("[data-dead-letters]").await?;
    let panel = browser.text("[data-dead-letters]").await?;
    assert!(
        panel.contains("Messages mis de côté") && panel.contains("not a batch"),
        "{panel}"
    );
    p.staff.app.stop().await
}

/// The whole way of an alert, as the staff lives it: an installer sets up e-mail and a webhook
/// on the alerts page; an agent's batch takes the paper below critical; the banner shows at
/// once, one e-mail and one webhook arrive; the installer takes it; a new roll declared on the
/// booth page resolves it and the "resolved" message goes out.
#[tokio::test]
async fn paper_critical_alerts_the_installer_who_takes_it_and_a_new_roll_ends_it()
-> anyhow::Result<()> {
    let inbox = boom_testkit::inbox::Inbox::start().await?;
    let mut ctx = boom_testkit::TestContext::new().await?;
    crate::notifier::notify_settings(&mut ctx, &inbox);
    let p = Pipeline::start(ctx).await?;
    let notifier = crate::helpers::spawn_notifier(p.ctx.settings.clone()).await?;
    let base = p.staff.app.address.clone();
    let browser = Browser::start().await?;
    browser
        .sign_in(&base, "installer", crate::gateway_client::PASSWORD)
        .await?;
    browser.client.goto(&format!("{base}/#/alerts")).await?;
    let hook = format!("{}/hook/equipe", inbox.http_base);
    for (n, (kind, target)) in [
        ("email", "installateur@leboom.test"),
        ("webhook", hook.as_str()),
    ]
    .into_iter()
    .enumerate()
    {
        let form = browser.wait_for("form[data-channel-form]").await?;
        form.find(Locator::Css("select[name=kind]"))
            .await?
            .select_by_value(kind)
            .await?;
        form.find(Locator::Css("input[name=target]"))
            .await?
            .send_keys(target)
            .await?;
        // Only "paper critical".
        for checkbox in form
            .find_all(Locator::Css("input[name=alertKinds]"))
            .await?
        {
            let wanted = checkbox.attr("value").await?.as_deref() == Some("paper_critical");
            if checkbox.is_selected().await? != wanted {
                checkbox.click().await?;
            }
        }
        form.find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        browser
            .wait_for(&format!("[data-channels='{}']", n + 1))
            .await?;
    }

    // The agent reports 20 prints left.
    let reply = p
        .post(&batch(
            uuid::Uuid::new_v4(),
            "boom-01",
            &[("print", 3)],
            Some(20),
        ))
        .await?;
    assert_eq!(reply.status, 202, "{reply:?}");
    eventually(Duration::from_secs(20), || async {
        Ok(inbox.of("email").len() == 1 && inbox.of("webhook").len() == 1)
    })
    .await?;
    let mail = &inbox.of("email")[0];
    assert_eq!(mail.to, "installateur@leboom.test");
    assert!(
        mail.subject.starts_with("Papier critique"),
        "{}",
        mail.subject
    );
    let alert = inbox.of("webhook")[0].json.clone().unwrap_or_default();
    assert_eq!(
        (&alert["kind"], &alert["state"]),
        (&json!("paper_critical"), &json!("open"))
    );
    let id = alert["alertId"].as_str().unwrap_or_default().to_owned();

    // On screen: the alert and where its messages went, live.
    eventually(Duration::from_secs(10), || async {
        Ok(browser
            .text(&format!("tr[data-alert='{id}']"))
            .await
            .is_ok_and(|t| t.contains("Papier critique") && t.matches("envoyé").count() == 2))
    })
    .await?;
    browser.screenshot("alerts").await?;
    browser
        .wait_for(&format!("button[data-ack='{id}']"))
        .await?
        .click()
        .await?;
    eventually(Duration::from_secs(10), || async {
        Ok(browser
            .text(&format!("tr[data-alert='{id}']"))
            .await
            .is_ok_and(|t| t.contains("pris en charge par installer")))
    })
    .await?;

    // A new roll, declared on the booth page, ends it.
    browser
        .client
        .goto(&format!("{base}/#/booth/{}", p.booth))
        .await?;
    let reset = browser.wait_for("form input[name=prints]").await?;
    let form = reset.find(Locator::XPath("./ancestor::form")).await?;
    form.find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    eventually(Duration::from_secs(20), || async {
        Ok(inbox.of("email").len() == 2 && inbox.of("webhook").len() == 2)
    })
    .await?;
    let resolved = inbox.of("webhook")[1].json.clone().unwrap_or_default();
    assert_eq!(
        (&resolved["state"], &resolved["alertId"]),
        (&json!("resolved"), &json!(id))
    );
    assert!(
        inbox.of("email")[1]
            .subject
            .starts_with("Résolu — Papier critique")
    );
    assert_eq!(inbox.of("telegram").len(), 0);
    notifier.stop().await?;
    p.ingest.stop().await?;
    p.staff.app.stop().await
}

/// An event's page, as the staff opens it after the party: its totals, booths and hours, its
/// exports; and the report the client gets, as a printable page.
/// Moves the pointer over the middle of a chart (as a mouse would: uPlot listens on its
/// overlay) and answers the tooltip's text.
async fn hover_chart(browser: &Browser, chart: &str) -> anyhow::Result<String> {
    browser
        .client
        .execute(
            "const over = document.querySelector(arguments[0] + ' .u-over');
             const r = over.getBoundingClientRect();
             const at = { clientX: r.left + r.width / 2, clientY: r.top + r.height / 2, bubbles: true };
             over.dispatchEvent(new MouseEvent('mouseenter', at));
             over.dispatchEvent(new MouseEvent('mousemove', at));",
            vec![json!(chart)],
        )
        .await?;
    let tip = browser
        .wait_for(&format!("{chart} .chart-tip:not([hidden])"))
        .await?;
    Ok(tip.text().await?)
}

#[tokio::test]
async fn the_event_page_and_the_client_report() -> anyhow::Result<()> {
    let p = Pipeline::start(boom_testkit::TestContext::new().await?).await?;
    let now = chrono::Utc::now();
    let lines: Vec<serde_json::Value> = (0..4)
        .flat_map(|h| {
            let at = (now - chrono::Duration::hours(h)).to_rfc3339();
            [
                json!({"type": "session", "count": 3 + h, "timestamp": at}),
                json!({"type": "print", "count": 5 + 2 * h, "timestamp": at}),
                json!({"type": "digital", "count": 2, "timestamp": at}),
            ]
        })
        .collect();
    let reply = p
        .post(&json!({"batchId": uuid::Uuid::new_v4(), "hostname": "boom-01", "stats": lines, "paperLevel": 512}))
        .await?;
    assert_eq!(reply.status, 202, "{reply:?}");
    let event = p.event;
    eventually(Duration::from_secs(10), || async {
        let detail = p.staff.viewer.get(&format!("/api/events/{event}")).await?;
        Ok(detail.body["totals"]["prints"] == 32)
    })
    .await?;
    let base = p.staff.app.address.clone();
    let browser = Browser::start().await?;
    browser
        .sign_in(&base, "viewer", crate::gateway_client::PASSWORD)
        .await?;
    // The completed events are searched by client: the search goes into the address.
    browser.client.goto(&format!("{base}/#/events")).await?;
    browser
        .wait_for("[data-event-search] input[name=client]")
        .await?
        .send_keys("Martin")
        .await?;
    browser
        .client
        .find(Locator::Css("[data-event-search] button[type=submit]"))
        .await?
        .click()
        .await?;
    browser
        .wait_for("[data-event-results='client=Martin'] [data-event-done='0']")
        .await?;
    assert!(
        browser
            .client
            .current_url()
            .await?
            .as_str()
            .ends_with("#/events?client=Martin")
    );
    assert_eq!(
        browser
            .attr("[data-event-search] input[name=client]", "value")
            .await?
            .as_deref(),
        Some("Martin"),
        "the form shows the search it made"
    );
    browser
        .wait_for(&format!("tr[data-event='{event}'] a"))
        .await?
        .click()
        .await?;
    browser.wait_for("[data-event-hours]").await?;
    let totals = browser.text("[data-event-totals]").await?;
    assert!(
        totals.contains("32") && totals.contains("Impr."),
        "{totals}"
    );
    assert_eq!(
        browser
            .attr("[data-event-hours]", "data-event-hours")
            .await?
            .as_deref(),
        Some("4")
    );
    // The charts: drawn by uPlot, with a legend naming each series, and a tooltip that gives
    // the hour's figures under the pointer.
    browser
        .wait_for("[data-event-chart] [data-chart-ready]")
        .await?;
    let legend = browser.text("[data-event-chart] .u-legend").await?;
    assert!(
        legend.contains("Sessions") && legend.contains("Impr."),
        "{legend}"
    );
    let tip = hover_chart(&browser, "[data-event-chart]").await?;
    assert!(tip.contains("Sessions : "), "{tip}");
    browser
        .wait_for("[data-event-paper] [data-chart-ready]")
        .await?;
    let uptime = browser.text("[data-event-uptime]").await?;
    assert!(
        uptime.contains("Booth boom-01") && uptime.contains("jamais sondé"),
        "{uptime}"
    );
    browser.screenshot("event-page").await?;

    // The booth page's charts: paper over time and the event's media per hour.
    let booth = p.booth_id()?;
    browser
        .client
        .goto(&format!("{base}/#/booth/{booth}"))
        .await?;
    browser
        .wait_for("[data-paper-history] [data-chart-ready]")
        .await?;
    browser
        .wait_for("section.panel .chart-box[data-chart-ready]")
        .await?;
    let charts = browser
        .client
        .find_all(Locator::Css(".chart-box[data-chart-ready] canvas"))
        .await?;
    assert!(charts.len() >= 2, "paper and media per hour");
    browser
        .client
        .execute(
            "document.querySelector('[data-paper-history]').scrollIntoView(); window.scrollBy(0, -70)",
            vec![],
        )
        .await?;
    browser.screenshot("booth-charts").await?;

    browser
        .client
        .goto(&format!("{base}/api/events/{event}/report"))
        .await?;
    let report = browser.wait_for("[data-totals]").await?.text().await?;
    assert!(
        report.contains("32") && report.contains("impressions"),
        "{report}"
    );
    assert!(browser.text("h1").await?.contains("Mariage Dupont"));
    browser.wait_for("#timeline [data-chart-ready]").await?;
    let legend = browser.text("#timeline .u-legend").await?;
    assert!(legend.contains("Impressions"), "{legend}");
    browser.screenshot("event-report").await?;
    p.ingest.stop().await?;
    p.staff.app.stop().await
}

/// axe-core's script, fetched beside the build cache by `scripts/browser.sh`.
fn axe_script() -> anyhow::Result<String> {
    let exe = std::env::current_exe()?;
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or_else(|| anyhow::anyhow!("no target directory"))?;
    let path = target.join("axe-core-4.14.1/axe.min.js");
    std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} — run the tests with `just test` (scripts/browser.sh fetches axe-core)",
            path.display()
        )
    })
}

/// Runs axe-core over the page as it is and answers its serious and critical violations, one
/// line each (rule, impact, the first elements concerned).
async fn accessibility_violations(browser: &Browser) -> anyhow::Result<Vec<String>> {
    browser.client.execute(&axe_script()?, vec![]).await?;
    let found = browser
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then((r) => done(r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
                 .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(', ')}`)))
               .catch((e) => done([`axe failed: ${e}`]));",
            vec![],
        )
        .await?;
    Ok(serde_json::from_value(found)?)
}

#[tokio::test]
async fn the_fleet_at_a_glance_filters_lists_works_offline_and_is_accessible() -> anyhow::Result<()>
{
    let p = Pipeline::start(boom_testkit::TestContext::new().await?).await?;
    let bus = p.bus().await?;
    let probe = |id: i64, router: bool, pc: bool| {
        crate::pipeline::probe(&bus, id, (router, pc), chrono::Utc::now())
    };
    // Five booths: one well at its event, one whose PC does not answer, one never reached,
    // one on its last prints, one getting low.
    let well = p.booth;
    let pc_down = p.staff.booth("boom-02").await?;
    let never = p.staff.booth("boom-03").await?;
    let critical = p.staff.booth("boom-04").await?;
    let low = p.staff.booth("boom-05").await?;
    assert_eq!(
        p.post(&batch(
            uuid::Uuid::new_v4(),
            "boom-01",
            &[("print", 2)],
            Some(600)
        ))
        .await?
        .status,
        202
    );
    probe(well, true, true).await?;
    probe(pc_down, true, false).await?;
    probe(critical, true, true).await?;
    probe(low, true, true).await?;
    for (booth, left) in [(critical, 100), (low, 300)] {
        let reply = p
            .staff
            .installer
            .post(
                &format!("/api/photomatons/{booth}/paper-reset"),
                json!({"remainingPrints": left}),
            )
            .await?;
        assert_eq!(reply.status, 200, "{reply:?}");
    }

    let base = p.staff.app.address.clone();
    let browser = Browser::start().await?;
    browser
        .sign_in(&base, "admin", crate::gateway_client::PASSWORD)
        .await?;
    let count = |filter: &'static str| {
        let browser = &browser;
        async move {
            anyhow::Ok(
                browser
                    .attr(&format!("#summary [data-filter='{filter}']"), "data-count")
                    .await?
                    .unwrap_or_default(),
            )
        }
    };
    eventually(Duration::from_secs(10), || async {
        Ok(count("down").await? == "2"
            && count("paperCritical").await? == "1"
            && count("paperWarning").await? == "1")
    })
    .await?;
    assert_eq!(count("").await?, "5");
    assert_eq!(count("event").await?, "1");
    assert_eq!(count("agentSilent").await?, "0");
    // Each card says its worst state, in words and in colour.
    for (booth, level, words) in [
        (pc_down, "critical", "PC injoignable"),
        (never, "critical", "Injoignable (routeur et PC)"),
        (critical, "critical", "Papier critique"),
        (low, "warning", "Papier bas"),
        (well, "ok", "Tout va bien"),
    ] {
        let card = format!("#fleet [data-booth='{booth}']");
        assert_eq!(
            browser.attr(&card, "data-level").await?.as_deref(),
            Some(level),
            "{card}"
        );
        let said = browser.text(&format!("{card} [data-state]")).await?;
        assert!(said.contains(words), "{card}: {said}");
    }
    browser.screenshot("fleet-summary").await?;

    // A filter is a link: the same view from the address.
    browser
        .client
        .find(Locator::Css("#summary [data-filter='down']"))
        .await?
        .click()
        .await?;
    let shown = |browser: &Browser| {
        let client = browser.client.clone();
        async move {
            anyhow::Ok(
                client
                    .find_all(Locator::Css("#fleet [data-booth]"))
                    .await?
                    .len(),
            )
        }
    };
    eventually(Duration::from_secs(5), || async {
        Ok(shown(&browser).await? == 2)
    })
    .await?;
    assert!(
        browser
            .client
            .current_url()
            .await?
            .as_str()
            .ends_with("#/?only=down")
    );
    browser.client.goto(&format!("{base}/#/?only=down")).await?;
    browser.client.refresh().await?;
    browser.wait_for("#fleet [data-booth]").await?;
    eventually(Duration::from_secs(5), || async {
        Ok(shown(&browser).await? == 2)
    })
    .await?;

    // The booth that was well loses its PC: its card turns red at once, and joins the filter.
    probe(well, true, false).await?;
    eventually(Duration::from_secs(10), || async {
        Ok(count("down").await? == "3" && shown(&browser).await? == 3)
    })
    .await?;
    assert_eq!(
        browser
            .attr(&format!("#fleet [data-booth='{well}']"), "data-level")
            .await?
            .as_deref(),
        Some("critical")
    );

    // The list view, remembered on the account, sorted by a column.
    browser.client.goto(&format!("{base}/#/")).await?;
    browser
        .wait_for("[data-view='list']")
        .await?
        .click()
        .await?;
    browser.wait_for("table.fleet-list tr[data-booth]").await?;
    eventually(Duration::from_secs(5), || async {
        Ok(p.staff.admin.get("/api/auth/me").await?.body["fleetView"] == "list")
    })
    .await?;
    browser
        .wait_for("[data-sort='name']")
        .await?
        .click()
        .await?;
    browser
        .wait_for("table.fleet-list th[aria-sort='ascending'] [data-sort='name']")
        .await?;
    let first = browser
        .text("table.fleet-list tbody tr:first-child th")
        .await?;
    assert!(first.starts_with("Booth boom-01"), "{first}");
    let violations = accessibility_violations(&browser).await?;
    assert!(violations.is_empty(), "list view: {violations:#?}");

    // On a phone: the list, nothing wider than the screen.
    browser.client.set_window_size(390, 844).await?;
    browser.client.refresh().await?;
    browser.wait_for("table.fleet-list tr[data-booth]").await?;
    let overflow = browser
        .client
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
            vec![],
        )
        .await?;
    assert_eq!(overflow, json!(0), "no horizontal scroll on a phone");
    browser.screenshot("fleet-list-phone").await?;
    let violations = accessibility_violations(&browser).await?;
    assert!(
        violations.is_empty(),
        "list view on a phone: {violations:#?}"
    );

    // Back to cards: no serious accessibility violation there either.
    browser.client.set_window_size(1440, 900).await?;
    browser
        .wait_for("[data-view='cards']")
        .await?
        .click()
        .await?;
    browser.wait_for("#fleet .card[data-booth]").await?;
    let violations = accessibility_violations(&browser).await?;
    assert!(violations.is_empty(), "cards: {violations:#?}");

    // The network drops: the page still opens, with the last fleet it saw, marked stale.
    eventually(Duration::from_secs(10), || async {
        Ok(browser
            .client
            .execute("return !!navigator.serviceWorker.controller", vec![])
            .await?
            == json!(true))
    })
    .await?;
    browser.client.refresh().await?;
    browser.wait_for("#fleet .card[data-booth]").await?;
    p.staff.app.stop().await?;
    browser.client.refresh().await?;
    let banner = browser.wait_for("#banner[data-stale='true']").await?;
    assert!(
        banner
            .text()
            .await?
            .starts_with("Hors ligne — dernier état connu"),
        "{:?}",
        banner.text().await
    );
    eventually(Duration::from_secs(5), || async {
        Ok(shown(&browser).await? == 5)
    })
    .await?;
    browser.screenshot("fleet-offline").await?;
    p.ingest.stop().await
}

/// What broke when the dashboard was tried as a new user would: each point, as a person sees it.
#[tokio::test]
async fn the_dashboard_as_staff_use_it() -> anyhow::Result<()> {
    let p = Pipeline::start(boom_testkit::TestContext::new().await?).await?;
    let booth = p.booth;
    let base = p.staff.app.address.clone();
    let browser = Browser::start().await?;
    let post = || async {
        let reply = p
            .post(&batch(
                uuid::Uuid::new_v4(),
                "boom-01",
                &[("print", 1)],
                None,
            ))
            .await?;
        anyhow::Ok(reply.status)
    };

    // Signed out: no navigation, and a refused sign-in said in French.
    browser.client.goto(&base).await?;
    browser.wait_for("form.login").await?;
    let nav = browser
        .client
        .execute(
            "return getComputedStyle(document.querySelector('#nav')).display",
            vec![],
        )
        .await?;
    assert_eq!(nav, json!("none"), "the sign-in page shows no navigation");
    browser
        .wait_for("form.login input[name=username]")
        .await?
        .send_keys("admin")
        .await?;
    browser
        .client
        .find(Locator::Css("form.login input[name=password]"))
        .await?
        .send_keys("not the password")
        .await?;
    browser
        .client
        .find(Locator::Css("form.login button[type=submit]"))
        .await?
        .click()
        .await?;
    eventually(Duration::from_secs(5), || async {
        Ok(browser
            .text("form.login .error")
            .await?
            .starts_with("Nom d’utilisateur ou mot de passe incorrect."))
    })
    .await?;
    browser.client.refresh().await?;
    browser
        .sign_in(&base, "admin", crate::gateway_client::PASSWORD)
        .await?;

    // Typing a new roll survives 15 s of live updates of that booth; 5,000 prints on a
    // 700-print booth is refused, in French, next to the field.
    browser
        .client
        .goto(&format!("{base}/#/booth/{booth}"))
        .await?;
    let field = "[data-paper-reset] input[name=prints]";
    browser.wait_for(field).await?.send_keys("650").await?;
    for _ in 0..15 {
        assert_eq!(post().await?, 202);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(
        browser
            .wait_for(field)
            .await?
            .prop("value")
            .await?
            .as_deref(),
        Some("650"),
        "what the person typed is still there"
    );
    let input = browser.wait_for(field).await?;
    input.clear().await?;
    input.send_keys("5000").await?;
    browser
        .client
        .find(Locator::Css("[data-paper-reset] button[type=submit]"))
        .await?
        .click()
        .await?;
    let said = browser
        .wait_for("[data-paper-reset] [data-outcome].error")
        .await?
        .text()
        .await?;
    assert_eq!(
        said,
        "Un rouleau tient au plus 700 impressions sur ce photomaton."
    );
    let view = p
        .staff
        .admin
        .get(&format!("/api/photomatons/{booth}"))
        .await?;
    assert_ne!(view.body["remainingPrints"], 5000, "nothing was changed");

    // The fleet's search keeps the focus while updates arrive for the booths it hides.
    browser.client.goto(&format!("{base}/#/")).await?;
    let search = browser.wait_for("input[type=search]").await?;
    search.send_keys("zzz").await?;
    for _ in 0..4 {
        assert_eq!(post().await?, 202);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let focused = browser
        .client
        .execute(
            "return document.activeElement?.getAttribute('type')",
            vec![],
        )
        .await?;
    assert_eq!(focused, json!("search"), "the search keeps the focus");

    // A new agent key is asked for first, with what it does; cancelled, nothing changed.
    browser.client.goto(&format!("{base}/#/admin")).await?;
    browser
        .wait_for(&format!("[data-new-key='{booth}']"))
        .await?
        .click()
        .await?;
    let asked = browser
        .wait_for(&format!("[data-key-confirm='{booth}']"))
        .await?
        .text()
        .await?;
    assert!(
        asked.contains("cessera de fonctionner immédiatement"),
        "{asked}"
    );
    browser.wait_for("[data-key-cancel]").await?.click().await?;
    assert_eq!(post().await?, 202, "cancelled: the agent's key still works");
    browser
        .wait_for(&format!("[data-new-key='{booth}']"))
        .await?
        .click()
        .await?;
    browser
        .wait_for("[data-key-replace]")
        .await?
        .click()
        .await?;
    browser.wait_for("dialog code.key").await?;
    assert_eq!(post().await?, 401, "replaced: the old key is refused");
    browser.screenshot("new-key").await?;
    browser
        .client
        .execute("document.querySelector('dialog')?.close()", vec![])
        .await?;

    // A phone: no page is wider than the screen.
    browser.client.set_window_size(390, 844).await?;
    for (page, ready) in [
        ("#/".to_owned(), "#fleet [data-booth]"),
        (format!("#/booth/{booth}"), "[data-paper-history]"),
        ("#/events".to_owned(), "[data-event-results]"),
        (format!("#/event/{}", p.event), "[data-event-hours]"),
        ("#/alerts".to_owned(), "section.panel"),
        ("#/admin".to_owned(), "[data-audit]"),
    ] {
        browser.client.goto(&format!("{base}/{page}")).await?;
        browser.wait_for(ready).await?;
        let overflow = browser
            .client
            .execute(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth",
                vec![],
            )
            .await?;
        assert_eq!(overflow, json!(0), "{page} scrolls sideways on a phone");
    }
    browser.screenshot("admin-phone").await?;
    p.ingest.stop().await?;
    p.staff.app.stop().await
}
