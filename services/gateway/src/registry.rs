//! What the other services know of the booths, mirrored from the `photomatons` table into two
//! KV buckets after every committed change, and in full at start (which also repairs any
//! change that could not be mirrored while NATS was down):
//! - `<prefix>_registry`: what a booth *is* for ingest and control ([`RegistryEntry`]: IPs,
//!   MAC, wake target, agent key hash);
//! - `<prefix>_agent_commands`: what its agent should *do* ([`AgentCommands`]: a new roll
//!   declared on the dashboard, a speed test asked now), which ingest hands to the agent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use boom_bus::Bus;
use boom_bus::async_nats::jetstream::kv;
use boom_contracts::PhotomatonId;
use boom_contracts::agent::{AgentCommands, QueuedCommand};
use boom_contracts::domain::MacAddress;
use boom_contracts::messages::{PaperReset, RegistryEntry};
use boom_db::DbPool;
use boom_db::models::Photomaton;
use diesel_async::AsyncPgConnection;
use futures::TryStreamExt;
use tokio::sync::OnceCell;

use crate::store::{self, photomatons};

#[derive(Debug, Clone)]
pub struct RegistryPublisher {
    bus: Bus,
    registry: Arc<OnceCell<kv::Store>>,
    commands: Arc<OnceCell<kv::Store>>,
}

/// What the registry says of a booth. Its hostname was checked when it was written; one that
/// no longer parses (written by hand in the database) keeps the booth out of the registry.
fn entry(booth: &Photomaton) -> Result<RegistryEntry, String> {
    Ok(RegistryEntry {
        photomaton_id: booth.id,
        name: booth.name.clone(),
        hostname: booth
            .hostname
            .parse()
            .map_err(|e| format!("photomaton {}: {e}", booth.id))?,
        tailscale_ip: booth.tailscale_ip.map(|ip| ip.addr().to_string()),
        router_tailscale_ip: booth.router_tailscale_ip.map(|ip| ip.addr().to_string()),
        mac_address: booth.mac_address.map(MacAddress),
        wake_target: photomatons::wake_target(booth),
        agent_key_sha256: booth.agent_key_sha256.clone(),
    })
}

/// What the dashboard last asked of the booth's agent: a new roll, a speed test, and the
/// remote commands still open.
fn commands(booth: &Photomaton, queued: Vec<QueuedCommand>) -> AgentCommands {
    AgentCommands {
        paper_reset: booth
            .paper_reset_at
            .zip(booth.paper_reset_prints)
            .map(|(at, prints)| PaperReset { at, prints }),
        speed_test_requested_at: booth.speed_test_requested_at,
        queued,
    }
}

/// Both values of a booth, as the buckets keep them.
fn bodies(booth: &Photomaton, queued: Vec<QueuedCommand>) -> Result<(Vec<u8>, Vec<u8>), String> {
    let entry = serde_json::to_vec(&entry(booth)?).map_err(|e| e.to_string())?;
    let commands = serde_json::to_vec(&commands(booth, queued)).map_err(|e| e.to_string())?;
    Ok((entry, commands))
}

impl RegistryPublisher {
    pub fn new(bus: Bus) -> Self {
        Self {
            bus,
            registry: Arc::default(),
            commands: Arc::default(),
        }
    }

    async fn buckets(&self) -> Result<(&kv::Store, &kv::Store), boom_bus::BusError> {
        let namespace = self.bus.namespace();
        let (registry_bucket, commands_bucket) = (
            namespace.registry_bucket(),
            namespace.agent_commands_bucket(),
        );
        let registry = self
            .registry
            .get_or_try_init(|| self.bus.ensure_kv(&registry_bucket, Duration::ZERO))
            .await?;
        let commands = self
            .commands
            .get_or_try_init(|| self.bus.ensure_kv(&commands_bucket, Duration::ZERO))
            .await?;
        Ok((registry, commands))
    }

    /// Mirrors one booth (reading its open commands); a failure is logged and repaired by the
    /// next full sync.
    pub async fn put(&self, conn: &mut AsyncPgConnection, booth: &Photomaton) {
        let result = async {
            let queued = store::commands::open_for(conn, &[booth.id])
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|(_, command)| command)
                .collect();
            let (entry, commands) = bodies(booth, queued)?;
            let (registry, commands_bucket) = self.buckets().await.map_err(|e| e.to_string())?;
            let key = booth.id.to_string();
            registry
                .put(&key, entry.into())
                .await
                .map_err(|e| e.to_string())?;
            commands_bucket
                .put(&key, commands.into())
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(photomaton = %booth.id, %error, "registry not updated; the next full sync will repair it");
        }
    }

    pub async fn remove(&self, id: PhotomatonId) {
        let result = async {
            let (registry, commands) = self.buckets().await.map_err(|e| e.to_string())?;
            registry
                .purge(id.to_string())
                .await
                .map_err(|e| e.to_string())?;
            commands
                .purge(id.to_string())
                .await
                .map_err(|e| e.to_string())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(photomaton = %id, %error, "registry entry not removed; the next full sync will repair it");
        }
    }

    /// Writes every booth and removes entries of booths that no longer exist. A booth whose
    /// row cannot be mirrored is logged and left out; the others are still written.
    pub async fn sync_all(&self, db: &DbPool) -> Result<usize, String> {
        let mut conn = db.get().await.map_err(|e| e.to_string())?;
        let booths: Vec<Photomaton> = photomatons::all(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let ids: Vec<PhotomatonId> = booths.iter().map(|b| b.id).collect();
        let mut queued: HashMap<PhotomatonId, Vec<QueuedCommand>> = HashMap::new();
        for (id, command) in store::commands::open_for(&mut conn, &ids)
            .await
            .map_err(|e| e.to_string())?
        {
            queued.entry(id).or_default().push(command);
        }
        drop(conn);
        let (registry, commands) = self.buckets().await.map_err(|e| e.to_string())?;
        let known: std::collections::HashSet<String> =
            booths.iter().map(|b| b.id.to_string()).collect();
        for bucket in [registry, commands] {
            let keys: Vec<String> = bucket
                .keys()
                .await
                .map_err(|e| e.to_string())?
                .try_collect()
                .await
                .map_err(|e| e.to_string())?;
            for key in keys.into_iter().filter(|k| !known.contains(k)) {
                bucket.purge(&key).await.map_err(|e| e.to_string())?;
            }
        }
        let mut written = 0;
        for booth in &booths {
            let open = queued.remove(&booth.id).unwrap_or_default();
            let (entry, commands_body) = match bodies(booth, open) {
                Ok(bodies) => bodies,
                Err(error) => {
                    tracing::error!(photomaton = %booth.id, %error, "booth left out of the registry");
                    continue;
                }
            };
            let key = booth.id.to_string();
            registry
                .put(&key, entry.into())
                .await
                .map_err(|e| e.to_string())?;
            commands
                .put(&key, commands_body.into())
                .await
                .map_err(|e| e.to_string())?;
            written += 1;
        }
        Ok(written)
    }
}
