//! The stack's JetStream topology on a [`Bus`]: its streams (with their dedupe window and
//! retention), the durable pull consumers that read them, and KV buckets.

use std::time::Duration;

use async_nats::jetstream::{consumer, kv, stream};
use boom_contracts::StreamKind;
use boom_contracts::messages::BusMessage;
use tokio_util::sync::CancellationToken;

use crate::{Bus, BusError};

/// How long JetStream remembers a `Nats-Msg-Id`. The database's accepted-batch table keeps
/// idempotence beyond it.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(2 * 60 * 60);
/// How long a stream keeps messages that nobody consumed (a gateway down for days).
pub const STREAM_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// How long a consumer waits for an ack before redelivering (see [`Bus::with_ack_wait`]).
pub const ACK_WAIT: Duration = Duration::from_secs(30);

impl Bus {
    /// Creates (or finds) a stream of the stack.
    pub async fn ensure_stream(&self, kind: StreamKind) -> Result<stream::Stream, BusError> {
        let config = stream::Config {
            name: self.namespace.stream(kind),
            subjects: vec![self.namespace.stream_subjects(kind)],
            duplicate_window: DEDUPE_WINDOW,
            max_age: STREAM_MAX_AGE,
            num_replicas: self.replicas,
            storage: stream::StorageType::File,
            ..Default::default()
        };
        self.jetstream
            .get_or_create_stream(config)
            .await
            .map_err(|e| BusError::JetStream(e.to_string()))
    }

    /// Creates every stream of the stack; retried until NATS answers or `cancel` fires.
    pub async fn ensure_streams_with_retry(
        &self,
        cancel: &CancellationToken,
    ) -> Result<(), BusError> {
        let mut delay = Duration::from_millis(200);
        loop {
            let mut result = Ok(());
            for &kind in StreamKind::ALL {
                if let Err(e) = self.ensure_stream(kind).await {
                    result = Err(e);
                    break;
                }
            }
            match result {
                Ok(()) => return Ok(()),
                Err(e) => tracing::warn!(error = %e, retry_in = ?delay, "streams not ready"),
            }
            tokio::select! {
                () = cancel.cancelled() => return Err(BusError::Connect("stopped before NATS answered".into())),
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// The background work every service starts with: create the stack's streams, retrying
    /// while NATS is away, and log if it had to give up (on shutdown).
    pub fn setup_streams(
        &self,
    ) -> impl FnOnce(CancellationToken) -> futures::future::BoxFuture<'static, ()> + use<> {
        let bus = self.clone();
        move |cancel| {
            Box::pin(async move {
                if let Err(error) = bus.ensure_streams_with_retry(&cancel).await {
                    tracing::warn!(%error, "streams not created");
                }
            })
        }
    }

    /// Creates (or finds) a KV bucket of the stack. The bucket's stream is created with the
    /// same settings async-nats would use, but directly: its `create_key_value` first asks
    /// for account info, which it fails to decode from a NATS 2.9 server.
    pub async fn ensure_kv(&self, bucket: &str, max_age: Duration) -> Result<kv::Store, BusError> {
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            max_age,
            storage: stream::StorageType::File,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            num_replicas: self.replicas,
            discard: stream::DiscardPolicy::New,
            ..Default::default()
        };
        self.jetstream
            .get_or_create_stream(config)
            .await
            .map_err(|e| BusError::JetStream(e.to_string()))?;
        self.jetstream
            .get_key_value(bucket)
            .await
            .map_err(|e| BusError::JetStream(e.to_string()))
    }

    /// Creates (or finds) the durable pull consumer `durable` on the stack's `kind` stream,
    /// filtered to the subjects of `M`; every instance of a service shares it.
    pub(crate) async fn durable_consumer<M: BusMessage>(
        &self,
        kind: StreamKind,
        durable: &str,
    ) -> Result<consumer::PullConsumer, BusError> {
        let stream = self.ensure_stream(kind).await?;
        stream
            .get_or_create_consumer(
                durable,
                consumer::pull::Config {
                    durable_name: Some(durable.to_owned()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: self.ack_wait,
                    filter_subject: M::filter(&self.namespace),
                    max_ack_pending: 10_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BusError::JetStream(e.to_string()))
    }
}
