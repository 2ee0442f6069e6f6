//! Sending one message on one channel: e-mail over SMTP (lettre), the Telegram Bot API, or a
//! JSON webhook. Each send is bounded by `notify.send_timeout_ms`; a failure says whether it is
//! worth retrying (a timeout, a 5xx, a 429) or not (no such address, no bot configured).
//!
//! Every message carries its delivery id where the channel allows it (the e-mail's
//! `Message-ID`, the webhook's `Idempotency-Key` header and `deliveryId` field), so that a
//! receiver can drop the rare second copy of a message whose send was cut short by a crash.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use boom_config::NotifySettings;
use boom_contracts::messages::{ChannelKind, ChannelTarget, Notice, Transition};
use lettre::message::{Mailbox, header::ContentType};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// Why a send failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// Will fail again the same way: given up at once.
    Permanent(String),
    /// Worth another try later.
    Transient(String),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Permanent(e) | SendError::Transient(e) => f.write_str(e),
        }
    }
}

/// Whether a webhook may reach `ip` when private networks are not allowed: not loopback,
/// private, link-local, shared (100.64/10: Tailscale, carrier NAT), documentation, unspecified
/// or multicast.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19)))
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public(IpAddr::V4(v4)),
            None => {
                let first = v6.segments()[0];
                !(v6.is_loopback()
                    || v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80)
            }
        },
    }
}

/// Resolves webhook hosts to their public addresses only, so that a name pointing at the
/// company's network (or changing to one after a check) is never reached.
#[derive(Debug)]
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!("`{host}` has no public address (webhooks to private networks are off: BOOM__NOTIFY__WEBHOOK_PRIVATE_NETWORKS)").into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// The channels' clients, built once.
pub struct Senders {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    http: reqwest::Client,
    /// Webhooks: no redirects, public addresses only (unless allowed).
    webhooks: reqwest::Client,
    private_networks: bool,
    telegram_token: Option<SecretString>,
    telegram_base_url: String,
    timeout: Duration,
}

impl std::fmt::Debug for Senders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Senders")
            .field("smtp", &self.smtp.is_some())
            .field("from", &self.from.to_string())
            .field("telegram", &self.telegram_token.is_some())
            .finish_non_exhaustive()
    }
}

/// `smtp://host:port` uses STARTTLS when the server offers it, unless the URL says otherwise.
fn smtp_url(url: &str) -> String {
    if url.starts_with("smtp://") && !url.contains("tls=") {
        let joiner = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joiner}tls=opportunistic")
    } else {
        url.to_owned()
    }
}

