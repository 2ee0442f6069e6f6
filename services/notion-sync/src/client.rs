//! A polite Notion API client: base URL from configuration (`notion.base_url`), the
//! `Notion-Version` the page types of `notion-client` were written for, at most 3 requests per
//! second, HTTP 429 honouring `Retry-After`, 5xx and timeouts retried with backoff, and errors
//! that say what to fix. The token is sent, never logged.
//!
//! notion-client 1.1 hard-codes `https://api.notion.com/v1`, so it cannot be pointed at
//! `BOOM__NOTION__BASE_URL`; its object types (`Page`, `PageProperty`) are used to read pages.

use std::time::Duration;

use boom_config::{ExposeSecret, SecretString};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio::time::Instant;

/// The API version this client speaks (the one notion-client 1.1's types follow).
pub const NOTION_VERSION: &str = "2026-03-11";
/// Notion's documented average rate limit.
const MIN_INTERVAL: Duration = Duration::from_millis(334);
const ATTEMPTS: u32 = 5;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotionError {
    #[error("Notion refused the token (401): check BOOM__NOTION__TOKEN")]
    Unauthorized,
    #[error(
        "Notion says the integration may not read this database (403): share the database with the integration"
    )]
    Forbidden,
    #[error(
        "Notion does not know {0} (404): check BOOM__NOTION__DATABASE_ID and that the database is shared with the integration"
    )]
    NotFound(String),
    #[error("Notion refused the request ({status} {code}): {message}")]
    Rejected {
        status: u16,
        code: String,
        message: String,
    },
    #[error("Notion answered something that is not what its API documents: {0}")]
    Malformed(String),
    #[error("Notion is unavailable after {ATTEMPTS} attempts: {0}")]
    Unavailable(String),
    #[error("notion.token and notion.database_id must be set")]
    NotConfigured,
}

#[derive(Debug)]
pub struct NotionClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
    next_slot: Mutex<Instant>,
}

impl NotionClient {
    pub fn new(base_url: &str, token: SecretString) -> Result<Self, reqwest::Error> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            base: base_url.trim_end_matches('/').to_owned(),
            token,
            next_slot: Mutex::new(Instant::now()),
        })
    }

    /// Waits for this request's slot: requests leave at most every `MIN_INTERVAL`.
    async fn pace(&self) {
        let slot = {
            let mut next = self.next_slot.lock().await;
            let slot = (*next).max(Instant::now());
            *next = slot + MIN_INTERVAL;
            slot
        };
        tokio::time::sleep_until(slot).await;
    }

    /// One API call with Notion's error handling; `what` names the object for messages.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
        what: &str,
    ) -> Result<Value, NotionError> {
        let mut last_error = String::new();
        for attempt in 0..ATTEMPTS {
            self.pace().await;
            let mut request = self
                .http
                .request(method.clone(), format!("{}{path}", self.base))
                .bearer_auth(self.token.expose_secret())
                .header("Notion-Version", NOTION_VERSION);
            if let Some(body) = body {
                request = request.json(body);
            }
            let backoff = Duration::from_millis(500 * 2u64.pow(attempt));
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    last_error = format!("{}", error.without_url());
                    tokio::time::sleep(backoff).await;
                    continue;
                }
            };
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<f64>().ok())
                .map(|s| Duration::from_secs_f64(s.clamp(0.0, 120.0)));
            let text = response.text().await.unwrap_or_default();
            match status {
                200..=299 => {
                    return serde_json::from_str(&text)
                        .map_err(|e| NotionError::Malformed(format!("{what}: {e}")));
                }
                429 => {
                    let wait = retry_after.unwrap_or(backoff);
                    tracing::info!(
                        wait_ms = wait.as_millis() as u64,
                        "Notion rate limit: waiting as asked"
                    );
                    last_error = "rate limited (429)".to_owned();
                    tokio::time::sleep(wait).await;
                }
                401 => return Err(NotionError::Unauthorized),
                403 => return Err(NotionError::Forbidden),
                404 => return Err(NotionError::NotFound(what.to_owned())),
                500..=599 => {
                    last_error = format!("{status}");
                    tokio::time::sleep(retry_after.unwrap_or(backoff)).await;
                }
                _ => {
                    let error: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    return Err(NotionError::Rejected {
                        status,
                        code: error["code"].as_str().unwrap_or("unknown").to_owned(),
                        message: error["message"]
                            .as_str()
                            .unwrap_or(&text)
                            .chars()
                            .take(300)
                            .collect(),
                    });
                }
            }
        }
        Err(NotionError::Unavailable(last_error))
    }
}
