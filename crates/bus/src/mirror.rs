//! A KV bucket mirrored in memory: loaded in full at start, then kept current by a watch, and
//! followed again (with backoff) whenever NATS goes away. What is kept, and how it is indexed,
//! is the [`Mirror`]'s business; values that do not decode are logged and treated as absent.

use std::time::Duration;

use async_nats::jetstream::kv::{self, Operation};
use futures::StreamExt;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use crate::Bus;

/// What keeps a bucket's entries, in revision order.
pub(crate) trait Mirror: Clone + Send + Sync + 'static {
    type Value: DeserializeOwned;

    /// One entry's latest value (`None`: deleted). An older revision than one already
    /// applied must change nothing.
    fn apply(&self, key: &str, revision: u64, value: Option<Self::Value>);

    /// The whole bucket was read once: the mirror may be trusted from now on.
    fn mark_loaded(&self);
}

/// Follows `bucket` into `mirror` until `cancel`.
pub(crate) async fn follow<M: Mirror>(
    bus: Bus,
    bucket: String,
    mirror: M,
    cancel: CancellationToken,
) {
    let mut delay = Duration::from_millis(200);
    loop {
        if let Err(error) = run(&bus, &bucket, &mirror, &cancel).await {
            tracing::warn!(%error, bucket, "bucket watch interrupted, restarting");
        }
        if cancel.is_cancelled() {
            return;
        }
        tokio::select! {
            () = cancel.cancelled() => return,
            () = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

fn decode<T: DeserializeOwned>(bucket: &str, key: &str, bytes: &[u8]) -> Option<T> {
    match serde_json::from_slice(bytes) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(bucket, key, %error, "undecodable entry ignored");
            None
        }
    }
}

async fn run<M: Mirror>(
    bus: &Bus,
    bucket: &str,
    mirror: &M,
    cancel: &CancellationToken,
) -> Result<(), String> {
    let store = bus
        .ensure_kv(bucket, Duration::ZERO)
        .await
        .map_err(|e| e.to_string())?;
    // Watch first, then load: nothing written in between is missed; revisions order them.
    let mut watch = store.watch_all().await.map_err(|e| e.to_string())?;
    load(bucket, &store, mirror).await?;
    loop {
        let entry = tokio::select! {
            () = cancel.cancelled() => return Ok(()),
            entry = watch.next() => entry,
        };
        let Some(entry) = entry else {
            return Err("watch ended".to_owned());
        };
        let entry = entry.map_err(|e| e.to_string())?;
        let value = match entry.operation {
            Operation::Put => decode(bucket, &entry.key, &entry.value),
            Operation::Delete | Operation::Purge => None,
        };
        mirror.apply(&entry.key, entry.revision, value);
    }
}

async fn load<M: Mirror>(bucket: &str, store: &kv::Store, mirror: &M) -> Result<(), String> {
    let keys: Vec<String> = store
        .keys()
        .await
        .map_err(|e| e.to_string())?
        .filter_map(|k| async { k.ok() })
        .collect()
        .await;
    for key in keys {
        if let Some(entry) = store.entry(&key).await.map_err(|e| e.to_string())? {
            let value = decode(bucket, &key, &entry.value);
            mirror.apply(&key, entry.revision, value);
        }
    }
    mirror.mark_loaded();
    Ok(())
}
