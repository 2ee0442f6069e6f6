//! Sign-in, sessions, CSRF and the role matrix.

use boom_cache::redis;
use boom_contracts::UserRole;
use boom_gateway::endpoints;
use boom_testkit::TestContext;
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::gateway_client::{Client, PASSWORD, Staff, create_user};
use crate::helpers::spawn_gateway;

#[tokio::test]
async fn login_sets_an_http_only_same_site_cookie_and_answers_the_user_and_csrf_token()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    create_user(&ctx, "marie", UserRole::Installer).await?;
    let app = spawn_gateway(ctx.settings.clone()).await?;
    let reply = Client::anonymous(&app)
        .post(
            "/api/auth/login",
            json!({"username": "Marie", "password": PASSWORD}),
        )
        .await?;
    assert_eq!(reply.status, 200, "{reply:?}");
    let cookie = reply.set_cookie.unwrap_or_default();
    for attribute in [
        "boom_session=",
        "HttpOnly",
        "SameSite=Lax",
        "Path=/",
        "Max-Age=2592000",
    ] {
        assert!(
            cookie.contains(attribute),
            "{attribute} missing in {cookie}"
        );
    }
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP must not get a Secure cookie: {cookie}"
    );
    assert_eq!(reply.body["username"], "marie");
    assert_eq!(reply.body["role"], "INSTALLER");
    assert_eq!(reply.body["csrfToken"].as_str().map(str::len), Some(43));
    assert!(reply.body.get("passwordHash").is_none());

    let client = Client::login(&app, "marie", PASSWORD).await?;
    let me = client.get("/api/auth/me").await?;
    assert_eq!(
        (me.status, me.body["username"].clone()),
        (200, json!("marie"))
    );
    assert_eq!(me.body["csrfToken"].as_str(), client.csrf.as_deref());
    app.stop().await
}

#[tokio::test]
async fn behind_https_the_cookie_is_secure() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    create_user(&ctx, "marie", UserRole::Viewer).await?;
    let app = spawn_gateway(ctx.settings.clone()).await?;
    let response = reqwest::Client::new()
        .post(format!("{}/api/auth/login", app.address))
        .header("x-forwarded-proto", "https")
        .json(&json!({"username": "marie", "password": PASSWORD}))
        .send()
        .await?;
    let cookie = response
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(cookie.contains("Secure"), "{cookie}");
    app.stop().await
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_every_login_is_audited() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let wrong = staff
        .anonymous
        .post(
            "/api/auth/login",
            json!({"username": "viewer", "password": "nope nope nope"}),
        )
        .await?;
    assert_eq!(
        (wrong.status, wrong.body["error"].clone()),
        (401, json!("unauthorized"))
    );
    let unknown = staff
        .anonymous
        .post(
            "/api/auth/login",
            json!({"username": "ghost", "password": PASSWORD}),
        )
        .await?;
    assert_eq!(unknown.status, 401);
    assert_eq!(
        unknown.body["message"], wrong.body["message"],
        "no hint that a username exists"
    );

    let log = staff
        .admin
        .get("/api/audit-logs?action=auth.&limit=100")
        .await?;
    let lines: Vec<(String, String)> = log.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["action"].as_str().unwrap_or("").to_owned(),
                        i["username"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for expected in [
        ("auth.login", "admin"),
        ("auth.login", "viewer"),
        ("auth.login_failed", "viewer"),
        ("auth.login_failed", "ghost"),
    ] {
        assert!(
            lines.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} not in {lines:?}"
        );
    }
    staff.app.stop().await
}

#[tokio::test]
async fn logout_ends_the_session() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    assert_eq!(
        staff
            .viewer
            .post("/api/auth/logout", json!({}))
            .await?
            .status,
        204
    );
    let after = staff.viewer.get("/api/auth/me").await?;
    assert_eq!(
        (after.status, after.body["error"].clone()),
        (401, json!("unauthorized"))
    );
    staff.app.stop().await
}

