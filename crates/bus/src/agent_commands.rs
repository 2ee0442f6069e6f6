//! What the dashboard asks of each booth's agent (a new paper roll, a speed test now), as
//! stats-ingest hands it over: a watched in-memory copy of the `<prefix>_agent_commands`
//! bucket, which the gateway writes. Kept apart from the registry, which says what a booth
//! *is*: this says what its agent should *do*.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use boom_contracts::PhotomatonId;
use boom_contracts::agent::AgentCommands;
use tokio_util::sync::CancellationToken;

use crate::Bus;
use crate::mirror::Mirror;

#[derive(Debug, Default)]
struct Commands {
    by_id: HashMap<PhotomatonId, (u64, AgentCommands)>,
    /// Bumped at each change of a booth's entry, for its agent's long poll (one channel per
    /// booth: a change wakes that booth's poll only).
    changes: HashMap<PhotomatonId, tokio::sync::watch::Sender<u64>>,
}

/// A live, in-memory view of the agent commands bucket.
#[derive(Debug, Clone, Default)]
pub struct AgentCommandsView {
    commands: Arc<RwLock<Commands>>,
}

impl AgentCommandsView {
    /// Starts following the bucket; until it is loaded, every booth has nothing asked.
    pub fn follow(
        bus: Bus,
        cancel: CancellationToken,
    ) -> (Self, impl std::future::Future<Output = ()> + Send) {
        let view = Self::default();
        let bucket = bus.namespace().agent_commands_bucket();
        let task = crate::mirror::follow(bus, bucket, view.clone(), cancel);
        (view, task)
    }

    /// What the dashboard asks of this booth's agent, once its [`version`] differs from
    /// `known` (at once when it already does) or when `wait` has passed: a long poll, so that
    /// a command reaches an idle agent within moments.
    pub async fn changed_from(
        &self,
        id: PhotomatonId,
        known: Option<&str>,
        wait: std::time::Duration,
    ) -> AgentCommands {
        let Some(mut changes) = self.commands.write().ok().map(|mut c| {
            c.changes
                .entry(id)
                .or_insert_with(|| tokio::sync::watch::channel(0).0)
                .subscribe()
        }) else {
            return self.get(id);
        };
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let current = self.get(id);
            if known != Some(version(&current).as_str()) {
                return current;
            }
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => return current,
                changed = changes.changed() => if changed.is_err() { return current },
            }
        }
    }

    /// What the dashboard last asked of this booth's agent.
    pub fn get(&self, id: PhotomatonId) -> AgentCommands {
        self.commands
            .read()
            .ok()
            .and_then(|c| c.by_id.get(&id).map(|(_, commands)| commands.clone()))
            .unwrap_or_default()
    }
}

/// A short fingerprint of what is asked of an agent: it sends back the one it last saw
/// (`GET /api/agent/commands?wait=…&version=…`) to be answered only when something changed.
pub fn version(commands: &AgentCommands) -> String {
    let json = serde_json::to_string(commands).unwrap_or_default();
    boom_contracts::keys::sha256_hex(&json)[..16].to_owned()
}

impl Mirror for AgentCommandsView {
    type Value = AgentCommands;

    fn apply(&self, key: &str, revision: u64, value: Option<AgentCommands>) {
        let Ok(id) = key.parse::<i32>().map(PhotomatonId) else {
            tracing::warn!(key, "agent commands under a key that is no photomaton id");
            return;
        };
        let Ok(mut commands) = self.commands.write() else {
            return;
        };
        if commands
            .by_id
            .get(&id)
            .is_some_and(|(seen, _)| *seen > revision)
        {
            return; // an older value arriving late
        }
        match value {
            Some(value) => {
                commands.by_id.insert(id, (revision, value));
            }
            None => {
                commands.by_id.remove(&id);
            }
        }
        if let Some(changes) = commands.changes.get(&id) {
            changes.send_modify(|version| *version += 1);
        }
    }

    fn mark_loaded(&self) {}
}
