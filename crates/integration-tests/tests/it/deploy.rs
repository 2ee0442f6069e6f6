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
            .is_some_and(|c| c.iter().any(|a| a == "-js"))
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
    assert_eq!(nats["config"]["cluster"]["replicas"].as_u64(), Some(3));
    assert_eq!(nats["config"]["jetstream"]["enabled"].as_bool(), Some(true));
    let dockerfile = deploy("Dockerfile")?;
    assert!(dockerfile.matches("FROM ").count() >= 2, "multi-stage");
    Ok(())
}

use serde::Deserialize;