async fn session_keys(
    ctx: &TestContext,
) -> anyhow::Result<(redis::aio::MultiplexedConnection, Vec<String>)> {
    let client = redis::Client::open(boom_testkit::redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:session:*", ctx.settings.redis.prefix))
        .query_async(&mut conn)
        .await?;
    Ok((conn, keys))
}

#[tokio::test]
async fn a_session_slides_for_thirty_days_and_expires_when_unused() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    create_user(&ctx, "marie", UserRole::Viewer).await?;
    let app = spawn_gateway(ctx.settings.clone()).await?;
    let client = Client::login(&app, "marie", PASSWORD).await?;
    let (mut conn, keys) = session_keys(&ctx).await?;
    assert_eq!(keys.len(), 1);
    let _: () = redis::cmd("EXPIRE")
        .arg(&keys[0])
        .arg(100)
        .query_async(&mut conn)
        .await?;
    assert_eq!(client.get("/api/auth/me").await?.status, 200);
    let ttl: i64 = redis::cmd("TTL")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await?;
    assert!(
        ttl > 29 * 24 * 3600,
        "a used session is extended to 30 days, ttl {ttl}"
    );
    // Thirty days without use: Redis lets the key go.
    let _: () = redis::cmd("PEXPIRE")
        .arg(&keys[0])
        .arg(1)
        .query_async(&mut conn)
        .await?;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let expired = client.get("/api/auth/me").await?;
    assert_eq!(expired.status, 401);
    assert!(
        expired.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("expired")),
        "{:?}",
        expired.body
    );
    app.stop().await
}

/// An instance remembers whose each session is, to read that user's epoch in the same round
/// trip as the session. Should the record in Redis name another user than the one
/// remembered, it is checked against *its own* user's epoch, never the remembered one's.
#[tokio::test]
async fn a_session_is_checked_against_the_epoch_of_the_user_its_record_names() -> anyhow::Result<()>
{
    let ctx = TestContext::new().await?;
    let marie = create_user(&ctx, "marie", UserRole::Viewer).await?;
    let paul = create_user(&ctx, "paul", UserRole::Viewer).await?;
    let app = spawn_gateway(ctx.settings.clone()).await?;
    let client = Client::login(&app, "marie", PASSWORD).await?;
    assert_eq!(client.get("/api/auth/me").await?.body["username"], "marie");

    let (mut conn, keys) = session_keys(&ctx).await?;
    let [key] = keys.as_slice() else {
        anyhow::bail!("one session expected, found {keys:?}");
    };
    let prefix = &ctx.settings.redis.prefix;
    let epoch = |user: i32| format!("{prefix}:user-epoch:{user}");
    // Marie's epoch moves on (her sessions revoked); Paul's stays at 1.
    let _: () = redis::cmd("SET")
        .arg(epoch(marie))
        .arg(5)
        .query_async(&mut conn)
        .await?;
    let _: () = redis::cmd("SET")
        .arg(epoch(paul))
        .arg(1)
        .query_async(&mut conn)
        .await?;
    let body: String = redis::cmd("GET").arg(key).query_async(&mut conn).await?;
    let mut record: serde_json::Value = serde_json::from_str(&body)?;
    record["user_id"] = json!(paul);
    record["username"] = json!("paul");
    record["epoch"] = json!(1);
    let _: () = redis::cmd("SET")
        .arg(key)
        .arg(record.to_string())
        .arg("KEEPTTL")
        .query_async(&mut conn)
        .await?;

    // Read against Paul's epoch (1), not Marie's (5), which the instance remembered.
    let me = client.get("/api/auth/me").await?;
    assert_eq!(
        (me.status, me.body["username"].clone()),
        (200, json!("paul")),
        "{me:?}"
    );
    // And Paul's revocation ends it.
    let _: i64 = redis::cmd("INCR")
        .arg(epoch(paul))
        .query_async(&mut conn)
        .await?;
    assert_eq!(client.get("/api/auth/me").await?.status, 401);
    app.stop().await
}

