//! A client of the gateway that behaves like the dashboard in a browser: it keeps the session
//! cookie, sends the page's Origin and the CSRF token on mutating requests.

use boom_contracts::UserRole;
use boom_db::models::NewUser;
use boom_db::schema::users;
use boom_testkit::TestContext;
use diesel_async::RunQueryDsl;
use serde_json::Value;

use crate::helpers::{TestApp, spawn_gateway};

pub const PASSWORD: &str = "correct horse battery staple";

/// A response: status, body as JSON (Null when empty), and the raw Set-Cookie header.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub set_cookie: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    /// `None` sends no Origin header.
    pub origin: Option<String>,
}

impl Client {
    pub fn anonymous(app: &TestApp) -> Self {
        Self {
            base: app.address.clone(),
            http: reqwest::Client::new(),
            cookie: None,
            csrf: None,
            origin: Some(app.address.clone()),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Reply> {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", format!("boom_session={cookie}"));
        }
        if let Some(origin) = &self.origin {
            request = request.header("origin", origin);
        }
        if method != reqwest::Method::GET
            && let Some(csrf) = &self.csrf
        {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        Self::reply(response).await
    }

    pub async fn reply(response: reqwest::Response) -> anyhow::Result<Reply> {
        let status = response.status().as_u16();
        let set_cookie = response
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response.text().await?;
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Ok(Reply {
            status,
            body,
            set_cookie,
        })
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Reply> {
        self.send("get", path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Reply> {
        self.send("post", path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> anyhow::Result<Reply> {
        self.send("patch", path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> anyhow::Result<Reply> {
        self.send("delete", path, None).await
    }

    /// Signs in; keeps the cookie and the CSRF token.
    pub async fn login(app: &TestApp, username: &str, password: &str) -> anyhow::Result<Self> {
        let mut client = Self::anonymous(app);
        let reply = client
            .post(
                "/api/auth/login",
                serde_json::json!({"username": username, "password": password}),
            )
            .await?;
        anyhow::ensure!(reply.status == 200, "login of {username} failed: {reply:?}");
        client.cookie = reply
            .set_cookie
            .as_deref()
            .and_then(|c| c.split(';').next())
            .and_then(|kv| kv.strip_prefix("boom_session="))
            .map(str::to_owned);
        client.csrf = reply.body["csrfToken"].as_str().map(str::to_owned);
        Ok(client)
    }
}

/// Creates a user straight in the database (as `boom-gateway users add` would).
pub async fn create_user(ctx: &TestContext, username: &str, role: UserRole) -> anyhow::Result<i32> {
    let mut conn = ctx.connection().await?;
    let id: boom_contracts::UserId = diesel::insert_into(users::table)
        .values(NewUser {
            username: username.to_owned(),
            role,
            password_hash: boom_gateway::passwords::hash_password(PASSWORD)?,
            email: None,
        })
        .returning(users::id)
        .get_result(&mut conn)
        .await?;
    Ok(id.0)
}

/// A gateway with one user per role, signed in.
#[derive(Debug)]
pub struct Staff {
    pub app: TestApp,
    pub admin: Client,
    pub installer: Client,
    pub viewer: Client,
    pub anonymous: Client,
}

impl Staff {
    pub async fn start(ctx: &TestContext) -> anyhow::Result<Self> {
        for (name, role) in [
            ("admin", UserRole::Admin),
            ("installer", UserRole::Installer),
            ("viewer", UserRole::Viewer),
        ] {
            create_user(ctx, name, role).await?;
        }
        let app = spawn_gateway(ctx.settings.clone()).await?;
        Ok(Self {
            admin: Client::login(&app, "admin", PASSWORD).await?,
            installer: Client::login(&app, "installer", PASSWORD).await?,
            viewer: Client::login(&app, "viewer", PASSWORD).await?,
            anonymous: Client::anonymous(&app),
            app,
        })
    }

    /// Registers a booth as the admin; returns its id.
    pub async fn booth(&self, hostname: &str) -> anyhow::Result<i64> {
        let reply = self
            .admin
            .post(
                "/api/photomatons",
                serde_json::json!({"name": format!("Booth {hostname}"), "hostname": hostname}),
            )
            .await?;
        anyhow::ensure!(reply.status == 201, "{reply:?}");
        reply.body["id"]
            .as_i64()
            .ok_or_else(|| anyhow::anyhow!("no id in {:?}", reply.body))
    }
}
