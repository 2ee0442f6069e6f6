//! The agent's one client of stats-ingest: every request it makes carries the agent key and a
//! timeout, against the base URL of `agent.ingest_url`. Callers decide what an answer means
//! (the sender keeps a batch until 202 or 200; a failed poll is tried again later).

use std::time::Duration;

use boom_contracts::agent::{AgentCommands, AgentPair, AgentPaired, AgentSync, CommandReport};
use bytes::Bytes;

/// The longest one request may take (a batch on a slow 4G link, a speed test's transfer).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const SPEED_TEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct IngestClient {
    http: reqwest::Client,
    base_url: String,
    key: String,
    speed_test_url: String,
}

/// Pairs this PC with the booth whose code an installer read on the booth page: the answer
/// carries the key to keep. A refusal is ingest's own sentence (wrong, used or expired code,
/// too many attempts).
pub async fn pair(base_url: &str, code: &str, pc_hostname: &str) -> anyhow::Result<AgentPaired> {
    let response = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .build()?
        .post(format!("{}/api/agent/pair", base_url.trim_end_matches('/')))
        .json(&AgentPair {
            code: code.to_owned(),
            hostname: pc_hostname.to_owned(),
        })
        .timeout(REQUEST_TIMEOUT)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach stats-ingest at {base_url}: {e}"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response.json().await?);
    }
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    let message = body["message"].as_str().unwrap_or("no explanation");
    anyhow::bail!("pairing refused ({status}): {message}")
}

impl IngestClient {
    /// A client of the stats-ingest at `base_url`; speed tests go to `speed_test_url`, or
    /// ingest's own `/api/agent/speedtest`.
    pub fn new(
        base_url: &str,
        key: String,
        speed_test_url: Option<String>,
    ) -> Result<Self, reqwest::Error> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()?;
        Ok(Self {
            speed_test_url: speed_test_url
                .unwrap_or_else(|| format!("{base_url}/api/agent/speedtest")),
            http,
            base_url,
            key,
        })
    }

    /// `POST /api/agent/sync`: the answer as it came, whatever its status.
    pub async fn sync(&self, batch: &AgentSync) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(format!("{}/api/agent/sync", self.base_url))
            .bearer_auth(&self.key)
            .json(batch)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await
    }

    /// `GET /api/agent/commands`: what the dashboard asks of this booth, once it differs from
    /// `version` (what the last answer said) or after `wait`; with the answer's version.
    pub async fn commands(
        &self,
        wait: Duration,
        version: Option<&str>,
    ) -> Result<(AgentCommands, String), reqwest::Error> {
        // The version is hex: nothing to escape.
        let mut url = format!(
            "{}/api/agent/commands?wait={}",
            self.base_url,
            wait.as_secs()
        );
        if let Some(version) = version {
            url.push_str("&version=");
            url.push_str(version);
        }
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.key)
            .timeout(REQUEST_TIMEOUT + wait)
            .send()
            .await?
            .error_for_status()?;
        let version = response
            .headers()
            .get("x-commands-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok((response.json().await?, version))
    }

    /// `POST /api/agent/commands/{id}`: what became of a remote command.
    pub async fn report_command(
        &self,
        id: uuid::Uuid,
        report: &CommandReport,
    ) -> Result<(), reqwest::Error> {
        self.http
            .post(format!("{}/api/agent/commands/{id}", self.base_url))
            .bearer_auth(&self.key)
            .json(report)
            .timeout(REQUEST_TIMEOUT)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    /// Downloads `bytes` from the speed test endpoint (0: a latency probe).
    pub async fn speed_test_download(&self, bytes: usize) -> Result<Bytes, reqwest::Error> {
        self.http
            .get(format!("{}?bytes={bytes}", self.speed_test_url))
            .bearer_auth(&self.key)
            .timeout(SPEED_TEST_TIMEOUT)
            .send()
            .await?
            .error_for_status()?
            .bytes()
            .await
    }

    /// Uploads `bytes` zeros to the speed test endpoint.
    pub async fn speed_test_upload(&self, bytes: usize) -> Result<(), reqwest::Error> {
        self.http
            .post(&self.speed_test_url)
            .bearer_auth(&self.key)
            .body(vec![0u8; bytes])
            .timeout(SPEED_TEST_TIMEOUT)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }
}