#[tokio::test]
async fn deleting_a_user_or_changing_their_role_ends_their_sessions() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let installer_id = staff.installer.get("/api/auth/me").await?.body["id"].clone();
    let viewer_id = staff.viewer.get("/api/auth/me").await?.body["id"].clone();

    let promoted = staff
        .admin
        .patch(
            &format!("/api/users/{installer_id}"),
            json!({"role": "ADMIN"}),
        )
        .await?;
    assert_eq!(promoted.status, 200, "{promoted:?}");
    assert_eq!(
        staff.installer.get("/api/auth/me").await?.status,
        401,
        "old role's session is gone"
    );
    let again = Client::login(&staff.app, "installer", PASSWORD).await?;
    assert_eq!(again.get("/api/auth/me").await?.body["role"], "ADMIN");

    assert_eq!(
        staff
            .admin
            .delete(&format!("/api/users/{viewer_id}"))
            .await?
            .status,
        204
    );
    assert_eq!(staff.viewer.get("/api/auth/me").await?.status, 401);
    let login = staff
        .anonymous
        .post(
            "/api/auth/login",
            json!({"username": "viewer", "password": PASSWORD}),
        )
        .await?;
    assert_eq!(login.status, 401);
    staff.app.stop().await
}

/// The old index of a user's sessions expired 30 days after sign-in while a session in use
/// slid on: revoking then missed it. Whatever of the user's keys expires, a demoted user's
/// next request is refused.
#[tokio::test]
async fn a_demoted_user_is_refused_even_after_their_other_keys_expired() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let installer_id = staff.installer.get("/api/auth/me").await?.body["id"].clone();
    let client = redis::Client::open(boom_testkit::redis_url())?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!(
            "{}:user*:{installer_id}",
            ctx.settings.redis.prefix
        ))
        .query_async(&mut conn)
        .await?;
    for key in keys {
        let _: () = redis::cmd("DEL").arg(key).query_async(&mut conn).await?;
    }
    let demoted = staff
        .admin
        .patch(
            &format!("/api/users/{installer_id}"),
            json!({"role": "VIEWER"}),
        )
        .await?;
    assert_eq!(demoted.status, 200, "{demoted:?}");
    let next = staff
        .installer
        .post("/api/photomatons/1/speedtests", json!({}))
        .await?;
    assert_eq!(next.status, 401, "the demoted session is refused: {next:?}");
    assert_eq!(staff.installer.get("/api/auth/me").await?.status, 401);
    staff.app.stop().await
}

/// A deleted user's open WebSocket closes at the next ping tick, with 4001.
#[tokio::test]
async fn a_deleted_users_websocket_is_closed() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    ctx.settings.http.ws_ping_secs = 1;
    let staff = Staff::start(&ctx).await?;
    let viewer_id = staff.viewer.get("/api/auth/me").await?.body["id"].clone();
    let mut viewer = crate::gateway_live::connect(&staff.viewer).await?;
    let mut admin = crate::gateway_live::connect(&staff.admin).await?;
    assert_eq!(
        staff
            .admin
            .delete(&format!("/api/users/{viewer_id}"))
            .await?
            .status,
        204
    );
    let close = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(message) = viewer.next().await {
            if let Ok(Message::Close(frame)) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await?;
    assert_eq!(close, Some(4001), "closed as revoked");
    // The admin's socket lives on through several ping ticks (reading answers the pings).
    let mut pings = 0;
    let _ = tokio::time::timeout(std::time::Duration::from_millis(3500), async {
        while let Some(Ok(message)) = admin.next().await {
            match message {
                Message::Ping(_) => pings += 1,
                Message::Close(_) => return,
                _ => {}
            }
        }
    })
    .await;
    admin.send(Message::Ping(vec![1].into())).await?;
    let alive = pings >= 2
        && tokio::time::timeout(std::time::Duration::from_secs(5), async {
            while let Some(Ok(message)) = admin.next().await {
                if matches!(message, Message::Pong(_)) {
                    return true;
                }
            }
            false
        })
        .await?;
    assert!(alive, "other sessions keep their socket");
    staff.app.stop().await
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_username() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    create_user(&ctx, "marie", UserRole::Viewer).await?;
    let app = spawn_gateway(ctx.settings.clone()).await?;
    let client = Client::anonymous(&app);
    for _ in 0..boom_gateway::LOGIN_ATTEMPTS_PER_USERNAME {
        let reply = client
            .post(
                "/api/auth/login",
                json!({"username": "marie", "password": "guess guess guess"}),
            )
            .await?;
        assert_eq!(reply.status, 401);
    }
    let blocked = client
        .post(
            "/api/auth/login",
            json!({"username": "MARIE", "password": PASSWORD}),
        )
        .await?;
    assert_eq!(
        (blocked.status, blocked.body["error"].clone()),
        (429, json!("rate_limited")),
        "{blocked:?}"
    );
    app.stop().await
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_address() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let app = spawn_gateway(ctx.settings.clone()).await?;
    let client = Client::anonymous(&app);
    for i in 0..boom_gateway::LOGIN_ATTEMPTS_PER_IP {
        let reply = client
            .post(
                "/api/auth/login",
                json!({"username": format!("user{i}"), "password": "x"}),
            )
            .await?;
        assert_eq!(reply.status, 401);
    }
    let blocked = client
        .post(
            "/api/auth/login",
            json!({"username": "someone-else", "password": "x"}),
        )
        .await?;
    assert_eq!(blocked.status, 429);
    app.stop().await
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "999999")
}

