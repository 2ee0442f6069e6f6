//! Loading [`Settings`]: built-in defaults, then the optional TOML file, then `BOOM__…`
//! variables; a key no program knows is refused, and values are checked before use.

use std::net::SocketAddr;
use std::path::PathBuf;

use secrecy::ExposeSecret;
use url::Url;

use crate::{CONFIG_FILE_VAR, ConfigError, Settings, WakeMode, env_name, invalid};

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
        check_url(
            "notify.telegram_base_url",
            &self.notify.telegram_base_url,
            &["http", "https"],
        )?;
        check_url(
            "notify.dashboard_url",
            &self.notify.dashboard_url,
            &["http", "https"],
        )?;
        if let Some(url) = &self.notify.smtp_url {
            check_url("notify.smtp_url", url.expose_secret(), &["smtp", "smtps"])?;
        }
        if self.notify.renotify_secs == 0
            || self.notify.resync_secs == 0
            || self.notify.send_timeout_ms == 0
            || self.notify.max_attempts == 0
        {
            return Err(invalid(
                "notify.renotify_secs",
                "notify.renotify_secs, resync_secs, send_timeout_ms and max_attempts must be at least 1",
            ));
        }
        if self.events.overrun_hours > 48 {
            return Err(invalid("events.overrun_hours", "at most 48"));
        }
        // A send must end well within JetStream's ack wait (30 s).
        if self.notify.send_timeout_ms > 20_000 {
            return Err(invalid("notify.send_timeout_ms", "at most 20000 (20 s)"));
        }
        if self.notify.lease_ttl_secs < 3 {
            return Err(invalid("notify.lease_ttl_secs", "must be at least 3"));
        }
        if !looks_like_mailbox(&self.notify.from) {
            return Err(invalid(
                "notify.from",
                "must be an e-mail address, optionally with a name: `LE BOOM <alertes@example.com>`",
            ));
        }
        check_addr("http.addr", &self.http.addr)?;
        self.http
            .trusted_proxy_nets()
            .map_err(|why| invalid("http.trusted_proxies", &why))?;
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
        if let Some(issuer) = &self.oidc.issuer_url {
            check_url("oidc.issuer_url", issuer, &["http", "https"])?;
            if self.oidc.client_id.as_deref().is_none_or(str::is_empty) {
                return Err(invalid(
                    "oidc.client_id",
                    "needed when oidc.issuer_url is set",
                ));
            }
            let Some(redirect) = &self.oidc.redirect_url else {
                return Err(invalid(
                    "oidc.redirect_url",
                    "needed when oidc.issuer_url is set: this gateway's /api/auth/oidc/callback",
                ));
            };
            check_url("oidc.redirect_url", redirect, &["http", "https"])?;
            if !redirect.ends_with("/api/auth/oidc/callback") {
                return Err(invalid(
                    "oidc.redirect_url",
                    "must end with /api/auth/oidc/callback",
                ));
            }
        }
        Ok(())
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

/// `a@b.c` or `Name <a@b.c>`: the notifier's mail library checks the rest when it starts.
fn looks_like_mailbox(value: &str) -> bool {
    let address = match (value.find('<'), value.strip_suffix('>')) {
        (Some(open), Some(inner)) => &inner[open + 1..],
        (None, None) => value.trim(),
        _ => return false,
    };
    matches!(address.split_once('@'), Some((local, domain))
        if !local.is_empty() && !domain.is_empty() && !address.contains(char::is_whitespace))
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
    fn notify_keys_are_checked() -> Result<(), ConfigError> {
        let s = Settings::from_sources(
            None,
            vars(&[
                ("BOOM__NOTIFY__SMTP_URL", "smtp://127.0.0.1:2525"),
                ("BOOM__NOTIFY__FROM", "Alertes <alertes@example.com>"),
            ]),
        )?;
        assert_eq!(s.notify.down_after_secs, 120);
        for (key, value) in [
            ("BOOM__NOTIFY__SMTP_URL", "http://mail:25"),
            ("BOOM__NOTIFY__FROM", "nobody"),
            ("BOOM__NOTIFY__FROM", "Name <a@b"),
            ("BOOM__NOTIFY__RENOTIFY_SECS", "0"),
            ("BOOM__NOTIFY__SEND_TIMEOUT_MS", "60000"),
            ("BOOM__NOTIFY__TELEGRAM_BASE_URL", "api.telegram.org"),
        ] {
            let refused = Settings::from_sources(None, vars(&[(key, value)]));
            assert!(
                matches!(refused, Err(ConfigError::Invalid { .. })),
                "{key}={value}"
            );
        }
        Ok(())
    }

    #[test]
    fn secrets_are_never_printed() -> Result<(), ConfigError> {
        let s = Settings::from_sources(
            None,
            vars(&[
                ("BOOM__NOTION__TOKEN", "ntn_supersecret"),
                ("BOOM__DATABASE__URL", "postgres://boom:hunter2@db/boom"),
                ("BOOM__NOTIFY__SMTP_URL", "smtp://alerts:hunter2@mail:587"),
                ("BOOM__NOTIFY__TELEGRAM_BOT_TOKEN", "123:supersecret"),
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
