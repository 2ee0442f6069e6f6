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

/// Writes `id`'s value, built from the database as it is after the bucket's current revision
/// was read (see [`RegistryPublisher::put`]); a booth that no longer exists is purged.
async fn write_fresh(
    conn: &mut AsyncPgConnection,
    bucket: &kv::Store,
    id: PhotomatonId,
    build: impl Fn(&Photomaton, Vec<QueuedCommand>) -> Result<Vec<u8>, String>,
) -> Result<(), String> {
    let key = id.to_string();
    for _ in 0..8 {
        let revision = bucket
            .entry(&key)
            .await
            .map_err(|e| e.to_string())?
            .map(|entry| entry.revision);
        let Some(booth) = photomatons::find(conn, id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return bucket.purge(&key).await.map_err(|e| e.to_string());
        };
        let queued = store::commands::open_for(conn, &[id])
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(_, command)| command)
            .collect();
        let body = build(&booth, queued)?;
        let written = match revision {
            Some(revision) => bucket
                .update(&key, body.into(), revision)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            None => bucket
                .create(&key, body.into())
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        };
        match written {
            Ok(()) => return Ok(()),
            // Someone wrote meanwhile: read again.
            Err(error) => {
                tracing::debug!(photomaton = %id, %error, "registry write raced, retrying")
            }
        }
    }
    Err("the entry kept changing".to_owned())
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

    /// Mirrors one booth, as the database has it now, into both buckets; a failure is logged
    /// (the next gateway start repairs it).
    ///
    /// Two writers of one booth (a command's report and a new command, say) must not leave the
    /// older state in the bucket: each write is a compare-and-set on the entry's revision,
    /// taken *before* the database is read, so a write that lands in between makes this one
    /// fail, read the database again and retry.
    pub async fn put(&self, conn: &mut AsyncPgConnection, id: PhotomatonId) {
        let result = async {
            let (registry, commands) = self.buckets().await.map_err(|e| e.to_string())?;
            write_fresh(conn, registry, id, |booth, _| {
                serde_json::to_vec(&entry(booth)?).map_err(|e| e.to_string())
            })
            .await?;
            write_fresh(conn, commands, id, |booth, queued| {
                serde_json::to_vec(&self::commands(booth, queued)).map_err(|e| e.to_string())
            })
            .await
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(photomaton = %id, %error, "registry not updated; the next gateway start repairs it");
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
