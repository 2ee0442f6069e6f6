//! The benchmarks of the paths a user's data takes still run, and what they check besides
//! speed holds: `boom-bench --quick` over the ingest and end-to-end scenarios, with the
//! gateway and stats-ingest as child processes. No figure is asserted (speed is measured by
//! `just bench`, never by tests); what is asserted is that every line an agent got accepted
//! was committed once and that every booth's latest state reached every browser.
//!
//! It loads both cores for a few seconds, so it runs alone (`.config/nextest.toml`).

use std::time::Duration;

use anyhow::Context;
use serde_json::Value;

use crate::helpers::binary;

#[tokio::test]
async fn the_ingest_and_end_to_end_benchmarks_run_and_lose_nothing() -> anyhow::Result<()> {
    let run = tokio::process::Command::new(binary("boom-bench")?)
        .args(["--quick", "--only", "ingest,e2e", "--seconds", "2"])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .context("boom-bench --quick did not finish within 5 minutes")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "boom-bench failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    // Progress lines ("ingest…"), then the figures as one JSON array.
    let figures: Vec<Value> = serde_json::from_str(
        stdout
            .find("\n[")
            .map(|start| &stdout[start..])
            .context("no figures printed")?,
    )?;
    let scenario = |name: &str| {
        figures
            .iter()
            .find(|s| s["scenario"] == name)
            .with_context(|| format!("no {name} figures in {stdout}"))
    };

    let ingest = scenario("ingest")?;
    assert!(
        ingest["sentEvents"].as_i64().unwrap_or(0) > 0,
        "nothing accepted: {ingest}"
    );
    assert_eq!(ingest["lost"], 0, "{ingest}");
    assert_eq!(ingest["doubleCounted"], 0, "{ingest}");
    assert_eq!(ingest["committedEvents"], ingest["sentEvents"], "{ingest}");

    let e2e = scenario("endToEnd")?;
    assert_eq!(e2e["batchesRefused"], 0, "{e2e}");
    let latest = &e2e["latestArrived"];
    assert_eq!(latest["arrived"], latest["booths"], "{e2e}");
    assert_eq!(latest["clientsWithEveryLatest"], e2e["clients"], "{e2e}");
    Ok(())
}
