//! The report: `target/bench/report.json` with every figure, and `docs/benchmarks.md` with the
//! comparison table, the hand-written notes and each scenario's profile.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{Value, json};

use crate::Args;

pub(crate) fn write(results: &[Value], args: &Args) -> anyhow::Result<()> {
    let commit = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let meta = json!({"date": chrono::Utc::now().to_rfc3339(), "commit": commit, "cores": cores, "memory": memory, "quick": args.quick});
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::create_dir_all(root.join("target/bench"))?;
    std::fs::write(
        root.join("target/bench/report.json"),
        serde_json::to_string_pretty(&json!({"machine": meta, "scenarios": results}))?,
    )?;
    let find = |name: &str| {
        results
            .iter()
            .find(|r| r["scenario"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    };
    let (i, f, a, p) = (find("ingest"), find("fanout"), find("api"), find("probing"));
    let d = find("dashboard");
    let e = find("endToEnd");
    let num = |v: &Value| {
        v.as_f64()
            .map(|x| {
                if x >= 100.0 {
                    format!("{x:.0}")
                } else {
                    format!("{x:.2}")
                }
            })
            .unwrap_or_else(|| "—".into())
    };
    let pct = |v: &Value| {
        v.as_f64()
            .map(|x| format!("{:.0} %", x * 100.0))
            .unwrap_or_else(|| "—".into())
    };
    let kilobytes = |v: &Value| {
        v.as_f64()
            .map(|b| format!("{:.0}", b / 1000.0))
            .unwrap_or_else(|| "—".into())
    };
    // A reference's figure, or why it was not measured.
    let measured = |value: &Value, error: &Value| {
        value
            .as_f64()
            .map_or_else(|| format!("not measured: {error}"), |v| num(&json!(v)))
    };
    let table = format!(
        "| scenario | LE BOOM | reference | ratio | target |
|---|---|---|---|---|
| ingest, end to end (rows/s, the clock stops at the last commit) | {} | COPY {} | {} | ≥ 50 % |
| ingest vs the seed's path through Prisma 7, the first design's ORM (rows/s) | {} | seed: Node.js, Prisma 7, POST → transaction → 200 {} | {} | ≥ 200 % |
| ingest vs the seed's path through node-postgres, its SQL without the ORM (rows/s) | {} | seed: Node.js, node-postgres, the same SQL {} | {} | ≥ 200 % |
| ingest latency POST→commit (ms, p50 / p99, 20 batches/s) | {} / {} | — | — | — |
| ingest exactly-once (lost / double) | {} / {} | — | — | 0 / 0 |
| fan-out, {} clients (frames/s) | {} | bare tokio-tungstenite {} | {} | ≥ 70 % |
| fan-out latency (ms, p50 / p99) | {} / {} | {} / {} | — | p99 < 100 |
| fan-out gateway RSS (KiB: idle / connected / peak) | {} / {} / {} | bare {} / {} / {} | — | 10k clients < 200 MB |
| fan-out vs the original design (frames/s) | {} | Node.js Socket.IO {} | {} | — |
| Socket.IO peer: latency (ms, p50 / p99), server RSS (KiB, connected / peak) | — | {} / {}, {} / {} | — | — |
| end to end, agent POST → browser: {} clients, {} batches/s offered over {} booths at events (booth frames/s; with the events' frames) | {}; {} | bare POST → broadcast {} | {}; {} | ≥ 70 % |
| end to end latency POST → browser (ms, p50 / p99); booths whose latest state arrived, and when after the last POST (ms) | {} / {}; {} of {}, {} | bare {} / {}; seed {} / {} | — | p99 < 1000; all |
| end to end vs the original design (frames/s) | {} | seed: POST → PostgreSQL → Socket.IO {} | {} | — |
| end to end: recorder lag ingest → commit (ms, mean), of which a group's transaction (ms, mean, groups); gateway CPU (s) | {}, {} ({} groups); {} | — | — | — |
| `GET /api/photomatons`, 1,000 booths (req/s, p99 ms) | {} / {} | {} / {} | {} | p99 < 20 ms |
| `GET /api/photomatons`, as the dashboard's browser asks it (gzip accepted: {} KB, not {} KB) (req/s, p99 ms) | {} / {} | {} / {} | {} | p99 < 20 ms |
| `GET /api/events/{{id}}`, 100,000 media (req/s, p99 ms) | {} / {} | {} / {} | {} | — |
| probing {} booths: one round (s), CPU (s) | {} / {} | — | {} of a core per 30 s | < 25 % |
| dashboard, {} booths, {} updates/s, cold: usable / all drawn (ms) | {} / {} | before: {} | — | < 1000 |
| dashboard: transferred (KB), DOM nodes | {} / {} | before: {} / {}; Uptime Kuma {} KB | — | < 1 MB |
| dashboard: longest main-thread task (ms), while loading / after | {} / {} | before: {}; Uptime Kuma {} | — | < 200 |
| dashboard, list view (warm): usable / all drawn (ms), longest task (ms), DOM nodes | {} / {}, {}, {} | — | — | < 200 |",
        num(&i["oursRowsPerSecond"]),
        num(&i["copyRowsPerSecond"]),
        pct(&i["ratio"]),
        num(&i["oursRowsPerSecond"]),
        measured(&i["seedPrisma"]["rowsPerSecond"], &i["seedPrisma"]["error"]),
        pct(&i["ratioToSeedPrisma"]),
        num(&i["oursRowsPerSecond"]),
        measured(&i["seed"]["rowsPerSecond"], &i["seed"]["error"]),
        pct(&i["ratioToSeed"]),
        num(&i["latencyMs"]["p50"]),
        num(&i["latencyMs"]["p99"]),
        i["lost"],
        i["doubleCounted"],
        f["clients"],
        num(&f["oursFramesPerSecond"]),
        measured(&f["bareFramesPerSecond"], &f["bareError"]),
        pct(&f["ratio"]),
        num(&f["latencyMs"]["p50"]),
        num(&f["latencyMs"]["p99"]),
        num(&f["bareLatencyMs"]["p50"]),
        num(&f["bareLatencyMs"]["p99"]),
        f["gatewayRssKiB"]["idle"],
        f["gatewayRssKiB"]["connected"],
        f["gatewayRssKiB"]["peak"],
        f["bareRssKiB"]["idle"],
        f["bareRssKiB"]["connected"],
        f["bareRssKiB"]["peak"],
        num(&f["oursFramesPerSecond"]),
        measured(&f["socketIo"]["framesPerSecond"], &f["socketIo"]["error"]),
        pct(&f["ratioToSocketIo"]),
        num(&f["socketIo"]["latencyMs"]["p50"]),
        num(&f["socketIo"]["latencyMs"]["p99"]),
        f["socketIo"]["serverRssKiB"]["connected"],
        f["socketIo"]["serverRssKiB"]["peak"],
        e["clients"],
        e["batchesOffered"].as_f64().zip(e["seconds"].as_f64()).map_or_else(|| "—".into(), |(b, s)| format!("{:.0}", b / s.max(1.0))),
        e["booths"],
        num(&e["framesPerSecond"]),
        num(&json!(e["framesPerSecond"].as_f64().unwrap_or(0.0) + e["otherFramesDelivered"].as_f64().unwrap_or(0.0) / e["seconds"].as_f64().unwrap_or(1.0).max(1.0))),
        measured(&e["bare"]["framesPerSecond"], &e["bare"]["error"]),
        pct(&e["ratioToBare"]),
        pct(&json!((e["framesPerSecond"].as_f64().unwrap_or(0.0) + e["otherFramesDelivered"].as_f64().unwrap_or(0.0) / e["seconds"].as_f64().unwrap_or(1.0).max(1.0)) / e["bare"]["framesPerSecond"].as_f64().unwrap_or(1.0).max(1.0))),
        num(&e["latencyMs"]["p50"]),
        num(&e["latencyMs"]["p99"]),
        e["latestArrived"]["arrived"],
        e["latestArrived"]["booths"],
        num(&e["lastStateAfterLastPostMs"]),
        num(&e["bare"]["latencyMs"]["p50"]),
        num(&e["bare"]["latencyMs"]["p99"]),
        num(&e["seed"]["latencyMs"]["p50"]),
        num(&e["seed"]["latencyMs"]["p99"]),
        num(&e["framesPerSecond"]),
        measured(&e["seed"]["framesPerSecond"], &e["seed"]["error"]),
        pct(&e["ratioToSeed"]),
        num(&e["gatewayMetrics"]["recorderLagMeanMs"]),
        num(&e["gatewayMetrics"]["recorderCommitMeanMs"]),
        num(&e["gatewayMetrics"]["groupsRecorded"]),
        num(&e["cpuSeconds"]["gateway"]),
        num(&a["photomatons"]["oursRps"]),
        num(&a["photomatons"]["oursP99Ms"]),
        num(&a["photomatons"]["referenceRps"]),
        num(&a["photomatons"]["referenceP99Ms"]),
        pct(&a["photomatons"]["ratio"]),
        kilobytes(&a["photomatonsGzip"]["bytes"]),
        kilobytes(&a["photomatons"]["bytes"]),
        num(&a["photomatonsGzip"]["oursRps"]),
        num(&a["photomatonsGzip"]["oursP99Ms"]),
        num(&a["photomatonsGzip"]["referenceRps"]),
        num(&a["photomatonsGzip"]["referenceP99Ms"]),
        pct(&a["photomatonsGzip"]["ratio"]),
        num(&a["eventDetail"]["oursRps"]),
        num(&a["eventDetail"]["oursP99Ms"]),
        num(&a["eventDetail"]["referenceRps"]),
        num(&a["eventDetail"]["referenceP99Ms"]),
        pct(&a["eventDetail"]["ratio"]),
        p["booths"],
        num(&p["roundSeconds"]),
        num(&p["cpuSeconds"]),
        pct(&p["coreShareAt30sInterval"]),
        d["booths"],
        d["updatesPerSecond"],
        num(&d["cards"]["usableMs"]),
        num(&d["cards"]["drawnMs"]),
        d["before"]["usableMs"],
        d["cards"]["bytes"].as_f64().map_or_else(|| "—".into(), |b| format!("{:.0}", b / 1000.0)),
        d["cards"]["domNodes"],
        d["before"]["bytes"].as_f64().map_or_else(|| "—".into(), |b| format!("{:.0} KB", b / 1000.0)),
        d["before"]["domNodes"],
        d["uptimeKuma"]["bytes"].as_f64().map_or_else(|| "—".into(), |b| format!("{:.0}", b / 1000.0)),
        num(&d["cards"]["longestTaskMs"]),
        num(&d["cards"]["longestTaskAfterDrawnMs"]),
        d["before"]["longestTaskMs"].as_str().unwrap_or("—"),
        d["uptimeKuma"]["longestTaskMs"],
        num(&d["list"]["usableMs"]),
        num(&d["list"]["drawnMs"]),
        num(&d["list"]["longestTaskMs"]),
        d["list"]["domNodes"],
    );
    let notes = std::fs::read_to_string(root.join("docs/benchmarks-notes.md")).unwrap_or_default();
    let profiles = [
        ("Ingest, end to end", &i["profile"]),
        (
            "Ingest, the seed's path through Prisma",
            &i["seedPrisma"]["profile"],
        ),
        (
            "Ingest, the seed's path through node-postgres",
            &i["seed"]["profile"],
        ),
        ("End to end, LE BOOM (agent POST → browser)", &e["profile"]),
        ("End to end, the seed's path", &e["seed"]["profile"]),
        ("Live fan-out, LE BOOM", &f["profile"]),
        (
            "Live fan-out, the Socket.IO peer",
            &f["socketIo"]["profile"],
        ),
        ("`GET /api/photomatons`", &a["photomatons"]["profile"]),
        (
            "`GET /api/photomatons`, gzip accepted",
            &a["photomatonsGzip"]["profile"],
        ),
        ("`GET /api/events/{id}`", &a["eventDetail"]["profile"]),
        ("Probing", &p["profile"]),
    ]
    .iter()
    .map(|(title, profile)| profile_section(title, profile))
    .collect::<String>();
    let doc = format!(
        "# Benchmarks\n\nGenerated by `just bench{}` on {} (commit {}, {} cores, {}). Each scenario runs beside its reference in the same run; figures are ratios because this machine is noisy. Raw figures: `target/bench/report.json`.\n\n{}\n\n{}\n## Profiles of this run\n\n`perf record -a -F 250 -e cpu-clock` over the whole machine during our side of each scenario (software clock: these virtual machines expose no hardware counters; no call graphs: Rust omits frame pointers). Shares are of all samples on both cores, idle included; our services are told apart by process id, the rest by program name.\n\n{}",
        if args.quick { " --quick" } else { "" },
        meta["date"].as_str().unwrap_or(""),
        commit,
        cores,
        memory.trim(),
        table,
        notes,
        profiles
    );
    std::fs::write(root.join("docs/benchmarks.md"), doc)?;
    println!("{table}");
    Ok(())
}

/// A run of some scenarios only (`--only`): its figures, without touching the report.
pub(crate) fn partial(results: &[Value]) -> anyhow::Result<()> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::fs::create_dir_all(root.join("target/bench"))?;
    let text = serde_json::to_string_pretty(results)?;
    std::fs::write(root.join("target/bench/partial.json"), &text)?;
    println!("{text}");
    Ok(())
}

/// One scenario's profile as Markdown: the share of each program, then the hottest symbols.
fn profile_section(title: &str, profile: &Value) -> String {
    if profile.is_null() {
        return format!(
            "### {title}\n\nNo profile: `perf` is missing (Debian's `linux-perf`).\n\n"
        );
    }
    let programs = profile["programs"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| format!("{} {} %", p["program"].as_str().unwrap_or("?"), p["share"]))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    let hottest = profile["hottest"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|h| {
                    format!(
                        "| {} % | {} | `{}` |\n",
                        h["share"],
                        h["program"].as_str().unwrap_or("?"),
                        h["symbol"].as_str().unwrap_or("?").replace('|', "\\|")
                    )
                })
                .collect::<String>()
        })
        .unwrap_or_default();
    format!(
        "### {title}\n\n{} samples. By program: {programs}.\n\n| share | program | hottest symbols |\n|---|---|---|\n{hottest}\n",
        profile["samples"]
    )
}
