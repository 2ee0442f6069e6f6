//! Single-active work (probing, Notion sync) across any number of instances: a lease is a key
//! in the `<prefix>_leases` KV bucket whose entries expire `ttl` after their last write. The
//! holder renews it every `ttl / 3` with a compare-and-set on its revision; the others try to
//! create it as often. When the holder dies its entry expires and another instance takes over
//! within `ttl` plus one try.

use std::time::Duration;

use async_nats::jetstream::kv;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::Bus;

/// Whether this instance holds the lease, as it changes.
#[derive(Debug, Clone)]
pub struct Lease {
    held: watch::Receiver<bool>,
}

impl Lease {
    pub fn is_held(&self) -> bool {
        *self.held.borrow()
    }

    /// Waits until this instance holds the lease (or the sender is gone).
    pub async fn acquired(&mut self) {
        let _ = self.held.wait_for(|held| *held).await;
    }

    /// Waits until this instance no longer holds the lease.
    pub async fn lost(&mut self) {
        let _ = self.held.wait_for(|held| !*held).await;
    }

    /// Campaigns for `name` until `cancel`; the returned future must be spawned. On cancel a
    /// held lease is released at once, so that a clean shutdown hands over without waiting.
    pub fn campaign(
        bus: Bus,
        name: &str,
        instance: String,
        ttl: Duration,
        cancel: CancellationToken,
    ) -> (Self, impl std::future::Future<Output = ()> + Send) {
        let (sender, held) = watch::channel(false);
        let name = name.to_owned();
        let task = async move {
            let period = ttl / 3;
            let mut revision: Option<u64> = None;
            let mut store: Option<kv::Store> = None;
            loop {
                if store.is_none() {
                    store = bus
                        .ensure_kv(&bus.namespace().lease_bucket(), ttl)
                        .await
                        .ok();
                }
                if let Some(kv) = &store {
                    revision = match revision {
                        Some(rev) => kv.update(&name, instance.clone().into(), rev).await.ok(),
                        None => kv.create(&name, instance.clone().into()).await.ok(),
                    };
                } else {
                    revision = None;
                }
                let holding = revision.is_some();
                if *sender.borrow() != holding {
                    tracing::info!(lease = %name, %instance, holding, "lease changed hands");
                    let _ = sender.send(holding);
                }
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(period) => {}
                }
            }
            if let (Some(kv), Some(_)) = (&store, revision) {
                let _ = kv.purge(&name).await;
            }
            let _ = sender.send(false);
        };
        (Self { held }, task)
    }
}
