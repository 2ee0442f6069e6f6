//! Sending one message on one channel: e-mail over SMTP (lettre), the Telegram Bot API, or a
//! JSON webhook. Each send is bounded by `notify.send_timeout_ms`; a failure says whether it is
//! worth retrying (a timeout, a 5xx, a 429) or not (no such address, no bot configured).
//!
//! Every message carries its delivery id where the channel allows it (the e-mail's
//! `Message-ID`, the webhook's `Idempotency-Key` header and `deliveryId` field), so that a
//! receiver can drop the rare second copy of a message whose send was cut short by a crash.

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

/// The channels' clients, built once.
pub struct Senders {
    smtp: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    http: reqwest::Client,
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
        let smtp = match &settings.smtp_url {
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
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("boom-notifier/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            smtp,
            from,
            http,
            telegram_token: settings.telegram_bot_token.clone(),
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
        let body = webhook_body(delivery_id, notice);
        let response = self
            .http
            .post(url)
            .header("Idempotency-Key", delivery_id)
            .json(&body)
            .send()
            .await
            .map_err(|e| SendError::Transient(format!("webhook unreachable: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
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
    fn starttls_when_offered_unless_the_url_says_otherwise() {
        assert_eq!(smtp_url("smtp://h:25"), "smtp://h:25?tls=opportunistic");
        assert_eq!(
            smtp_url("smtp://h:587?tls=required"),
            "smtp://h:587?tls=required"
        );
        assert_eq!(smtp_url("smtps://h:465"), "smtps://h:465");
    }
}
