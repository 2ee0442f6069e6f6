//! `boom-bench` (`just bench`): each scenario runs LE BOOM beside its reference, on loopback, in
//! the same run, and reports the ratio. Writes `docs/benchmarks.md` and
//! `target/bench/report.json`. Services run as child processes so that their CPU and memory
//! are measured on their own.
//!
//! # Layout
//!
//! `main.rs` parses the arguments and runs the scenarios in order; each scenario has its
//! module (`probing`, `ingest`, `fanout`, `end_to_end`, `api`, `dashboard`), beside `harness` (child processes, `/proc`
//! figures, the dashboard session, SQL), `profile` (`perf` sampling) and `report` (the JSON
//! and Markdown reports).

mod api;
mod dashboard;
mod end_to_end;
mod fanout;
mod harness;
mod ingest;
mod node;
mod probing;
mod profile;
mod report;

use clap::Parser;

use boom_testkit::gateway::SignedIn;
use harness::{free_port, sql, start, wait_healthy};

#[derive(Debug, Parser)]
#[command(about = "LE BOOM benchmarks, beside their references")]
struct Args {
    /// A smoke run: small sizes, a few seconds each.
    #[arg(long)]
    quick: bool,
    /// WebSocket clients for the fan-out scenario.
    #[arg(long)]
    clients: Option<usize>,
    /// Seconds per measured phase.
    #[arg(long)]
    seconds: Option<u64>,
    /// Run only these scenarios (probing, ingest, fanout, e2e, api, dashboard); the figures go to
    /// `target/bench/partial.json` and the terminal, and `docs/benchmarks.md` is left alone.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Internal: serve the fan-out scenario's bare reference on this port (see `fanout.rs`).
    #[arg(long, hide = true)]
    bare_server: Option<u16>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(port) = args.bare_server {
        return fanout::serve_bare(port);
    }
    let seconds = args.seconds.unwrap_or(if args.quick { 3 } else { 10 });
    let clients_n = args.clients.unwrap_or(if args.quick { 100 } else { 1000 });
    boom_server::install_crypto_provider();
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let mut results = Vec::new();
    if wanted("probing") {
        results.push(probing::run(if args.quick { 1000 } else { 10_000 })?);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let ctx = boom_testkit::TestContext::new().await?;
        let password = "bench password long enough";
        let hash = boom_gateway::passwords::hash_password(password)?;
        sql(&ctx, &format!("INSERT INTO users (username, role, password_hash) VALUES ('bench', 'ADMIN', '{hash}')")).await?;
        let mut env = ctx.environment();
        env.retain(|(k, _)| k != "BOOM__HTTP__WORKERS");
        env.push(("BOOM__INGEST__RATE_LIMIT_PER_MINUTE".into(), "100000".into()));
        env.push(("BOOM__DATABASE__MAX_CONNECTIONS".into(), "16".into()));
        // An HTTP or ingest setting tried from the shell reaches both services
        // (`BOOM__HTTP__LIVE_COALESCE_MS=50 boom-bench --only e2e`), and is printed; the run's
        // own (its database, prefixes and the settings above) are kept. Nothing else of the
        // shell's `BOOM__…` passes: a Notion token or a notification channel there would
        // otherwise reach real services from a benchmark.
        for (key, value) in std::env::vars_os() {
            let (Some(key), Some(value)) = (key.to_str(), value.to_str()) else {
                continue;
            };
            let tried = ["BOOM__HTTP__", "BOOM__INGEST__"]
                .iter()
                .any(|prefix| key.starts_with(prefix));
            if tried && !env.iter().any(|(k, _)| k == key) {
                eprintln!("setting from the shell: {key}={value}");
                env.push((key.to_owned(), value.to_owned()));
            }
        }
        let gateway = start("boom-gateway", &env, free_port()?)?;
        let ingest_service = start("boom-stats-ingest", &env, free_port()?)?;
        wait_healthy(gateway.port).await?;
        wait_healthy(ingest_service.port).await?;
        let session = SignedIn::sign_in(&format!("http://127.0.0.1:{}", gateway.port), "bench", password).await?;
        if wanted("ingest") {
            println!("ingest…");
            results.push(ingest::run(&ctx, &session, &ingest_service, &gateway, seconds, args.quick).await?);
        }
        if wanted("fanout") {
            println!("fan-out…");
            // What the scenarios before left to PostgreSQL (vacuuming millions of media rows) is
            // done before this one is measured.
            harness::settle_database(&ctx).await?;
            results.push(fanout::run(&ctx, &session, &gateway, clients_n, seconds).await?);
        }
        if wanted("e2e") {
            println!("end to end…");
            harness::settle_database(&ctx).await?;
            results.push(end_to_end::run(&ctx, &session, &gateway, &ingest_service, clients_n, seconds).await?);
        }
        if wanted("api") {
            println!("api…");
            results.push(api::run(&ctx, &session, &gateway, seconds).await?);
        }
        if wanted("dashboard") {
            println!("dashboard…");
            api::seed(&ctx).await?;
            harness::settle_database(&ctx).await?;
            match dashboard::run(&ctx, &session, ("bench", password), &gateway, seconds).await {
                Ok(figures) => results.push(figures),
                Err(e) => {
                    println!("dashboard: not measured: {e:#}");
                    results.push(serde_json::json!({"scenario": "dashboard", "error": format!("{e:#}")}));
                }
            }
        }
        anyhow::Ok(())
    })?;
    if args.only.is_empty() {
        report::write(&results, &args)
    } else {
        report::partial(&results)
    }
}
