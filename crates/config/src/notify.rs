//! The `[notify]` section: when boom-notifier opens and resolves alerts, how often it reminds,
//! and how it reaches people (SMTP, Telegram, webhooks).

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct NotifySettings {
    /// `booth_down`: the router or the PC unreachable this long while an event is ACTIVE.
    pub down_after_secs: u64,
    /// `agent_silent`: no agent contact this long while the PC answers.
    pub silent_after_secs: u64,
    /// `booth_down` and `agent_silent` resolve only after the booth was fine this long, so
    /// that a 4G link flapping every few seconds keeps one alert open instead of a storm.
    pub clear_after_secs: u64,
    /// An open alert nobody acknowledged is told again this often.
    pub renotify_secs: u64,
    /// The notifier re-reads the whole fleet from the gateway this often, in case it missed
    /// a live update (core NATS keeps nothing while it reconnects).
    pub resync_secs: u64,
    /// Only one instance evaluates alerts: its lease expires this long after it stops renewing.
    pub lease_ttl_secs: u64,
    /// `smtp://[user:pass@]host:port` (STARTTLS when the server offers it; `?tls=required`
    /// to insist) or `smtps://…`. Without it, e-mail channels fail with a clear reason.
    pub smtp_url: Option<SecretString>,
    /// The sender of e-mails.
    pub from: String,
    pub telegram_bot_token: Option<SecretString>,
    pub telegram_base_url: String,
    /// The dashboard's address, for the link in each message.
    pub dashboard_url: String,
    /// How long one send may take before it counts as failed (and is retried).
    pub send_timeout_ms: u64,
    /// Let webhooks reach loopback, private, link-local and Tailscale (100.64/10) addresses.
    /// Off by default: a webhook URL is typed by a person, and the notifier's network reaches
    /// the booths and the company's own services. Turn it on for a webhook inside the company
    /// network (and in tests and the demo, whose receivers listen on 127.0.0.1).
    pub webhook_private_networks: bool,
    /// Attempts of one delivery before it is given up (backoff 5 s doubling to 10 min: about
    /// a day with the default).
    pub max_attempts: u32,
}

impl Default for NotifySettings {
    fn default() -> Self {
        Self {
            down_after_secs: 120,
            silent_after_secs: 600,
            clear_after_secs: 120,
            renotify_secs: 3_600,
            resync_secs: 60,
            lease_ttl_secs: 30,
            smtp_url: None,
            from: "LE BOOM <alertes@leboom.invalid>".to_owned(),
            telegram_bot_token: None,
            telegram_base_url: "https://api.telegram.org".to_owned(),
            dashboard_url: "http://127.0.0.1:8080".to_owned(),
            send_timeout_ms: 10_000,
            webhook_private_networks: false,
            max_attempts: 150,
        }
    }
}
