//! Configuration of every LE BOOM program, one schema for the whole stack.
//!
//! Layers, later wins: built-in defaults, then an optional TOML file (`BOOM_CONFIG=path`),
//! then environment variables `BOOM__SECTION__KEY` (for example `BOOM__DATABASE__URL`).
//! Every program reads the same [`Settings`] and ignores the sections it does not use, so one
//! environment file serves the whole stack; but a key that no LE BOOM program knows is an
//! error naming that key, so a typo never passes silently. Secrets (tokens, keys, URLs that
//! may hold a password) are [`SecretString`]s and never printed.
//!
//! This crate reads configuration; it does not connect to anything.

use std::net::SocketAddr;
use std::path::PathBuf;

pub use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::Url;

/// The environment variable that names the optional TOML file.
pub const CONFIG_FILE_VAR: &str = "BOOM_CONFIG";

/// Why configuration was refused. Each variant names the key at fault, in one line.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "unknown configuration key `{key}` (environment variable {env}): no LE BOOM program reads it"
    )]
    UnknownKey { key: String, env: String },
    #[error("invalid configuration key `{key}` (environment variable {env}): {reason}")]
    Invalid {
        key: String,
        env: String,
        reason: String,
    },
    #[error("configuration could not be read: {0}")]
    Source(String),
}

fn env_name(key: &str) -> String {
    format!("BOOM__{}", key.replace('.', "__").to_ascii_uppercase())
}

