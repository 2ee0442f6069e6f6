//! Scenario 5: the dashboard with the benchmark's 1,000 booths in headless Chromium, cold cache,
//! with live updates flowing (probe reports published on the bus, as photomaton-control does,
//! each turning into a booth update pushed to the page). Measured: the time until the fleet is
//! usable (its summary and first cards on screen) and until every card is drawn, the bytes
//! transferred, the longest main-thread task and the DOM nodes; then the same with the list
//! view (warm cache).
//!
//! The dashboard is loaded in a same-origin frame of a page of the gateway: the parent's
//! `PerformanceObserver` sees every long task of the frame from its very first script (Long
//! Tasks API, `same-origin-descendant`), which an observer installed after the page loaded
//! would miss.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use boom_testkit::browser::Browser;
use boom_testkit::gateway::SignedIn;
use serde_json::{Value, json};

use crate::harness::{Service, count};

/// Probe reports published per second while the page loads and after.
const UPDATES_PER_SECOND: u64 = 50;

/// Loads the dashboard in a frame and measures it; `settle` ms of live updates after the last
/// card is drawn.
const MEASURE: &str = r#"
const [total, settle, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
const tasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) tasks.push({ start: e.startTime, duration: e.duration });
}).observe({ type: 'longtask' });
document.body.replaceChildren();
const frame = document.createElement('iframe');
frame.style.cssText = 'border:0;width:1440px;height:900px';
const t0 = performance.now();
let usable = null, drawn = null;
frame.src = '/';
document.body.append(frame);
const poll = setInterval(() => {
  const doc = frame.contentDocument;
  const fleet = doc && doc.querySelector('#fleet');
  const n = fleet ? Number(fleet.dataset.drawn || 0) : 0;
  if (usable === null && n > 0 && doc.querySelector('#summary')) usable = performance.now() - t0;
  if (drawn === null && n >= total) {
    drawn = performance.now() - t0;
    setTimeout(finish, settle);
  }
  if (performance.now() - t0 > 60000 && drawn === null) { drawn = -1; finish(); }
}, 5);
function finish() {
  clearInterval(poll);
  const win = frame.contentWindow, doc = frame.contentDocument;
  const nav = win.performance.getEntriesByType('navigation')[0];
  const resources = win.performance.getEntriesByType('resource');
  const bytes = (nav ? nav.transferSize : 0) + resources.reduce((sum, r) => sum + (r.transferSize || 0), 0);
  const longest = tasks.reduce((m, t) => Math.max(m, t.duration), 0);
  const during = tasks.filter((t) => t.start - t0 > drawn).reduce((m, t) => Math.max(m, t.duration), 0);
  done({
    usableMs: usable, drawnMs: drawn, bytes, resources: resources.length,
    longestTaskMs: longest, longestTaskAfterDrawnMs: during,
    longTasks: tasks.length, longTasksOver200: tasks.filter((t) => t.duration > 200).length,
    domNodes: doc.getElementsByTagName('*').length,
    cards: doc.querySelectorAll('#fleet [data-booth]').length,
  });
}
"#;

async fn measure(
    browser: &Browser,
    base: &str,
    booths: i64,
    settle_ms: u64,
) -> anyhow::Result<Value> {
    browser.client.goto(&format!("{base}/api/health")).await?;
    Ok(browser
        .client
        .execute_async(MEASURE, vec![json!(booths), json!(settle_ms)])
        .await?)
}

pub(crate) async fn run(
    ctx: &boom_testkit::TestContext,
    session: &SignedIn,
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
    // The session, set on the gateway's origin before the dashboard is ever loaded: the first
    // load is a cold one.
    browser.client.goto(&format!("{base}/api/health")).await?;
    let (name, value) = session
        .cookie
        .split_once('=')
        .ok_or_else(|| anyhow::anyhow!("no session cookie"))?;
    let mut cookie = fantoccini::cookies::Cookie::new(name.to_owned(), value.to_owned());
    cookie.set_path("/");
    cookie.set_domain("127.0.0.1");
    cookie.set_http_only(true);
    browser.client.add_cookie(cookie).await?;
    let settle = seconds.min(10) * 1000;
    let cards = measure(&browser, &base, booths, settle).await?;
    session
        .send(
            reqwest::Method::PATCH,
            "/api/auth/me",
            Some(json!({"fleetView": "list"})),
        )
        .await?;
    let list = measure(&browser, &base, booths, settle).await?;
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