/// Every documented route, for every role and for an anonymous caller: anonymous gets 401
/// where sign-in is needed, a role below the route's minimum gets 403, a role at or above it
/// gets through (whatever the handler then answers, never 401/403).
#[tokio::test]
async fn the_role_matrix_holds_on_every_route() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let roles = [
        (UserRole::Viewer, &staff.viewer),
        (UserRole::Installer, &staff.installer),
        (UserRole::Admin, &staff.admin),
    ];
    let mut checked = 0;
    for endpoint in endpoints() {
        let Some(minimum) = endpoint.role else {
            continue;
        };
        if endpoint.path == "/ws" {
            continue; // covered by the WebSocket tests
        }
        if endpoint.path == "/api/auth/logout" {
            continue; // would end the session used by the next routes; covered above
        }
        let path = concrete(endpoint.path);
        let body = (endpoint.method != "get" && endpoint.method != "delete").then(|| json!({}));
        let anonymous = staff
            .anonymous
            .send(endpoint.method, &path, body.clone())
            .await?;
        assert_eq!(
            anonymous.status, 401,
            "anonymous {endpoint:?}: {anonymous:?}"
        );
        for (role, client) in roles {
            let reply = client.send(endpoint.method, &path, body.clone()).await?;
            let allowed = role.includes(minimum);
            if allowed {
                assert!(
                    ![401, 403, 500].contains(&reply.status),
                    "{role} on {endpoint:?} refused: {reply:?}"
                );
            } else {
                assert_eq!(reply.status, 403, "{role} on {endpoint:?}: {reply:?}");
                assert_eq!(reply.body["error"], "forbidden");
            }
            checked += 1;
        }
    }
    assert!(checked >= 50, "only {checked} checks");
    staff.app.stop().await
}

/// Every mutating route refuses a cookie-authenticated request without the CSRF token, with
/// a wrong token, without Origin, or from another Origin.
#[tokio::test]
async fn every_mutating_route_is_protected_against_csrf() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let base = staff.admin.clone();
    let attacks = [
        Client {
            csrf: None,
            ..base.clone()
        },
        Client {
            csrf: Some("forged".into()),
            ..base.clone()
        },
        Client {
            origin: None,
            ..base.clone()
        },
        Client {
            origin: Some("https://evil.example".into()),
            ..base.clone()
        },
    ];
    let mutating: Vec<_> = endpoints()
        .into_iter()
        .filter(|e| e.role.is_some() && e.method != "get")
        .collect();
    assert!(mutating.len() >= 10);
    for endpoint in &mutating {
        for (i, attacker) in attacks.iter().enumerate() {
            let reply = attacker
                .send(endpoint.method, &concrete(endpoint.path), Some(json!({})))
                .await?;
            assert_eq!(
                (reply.status, reply.body["error"].clone()),
                (403, json!("csrf")),
                "attack {i} on {endpoint:?}: {reply:?}"
            );
        }
    }
    // The admin's session is intact and the real client gets through.
    assert_eq!(base.get("/api/auth/me").await?.status, 200);
    let created = base
        .post(
            "/api/photomatons",
            json!({"name": "Booth", "hostname": "boom-01"}),
        )
        .await?;
    assert_eq!(created.status, 201);
    staff.app.stop().await
}

