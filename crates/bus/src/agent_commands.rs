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

    /// What the dashboard last asked of this booth's agent.
    pub fn get(&self, id: PhotomatonId) -> AgentCommands {
        self.commands
            .read()
            .ok()
            .and_then(|c| c.by_id.get(&id).map(|(_, commands)| commands.clone()))
            .unwrap_or_default()
    }
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
    }

    fn mark_loaded(&self) {}
}
