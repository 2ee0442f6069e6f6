//! The deployment files are well-formed and say what they must (no Docker or cluster here).

use std::path::PathBuf;

use serde_yaml::Value;

fn deploy(path: &str) -> anyhow::Result<String> {
    Ok(std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy")
            .join(path),
    )?)
}

#[test]
fn deploy_files_are_well_formed() -> anyhow::Result<()> {
    let compose: Value = serde_yaml::from_str(&deploy("compose.yaml")?)?;
    let services = compose["services"]
        .as_mapping()
        .ok_or_else(|| anyhow::anyhow!("no services"))?;
    for name in [
        "postgres",
        "redis",
        "nats",
        "migrate",
        "gateway",
        "stats-ingest",
        "notion-sync",
        "photomaton-control",
    ] {
        assert!(services.contains_key(name), "compose lacks {name}");
    }
    assert!(
        compose["services"]["postgres"]["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("postgres:16"))
    );
    assert!(
        compose["services"]["redis"]["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("redis:7"))
    );
    assert!(
        compose["services"]["nats"]["command"]
            .as_sequence()
            .is_some_and(|c| c.iter().any(|a| a == "/etc/nats/nats.conf"))
    );
    assert!(deploy("nats/nats.conf")?.contains("jetstream: enabled"));
    assert!(
        compose["services"]["redis"]["command"][2]
            .as_str()
            .is_some_and(
                |c| c.contains("--maxmemory-policy noeviction") && c.contains("--user default off")
            ),
        "sessions are never evicted, and Redis has no anonymous user"
    );
    for name in [
        "postgres",
        "redis",
        "nats",
        "gateway",
        "stats-ingest",
        "notion-sync",
        "photomaton-control",
    ] {
        let service = &compose["services"][name];
        let merged_healthcheck = !service["healthcheck"].is_null() || service.get("<<").is_some();
        assert!(merged_healthcheck, "{name} has no health check");
    }

    let manifests = deploy("k8s/leboom.yaml")?;
    let mut kinds = Vec::new();
    for document in serde_yaml::Deserializer::from_str(&manifests) {
        let doc = Value::deserialize(document)?;
        let (api, kind, name) = (
            doc["apiVersion"].as_str(),
            doc["kind"].as_str(),
            doc["metadata"]["name"].as_str(),
        );
        assert!(
            api.is_some() && kind.is_some() && name.is_some(),
            "incomplete document: {doc:?}"
        );
        let kind = kind.unwrap_or_default().to_owned();
        if kind == "Deployment" {
            for container in doc["spec"]["template"]["spec"]["containers"]
                .as_sequence()
                .into_iter()
                .flatten()
            {
                assert_eq!(
                    container["readinessProbe"]["httpGet"]["path"].as_str(),
                    Some("/api/health"),
                    "{name:?}"
                );
                assert!(
                    !container["livenessProbe"].is_null(),
                    "{name:?} has no liveness probe"
                );
                assert!(
                    container["image"]
                        .as_str()
                        .is_some_and(|i| i.contains(":v")),
                    "{name:?}: images are pinned by tag"
                );
            }
        }
        kinds.push((kind, name.unwrap_or_default().to_owned()));
    }
    for expected in [
        ("HorizontalPodAutoscaler", "gateway"),
        ("HorizontalPodAutoscaler", "stats-ingest"),
        ("Job", "migrate-v0-1-0"),
        ("Deployment", "notion-sync"),
        ("Deployment", "photomaton-control"),
    ] {
        assert!(
            kinds.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} missing from {kinds:?}"
        );
    }
    assert!(
        !manifests.contains("kind: Secret"),
        "secrets are created out of band, never committed"
    );

    let nats: Value = serde_yaml::from_str(&deploy("k8s/nats-values.yaml")?)?;
    // The chart's users are those of deploy/nats/nats.conf, which the next test runs.
    let conf = deploy("nats/nats.conf")?;
    let chart_users: Vec<&str> = nats["config"]["merge"]["authorization"]["users"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|u| u["user"].as_str())
        .collect();
    assert_eq!(
        chart_users,
        [
            "gateway",
            "stats-ingest",
            "photomaton-control",
            "notion-sync",
            "notifier"
        ]
    );
    for user in &chart_users {
        assert!(
            conf.contains(&format!("user: {user}\n")),
            "{user} missing from nats.conf"
        );
    }
    for (name, key) in [
        ("gateway", "nats-url-gateway"),
        ("stats-ingest", "nats-url-ingest"),
        ("notion-sync", "nats-url-notion"),
        ("photomaton-control", "nats-url-control"),
        ("notifier", "nats-url-notifier"),
    ] {
        assert!(
            manifests.contains(key),
            "{name} has no NATS user of its own"
        );
    }
    assert_eq!(nats["config"]["cluster"]["replicas"].as_u64(), Some(3));
    assert_eq!(nats["config"]["jetstream"]["enabled"].as_bool(), Some(true));
    let dockerfile = deploy("Dockerfile")?;
    assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage");
    Ok(())
}

use serde::Deserialize;

/// A free loopback port (bound, then released).
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A child process stopped when the test ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    crate::helpers::eventually(std::time::Duration::from_secs(10), || async {
        Ok(tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok())
    })
    .await
}