impl Senders {
    pub fn new(settings: &NotifySettings) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(settings.send_timeout_ms);
        // An empty value (an unset variable in a compose file) is no value.
        let configured = settings
            .smtp_url
            .as_ref()
            .filter(|u| !u.expose_secret().trim().is_empty());
        let smtp = match configured {
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(&smtp_url(url.expose_secret()))
                    .map_err(|e| anyhow::anyhow!("notify.smtp_url is not usable: {e}"))?
                    .timeout(Some(timeout))
                    .build(),
            ),
            None => None,
        };
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|e| anyhow::anyhow!("notify.from `{}`: {e}", settings.from))?;
        let agent = concat!("boom-notifier/", env!("CARGO_PKG_VERSION"));
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(agent)
            .build()?;
        let mut webhooks = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(agent)
            .redirect(reqwest::redirect::Policy::none());
        if !settings.webhook_private_networks {
            webhooks = webhooks.dns_resolver(PublicOnly);
        }
        Ok(Self {
            smtp,
            from,
            http,
            webhooks: webhooks.build()?,
            private_networks: settings.webhook_private_networks,
            telegram_token: settings
                .telegram_bot_token
                .clone()
                .filter(|t| !t.expose_secret().trim().is_empty()),
            telegram_base_url: settings.telegram_base_url.trim_end_matches('/').to_owned(),
            timeout,
        })
    }

    /// Sends `notice` on `channel`.
    pub async fn send(
        &self,
        delivery_id: &str,
        channel: &ChannelTarget,
        notice: &Notice,
    ) -> Result<(), SendError> {
        let sending = async {
            match channel.kind {
                ChannelKind::Email => self.email(delivery_id, &channel.target, notice).await,
                ChannelKind::Telegram => self.telegram(&channel.target, notice).await,
                ChannelKind::Webhook => self.webhook(delivery_id, &channel.target, notice).await,
            }
        };
        // Each client has its own timeout; this one bounds the whole exchange.
        match tokio::time::timeout(self.timeout + Duration::from_secs(1), sending).await {
            Ok(outcome) => outcome,
            Err(_) => Err(SendError::Transient(format!(
                "no answer in {} ms",
                self.timeout.as_millis()
            ))),
        }
    }

    async fn email(&self, delivery_id: &str, to: &str, notice: &Notice) -> Result<(), SendError> {
        let Some(smtp) = &self.smtp else {
            return Err(SendError::Permanent(
                "no mail server configured (BOOM__NOTIFY__SMTP_URL)".to_owned(),
            ));
        };
        let to: Mailbox = to
            .parse()
            .map_err(|e| SendError::Permanent(format!("`{to}` is not an e-mail address: {e}")))?;
        let id: String = delivery_id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '.'
                }
            })
            .collect();
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&notice.title)
            .message_id(Some(format!("<{id}@boom-notifier>")))
            .header(ContentType::TEXT_PLAIN)
            .body(notice.text.clone())
            .map_err(|e| SendError::Permanent(format!("message not buildable: {e}")))?;
        match smtp.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::Permanent(format!("mail server: {e}"))),
            Err(e) => Err(SendError::Transient(format!("mail server: {e}"))),
        }
    }

    async fn telegram(&self, chat: &str, notice: &Notice) -> Result<(), SendError> {
        let Some(token) = &self.telegram_token else {
            return Err(SendError::Permanent(
                "no Telegram bot configured (BOOM__NOTIFY__TELEGRAM_BOT_TOKEN)".to_owned(),
            ));
        };
        let url = format!(
            "{}/bot{}/sendMessage",
            self.telegram_base_url,
            token.expose_secret()
        );
        let response = self
            .http
            .post(url)
            .json(&json!({
                "chat_id": chat,
                "text": notice.text,
                "disable_web_page_preview": true,
            }))
            .send()
            .await
            // Never the URL: it holds the bot's token.
            .map_err(|e| {
                SendError::Transient(format!("Telegram unreachable: {}", e.without_url()))
            })?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if status.is_success() && body["ok"] == true {
            return Ok(());
        }
        let why = format!(
            "Telegram answered {}: {}",
            status.as_u16(),
            body["description"].as_str().unwrap_or("no description")
        );
        if status.as_u16() == 429 || status.is_server_error() {
            Err(SendError::Transient(why))
        } else {
            Err(SendError::Permanent(why))
        }
    }

    async fn webhook(
        &self,
        delivery_id: &str,
        url: &str,
        notice: &Notice,
    ) -> Result<(), SendError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| SendError::Permanent(format!("not a URL: {e}")))?;
        // An address written in the URL is not resolved: check it here.
        let literal = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        if !self.private_networks && literal.is_some_and(|ip| !is_public(ip)) {
            return Err(SendError::Permanent(
                "webhooks to private networks are off (BOOM__NOTIFY__WEBHOOK_PRIVATE_NETWORKS)"
                    .to_owned(),
            ));
        }
        let body = webhook_body(delivery_id, notice);
        let response = self
            .webhooks
            .post(parsed)
            .header("Idempotency-Key", delivery_id)
            .json(&body)
            .send()
            .await
            // Never the URL: a chat service's webhook URL is its secret.
            .map_err(|e| {
                SendError::Transient(format!("webhook unreachable: {}", e.without_url()))
            })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_redirection() {
            Err(SendError::Permanent(format!(
                "webhook answered {status}: redirects are not followed, use the final URL"
            )))
        } else if matches!(status.as_u16(), 408 | 425 | 429) || status.is_server_error() {
            Err(SendError::Transient(format!("webhook answered {status}")))
        } else {
            Err(SendError::Permanent(format!("webhook answered {status}")))
        }
    }
}

/// The webhook's JSON: the contract's fields (`kind, state, alertId, photomatonId, hostname,
/// boothName, message, at`), plus what chat services read (`text` for Slack and Mattermost,
/// `content` for Discord, `title`) and the delivery id.
pub fn webhook_body(delivery_id: &str, notice: &Notice) -> serde_json::Value {
    let (kind, state) = match notice.transition {
        Transition::Test => ("test", "open"),
        Transition::Resolved => (notice.kind.as_str(), "resolved"),
        Transition::Open | Transition::Reminder => (notice.kind.as_str(), "open"),
    };
    json!({
        "kind": kind,
        "state": state,
        "alertId": notice.alert_id,
        "photomatonId": notice.photomaton_id,
        "hostname": notice.hostname,
        "boothName": notice.booth_name,
        "message": notice.text,
        "at": notice.at,
        "transition": notice.transition,
        "title": notice.title,
        "text": notice.text,
        "content": notice.text,
        "deliveryId": delivery_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhooks_stay_out_of_private_networks() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.1.1",
            "172.16.0.1",
            "169.254.169.254",
            "100.64.0.9",
            "100.127.255.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            let ip: IpAddr = private.parse().unwrap_or_else(|e| panic!("{private}: {e}"));
            assert!(!is_public(ip), "{private}");
        }
        for public in ["1.1.1.1", "100.128.0.1", "2606:4700:4700::1111"] {
            let ip: IpAddr = public.parse().unwrap_or_else(|e| panic!("{public}: {e}"));
            assert!(is_public(ip), "{public}");
        }
    }

    #[test]
    fn starttls_when_offered_unless_the_url_says_otherwise() {
        assert_eq!(smtp_url("smtp://h:25"), "smtp://h:25?tls=opportunistic");
        assert_eq!(
            smtp_url("smtp://h:587?tls=required"),
            "smtp://h:587?tls=required"
        );
        assert_eq!(smtp_url("smtps://h:465"), "smtps://h:465");
    }
}
