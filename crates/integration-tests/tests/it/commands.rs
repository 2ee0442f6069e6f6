//! Remote commands: an installer sends one of the commands a booth's agent is configured with;
//! the agent (behind its 4G NAT, so only it opens connections) gets it by long-polling
//! stats-ingest, runs it once, and its status goes queued → sent → succeeded / failed with the
//! output; a command for an offline booth waits and is delivered when the agent comes back, or
//! expires. The agent refuses any command its configuration does not name.

use std::time::Duration;

use boom_testkit::TestContext;
use serde_json::{Value, json};

use crate::helpers::{eventually, spawn_agent};
use crate::pipeline::Pipeline;

fn agent_settings(p: &Pipeline) -> boom_config::Settings {
    let mut settings = p.ctx.settings.clone();
    settings.agent.ingest_url = Some(p.ingest.address.clone());
    settings.agent.key = Some(boom_config::SecretString::from(p.key.clone()));
    settings.agent.hostname = Some("boom-01".into());
    settings.agent.speedtest_interval_secs = 0;
    settings.agent.command_interval_secs = 1;
    settings
        .agent
        .commands
        .insert("say_hello".into(), "echo hello from the booth".into());
    settings
        .agent
        .commands
        .insert("fail_loudly".into(), "echo broken >&2; exit 3".into());
    settings
}

async fn send(p: &Pipeline, command: &str, expires: Option<u32>) -> anyhow::Result<String> {
    let mut body = json!({"command": command});
    if let Some(secs) = expires {
        body["expiresInSecs"] = json!(secs);
    }
    let reply = p
        .staff
        .installer
        .post(&format!("/api/photomatons/{}/commands", p.booth), body)
        .await?;
    anyhow::ensure!(reply.status == 202, "{reply:?}");
    anyhow::ensure!(reply.body["status"] == "queued", "{reply:?}");
    Ok(reply.body["id"].as_str().unwrap_or_default().to_owned())
}

/// The command `id` once its status is `status` (waiting up to `within`).
async fn command_when(
    p: &Pipeline,
    id: &str,
    status: &str,
    within: Duration,
) -> anyhow::Result<Value> {
    let path = format!("/api/photomatons/{}/commands", p.booth);
    let find = || async {
        let list = p.staff.viewer.get(&path).await?.body;
        Ok::<_, anyhow::Error>(
            list.as_array()
                .into_iter()
                .flatten()
                .find(|c| c["id"] == id)
                .cloned()
                .unwrap_or(Value::Null),
        )
    };
    let reached = eventually(within, || async { Ok(find().await?["status"] == status) }).await;
    let last = find().await?;
    anyhow::ensure!(reached.is_ok(), "command {id} is {last}, never {status}");
    Ok(last)
}

#[tokio::test]
async fn a_configured_command_runs_once_on_the_booth_and_its_output_comes_back()
-> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    let agent = spawn_agent(agent_settings(&p)).await?;

    let hello = send(&p, "say_hello", None).await?;
    let done = command_when(&p, &hello, "succeeded", Duration::from_secs(15)).await?;
    assert_eq!(done["output"], "hello from the booth\n");
    assert_eq!(done["exitCode"], 0);
    assert!(
        done["sentAt"].is_string() && done["finishedAt"].is_string(),
        "{done}"
    );

    let broken = send(&p, "fail_loudly", None).await?;
    let failed = command_when(&p, &broken, "failed", Duration::from_secs(15)).await?;
    assert_eq!(
        (failed["exitCode"].clone(), failed["output"].clone()),
        (json!(3), json!("broken\n"))
    );

    // Not in the agent's configuration: refused by the agent, whatever the dashboard asks.
    let unknown = send(&p, "format_disk", None).await?;
    let refused = command_when(&p, &unknown, "failed", Duration::from_secs(15)).await?;
    assert!(
        refused["output"]
            .as_str()
            .unwrap_or_default()
            .contains("not a command of this booth"),
        "{refused}"
    );
    // Run once: nothing ran twice although every poll listed them until they finished.
    let list = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}/commands", p.booth))
        .await?
        .body;
    assert_eq!(list.as_array().map(Vec::len), Some(3));

    // The agent's polls keep its booth's agentSeenAt, apart from the probes.
    let view = p
        .staff
        .viewer
        .get(&format!("/api/photomatons/{}", p.booth))
        .await?
        .body;
    assert!(view["agentSeenAt"].is_string(), "{view}");

    // Bad names never reach an agent.
    let reply = p
        .staff
        .installer
        .post(
            &format!("/api/photomatons/{}/commands", p.booth),
            json!({"command": "rm -rf /"}),
        )
        .await?;
    assert_eq!(reply.status, 422);
    let audit = p
        .staff
        .admin
        .get("/api/audit-logs?action=photomaton.command")
        .await?
        .body;
    assert_eq!(audit["items"].as_array().map(Vec::len), Some(3));
    agent.stop().await?;
    p.staff.app.stop().await
}

#[tokio::test]
async fn a_command_for_an_offline_booth_is_delivered_when_it_comes_back_or_expires()
-> anyhow::Result<()> {
    let p = Pipeline::start(TestContext::new().await?).await?;
    // Nobody polls: one command waits, another expires.
    let waiting = send(&p, "say_hello", None).await?;
    let short = send(&p, "say_hello", Some(1)).await?;
    let expired = command_when(&p, &short, "expired", Duration::from_secs(10)).await?;
    assert!(expired["finishedAt"].is_string(), "{expired}");
    command_when(&p, &waiting, "queued", Duration::from_secs(1)).await?;

    // The booth comes back: the waiting command runs, the expired one does not.
    let agent = spawn_agent(agent_settings(&p)).await?;
    command_when(&p, &waiting, "succeeded", Duration::from_secs(15)).await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    command_when(&p, &short, "expired", Duration::from_secs(1)).await?;
    agent.stop().await?;
    p.staff.app.stop().await
}