#[tokio::test]
async fn a_sign_in_from_another_site_is_refused() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    create_user(&ctx, "marie", UserRole::Viewer).await?;
    let app = spawn_gateway(ctx.settings.clone()).await?;
    let evil = Client {
        origin: Some("https://evil.example".into()),
        ..Client::anonymous(&app)
    };
    let reply = evil
        .post(
            "/api/auth/login",
            json!({"username": "marie", "password": PASSWORD}),
        )
        .await?;
    assert_eq!(
        (reply.status, reply.body["error"].clone()),
        (403, json!("csrf"))
    );
    app.stop().await
}

#[tokio::test]
async fn anyone_chooses_their_own_language() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    assert_eq!(
        staff.viewer.get("/api/auth/me").await?.body["preferredLanguage"],
        "fr",
        "French first"
    );
    let reply = staff
        .viewer
        .patch("/api/auth/me", json!({"preferredLanguage": "en"}))
        .await?;
    assert_eq!(
        (reply.status, reply.body["preferredLanguage"].clone()),
        (200, json!("en"))
    );
    assert_eq!(
        staff
            .viewer
            .patch("/api/auth/me", json!({"preferredLanguage": "de"}))
            .await?
            .status,
        422
    );
    staff.app.stop().await
}

/// A sign-in from `client` (an address a trusted proxy names in `X-Forwarded-For`).
async fn login_from(
    app: &crate::helpers::TestApp,
    client: &str,
    username: &str,
    password: &str,
) -> anyhow::Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .post(format!("{}/api/auth/login", app.address))
        .header("origin", &app.address)
        .header("x-forwarded-for", format!("6.6.6.6, {client}"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await?)
}

