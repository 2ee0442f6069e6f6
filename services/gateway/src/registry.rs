//! The booth registry on the bus: the gateway owns the `photomatons` table and mirrors what
//! ingest and control need of it (IPs, MAC, wake target, agent key hash) into the registry
//! KV bucket, after every committed change and in full at start (which also repairs any
//! change that could not be mirrored while NATS was down).

use std::sync::Arc;
use std::time::Duration;

use boom_bus::Bus;
use boom_bus::async_nats::jetstream::kv;
use boom_contracts::domain::MacAddress;
use boom_contracts::messages::{PaperReset, RegistryEntry};
use boom_db::DbPool;
use boom_db::models::Photomaton;
use futures::TryStreamExt;
use tokio::sync::OnceCell;

use crate::store::photomatons;

#[derive(Debug, Clone)]
pub struct RegistryPublisher {
    bus: Bus,
    store: Arc<OnceCell<kv::Store>>,
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
        paper_reset: booth
            .paper_reset_at
            .zip(booth.paper_reset_prints)
            .map(|(at, prints)| PaperReset { at, prints }),
        speed_test_requested_at: booth.speed_test_requested_at,
    })
}

impl RegistryPublisher {
    pub fn new(bus: Bus) -> Self {
        Self {
            bus,
            store: Arc::default(),
        }
    }

    async fn store(&self) -> Result<&kv::Store, boom_bus::BusError> {
        let bucket = self.bus.namespace().registry_bucket();
        self.store
            .get_or_try_init(|| self.bus.ensure_kv(&bucket, Duration::ZERO))
            .await
    }

    /// Mirrors one booth; a failure is logged and repaired by the next full sync.
    pub async fn put(&self, booth: &Photomaton) {
        let result = async {
            let body = serde_json::to_vec(&entry(booth)?).map_err(|e| e.to_string())?;
            let store = self.store().await.map_err(|e| e.to_string())?;
            store
                .put(booth.id.to_string(), body.into())
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>(())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(photomaton = %booth.id, %error, "registry not updated; the next full sync will repair it");
        }
    }

    pub async fn remove(&self, id: boom_contracts::PhotomatonId) {
        let result = async {
            let store = self.store().await.map_err(|e| e.to_string())?;
            store.purge(id.to_string()).await.map_err(|e| e.to_string())
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(photomaton = %id, %error, "registry entry not removed; the next full sync will repair it");
        }
    }

    /// Writes every booth and removes entries of booths that no longer exist.
    pub async fn sync_all(&self, db: &DbPool) -> Result<usize, String> {
        let mut conn = db.get().await.map_err(|e| e.to_string())?;
        let booths: Vec<Photomaton> = photomatons::all(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        drop(conn);
        let store = self.store().await.map_err(|e| e.to_string())?;
        let known: std::collections::HashSet<String> =
            booths.iter().map(|b| b.id.to_string()).collect();
        let keys: Vec<String> = store
            .keys()
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        for key in keys.into_iter().filter(|k| !known.contains(k)) {
            store.purge(&key).await.map_err(|e| e.to_string())?;
        }
        for booth in &booths {
            let body = serde_json::to_vec(&entry(booth)?).map_err(|e| e.to_string())?;
            store
                .put(booth.id.to_string(), body.into())
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(booths.len())
    }
}
