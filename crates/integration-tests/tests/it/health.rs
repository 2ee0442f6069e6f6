//! `/api/health` tells the truth about each dependency, as it goes away and comes back.

use std::net::SocketAddr;
use std::time::Duration;

use boom_config::{ExposeSecret, SecretString};
use boom_testkit::{Proxy, TestContext};

use crate::helpers::{
    TestApp, eventually, spawn_agent, spawn_gateway, spawn_notion_sync, spawn_photomaton_control,
    spawn_stats_ingest,
};

pub fn addr(url: &str) -> anyhow::Result<SocketAddr> {
    let parsed = url::Url::parse(url)?;
    let host = parsed.host_str().unwrap_or("127.0.0.1");
    let port = parsed.port_or_known_default().unwrap_or(0);
    Ok(format!("{host}:{port}").parse()?)
}

pub fn through(url: &str, proxy: &Proxy) -> anyhow::Result<String> {
    let mut parsed = url::Url::parse(url)?;
    parsed
        .set_port(Some(proxy.addr().port()))
        .map_err(|()| anyhow::anyhow!("cannot set port"))?;
    Ok(parsed.to_string())
}

async fn check_status(app: &TestApp, check: &str) -> anyhow::Result<(u16, String)> {
    let (status, body) = app.get_json("/api/health").await?;
    Ok((
        status,
        body["checks"][check]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    ))
}

#[tokio::test]
async fn gateway_health_names_the_dependency_that_is_down_and_recovers() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    let pg = Proxy::start(addr(ctx.settings.database.url.expose_secret())?).await?;
    let redis = Proxy::start(addr(ctx.settings.redis.url.expose_secret())?).await?;
    let nats = Proxy::start(addr(&ctx.settings.nats.url)?).await?;
    ctx.settings.database.url =
        SecretString::from(through(ctx.settings.database.url.expose_secret(), &pg)?);
    ctx.settings.redis.url =
        SecretString::from(through(ctx.settings.redis.url.expose_secret(), &redis)?);
    ctx.settings.nats.url = through(&ctx.settings.nats.url, &nats)?;
    let app = spawn_gateway(ctx.settings.clone()).await?;

    eventually(Duration::from_secs(10), || async {
        Ok(app.get_json("/api/health").await?.0 == 200)
    })
    .await?;

    for (name, proxy) in [("database", &pg), ("redis", &redis), ("nats", &nats)] {
        proxy.cut().await;
        eventually(Duration::from_secs(10), || async {
            Ok(check_status(&app, name).await? == (503, "error".to_owned()))
        })
        .await?;
        let (_, body) = app.get_json("/api/health").await?;
        assert_eq!(body["status"], "error", "{body}");
        assert!(body["checks"][name]["error"].is_string(), "{body}");
        for other in ["database", "redis", "nats", "disk"]
            .into_iter()
            .filter(|o| *o != name)
        {
            assert_eq!(
                body["checks"][other]["status"], "ok",
                "{name} down, {other}: {body}"
            );
        }
        proxy.restore();
        eventually(Duration::from_secs(30), || async {
            Ok(app.get_json("/api/health").await?.0 == 200)
        })
        .await?;
    }
    app.stop().await
}

#[tokio::test]
async fn stats_ingest_health_reports_nats_down() -> anyhow::Result<()> {
    let mut ctx = TestContext::new().await?;
    let nats = Proxy::start(addr(&ctx.settings.nats.url)?).await?;
    ctx.settings.nats.url = through(&ctx.settings.nats.url, &nats)?;
    let app = spawn_stats_ingest(ctx.settings.clone()).await?;
    eventually(Duration::from_secs(10), || async {
        Ok(app.get_json("/api/health").await?.0 == 200)
    })
    .await?;
    nats.cut().await;
    eventually(Duration::from_secs(10), || async {
        Ok(check_status(&app, "nats").await? == (503, "error".to_owned()))
    })
    .await?;
    assert_eq!(check_status(&app, "redis").await?.1, "ok");
    app.stop().await
}

#[tokio::test]
async fn a_service_starts_while_nats_is_down_and_turns_healthy_when_it_comes() -> anyhow::Result<()>
{
    let mut ctx = TestContext::new().await?;
    let nats = Proxy::start(addr(&ctx.settings.nats.url)?).await?;
    nats.cut().await;
    ctx.settings.nats.url = through(&ctx.settings.nats.url, &nats)?;
    let app = spawn_photomaton_control(ctx.settings.clone()).await?;
    assert_eq!(check_status(&app, "nats").await?, (503, "error".to_owned()));
    nats.restore();
    eventually(Duration::from_secs(30), || async {
        Ok(app.get_json("/api/health").await?.0 == 200)
    })
    .await?;
    app.stop().await
}

#[tokio::test]
async fn every_service_serves_health_metrics_and_json_errors_and_stops_on_request()
-> anyhow::Result<()> {
    let ctx = TestContext::new().await?;
    let apps = [
        ("gateway", spawn_gateway(ctx.settings.clone()).await?),
        (
            "stats-ingest",
            spawn_stats_ingest(ctx.settings.clone()).await?,
        ),
        (
            "notion-sync",
            spawn_notion_sync(ctx.settings.clone()).await?,
        ),
        (
            "photomaton-control",
            spawn_photomaton_control(ctx.settings.clone()).await?,
        ),
        ("agent", spawn_agent(ctx.settings.clone()).await?),
    ];
    for (name, app) in apps {
        eventually(Duration::from_secs(10), || async {
            Ok(app.get_json("/api/health").await?.0 == 200)
        })
        .await?;
        let (status, body) = app.get_json("/no/such/route").await?;
        assert_eq!(status, 404, "{name}");
        assert_eq!(body["error"], "not_found", "{name}: {body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("/no/such/route")),
            "{name}: {body}"
        );
        let (status, metrics) = app.get("/metrics").await?;
        assert_eq!(status, 200);
        assert!(
            metrics.contains("boom_http_requests_total")
                && metrics.contains("route=\"/api/health\""),
            "{name}: {metrics}"
        );
        app.stop().await?;
    }
    Ok(())
}