#[tokio::test]
async fn failed_sign_ins_lock_a_user_from_one_address_only_behind_a_trusted_proxy()
-> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    ctx.settings.http.trusted_proxies = "127.0.0.1/32, ::1".into();
    let marie = create_user(&ctx, "marie", UserRole::Admin).await?;
    let app = spawn_gateway(ctx.settings.clone()).await?;
    for _ in 0..boom_gateway::LOGIN_ATTEMPTS_PER_USERNAME {
        let reply = login_from(&app, "198.51.100.1", "marie", "guess guess guess").await?;
        assert_eq!(reply.status().as_u16(), 401);
    }
    let locked = login_from(&app, "198.51.100.1", "marie", PASSWORD).await?;
    assert_eq!(locked.status().as_u16(), 429);
    assert!(locked.headers().contains_key("retry-after"), "{locked:?}");
    // The same person from another address (the admin at home) still signs in.
    let elsewhere = login_from(&app, "198.51.100.2", "marie", PASSWORD).await?;
    assert_eq!(elsewhere.status().as_u16(), 200);
    // Successes never count: the staff behind one address sign in as often as they need.
    for _ in 0..boom_gateway::LOGIN_ATTEMPTS_PER_IP + 5 {
        let reply = login_from(&app, "198.51.100.2", "marie", PASSWORD).await?;
        assert_eq!(reply.status().as_u16(), 200);
    }
    // The audit log names the client, not the proxy.
    let mut conn = ctx.connection().await?;
    let addresses: Vec<Option<ipnet::IpNet>> = {
        use boom_db::schema::audit_logs::dsl;
        use diesel::{ExpressionMethods, QueryDsl};
        use diesel_async::RunQueryDsl;
        dsl::audit_logs
            .filter(dsl::user_id.eq(boom_contracts::UserId(marie)))
            .select(dsl::ip_address)
            .load(&mut conn)
            .await?
    };
    let seen: std::collections::BTreeSet<String> = addresses
        .into_iter()
        .flatten()
        .map(|net| net.addr().to_string())
        .collect();
    assert_eq!(
        seen,
        ["198.51.100.1", "198.51.100.2"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
    app.stop().await
}

/// Kilobytes of `field` (`VmRSS`, `VmHWM`) in /proc/<pid>/status.
fn memory_kb(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches(" kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("{field} not in /proc/{pid}/status"))
}

/// 60 wrong sign-ins at once, from 60 addresses behind a trusted proxy (so that no rate
/// limit stops them before the password check): the real gateway binary's peak memory
/// stays bounded (argon2id costs 19 MiB per check; unbounded, 60 took it from 208 to
/// 475 MB), and each is answered 401, or 503 with Retry-After — never a 5xx of another kind.
#[tokio::test]
async fn sixty_parallel_wrong_sign_ins_keep_the_gateway_memory_bounded() -> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let mut env = ctx.environment();
    env.push(("BOOM__HTTP__TRUSTED_PROXIES".into(), "127.0.0.1".into()));
    let gateway = crate::helpers::RunningBinary::start("boom-gateway", &env)?;
    let base = format!("http://127.0.0.1:{}", gateway.port);
    let pid = gateway.child.id();
    // Warm up: one sign-in, so that the baseline includes a first argon2 run.
    let http = reqwest::Client::new();
    let sign_in = |i: usize| {
        http.post(format!("{base}/api/auth/login"))
            .header("origin", &base)
            .header("x-forwarded-for", format!("203.0.113.{}", i % 250 + 1))
            .json(&json!({"username": format!("nobody-{i}"), "password": "wrong password"}))
            .send()
    };
    assert_eq!(sign_in(1000).await?.status().as_u16(), 401);
    let baseline = memory_kb(pid, "VmRSS")?;
    let answers = futures::future::join_all((0..60).map(sign_in)).await;
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for answer in answers {
        let answer = answer?;
        let status = answer.status().as_u16();
        if status == 503 {
            assert!(answer.headers().contains_key("retry-after"));
        }
        *statuses.entry(status).or_default() += 1;
    }
    let peak = memory_kb(pid, "VmHWM")?;
    assert!(
        statuses.keys().all(|s| [401, 503].contains(s)),
        "{statuses:?}"
    );
    let grown_mb = peak.saturating_sub(baseline) / 1024;
    assert!(
        grown_mb < 120,
        "the gateway grew {grown_mb} MB over its {} MB baseline ({statuses:?})",
        baseline / 1024
    );
    assert!(gateway.terminate()?.success());
    Ok(())
}

/// An admin cannot change their own role (another admin can), and changing their own
/// password signs out their other browsers but not this one.
#[tokio::test]
async fn ones_own_role_is_not_ones_to_change_and_ones_own_password_keeps_this_session()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let staff = Staff::start(&ctx).await?;
    let me = staff.admin.get("/api/auth/me").await?.body["id"].clone();
    let other_browser = Client::login(&staff.app, "admin", PASSWORD).await?;
    let demoted = staff
        .admin
        .patch(&format!("/api/users/{me}"), json!({"role": "VIEWER"}))
        .await?;
    assert_eq!(demoted.status, 409, "{demoted:?}");
    assert_eq!(staff.admin.get("/api/auth/me").await?.body["role"], "ADMIN");
    let changed = staff
        .admin
        .patch(
            &format!("/api/users/{me}"),
            json!({"password": "a brand new password"}),
        )
        .await?;
    assert_eq!(changed.status, 200, "{changed:?}");
    assert_eq!(
        staff.admin.get("/api/auth/me").await?.status,
        200,
        "this browser stays"
    );
    assert_eq!(
        other_browser.get("/api/auth/me").await?.status,
        401,
        "the other browser is signed out"
    );
    Client::login(&staff.app, "admin", "a brand new password").await?;
    staff.app.stop().await
}
