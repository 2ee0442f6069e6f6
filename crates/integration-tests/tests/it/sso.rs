//! Single sign-on, the whole flow in headless Chromium against a real OpenID Connect provider
//! running locally (oidc-provider from npm, OpenID Certified, `crates/integration-tests/oidc`,
//! installed by `scripts/sso-provider.sh`): the dashboard's button, the provider's own sign-in
//! and consent pages, the code exchanged with PKCE, the ID token checked, a session opened.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use boom_testkit::TestContext;
use boom_testkit::browser::{Browser, Locator};
use serde_json::json;

use crate::gateway_client::{PASSWORD, Staff};
use crate::helpers::eventually;

const CLIENT_SECRET: &str = "boom-test-secret-for-the-local-provider";

/// oidc-provider on a port of its own, stopped when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    /// `clock_offset_secs` shifts the provider's clock (negative: its ID tokens are born
    /// expired).
    async fn start(redirect_url: &str, clock_offset_secs: i64) -> anyhow::Result<Self> {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("oidc/provider.mjs");
        anyhow::ensure!(
            script.with_file_name("node_modules").exists(),
            "oidc-provider is not installed: run the tests with `just test` (scripts/sso-provider.sh)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("node")
            .arg(&script)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_CLIENT_ID", "boom")
            .env("OIDC_CLIENT_SECRET", CLIENT_SECRET)
            .env("OIDC_REDIRECT_URL", redirect_url)
            .env("OIDC_CLOCK_OFFSET_SECS", clock_offset_secs.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("node not found ({e}): scripts/sso-provider.sh installs it")
            })?;
        let provider = Self {
            child,
            issuer: format!("http://127.0.0.1:{port}"),
        };
        let discovery = format!("{}/.well-known/openid-configuration", provider.issuer);
        eventually(Duration::from_secs(15), || async {
            Ok(reqwest::get(&discovery)
                .await
                .is_ok_and(|r| r.status().is_success()))
        })
        .await?;
        Ok(provider)
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A gateway with single sign-on through `provider`, and the usual staff.
async fn gateway_with(clock_offset_secs: i64) -> anyhow::Result<(TestContext, Provider, Staff)> {
    let mut ctx = TestContext::new().await?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    ctx.settings.http.addr = format!("127.0.0.1:{port}");
    let redirect = format!("http://127.0.0.1:{port}/api/auth/oidc/callback");
    let provider = Provider::start(&redirect, clock_offset_secs).await?;
    ctx.settings.oidc.issuer_url = Some(provider.issuer.clone());
    ctx.settings.oidc.client_id = Some("boom".to_owned());
    ctx.settings.oidc.client_secret = Some(boom_config::SecretString::from(CLIENT_SECRET));
    ctx.settings.oidc.redirect_url = Some(redirect);
    let staff = Staff::start(&ctx).await?;
    Ok((ctx, provider, staff))
}

/// Marie's account, as an admin makes it: a role and her company address.
async fn create_marie(staff: &Staff, role: &str, email: &str) -> anyhow::Result<()> {
    let created = staff
        .admin
        .post(
            "/api/users",
            json!({"username": "marie", "password": PASSWORD, "role": role, "email": email}),
        )
        .await?;
    anyhow::ensure!(created.status == 201, "{created:?}");
    Ok(())
}

/// Goes through the provider's development sign-in and consent pages as `login`.
async fn sign_in_at_provider(browser: &Browser, login: &str) -> anyhow::Result<()> {
    browser
        .wait_for("input[name=login]")
        .await?
        .send_keys(login)
        .await?;
    browser
        .client
        .find(Locator::Css("input[name=password]"))
        .await?
        .send_keys("any password: the provider's dev pages take it")
        .await?;
    browser
        .client
        .find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    // The consent page: "Continue".
    browser
        .wait_for("input[name=prompt][value=consent]")
        .await?;
    browser
        .client
        .find(Locator::Css("button[type=submit]"))
        .await?
        .click()
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_known_person_signs_in_with_the_company_account_and_strangers_do_not()
-> anyhow::Result<()> {
    let (ctx, _provider, staff) = gateway_with(0).await?;
    let base = staff.app.address.clone();
    // Marie's account, made by an admin with her company address.
    create_marie(&staff, "INSTALLER", "Marie@leboom.test").await?;

    let browser = Browser::start().await?;
    browser.client.goto(&format!("{base}/#/login")).await?;
    let button = browser.wait_for("[data-sso-login]").await?;
    assert_eq!(button.text().await?, "Se connecter avec Infomaniak");
    browser.screenshot("sso-sign-in").await?;
    button.click().await?;
    sign_in_at_provider(&browser, "marie").await?;
    browser.wait_for("#fleet").await?;
    assert!(
        browser.text("#user").await?.starts_with("marie"),
        "signed in as the account an admin made"
    );
    // Bound to the issuer's subject, audited with the method; the role is ours.
    let users = staff.admin.get("/api/users").await?.body;
    let marie = users["items"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["username"] == "marie"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(marie["singleSignOn"], true, "{marie}");
    assert_eq!(marie["role"], "INSTALLER");
    let audit = staff
        .admin
        .get("/api/audit-logs?action=auth.login&limit=50")
        .await?
        .body;
    assert!(
        audit["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|a| a["username"] == "marie" && a["details"]["method"] == "oidc"),
        "{audit}"
    );

    // Her session ends within the day whatever its use: a person the company disables at the
    // issuer is out by then (a password's session slides for 30 days).
    let cache = boom_cache::Cache::new(&ctx.settings.redis)?;
    let mut conn = cache.connection().await?;
    let keys: Vec<String> = boom_cache::redis::cmd("KEYS")
        .arg(cache.key("session:*"))
        .query_async(&mut conn)
        .await?;
    let mut ends = Vec::new();
    for key in keys {
        let record: String = boom_cache::redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await?;
        let record: serde_json::Value = serde_json::from_str(&record)?;
        if record["username"] == "marie" {
            ends.push(record["expires_at"].clone());
        }
        if record["username"] == "admin" {
            assert!(record["expires_at"].is_null(), "{record}");
        }
    }
    let end: chrono::DateTime<chrono::Utc> = serde_json::from_value(
        ends.first()
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no session for marie"))?,
    )?;
    let left = end - chrono::Utc::now();
    assert!(
        left > chrono::Duration::hours(11) && left <= chrono::Duration::hours(12),
        "{left}"
    );

    // Her password switched off by an admin: only the company account opens the dashboard.
    let id = marie["id"].as_i64().unwrap_or_default();
    let off = staff
        .admin
        .patch(&format!("/api/users/{id}"), json!({"passwordLogin": false}))
        .await?;
    assert_eq!(off.status, 200, "{off:?}");
    let refused = staff
        .anonymous
        .post(
            "/api/auth/login",
            json!({"username": "marie", "password": PASSWORD}),
        )
        .await?;
    assert_eq!(refused.status, 401, "{refused:?}");
    assert!(
        refused.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("switched off")),
        "{refused:?}"
    );

    // An admin keeps a password (the way in when the issuer is down); nobody is left with no
    // way in; a new address unbinds the company account.
    let me_id = staff.admin.get("/api/auth/me").await?.body["id"].clone();
    let admin_off = staff
        .admin
        .patch(
            &format!("/api/users/{me_id}"),
            json!({"passwordLogin": false}),
        )
        .await?;
    assert_eq!(admin_off.status, 409, "{admin_off:?}");
    let viewer_id = staff.admin.get("/api/users").await?.body["items"]
        .as_array()
        .and_then(|a| a.iter().find(|u| u["username"] == "viewer"))
        .map(|u| u["id"].clone())
        .unwrap_or_default();
    let stranded = staff
        .admin
        .patch(
            &format!("/api/users/{viewer_id}"),
            json!({"passwordLogin": false}),
        )
        .await?;
    assert_eq!(stranded.status, 409, "no e-mail, no binding: {stranded:?}");
    let moved = staff
        .admin
        .patch(
            &format!("/api/users/{id}"),
            json!({"email": "marie.dupont@leboom.test"}),
        )
        .await?;
    assert_eq!(moved.status, 200, "{moved:?}");
    assert_eq!(moved.body["singleSignOn"], false, "{moved:?}");
    let typo = staff
        .admin
        .patch(
            &format!("/api/users/{id}"),
            json!({"email": "marie@@leboom"}),
        )
        .await?;
    assert_eq!(typo.status, 422, "{typo:?}");

    // A stranger at the company: the provider knows them, LE BOOM does not. The page names
    // the admins to ask by their names, never by their usernames.
    let me = staff.admin.get("/api/auth/me").await?.body;
    let named = staff
        .admin
        .patch(
            &format!("/api/users/{}", me["id"]),
            json!({"name": "Alice Martin"}),
        )
        .await?;
    assert_eq!(named.status, 200, "{named:?}");
    browser.client.delete_all_cookies().await?;
    browser
        .client
        .goto(&format!("{base}/api/auth/oidc/login"))
        .await?;
    sign_in_at_provider(&browser, "paul").await?;
    let said = browser.wait_for("[data-sso-outcome]").await?.text().await?;
    assert!(
        said.starts_with("Aucun compte LE BOOM n’est ouvert pour paul@leboom.test")
            && said.contains("Demandez à un administrateur (Alice Martin)")
            && !said.contains("(admin)"),
        "{said}"
    );
    browser.screenshot("sso-unknown").await?;

    // The issuer's refusal says only its code: a description anyone can put in a link is not
    // shown on our page.
    browser
        .client
        .goto(&format!(
            "{base}/api/auth/oidc/callback?error=access_denied&error_description=Call+0800+now"
        ))
        .await?;
    let said = browser.wait_for("[data-sso-outcome]").await?.text().await?;
    assert!(said.contains("n’a pas confirmé votre identité"), "{said}");
    let detail = browser.text("p.en").await?;
    assert!(
        detail.contains("access_denied") && !detail.contains("0800"),
        "{detail}"
    );

    // A state that was never handed out, or handed to another browser, opens nothing.
    browser.client.delete_all_cookies().await?;
    browser
        .client
        .goto(&format!(
            "{base}/api/auth/oidc/callback?code=stolen&state=made-up"
        ))
        .await?;
    let said = browser.wait_for("[data-sso-outcome]").await?.text().await?;
    assert!(said.contains("n’a pas été commencée ici"), "{said}");
    let elsewhere = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(format!("{base}/api/auth/oidc/login"))
        .send()
        .await?;
    assert_eq!(elsewhere.status().as_u16(), 302);
    let location = elsewhere.headers()["location"].to_str()?.to_owned();
    assert!(
        location.contains("code_challenge_method=S256")
            && location.contains("state=")
            && location.contains("nonce="),
        "{location}"
    );
    let state = url::Url::parse(&location)?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    browser
        .client
        .goto(&format!(
            "{base}/api/auth/oidc/callback?code=whatever&state={state}"
        ))
        .await?;
    let said = browser.wait_for("[data-sso-outcome]").await?.text().await?;
    assert!(said.contains("n’a pas été commencée ici"), "{said}");

    // An ID token for another sign-in (its nonce is not this one's) is refused.
    browser.client.delete_all_cookies().await?;
    browser
        .client
        .goto(&format!("{base}/api/auth/oidc/login"))
        .await?;
    browser.wait_for("input[name=login]").await?;
    let keys: Vec<String> = boom_cache::redis::cmd("KEYS")
        .arg(cache.key("sso:*"))
        .query_async(&mut conn)
        .await?;
    anyhow::ensure!(keys.len() == 1, "one sign-in under way: {keys:?}");
    let kept: String = boom_cache::redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await?;
    let mut flow: serde_json::Value = serde_json::from_str(&kept)?;
    flow["nonce"] = json!("the-nonce-of-another-sign-in");
    let _: () = boom_cache::redis::cmd("SET")
        .arg(&keys[0])
        .arg(flow.to_string())
        .arg("EX")
        .arg(600)
        .query_async(&mut conn)
        .await?;
    sign_in_at_provider(&browser, "marie").await?;
    let said = browser.wait_for("[data-sso-outcome]").await?.text().await?;
    assert!(said.contains("n’est pas valide"), "{said}");
    let detail = browser.text("p.en").await?;
    assert!(detail.to_lowercase().contains("nonce"), "{detail}");
    staff.app.stop().await
}

#[tokio::test]
async fn an_expired_id_token_is_refused() -> anyhow::Result<()> {
    // The provider's clock is an hour behind: its ID tokens expired before they were sent.
    let (_ctx, _provider, staff) = gateway_with(-3600).await?;
    let base = staff.app.address.clone();
    create_marie(&staff, "VIEWER", "marie@leboom.test").await?;
    let browser = Browser::start().await?;
    browser
        .client
        .goto(&format!("{base}/api/auth/oidc/login"))
        .await?;
    sign_in_at_provider(&browser, "marie").await?;
    let said = browser.wait_for("[data-sso-outcome]").await?.text().await?;
    assert!(said.contains("n’est pas valide"), "{said}");
    let detail = browser.text("p.en").await?;
    assert!(detail.to_lowercase().contains("expired"), "{detail}");
    // No session was opened: the dashboard asks to sign in.
    browser.client.goto(&format!("{base}/")).await?;
    browser.wait_for("form.login").await?;
    staff.app.stop().await
}
