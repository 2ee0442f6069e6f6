//! Scenario 3: the HTTP API under closed-loop load (the booth list and a large event's detail),
//! beside a minimal actix-web handler serving the same bytes. The booth list is measured twice:
//! as a client that takes no compression asks it (the heaviest case), and as the dashboard's
//! browser asks it (`Accept-Encoding: gzip, deflate, br, zstd`, answered with the gzip first
//! page), each beside the bare handler serving the very same bytes (with their
//! `Content-Encoding`). The clients do not inflate what they receive: a browser does that on
//! the user's device, not on the server's cores. Only successful answers are counted.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use boom_testkit::gateway::SignedIn;

use crate::harness::{Service, count, free_port, percentile, sql};
use crate::profile::Profile;

/// What the dashboard's browser (Chromium) says it accepts.
const BROWSER_ENCODINGS: &str = "gzip, deflate, br, zstd";

async fn closed_loop(
    url: String,
    cookie: Option<String>,
    encodings: Option<&'static str>,
    workers: usize,
    seconds: u64,
) -> (f64, f64) {
    let end = Instant::now() + Duration::from_secs(seconds);
    let http = reqwest::Client::new();
    let mut tasks = Vec::new();
    for _ in 0..workers {
        let (http, url, cookie) = (http.clone(), url.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let started = Instant::now();
                let mut request = http.get(&url);
                if let Some(cookie) = &cookie {
                    request = request.header("cookie", cookie);
                }
                if let Some(encodings) = encodings {
                    request = request.header("accept-encoding", encodings);
                }
                if let Ok(response) = request.send().await
                    && response.status().is_success()
                    && response.bytes().await.is_ok()
                {
                    latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    (
        all.len() as f64 / seconds as f64,
        percentile(&mut all, 0.99),
    )
}

/// A fleet of 1,000 booths (mirrored into the registry), and an event of 100,000 media on
/// the first (once).
pub(crate) async fn seed(ctx: &boom_testkit::TestContext) -> anyhow::Result<()> {
    if count(
        ctx,
        "SELECT count(*)::bigint AS n FROM photomatons WHERE hostname LIKE 'api-%'",
    )
    .await?
        > 0
    {
        return Ok(());
    }
    sql(ctx, "INSERT INTO photomatons (name, hostname, tailscale_ip, router_tailscale_ip)
              SELECT 'Booth ' || i, 'api-' || i, '100.64.0.1', '100.64.0.2' FROM generate_series(1, 1000) i").await?;
    sql(ctx, "INSERT INTO events (notion_page_id, client_name, photomaton_id, status)
              SELECT 'bench-page', 'Bench', min(id), 'ACTIVE' FROM photomatons;
              INSERT INTO photos (event_id, photomaton_id, media_type, count, \"timestamp\")
              SELECT e.id, e.photomaton_id, (ARRAY['SESSION','PHOTO','PRINT','DIGITAL','GIF']::media_type[])[1 + i % 5], 1, now() - (i || ' seconds')::interval
              FROM events e, generate_series(1, 100000) i WHERE e.notion_page_id = 'bench-page'").await?;
    mirror_into_the_registry(ctx).await
}

/// Mirrors the seeded booths into the registry, as the API does for each booth it creates:
/// they were inserted in SQL, and left to the gateway's reconciliation (every minute), the
/// phase would time its one-off writing of 1,000 entries (about a second of the machine, at a
/// random point of the phase) rather than the fleet as it runs.
async fn mirror_into_the_registry(ctx: &boom_testkit::TestContext) -> anyhow::Result<()> {
    let bus = boom_bus::Bus::connect(&ctx.settings.nats, "bench", boom_bus::BusMetrics::default())
        .await?;
    let db = boom_db::pool(
        &ctx.database_url(),
        &boom_db::PoolOptions {
            application_name: "boom-bench-seed".to_owned(),
            max_connections: 2,
            statement_timeout: Duration::from_secs(60),
            acquire_timeout: Duration::from_secs(10),
        },
    )?;
    boom_gateway::registry::RegistryPublisher::new(bus)
        .sync_all(&db)
        .await
        .map_err(anyhow::Error::msg)?;
    Ok(())
}

/// The bare handler: `body` as JSON, from memory (`encoding`: what it is compressed with).
fn bare(body: actix_web::web::Bytes, encoding: Option<&'static str>) -> actix_web::Route {
    actix_web::web::get().to(move || {
        let body = body.clone();
        async move {
            let mut response = actix_web::HttpResponse::Ok();
            response.content_type("application/json");
            if let Some(encoding) = encoding {
                response
                    .insert_header(("content-encoding", encoding))
                    .insert_header(("vary", "Accept-Encoding"));
            }
            response.body(body)
        }
    })
}

pub(crate) async fn run(
    ctx: &boom_testkit::TestContext,
    session: &SignedIn,
    gateway: &Service,
    seconds: u64,
) -> anyhow::Result<Value> {
    seed(ctx).await?;
    crate::harness::settle_database(ctx).await?;
    let event = count(
        ctx,
        "SELECT id::bigint AS n FROM events WHERE notion_page_id = 'bench-page'",
    )
    .await?;
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let list_url = format!("{base}/api/photomatons?limit=1000");
    let event_url = format!("{base}/api/events/{event}");
    let cookie = Some(session.cookie.clone());
    let programs = [
        (gateway.child.id(), "gateway"),
        (std::process::id(), "clients (bench)"),
    ];
    let profile = Profile::start("api-photomatons");
    let (list_rps, list_p99) =
        closed_loop(list_url.clone(), cookie.clone(), None, 32, seconds).await;
    let list_profile = profile.map(|p| p.finish(&programs));
    let profile = Profile::start("api-photomatons-gzip");
    let (gzip_rps, gzip_p99) = closed_loop(
        list_url.clone(),
        cookie.clone(),
        Some(BROWSER_ENCODINGS),
        32,
        seconds,
    )
    .await;
    let gzip_profile = profile.map(|p| p.finish(&programs));
    let profile = Profile::start("api-event");
    let (event_rps, event_p99) =
        closed_loop(event_url.clone(), cookie.clone(), None, 32, seconds).await;
    let event_profile = profile.map(|p| p.finish(&programs));

    let get = |url: String, encodings: Option<&'static str>| {
        let cookie = session.cookie.clone();
        async move {
            let mut request = reqwest::Client::new().get(url).header("cookie", cookie);
            if let Some(encodings) = encodings {
                request = request.header("accept-encoding", encodings);
            }
            let response = request.send().await?;
            let gzip = response
                .headers()
                .get("content-encoding")
                .is_some_and(|v| v.as_bytes() == b"gzip");
            anyhow::Ok((response.bytes().await?, gzip))
        }
    };
    let (list_bytes, _) = get(list_url.clone(), None).await?;
    let (gzip_bytes, gzip) = get(list_url, Some(BROWSER_ENCODINGS)).await?;
    anyhow::ensure!(
        gzip,
        "the gateway answered the booth list uncompressed to a browser's Accept-Encoding"
    );
    let (event_bytes, _) = get(event_url, None).await?;
    let port = free_port()?;
    let (lb, gb, eb) = (list_bytes.clone(), gzip_bytes.clone(), event_bytes.clone());
    let server = actix_web::HttpServer::new(move || {
        actix_web::App::new()
            .route("/list", bare(lb.clone(), None))
            .route("/list-gzip", bare(gb.clone(), Some("gzip")))
            .route("/event", bare(eb.clone(), None))
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", port))?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let reference = |path: &str, encodings| {
        closed_loop(
            format!("http://127.0.0.1:{port}/{path}"),
            None,
            encodings,
            32,
            seconds,
        )
    };
    let (ref_list_rps, ref_list_p99) = reference("list", None).await;
    let (ref_gzip_rps, ref_gzip_p99) = reference("list-gzip", Some(BROWSER_ENCODINGS)).await;
    let (ref_event_rps, ref_event_p99) = reference("event", None).await;
    handle.stop(false).await;
    Ok(json!({
        "scenario": "api", "concurrency": 32,
        "photomatons": {"bytes": list_bytes.len(), "oursRps": list_rps, "oursP99Ms": list_p99, "referenceRps": ref_list_rps, "referenceP99Ms": ref_list_p99, "ratio": list_rps / ref_list_rps.max(1.0), "profile": list_profile},
        "photomatonsGzip": {"bytes": gzip_bytes.len(), "oursRps": gzip_rps, "oursP99Ms": gzip_p99, "referenceRps": ref_gzip_rps, "referenceP99Ms": ref_gzip_p99, "ratio": gzip_rps / ref_gzip_rps.max(1.0), "profile": gzip_profile},
        "eventDetail": {"mediaRows": 100000, "bytes": event_bytes.len(), "oursRps": event_rps, "oursP99Ms": event_p99, "referenceRps": ref_event_rps, "referenceP99Ms": ref_event_p99, "ratio": event_rps / ref_event_rps.max(1.0), "profile": event_profile},
    }))
}
