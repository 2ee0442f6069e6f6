//! Scenario 5: the dashboard with the benchmark's 1,000 booths in headless Chromium, cold cache,
//! with live updates flowing (probe reports published on the bus, as photomaton-control does,
//! each turning into a booth update pushed to the page). Measured: the time until the fleet is
//! usable (its summary and first cards on screen) and until every card is drawn, the bytes
//! transferred, the longest main-thread task and the DOM nodes; then the same with the list
//! view (warm cache).
//!
//! The browser signs in from a page of the gateway that loads nothing (its health answer), so
//! that the dashboard's first load is a cold one; the long tasks are read afterwards from the
//! browser's buffer (`PerformanceObserver` with `buffered`), every one since navigation.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use boom_testkit::browser::Browser;
use boom_testkit::gateway::SignedIn;
use serde_json::{Value, json};

use crate::harness::{Service, count};

/// Probe reports published per second while the page loads and after.
const UPDATES_PER_SECOND: u64 = 50;

/// What the page went through, read once it has drawn every card and lived `settle` ms of live
/// updates: its User Timing marks, the long tasks the browser buffered since navigation (Long
/// Tasks API, `buffered`), the bytes of every response, the DOM's size.
const COLLECT: &str = r#"
const done = arguments[arguments.length - 1];
const tasks = [];
const observer = new PerformanceObserver((list) => tasks.push(...list.getEntries()));
observer.observe({ type: 'longtask', buffered: true });
setTimeout(() => {
  tasks.push(...observer.takeRecords());
  observer.disconnect();
  const at = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
  const usable = at('boom:fleet-usable'), drawn = at('boom:fleet-drawn');
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  const bytes = (nav ? nav.transferSize : 0) + resources.reduce((sum, r) => sum + (r.transferSize || 0), 0);
  const longest = (list) => list.reduce((m, t) => Math.max(m, t.duration), 0);
  done({
    usableMs: usable, drawnMs: drawn, bytes, resources: resources.length,
    longestTaskMs: longest(tasks.filter((t) => drawn === null || t.startTime <= drawn)),
    longestTaskAfterDrawnMs: longest(tasks.filter((t) => drawn !== null && t.startTime > drawn)),
    longTasks: tasks.length, longTasksOver200: tasks.filter((t) => t.duration > 200).length,
    domNodes: document.getElementsByTagName('*').length,
    cards: document.querySelectorAll('#fleet [data-booth]').length,
  });
}, 200);
"#;

/// Loads the dashboard, waits until every card is drawn, lets `settle_ms` of live updates
/// flow, then reads what the page went through.
async fn measure(browser: &Browser, base: &str, settle_ms: u64) -> anyhow::Result<Value> {
    browser.client.goto(&format!("{base}/")).await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let drawn = browser
            .client
            .execute(
                "return performance.getEntriesByName('boom:fleet-drawn').length",
                vec![],
            )
            .await?;
        if drawn == json!(1) {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the fleet was not drawn within a minute"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The booths shown unreachable, before and after the updates: that they move says the
    // updates reached the page.
    let unreachable = "return document.querySelector('#summary [data-filter=down]')?.dataset.count";
    let before = browser.client.execute(unreachable, vec![]).await?;
    tokio::time::sleep(Duration::from_millis(settle_ms)).await;
    let after = browser.client.execute(unreachable, vec![]).await?;
    let mut figures = browser.client.execute_async(COLLECT, vec![]).await?;
    figures["unreachableShown"] = json!({"whenDrawn": before, "afterUpdates": after});
    Ok(figures)
}

pub(crate) async fn run(
    ctx: &boom_testkit::TestContext,
    session: &SignedIn,
    (username, password): (&str, &str),
    gateway: &Service,
    seconds: u64,
) -> anyhow::Result<Value> {
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let booths = count(ctx, "SELECT count(*)::bigint AS n FROM photomatons").await?;
    let first = i32::try_from(count(ctx, "SELECT min(id)::bigint AS n FROM photomatons").await?)?;
    let last = i32::try_from(count(ctx, "SELECT max(id)::bigint AS n FROM photomatons").await?)?;

    // Live updates: probe reports for booths taken in turn, as photomaton-control publishes
    // them, each one a booth view pushed to the page.
    let bus = boom_bus::Bus::connect(
        &ctx.settings.nats,
        "bench-dashboard",
        boom_bus::BusMetrics::default(),
    )
    .await?;
    let stop = Arc::new(AtomicBool::new(false));
    let published = Arc::new(AtomicU64::new(0));
    let publisher = {
        let (stop, published) = (stop.clone(), published.clone());
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_micros(1_000_000 / UPDATES_PER_SECOND));
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                n += 1;
                let span = u64::try_from(last - first + 1).unwrap_or(1).max(1);
                let id = first + i32::try_from((n * 7919) % span).unwrap_or(0);
                let report = boom_contracts::messages::PhotomatonProbed {
                    photomaton_id: boom_contracts::PhotomatonId(id),
                    router_connected: true,
                    pc_connected: !n.is_multiple_of(3),
                    router_rtt_ms: Some(20.0),
                    pc_rtt_ms: None,
                    observed_at: chrono::Utc::now(),
                };
                if bus.publish(&report).await.is_ok() {
                    published.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    let browser = Browser::start().await?;
    // Signed in from a page of the gateway that loads nothing (its health answer), so that the
    // dashboard's first load is a cold one.
    browser.client.goto(&format!("{base}/api/health")).await?;
    let status = browser
        .client
        .execute_async(
            "const [user, password, done] = arguments;
             fetch('/api/auth/login', { method: 'POST', headers: { 'content-type': 'application/json' },
               body: JSON.stringify({ username: user, password }) }).then((r) => done(r.status), (e) => done(String(e)));",
            vec![json!(username), json!(password)],
        )
        .await?;
    anyhow::ensure!(status == json!(200), "cannot sign in the browser: {status}");
    let settle = seconds.min(10) * 1000;
    let cards = measure(&browser, &base, settle).await?;
    session
        .send(
            reqwest::Method::PATCH,
            "/api/auth/me",
            Some(json!({"fleetView": "list"})),
        )
        .await?;
    let list = measure(&browser, &base, settle).await?;
    session
        .send(
            reqwest::Method::PATCH,
            "/api/auth/me",
            Some(json!({"fleetView": "cards"})),
        )
        .await?;
    stop.store(true, Ordering::Relaxed);
    let _ = publisher.await;
    Ok(json!({
        "scenario": "dashboard",
        "booths": booths,
        "updatesPerSecond": UPDATES_PER_SECOND,
        "updatesPublished": published.load(Ordering::Relaxed),
        "cards": cards,
        "list": list,
        // Measured on this kind of machine before this page drew incrementally (one card per
        // booth built in one task), and for Uptime Kuma with 1,000 monitors.
        "before": {"usableMs": 740, "bytes": 686_000, "longestTaskMs": "640–710", "domNodes": 30_000},
        "uptimeKuma": {"usableMs": 6200, "bytes": 4_300_000, "longestTaskMs": 1800},
    }))
}