const PASSWORDS: [(&str, &str); 7] = [
    ("NATS_GATEWAY_PASSWORD", "nats-gateway-pw"),
    ("NATS_INGEST_PASSWORD", "nats-ingest-pw"),
    ("NATS_CONTROL_PASSWORD", "nats-control-pw"),
    ("NATS_NOTION_PASSWORD", "nats-notion-pw"),
    ("NATS_NOTIFY_PASSWORD", "nats-notify-pw"),
    ("REDIS_GATEWAY_PASSWORD", "redis-gateway-pw"),
    ("REDIS_INGEST_PASSWORD", "redis-ingest-pw"),
];

/// `deploy/nats/nats.conf` on a NATS server of the test's own.
fn start_nats(port: u16) -> anyhow::Result<Child> {
    let store = std::env::temp_dir().join(format!("boom-nats-acl-{port}"));
    std::fs::create_dir_all(&store)?;
    let child = std::process::Command::new("nats-server")
        .arg("-c")
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nats/nats.conf"))
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(["-m", &free_port()?.to_string(), "-sd"])
        .arg(&store)
        .envs(PASSWORDS)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    Ok(Child(child))
}

/// The Redis of `deploy/compose.yaml`, its command run as the container's shell would.
fn start_redis(port: u16) -> anyhow::Result<Child> {
    let compose: Value = serde_yaml::from_str(&deploy("compose.yaml")?)?;
    let script = compose["services"]["redis"]["command"][2]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("redis command"))?
        .replace("$${", "${");
    let child = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{script} --port {port} --bind 127.0.0.1"))
        .envs(PASSWORDS)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    Ok(Child(child))
}