fn invalid(key: &str, reason: impl std::fmt::Display) -> ConfigError {
    ConfigError::Invalid {
        key: key.to_owned(),
        env: env_name(key),
        reason: reason.to_string(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DatabaseSettings {
    /// `postgres://user@host:port/db`; may hold a password, so it is a secret.
    pub url: SecretString,
    pub max_connections: usize,
    /// Every pooled connection sets this `statement_timeout`.
    pub statement_timeout_ms: u64,
    /// How long a request waits for a pooled connection before failing.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("postgres://postgres@127.0.0.1:5432/boom"),
            max_connections: 10,
            statement_timeout_ms: 10_000,
            acquire_timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NatsSettings {
    pub url: String,
    /// The namespace of subjects, streams and buckets (see `boom_contracts::Namespace`).
    pub prefix: String,
    /// Copies of each stream: 1 on one server, 3 on a cluster.
    pub replicas: usize,
    pub request_timeout_ms: u64,
}

impl Default for NatsSettings {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_owned(),
            prefix: "boom".to_owned(),
            replicas: 1,
            request_timeout_ms: 5_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RedisSettings {
    /// `redis://host:port/db`; may hold a password, so it is a secret.
    pub url: SecretString,
    /// Every key this stack writes starts with it.
    pub prefix: String,
    pub max_connections: usize,
}

impl Default for RedisSettings {
    fn default() -> Self {
        Self {
            url: SecretString::from("redis://127.0.0.1:6379/0"),
            prefix: "boom".to_owned(),
            max_connections: 16,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Listen address; port 0 picks a free port.
    pub addr: String,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    /// How long in-flight requests may take to finish after SIGTERM.
    pub shutdown_timeout_secs: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            addr: "127.0.0.1:8080".to_owned(),
            workers: 0,
            shutdown_timeout_secs: 10,
        }
    }
}

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

/// Which Notion property holds what. The defaults are the company's French names.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotionProperties {
    pub client: String,
    pub event_type: String,
    pub date: String,
    pub album: String,
    pub status: String,
    /// The status value of an event under way.
    pub status_active: String,
    /// The booth: a select, relation or text matched against a booth's name or hostname.
    pub photomaton: String,
}

impl Default for NotionProperties {
    fn default() -> Self {
        Self {
            client: "Client".to_owned(),
            event_type: "Type".to_owned(),
            date: "Date".to_owned(),
            album: "Album".to_owned(),
            status: "Statut".to_owned(),
            status_active: "En cours".to_owned(),
            photomaton: "Photomaton".to_owned(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotionSettings {
    pub token: Option<SecretString>,
    pub database_id: Option<String>,
    pub base_url: String,
    pub sync_interval_secs: u64,
    pub properties: NotionProperties,
}

impl Default for NotionSettings {
    fn default() -> Self {
        Self {
            token: None,
            database_id: None,
            base_url: "https://api.notion.com/v1".to_owned(),
            sync_interval_secs: 300,
            properties: NotionProperties::default(),
        }
    }
}

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
    /// How often the agent asks ingest what the dashboard wants of it (a new paper roll, a
    /// speed test now), in seconds.
    pub command_interval_secs: u64,
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
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct IngestSettings {
    /// Sync requests one agent key may make per minute.
    pub rate_limit_per_minute: u32,
    /// The largest request body accepted (bytes).
    pub max_body_bytes: usize,
    /// The most stat lines one batch may carry.
    pub max_stats: usize,
}

impl Default for IngestSettings {
    fn default() -> Self {
        Self {
            rate_limit_per_minute: 120,
            max_body_bytes: 1 << 20,
            max_stats: 5_000,
        }
    }
}

/// How Wake-on-LAN packets reach a booth PC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WakeMode {
    /// UDP to the booth's wake target (a LAN broadcast address routed through the router's
    /// Tailscale subnet route, or a port forward on the router).
    #[default]
    Udp,
    /// Run `control.wake_relay_command`, which asks the router to send the packet itself.
    Relay,
    /// Both.
    Both,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ControlSettings {
    /// Seconds between probe rounds (each jittered by up to 10 %).
    pub probe_interval_secs: u64,
    /// How long one probe waits for an answer.
    pub probe_timeout_ms: u64,
    /// Try ICMP echo first (unprivileged ICMP sockets, or raw sockets when privileged).
    pub icmp: bool,
    /// TCP ports probed when ICMP is not possible or not answered.
    pub router_tcp_port: u16,
    pub pc_tcp_port: u16,
    /// A steady state is re-published this often (seconds), changes at once.
    pub heartbeat_secs: u64,
    /// Only one instance probes: the lease expires this long after its holder stops renewing.
    pub lease_ttl_secs: u64,
    pub wake_mode: WakeMode,
    /// Magic packets per power-on, and the pause between them.
    pub wake_burst: u32,
    pub wake_burst_interval_ms: u64,
    /// A command that makes the router send the packet, e.g.
    /// `ssh -o BatchMode=yes root@{router} etherwake -i br-lan {mac}`; `{mac}`, `{router}`,
    /// `{pc}` and `{hostname}` are replaced (each placeholder stays one argument).
    pub wake_relay_command: Option<String>,
    /// SecureOn password (6 bytes, `aa:bb:cc:dd:ee:ff`) appended to magic packets.
    pub secureon_password: Option<SecretString>,
    /// How long to wait for the PC to answer after a power-on before reporting failure.
    pub wake_timeout_secs: u64,
}

impl Default for ControlSettings {
    fn default() -> Self {
        Self {
            probe_interval_secs: 30,
            probe_timeout_ms: 2_000,
            icmp: true,
            router_tcp_port: 443,
            pc_tcp_port: 3389,
            heartbeat_secs: 600,
            lease_ttl_secs: 30,
            wake_mode: WakeMode::Udp,
            wake_burst: 3,
            wake_burst_interval_ms: 200,
            wake_relay_command: None,
            secureon_password: None,
            wake_timeout_secs: 180,
        }
    }
}

/// The configuration of the whole stack.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub nats: NatsSettings,
    pub redis: RedisSettings,
    pub http: HttpSettings,
    pub log: LogSettings,
    pub notion: NotionSettings,
    pub agent: AgentSettings,
    pub ingest: IngestSettings,
    pub control: ControlSettings,
}

impl Settings {
    /// Reads the process's configuration: `BOOM_CONFIG` file (if set) and `BOOM__…` variables.
    pub fn load() -> Result<Self, ConfigError> {
        let file = std::env::var_os(CONFIG_FILE_VAR).map(PathBuf::from);
        let vars = std::env::vars().filter(|(k, _)| k.starts_with("BOOM__"));
        Self::from_sources(file.as_deref(), vars)
    }

    /// Reads configuration from an optional TOML file and `BOOM__…` pairs; for tests and
    /// tools that build a configuration without touching the process environment.
    pub fn from_sources(
        file: Option<&std::path::Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
        }
        let vars: config::Map<String, String> = vars.into_iter().collect();
        builder = builder.add_source(
            config::Environment::with_prefix("BOOM")
                .prefix_separator("__")
                .separator("__")
                .source(Some(vars)),
        );
        let merged = builder
            .build()
            .map_err(|e| ConfigError::Source(e.to_string()))?;

        let mut unknown = Vec::new();
        let settings: Settings =
            serde_ignored::deserialize(merged, |path| unknown.push(path.to_string()))
                .map_err(|e| source_error(&e.to_string()))?;
        if let Some(key) = unknown.into_iter().next() {
            // A whole unknown section is reported as the section: any variable under it.
            let env = if key.contains('.') {
                env_name(&key)
            } else {
                format!("{}__…", env_name(&key))
            };
            return Err(ConfigError::UnknownKey { env, key });
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        check_url(
            "database.url",
            self.database.url.expose_secret(),
            &["postgres", "postgresql"],
        )?;
        check_url(
            "redis.url",
            self.redis.url.expose_secret(),
            &["redis", "rediss"],
        )?;
        check_url("nats.url", &self.nats.url, &["nats", "tls", "ws", "wss"])?;
        check_url("notion.base_url", &self.notion.base_url, &["http", "https"])?;
        if let Some(url) = &self.agent.ingest_url {
            check_url("agent.ingest_url", url, &["http", "https"])?;
        }
        if let Some(url) = &self.agent.speedtest_url {
            check_url("agent.speedtest_url", url, &["http", "https"])?;
        }
        if !(1..=5_000).contains(&self.agent.batch_size) {
            return Err(invalid("agent.batch_size", "must be between 1 and 5000"));
        }
        if self.agent.sync_interval_secs == 0 {
            return Err(invalid("agent.sync_interval_secs", "must be at least 1"));
        }
        if self.agent.command_interval_secs == 0 {
            return Err(invalid("agent.command_interval_secs", "must be at least 1"));
        }
        check_addr("http.addr", &self.http.addr)?;
        check_addr("agent.listen", &self.agent.listen)?;
        let prefix_ok = |p: &str| {
            !p.is_empty()
                && p.len() <= 32
                && p.starts_with(|c: char| c.is_ascii_alphabetic())
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if !prefix_ok(&self.nats.prefix) {
            return Err(invalid(
                "nats.prefix",
                "use 1 to 32 ASCII letters, digits, `_` or `-`, starting with a letter",
            ));
        }
        if self.redis.prefix.is_empty() || self.redis.prefix.contains(char::is_whitespace) {
            return Err(invalid("redis.prefix", "must be non-empty, without spaces"));
        }
        if self.database.max_connections == 0 {
            return Err(invalid("database.max_connections", "must be at least 1"));
        }
        if !(1..=5).contains(&self.nats.replicas) {
            return Err(invalid("nats.replicas", "must be between 1 and 5"));
        }
        if self.control.probe_interval_secs == 0
            || self.control.probe_timeout_ms == 0
            || self.control.lease_ttl_secs < 3
        {
            return Err(invalid(
                "control.probe_interval_secs",
                "probe interval and timeout must be positive, control.lease_ttl_secs at least 3",
            ));
        }
        if self.control.wake_mode != WakeMode::Udp && self.control.wake_relay_command.is_none() {
            return Err(invalid(
                "control.wake_relay_command",
                "needed when control.wake_mode is relay or both",
            ));
        }
        if self.notion.sync_interval_secs == 0 {
            return Err(invalid("notion.sync_interval_secs", "must be at least 1"));
        }
        Ok(())
    }

    /// The listen address, checked by [`Settings::load`].
    pub fn http_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.http.addr.parse().map_err(|e| invalid("http.addr", e))
    }
}

/// config ends its messages with "for key `x.y`" when it knows the key: name that key.
fn source_error(message: &str) -> ConfigError {
    match message.rsplit_once(" for key `") {
        Some((reason, rest)) => invalid(rest.split('`').next().unwrap_or(rest), reason.trim()),
        None => ConfigError::Source(message.to_owned()),
    }
}

fn check_url(key: &str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let url = Url::parse(value).map_err(|e| invalid(key, format!("not a URL ({e})")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(invalid(
            key,
            format!(
                "scheme `{}` is not one of {}",
                url.scheme(),
                schemes.join(", ")
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(key, "the URL has no host"));
    }
    Ok(())
}

fn check_addr(key: &str, value: &str) -> Result<(), ConfigError> {
    value
        .parse::<SocketAddr>()
        .map(|_| ())
        .map_err(|e| invalid(key, format!("`{value}` is not an IP:port address ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn error_of(pairs: &[(&str, &str)]) -> String {
        match Settings::from_sources(None, vars(pairs)) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_need_no_configuration() -> Result<(), ConfigError> {
        let s = Settings::from_sources(None, vars(&[]))?;
        assert_eq!(s.nats.prefix, "boom");
        assert_eq!(s.notion.properties.status_active, "En cours");
        assert_eq!(s.agent.listen, "127.0.0.1:8765");
        Ok(())
    }

    #[test]
    fn environment_overrides_with_double_underscores() -> Result<(), ConfigError> {
        let s = Settings::from_sources(
            None,
            vars(&[
                ("BOOM__HTTP__ADDR", "127.0.0.1:0"),
                ("BOOM__NOTION__DATABASE_ID", "0123abcd"),
                ("BOOM__NOTION__PROPERTIES__STATUS", "State"),
                ("BOOM__DATABASE__MAX_CONNECTIONS", "3"),
            ]),
        )?;
        assert_eq!(s.http.addr, "127.0.0.1:0");
        assert_eq!(s.notion.database_id.as_deref(), Some("0123abcd"));
        assert_eq!(s.notion.properties.status, "State");
        assert_eq!(s.database.max_connections, 3);
        Ok(())
    }

    #[test]
    fn an_unknown_key_is_refused_and_named() {
        let err = error_of(&[("BOOM__DATABASE__ULR", "postgres://x/y")]);
        assert!(
            err.contains("`database.ulr`") && err.contains("BOOM__DATABASE__ULR"),
            "{err}"
        );
        let err = error_of(&[("BOOM__DATABSE__URL", "postgres://x/y")]);
        assert!(err.contains("databse"), "{err}");
    }

    #[test]
    fn a_malformed_url_is_refused_and_named() {
        let err = error_of(&[("BOOM__DATABASE__URL", "not a url")]);
        assert!(err.contains("`database.url`"), "{err}");
        let err = error_of(&[("BOOM__REDIS__URL", "http://127.0.0.1:6379")]);
        assert!(
            err.contains("`redis.url`") && err.contains("scheme"),
            "{err}"
        );
        let err = error_of(&[("BOOM__HTTP__ADDR", "localhost")]);
        assert!(err.contains("`http.addr`"), "{err}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_refused_and_named() {
        let err = error_of(&[("BOOM__DATABASE__MAX_CONNECTIONS", "many")]);
        assert!(err.contains("database.max_connections"), "{err}");
    }

    #[test]
    fn secrets_are_never_printed() -> Result<(), ConfigError> {
        let s = Settings::from_sources(
            None,
            vars(&[
                ("BOOM__NOTION__TOKEN", "ntn_supersecret"),
                ("BOOM__DATABASE__URL", "postgres://boom:hunter2@db/boom"),
            ]),
        )?;
        let printed = format!("{s:?}");
        assert!(
            !printed.contains("supersecret") && !printed.contains("hunter2"),
            "{printed}"
        );
        Ok(())
    }

    #[test]
    fn a_toml_file_is_a_layer_under_the_environment() -> Result<(), Box<dyn std::error::Error>> {
        let dir = std::env::temp_dir().join(format!("boom-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("boom.toml");
        std::fs::write(
            &file,
            "[nats]\nprefix = \"fromfile\"\n[http]\naddr = \"127.0.0.1:9999\"\n",
        )?;
        let s = Settings::from_sources(Some(&file), vars(&[("BOOM__HTTP__ADDR", "127.0.0.1:0")]))?;
        assert_eq!(s.nats.prefix, "fromfile");
        assert_eq!(s.http.addr, "127.0.0.1:0");
        std::fs::write(&file, "[nats]\nprefixx = \"typo\"\n")?;
        let err = Settings::from_sources(Some(&file), vars(&[]))
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("nats.prefixx")));
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
