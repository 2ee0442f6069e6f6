//! Scenario 3: the HTTP API under closed-loop load (the booth list and a large event's detail),
//! beside a minimal actix-web handler serving the same bytes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use boom_testkit::gateway::SignedIn;

use crate::harness::{Service, count, free_port, percentile, sql};
use crate::profile::Profile;

async fn closed_loop(
    url: String,
    cookie: Option<String>,
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
                if let Ok(response) = request.send().await
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
    let (list_rps, list_p99) = closed_loop(list_url.clone(), cookie.clone(), 32, seconds).await;
    let list_profile = profile.map(|p| p.finish(&programs));
    let profile = Profile::start("api-event");
    let (event_rps, event_p99) = closed_loop(event_url.clone(), cookie.clone(), 32, seconds).await;
    let event_profile = profile.map(|p| p.finish(&programs));

    let get = |url: String| {
        let cookie = session.cookie.clone();
        async move {
            reqwest::Client::new()
                .get(url)
                .header("cookie", cookie)
                .send()
                .await?
                .bytes()
                .await
        }
    };
    let list_bytes = get(list_url).await?;
    let event_bytes = get(event_url).await?;
    let port = free_port()?;
    let (lb, eb) = (list_bytes.clone(), event_bytes.clone());
    let server = actix_web::HttpServer::new(move || {
        let (lb, eb) = (lb.clone(), eb.clone());
        actix_web::App::new()
            .route(
                "/list",
                actix_web::web::get().to(move || {
                    let b = lb.clone();
                    async move {
                        actix_web::HttpResponse::Ok()
                            .content_type("application/json")
                            .body(b)
                    }
                }),
            )
            .route(
                "/event",
                actix_web::web::get().to(move || {
                    let b = eb.clone();
                    async move {
                        actix_web::HttpResponse::Ok()
                            .content_type("application/json")
                            .body(b)
                    }
                }),
            )
    })
    .workers(2)
    .disable_signals()
    .bind(("127.0.0.1", port))?
    .run();
    let handle = server.handle();
    tokio::spawn(server);
    let (ref_list_rps, ref_list_p99) =
        closed_loop(format!("http://127.0.0.1:{port}/list"), None, 32, seconds).await;
    let (ref_event_rps, ref_event_p99) =
        closed_loop(format!("http://127.0.0.1:{port}/event"), None, 32, seconds).await;
    handle.stop(false).await;
    Ok(json!({
        "scenario": "api", "concurrency": 32,
        "photomatons": {"bytes": list_bytes.len(), "oursRps": list_rps, "oursP99Ms": list_p99, "referenceRps": ref_list_rps, "referenceP99Ms": ref_list_p99, "ratio": list_rps / ref_list_rps.max(1.0), "profile": list_profile},
        "eventDetail": {"mediaRows": 100000, "bytes": event_bytes.len(), "oursRps": event_rps, "oursP99Ms": event_p99, "referenceRps": ref_event_rps, "referenceP99Ms": ref_event_p99, "ratio": event_rps / ref_event_rps.max(1.0), "profile": event_profile},
    }))
}
