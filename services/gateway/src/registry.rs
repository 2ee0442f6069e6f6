//! What the other services know of the booths, mirrored from the `photomatons` table into two
//! KV buckets after every committed change — confirmed: a change that could not be mirrored
//! fails its API call (503), so that nobody believes a rotated key is dead while ingest still
//! takes it — and reconciled in full at start and every `nats.registry_reconcile_secs` (60 s;
//! which repairs any change that could not be mirrored while NATS was down, within that time):
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
use tokio::sync::Mutex;

use crate::store::{self, photomatons};

/// The registry could not be written: NATS unreachable, or the bucket gone.
#[derive(Debug, thiserror::Error)]
#[error("the booth registry could not be updated: {0}")]
pub struct RegistryUnavailable(pub String);

impl From<String> for RegistryUnavailable {
    fn from(reason: String) -> Self {
        Self(reason)
    }
}

#[derive(Debug, Clone)]
pub struct RegistryPublisher {
    bus: Bus,
    /// The two buckets, once found; forgotten after a failure, so that a bucket deleted or
    /// a stream lost is looked up (and created) again.
    buckets: Arc<Mutex<Option<(kv::Store, kv::Store)>>>,
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

/// The registry bucket's value for `booth`.
fn registry_value(booth: &Photomaton) -> Result<Vec<u8>, String> {
    serde_json::to_vec(&entry(booth)?).map_err(|e| e.to_string())
}

/// The agent-commands bucket's value for `booth` with its open commands.
fn commands_value(booth: &Photomaton, queued: Vec<QueuedCommand>) -> Result<Vec<u8>, String> {
    serde_json::to_vec(&commands(booth, queued)).map_err(|e| e.to_string())
}

/// Whether the entry read from a bucket is `value` (a deleted or purged entry is nothing).
fn is_value(current: Option<&kv::Entry>, value: &[u8]) -> bool {
    current.is_some_and(|e| e.operation == kv::Operation::Put && e.value.as_ref() == value)
}

/// Whether `bucket` holds `value` under `key`.
async fn holds(bucket: &kv::Store, key: &str, value: &[u8]) -> Result<bool, String> {
    let current = bucket.entry(key).await.map_err(|e| e.to_string())?;
    Ok(is_value(current.as_ref(), value))
}

/// Writes `id`'s value, built from the database as it is after the bucket's current revision
/// was read (see [`RegistryPublisher::put`]), unless the bucket holds it already; a booth that
/// no longer exists is purged. Answers whether the bucket changed.
async fn write_fresh(
    conn: &mut AsyncPgConnection,
    bucket: &kv::Store,
    id: PhotomatonId,
    build: impl Fn(&Photomaton, Vec<QueuedCommand>) -> Result<Vec<u8>, String>,
) -> Result<bool, String> {
    let key = id.to_string();
    for _ in 0..8 {
        let current = bucket.entry(&key).await.map_err(|e| e.to_string())?;
        let revision = current.as_ref().map(|entry| entry.revision);
        let Some(booth) = photomatons::find(conn, id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return bucket
                .purge(&key)
                .await
                .map(|()| {
                    current
                        .as_ref()
                        .is_some_and(|e| e.operation == kv::Operation::Put)
                })
                .map_err(|e| e.to_string());
        };
        let queued = store::commands::open_for(conn, &[id])
            .await
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(_, command)| command)
            .collect();
        let body = build(&booth, queued)?;
        if is_value(current.as_ref(), &body) {
            return Ok(false);
        }
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
            Ok(()) => return Ok(true),
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
            buckets: Arc::default(),
        }
    }

    async fn buckets(&self) -> Result<(kv::Store, kv::Store), String> {
        let mut cached = self.buckets.lock().await;
        if let Some(buckets) = cached.as_ref() {
            return Ok(buckets.clone());
        }
        let namespace = self.bus.namespace();
        let registry = self
            .bus
            .ensure_kv(&namespace.registry_bucket(), Duration::ZERO)
            .await
            .map_err(|e| e.to_string())?;
        let commands = self
            .bus
            .ensure_kv(&namespace.agent_commands_bucket(), Duration::ZERO)
            .await
            .map_err(|e| e.to_string())?;
        *cached = Some((registry.clone(), commands.clone()));
        Ok((registry, commands))
    }

    /// After a failure: find the buckets again next time.
    async fn forget_buckets(&self) {
        *self.buckets.lock().await = None;
    }

    /// Mirrors one booth, as the database has it now, into both buckets. An error means the
    /// other services may not know of the change yet: the caller says so (503); the
    /// reconciliation repairs it within `nats.registry_reconcile_secs`.
    ///
    /// Two writers of one booth (a command's report and a new command, say) must not leave the
    /// older state in the bucket: each write is a compare-and-set on the entry's revision,
    /// taken *before* the database is read, so a write that lands in between makes this one
    /// fail, read the database again and retry.
    pub async fn put(
        &self,
        conn: &mut AsyncPgConnection,
        id: PhotomatonId,
    ) -> Result<(), RegistryUnavailable> {
        let result = self.put_once(conn, id).await;
        if let Err(error) = &result {
            self.forget_buckets().await;
            tracing::warn!(photomaton = %id, %error, "registry not updated");
        }
        result.map(|_| ()).map_err(RegistryUnavailable)
    }

    /// Mirrors one booth; answers whether either bucket changed.
    async fn put_once(
        &self,
        conn: &mut AsyncPgConnection,
        id: PhotomatonId,
    ) -> Result<bool, String> {
        let (registry, commands) = self.buckets().await?;
        let registry_changed =
            write_fresh(conn, &registry, id, |booth, _| registry_value(booth)).await?;
        let commands_changed = write_fresh(conn, &commands, id, commands_value).await?;
        Ok(registry_changed || commands_changed)
    }

    /// Removes a deleted booth from both buckets.
    pub async fn remove(&self, id: PhotomatonId) -> Result<(), RegistryUnavailable> {
        let result = async {
            let (registry, commands) = self.buckets().await?;
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
        if let Err(error) = &result {
            self.forget_buckets().await;
            tracing::warn!(photomaton = %id, %error, "registry entry not removed");
        }
        result.map_err(RegistryUnavailable)
    }

    /// Mirrors every booth (writing only what differs, each with the compare-and-set of
    /// [`RegistryPublisher::put`]) and removes entries of booths that no longer exist. A booth
    /// whose row cannot be mirrored is logged and left out; the others are still written.
    pub async fn sync_all(&self, db: &DbPool) -> Result<Reconciled, String> {
        let result = self.sync_all_once(db).await;
        if result.is_err() {
            self.forget_buckets().await;
        }
        result
    }

    async fn sync_all_once(&self, db: &DbPool) -> Result<Reconciled, String> {
        // The buckets' keys first, the booths second: a booth created in between is in the
        // second list, so its fresh entries are never purged as a deleted booth's.
        let (registry, commands) = self.buckets().await?;
        let mut keyed = Vec::new();
        for bucket in [&registry, &commands] {
            let keys: Vec<String> = bucket
                .keys()
                .await
                .map_err(|e| e.to_string())?
                .try_collect()
                .await
                .map_err(|e| e.to_string())?;
            keyed.push((bucket, keys));
        }
        // Every booth and every open command in two queries: what the buckets should hold.
        let mut conn = db.get().await.map_err(|e| e.to_string())?;
        let booths = photomatons::all(&mut conn)
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
        let known: std::collections::HashSet<String> =
            ids.iter().map(ToString::to_string).collect();
        for (bucket, keys) in keyed {
            for key in keys.into_iter().filter(|k| !known.contains(k)) {
                bucket.purge(&key).await.map_err(|e| e.to_string())?;
            }
        }
        let mut reconciled = Reconciled::default();
        for booth in &booths {
            // A booth whose buckets already hold what was just read costs two reads of NATS
            // and nothing more (at 1,000 booths, the reconciliation every minute used to read
            // each booth and its commands again, 4,000 queries, for nothing to write).
            let queued = queued.remove(&booth.id).unwrap_or_default();
            let commands_value = commands_value(booth, queued)?;
            let key = booth.id.to_string();
            if let Ok(registry_value) = registry_value(booth)
                && holds(&registry, &key, &registry_value).await?
                && holds(&commands, &key, &commands_value).await?
            {
                reconciled.mirrored += 1;
                continue;
            }
            // Otherwise as any change is mirrored: read again, compare-and-set.
            reconciled.read_again += 1;
            let mut conn = db.get().await.map_err(|e| e.to_string())?;
            match self.put_once(&mut conn, booth.id).await {
                Ok(changed) => {
                    reconciled.mirrored += 1;
                    reconciled.written += usize::from(changed);
                }
                Err(error) if error.starts_with("photomaton ") => {
                    tracing::error!(photomaton = %booth.id, %error, "booth left out of the registry");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(reconciled)
    }
}

/// What a reconciliation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reconciled {
    /// Booths whose entries hold what the database says (left out: a booth whose row cannot
    /// be mirrored, logged).
    pub mirrored: usize,
    /// Booths whose entries differed from what the two queries said, then read again one by
    /// one (a booth changed meanwhile, or one that cannot be mirrored, is read again and may
    /// need no write).
    pub read_again: usize,
    /// Booths of those whose entries were then written (or purged: deleted meanwhile).
    pub written: usize,
}
