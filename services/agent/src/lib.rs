//! The booth agent: runs on each booth PC (Windows or Linux), turns dslrBooth's trigger calls
//! into stats, buffers them locally, and sends them to stats-ingest when online.
//!
//! Nothing in it may assume Linux: Unix-only code stays behind `#[cfg(unix)]`, the Windows
//! service wrapper behind `#[cfg(windows)]`. It talks to no database server and no NATS.

use std::path::Path;

use boom_config::Settings;
use boom_server::{Application, Background, Check, Health};
use prometheus_client::registry::Registry;

pub const SERVICE: &str = "boom-agent";

/// Builds the agent on `agent.listen` (where dslrBooth's URL trigger calls).
pub async fn build(settings: Settings) -> anyhow::Result<Application> {
    let data_dir = settings.agent.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .map_err(|e| anyhow::anyhow!("cannot create agent.data_dir {}: {e}", data_dir.display()))?;
    let health = Health::new(vec![
        Check::with("storage", data_dir.clone(), |dir| async move {
            check_writable(&dir)
        }),
        Check::disk(data_dir, 100 << 20),
    ]);
    Application::launch(
        SERVICE,
        &settings.agent.listen,
        &settings.http,
        health,
        Registry::default(),
        Background::new(),
        |_| {},
    )
}

/// The agent's buffer must be writable, or events would be lost.
fn check_writable(dir: &Path) -> Result<(), String> {
    let probe = dir.join(".health-probe");
    std::fs::write(&probe, b"ok").map_err(|e| format!("{} is not writable: {e}", dir.display()))?;
    std::fs::remove_file(&probe).map_err(|e| format!("{}: {e}", dir.display()))
}
