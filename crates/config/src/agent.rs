//! The `[agent]` section: the booth-side agent's trigger listener, its local buffer, how
//! often it syncs with stats-ingest, its paper roll and its speed tests.

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct AgentSettings {
    /// Where dslrBooth's URL trigger calls (`http://127.0.0.1:8765/trigger`).
    pub listen: String,
    /// Base URL of stats-ingest.
    pub ingest_url: Option<String>,
    pub key: Option<SecretString>,
    pub hostname: Option<String>,
    /// Where the agent's SQLite file lives.
    pub data_dir: PathBuf,
    /// How often the agent sends what it buffered (seconds); sooner when the backlog reaches
    /// `batch_size`.
    pub sync_interval_secs: u64,
    /// Stat lines per batch at most.
    pub batch_size: usize,
    /// Prints on a full roll: the paper counter's starting value and reset value.
    pub paper_capacity: i64,
    /// How often a speed test runs (seconds); 0 turns them off.
    pub speedtest_interval_secs: u64,
    /// Where the speed test downloads from and uploads to; default stats-ingest's
    /// `/api/agent/speedtest`, never a third-party site.
    pub speedtest_url: Option<String>,
    /// Bytes downloaded and uploaded per speed test.
    pub speedtest_bytes: usize,
    /// How long the agent waits before asking ingest again after a poll failed (seconds).
    /// While ingest answers, the agent long-polls: what the dashboard asks arrives at once.
    pub command_interval_secs: u64,
    /// The remote commands this booth accepts, by name: `BOOM__AGENT__COMMANDS__RESTART_DSLRBOOTH`
    /// = a command line (run by `cmd /C` on Windows, `sh -c` elsewhere). The dashboard can only
    /// ask for one of these names; the agent refuses any other.
    pub commands: BTreeMap<String, String>,
    /// The printer whose state the agent reports; default the system's default printer.
    pub printer: Option<String>,
}

/// Where the agent keeps its buffer by default: a service's working directory on Windows is
/// System32, so there it is ProgramData.
fn default_agent_data_dir() -> PathBuf {
    #[cfg(windows)]
    {
        PathBuf::from(r"C:\ProgramData\LeBoom\agent")
    }
    #[cfg(not(windows))]
    {
        PathBuf::from("boom-agent-data")
    }
}

impl Default for AgentSettings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8765".to_owned(),
            ingest_url: None,
            key: None,
            hostname: None,
            data_dir: default_agent_data_dir(),
            sync_interval_secs: 30,
            batch_size: 500,
            paper_capacity: 700,
            speedtest_interval_secs: 3600,
            speedtest_url: None,
            speedtest_bytes: 2 << 20,
            command_interval_secs: 30,
            commands: BTreeMap::new(),
            printer: None,
        }
    }
}
