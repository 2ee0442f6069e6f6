//! The booth registry as the services that read it see it: a local index of the registry KV
//! bucket (written by the gateway), loaded at start and kept current by a watch. Lookups are
//! in memory, so an agent request is authenticated without a database or network round trip.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use boom_contracts::PhotomatonId;
use boom_contracts::messages::RegistryEntry;
use tokio_util::sync::CancellationToken;

use crate::Bus;
use crate::mirror::Mirror;

#[derive(Debug, Default)]
struct Index {
    entries: HashMap<String, (u64, RegistryEntry)>,
    by_key_hash: HashMap<String, PhotomatonId>,
    by_hostname: HashMap<String, PhotomatonId>,
    by_id: HashMap<PhotomatonId, String>,
    loaded: bool,
}

impl Index {
    fn apply(&mut self, key: &str, revision: u64, value: Option<RegistryEntry>) {
        if self
            .entries
            .get(key)
            .is_some_and(|(seen, _)| *seen > revision)
        {
            return; // an older value arriving late
        }
        if let Some((_, old)) = self.entries.remove(key) {
            if let Some(hash) = &old.agent_key_sha256 {
                self.by_key_hash.remove(hash);
            }
            self.by_hostname.remove(&old.hostname.folded());
            self.by_id.remove(&old.photomaton_id);
        }
        if let Some(entry) = value {
            if let Some(hash) = &entry.agent_key_sha256 {
                self.by_key_hash.insert(hash.clone(), entry.photomaton_id);
            }
            self.by_hostname
                .insert(entry.hostname.folded(), entry.photomaton_id);
            self.by_id.insert(entry.photomaton_id, key.to_owned());
            self.entries.insert(key.to_owned(), (revision, entry));
        }
    }

    fn get(&self, id: PhotomatonId) -> Option<RegistryEntry> {
        self.by_id
            .get(&id)
            .and_then(|key| self.entries.get(key))
            .map(|(_, e)| e.clone())
    }
}

impl Mirror for RegistryView {
    type Value = RegistryEntry;

    fn apply(&self, key: &str, revision: u64, value: Option<RegistryEntry>) {
        if let Ok(mut index) = self.index.write() {
            index.apply(key, revision, value);
        }
    }

    fn mark_loaded(&self) {
        if let Ok(mut index) = self.index.write() {
            index.loaded = true;
        }
    }
}

/// A live, in-memory view of the registry bucket.
#[derive(Debug, Clone, Default)]
pub struct RegistryView {
    index: Arc<RwLock<Index>>,
}

impl RegistryView {
    /// Starts following the registry; the view is empty (and [`RegistryView::is_loaded`]
    /// false) until the first full load, retried while NATS is unreachable.
    pub fn follow(
        bus: Bus,
        cancel: CancellationToken,
    ) -> (Self, impl std::future::Future<Output = ()> + Send) {
        let view = Self::default();
        let bucket = bus.namespace().registry_bucket();
        let task = crate::mirror::follow(bus, bucket, view.clone(), cancel);
        (view, task)
    }

    pub fn is_loaded(&self) -> bool {
        self.index.read().map(|i| i.loaded).unwrap_or(false)
    }

    /// What a health check says of the view: ready once the bucket was read in full.
    pub async fn check(self) -> Result<(), &'static str> {
        if self.is_loaded() {
            Ok(())
        } else {
            Err("booth registry not loaded yet")
        }
    }

    /// The booth whose agent key hashes to `sha256_hex`.
    pub fn by_key_hash(&self, sha256_hex: &str) -> Option<RegistryEntry> {
        let index = self.index.read().ok()?;
        index
            .by_key_hash
            .get(sha256_hex)
            .and_then(|id| index.get(*id))
    }

    pub fn by_hostname(&self, hostname: &str) -> Option<RegistryEntry> {
        let index = self.index.read().ok()?;
        index
            .by_hostname
            .get(&hostname.to_ascii_lowercase())
            .and_then(|id| index.get(*id))
    }

    pub fn get(&self, id: PhotomatonId) -> Option<RegistryEntry> {
        self.index.read().ok()?.get(id)
    }

    pub fn all(&self) -> Vec<RegistryEntry> {
        self.index
            .read()
            .map(|i| i.entries.values().map(|(_, e)| e.clone()).collect())
            .unwrap_or_default()
    }
}
