//! The `[log]` section: the format of log lines.

use serde::Deserialize;

/// Log output: `json` (one object per line, for production) or `pretty` (for people).
/// The level filter is `RUST_LOG` (default `info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Pretty,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct LogSettings {
    pub format: LogFormat,
}
