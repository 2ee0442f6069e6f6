//! A signed-in client of a running gateway, as the dashboard is: it keeps the session cookie
//! and sends the gateway's own Origin and the CSRF token with every request. The benchmark
//! and the demo fleet drive the gateway through it. (The integration tests have a client of
//! their own that can also leave the cookie, the Origin or the token out, on purpose.)

use anyhow::bail;
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct SignedIn {
    base: String,
    http: reqwest::Client,
    /// `boom_session=…`, as a `Cookie` header carries it.
    pub cookie: String,
    csrf: String,
}

impl SignedIn {
    /// Signs in at the gateway of base URL `base` (`http://127.0.0.1:8080`).
    pub async fn sign_in(base: &str, username: &str, password: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let response = http
            .post(format!("{base}/api/auth/login"))
            .header("origin", base)
            .json(&json!({"username": username, "password": password}))
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("cannot sign in as {username}: {}", response.text().await?);
        }
        let cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|c| c.split(';').next())
            .unwrap_or_default()
            .to_owned();
        let me: Value = response.json().await?;
        Ok(Self {
            base: base.to_owned(),
            http,
            cookie,
            csrf: me["csrfToken"].as_str().unwrap_or_default().to_owned(),
        })
    }

    /// A request as the dashboard sends it; the JSON answer, or an error naming the path and
    /// the status when the gateway refused.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("cookie", &self.cookie)
            .header("origin", &self.base)
            .header("x-csrf-token", &self.csrf);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{path}: {status} {body}");
        }
        Ok(body)
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// A new agent key for booth `id` (the old one stops at once).
    pub async fn new_agent_key(&self, id: &Value) -> anyhow::Result<String> {
        self.post(
            &format!("/api/photomatons/{id}/api-key"),
            serde_json::json!({}),
        )
        .await?["apiKey"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("no agent key for booth {id}"))
    }

    /// A new booth named `name` at `hostname`, with its agent key: `(id, key)`.
    pub async fn booth_with_key(
        &self,
        name: &str,
        hostname: &str,
    ) -> anyhow::Result<(i64, String)> {
        let created = self
            .post(
                "/api/photomatons",
                serde_json::json!({"name": name, "hostname": hostname}),
            )
            .await?;
        let id = created["id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("no booth id in {created}"))?;
        Ok((id, self.new_agent_key(&created["id"]).await?))
    }
}