/// Every service works as its own NATS and Redis user of `deploy/`, and a service cannot do
/// another's part: ingest cannot push live updates to browsers nor read sessions.
#[tokio::test]
async fn each_service_works_as_its_own_user_and_only_within_its_part() -> anyhow::Result<()> {
    use boom_cache::redis;
    use serde_json::json;

    use crate::gateway_client::Staff;
    use crate::helpers::{eventually, spawn_photomaton_control, spawn_stats_ingest};

    let (nats_port, redis_port) = (free_port()?, free_port()?);
    let _nats = start_nats(nats_port)?;
    let _redis = start_redis(redis_port)?;
    wait_for_port(nats_port).await?;
    wait_for_port(redis_port).await?;
    let nats_as =
        |user: &str, password: &str| format!("nats://{user}:{password}@127.0.0.1:{nats_port}");
    let redis_as =
        |user: &str, password: &str| format!("redis://{user}:{password}@127.0.0.1:{redis_port}/0");

    let mut ctx = boom_testkit::TestContext::new().await?;
    ctx.settings.nats.prefix = "boom".into();
    ctx.settings.redis.prefix = "boom".into();
    ctx.settings.nats.url = nats_as("gateway", "nats-gateway-pw");
    ctx.settings.redis.url = redis_as("gateway", "redis-gateway-pw").into();
    let mut ingest_settings = ctx.settings.clone();
    ingest_settings.nats.url = nats_as("stats-ingest", "nats-ingest-pw");
    ingest_settings.redis.url = redis_as("stats-ingest", "redis-ingest-pw").into();
    let mut control_settings = ctx.settings.clone();
    control_settings.nats.url = nats_as("photomaton-control", "nats-control-pw");
    let notion = crate::fake_notion::FakeNotion::start().await?;
    let mut notion_settings = ctx.settings.clone();
    notion_settings.nats.url = nats_as("notion-sync", "nats-notion-pw");
    notion_settings.notion.token = Some(boom_config::SecretString::from(crate::fake_notion::TOKEN));
    notion_settings.notion.database_id = Some(crate::fake_notion::DATABASE.to_owned());
    notion_settings.notion.base_url = notion.base_url.clone();
    notion_settings.notion.sync_interval_secs = 3600;

    let inbox = boom_testkit::inbox::Inbox::start().await?;
    let mut notify_settings = ctx.settings.clone();
    notify_settings.nats.url = nats_as("notifier", "nats-notify-pw");
    notify_settings.notify.smtp_url = Some(inbox.smtp_url().into());
    notify_settings.notify.lease_ttl_secs = 3;

    let staff = Staff::start(&ctx).await?;
    let ingest = spawn_stats_ingest(ingest_settings.clone()).await?;
    let notifier = crate::helpers::spawn_notifier(notify_settings).await?;
    let control = spawn_photomaton_control(control_settings).await?;
    let notion_sync = crate::helpers::spawn_notion_sync(notion_settings).await?;
    for (name, app) in [
        ("gateway", &staff.app),
        ("ingest", &ingest),
        ("control", &control),
        ("notion-sync", &notion_sync),
        ("notifier", &notifier),
    ] {
        let healthy = eventually(std::time::Duration::from_secs(15), || async {
            Ok(app.get_json("/api/health").await?.0 == 200)
        })
        .await;
        if let Err(error) = healthy {
            anyhow::bail!("{name}: {error}: {}", app.get_json("/api/health").await?.1);
        }
    }

    // The gateway writes the registry; ingest reads it and publishes a batch; the gateway
    // records it; the notifier hears the booth's paper, asks the gateway whom to tell, keeps
    // its alert and sends the e-mail.
    let booth = staff.booth("boom-01").await?;
    let channel = staff
        .installer
        .post(
            "/api/notification-channels",
            json!({"kind": "email", "target": "ops@leboom.test", "alertKinds": ["paper_critical"]}),
        )
        .await?;
    assert_eq!(channel.status, 201, "{channel:?}");
    let rotated = staff
        .admin
        .post(&format!("/api/photomatons/{booth}/api-key"), json!({}))
        .await?;
    assert_eq!(rotated.status, 200, "{rotated:?}");
    let key = rotated.body["apiKey"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let sync = |body: serde_json::Value| {
        reqwest::Client::new()
            .post(format!("{}/api/agent/sync", ingest.address))
            .bearer_auth(&key)
            .json(&body)
            .send()
    };
    eventually(std::time::Duration::from_secs(10), || async {
        Ok(sync(json!({})).await?.status().as_u16() == 422)
    })
    .await?;
    let batch = crate::pipeline::batch(uuid::Uuid::new_v4(), "boom-01", &[("print", 2)], Some(640));
    assert_eq!(sync(batch).await?.status().as_u16(), 202);
    eventually(std::time::Duration::from_secs(10), || async {
        let view = staff
            .viewer
            .get(&format!("/api/photomatons/{booth}"))
            .await?;
        Ok(view.body["remainingPrints"] == json!(640))
    })
    .await?;
    let critical =
        crate::pipeline::batch(uuid::Uuid::new_v4(), "boom-01", &[("print", 1)], Some(10));
    assert_eq!(sync(critical).await?.status().as_u16(), 202);
    eventually(std::time::Duration::from_secs(20), || async {
        Ok(inbox.of("email").len() == 1)
    })
    .await?;
    // And the gateway asks the notifier for a test message (a request it may make).
    let id = channel.body["id"].as_str().unwrap_or_default();
    let tested = staff
        .installer
        .post(&format!("/api/notification-channels/{id}/test"), json!({}))
        .await?;
    assert_eq!(tested.status, 200, "{tested:?}");

    // Ingest asks the gateway to redeem a pairing code (a request it may make).
    let code = staff
        .installer
        .post(&format!("/api/photomatons/{booth}/pairing-code"), json!({}))
        .await?;
    let paired = reqwest::Client::new()
        .post(format!("{}/api/agent/pair", ingest.address))
        .json(&json!({"code": code.body["code"], "hostname": "BOOTH-PC"}))
        .send()
        .await?;
    assert_eq!(paired.status().as_u16(), 200);

    // The gateway asks control for a power-on: control answers (the booth has no MAC, so
    // the answer is a refusal, not "photomaton-control is not running").
    let power = staff
        .installer
        .post(
            "/api/webhooks/action",
            json!({"action": "power_on", "photomatonId": booth}),
        )
        .await?;
    assert_ne!(power.status, 503, "{power:?}");
    // And notion-sync (once it holds its lease) for a sync.
    eventually(std::time::Duration::from_secs(15), || async {
        Ok(staff
            .installer
            .post("/api/notion/sync", json!({}))
            .await?
            .status
            == 200)
    })
    .await?;

    // Ingest may not push live updates to browsers.
    let server = format!("nats://127.0.0.1:{nats_port}");
    let as_gateway = async_nats::ConnectOptions::with_user_and_password(
        "gateway".into(),
        "nats-gateway-pw".into(),
    )
    .connect(&server)
    .await?;
    let mut live = as_gateway.subscribe("boom.gateway.live.update").await?;
    as_gateway.flush().await?;
    let as_ingest = async_nats::ConnectOptions::with_user_and_password(
        "stats-ingest".into(),
        "nats-ingest-pw".into(),
    )
    .connect(&server)
    .await?;
    let _ = as_ingest
        .publish("boom.gateway.live.update", "forged".into())
        .await;
    let _ = as_ingest.flush().await;
    let forged = tokio::time::timeout(std::time::Duration::from_millis(700), async {
        use futures::StreamExt;
        while let Some(message) = live.next().await {
            if message.payload.as_ref() == b"forged" {
                return true;
            }
        }
        false
    })
    .await;
    assert!(!matches!(forged, Ok(true)), "ingest reached the browsers");
    // Nor delete the recorder's consumer (the batches it holds would be replayed or lost).
    let js = async_nats::jetstream::new(as_ingest.clone());
    let namespace = boom_contracts::Namespace::new("boom")?;
    let deleted = tokio::time::timeout(std::time::Duration::from_secs(3), async {
        js.get_stream(namespace.stream(boom_contracts::StreamKind::Stats))
            .await
            .map_err(|e| e.to_string())?
            .delete_consumer(boom_contracts::StreamKind::Stats.gateway_consumer())
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    assert!(
        !matches!(deleted, Ok(Ok(_))),
        "ingest deleted the recorder's consumer"
    );
    // Nor may anyone connect without a password.
    assert!(async_nats::connect(&server).await.is_err());

    // Redis: ingest cannot read sessions; no one may run administrative commands; the
    // default user is off; keys are never evicted.
    let mut as_ingest = redis::Client::open(redis_as("stats-ingest", "redis-ingest-pw"))?
        .get_multiplexed_async_connection()
        .await?;
    let session: Result<Option<String>, _> = redis::cmd("GET")
        .arg("boom:session:x")
        .query_async(&mut as_ingest)
        .await;
    assert!(
        session
            .as_ref()
            .is_err_and(|e| format!("{e:?}").to_lowercase().contains("perm")),
        "ingest read a session: {session:?}"
    );
    let cleared: Result<i64, _> = redis::cmd("DEL")
        .arg("boom:ratelimit:login-ip:203.0.113.9")
        .query_async(&mut as_ingest)
        .await;
    assert!(cleared.is_err(), "ingest cleared a sign-in limit");
    let mut as_gateway = redis::Client::open(redis_as("gateway", "redis-gateway-pw"))?
        .get_multiplexed_async_connection()
        .await?;
    let flush: Result<(), _> = redis::cmd("FLUSHALL").query_async(&mut as_gateway).await;
    assert!(flush.is_err(), "the gateway flushed Redis");
    let anonymous = async {
        let mut conn = redis::Client::open(format!("redis://127.0.0.1:{redis_port}/0"))?
            .get_multiplexed_async_connection()
            .await?;
        redis::cmd("PING").query_async::<String>(&mut conn).await
    }
    .await;
    assert!(anonymous.is_err(), "the default user is off");
    staff.app.stop().await
}
