//! NATS for LE BOOM: one [`Bus`] per process wraps the async-nats client and JetStream.
//!
//! It owns the connection (retried in the background, so a service starts while NATS is
//! down and says so in its health check), the topology (streams with a dedupe window, the
//! gateway's durable pull consumers, KV buckets), typed publish (JSON body, `Nats-Msg-Id` from
//! the message's dedupe id, `traceparent` header) and typed consume (ack only after the
//! handler's side effect, nak with backoff on transient errors, term on poison messages, each
//! outcome counted in metrics). Subjects and names come from `boom_contracts`; this crate
//! decides nothing about what a message means.

pub mod lease;
mod metrics;
pub mod registry;

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, kv, stream};
use async_nats::{ConnectOptions, HeaderMap, client::RequestErrorKind};
use boom_config::NatsSettings;
use boom_contracts::messages::{BusMessage, BusRequest, Delivery};
use boom_contracts::{Namespace, StreamKind};
use boom_telemetry::{TRACEPARENT, TraceContext};
use bytes::Bytes;
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use async_nats;
pub use lease::Lease;
pub use metrics::BusMetrics;
pub use registry::RegistryView;

/// How long JetStream remembers a `Nats-Msg-Id`. The database's accepted-batch table keeps
/// idempotence beyond it.
pub const DEDUPE_WINDOW: Duration = Duration::from_secs(2 * 60 * 60);
/// How long a stream keeps messages that nobody consumed (a gateway down for days).
pub const STREAM_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 60 * 60);
/// How long a consumer waits for an ack before redelivering.
pub const ACK_WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("NATS is unreachable: {0}")]
    Connect(String),
    #[error("cannot encode or decode `{subject}`: {reason}")]
    Codec { subject: String, reason: String },
    #[error("cannot publish on `{subject}`: {reason}")]
    Publish { subject: String, reason: String },
    #[error("no service answers `{0}`: is it running?")]
    NoResponders(String),
    #[error("`{0}` did not answer in time")]
    Timeout(String),
    #[error("request on `{subject}` failed: {reason}")]
    Request { subject: String, reason: String },
    #[error("JetStream: {0}")]
    JetStream(String),
}

/// What a consumer's handler says about a message it could not handle.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// Worth retrying later (database down, lock timeout): nak with backoff.
    #[error("transient: {0}")]
    Transient(String),
    /// Will never succeed (undecodable, violates an invariant): term, never redelivered.
    #[error("poison: {0}")]
    Poison(String),
}

/// A connected (or connecting) bus.
#[derive(Debug, Clone)]
pub struct Bus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    namespace: Namespace,
    replicas: usize,
    request_timeout: Duration,
    metrics: BusMetrics,
}

impl Bus {
    /// Connects to NATS. Returns at once; while the server is unreachable the client keeps
    /// retrying, publishing fails with a clear error, and [`Bus::check`] reports it.
    pub async fn connect(
        settings: &NatsSettings,
        service: &str,
        metrics: BusMetrics,
    ) -> Result<Self, BusError> {
        let namespace =
            Namespace::new(&settings.prefix).map_err(|e| BusError::Connect(e.to_string()))?;
        let client = ConnectOptions::new()
            .name(format!("{service}/{}", namespace.prefix()))
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(3))
            .request_timeout(Some(Duration::from_millis(settings.request_timeout_ms)))
            .event_callback(|event| async move {
                tracing::info!(%event, "nats connection event");
            })
            .connect(settings.url.as_str())
            .await
            .map_err(|e| BusError::Connect(e.to_string()))?;
        // Give the first connection a moment, so that a service whose NATS is up is ready
        // when it starts listening; past that, it starts anyway and reports NATS down.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while client.connection_state() != async_nats::connection::State::Connected
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let jetstream = jetstream::new(client.clone());
        Ok(Self {
            client,
            jetstream,
            namespace,
            replicas: settings.replicas,
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            metrics,
        })
    }

    pub fn namespace(&self) -> &Namespace {
        &self.namespace
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.jetstream
    }

    /// Health: connected, and JetStream answers for this account.
    pub async fn check(&self) -> Result<(), BusError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(BusError::Connect("not connected".to_owned()));
        }
        // Asked raw: async-nats' typed account info expects fields that NATS 2.9 lacks.
        let reply = tokio::time::timeout(
            Duration::from_secs(2),
            self.client.request("$JS.API.INFO", Bytes::new()),
        )
        .await
        .map_err(|_| BusError::Timeout("JetStream account info".to_owned()))?
        .map_err(|e| BusError::JetStream(e.to_string()))?;
        let info: serde_json::Value = serde_json::from_slice(&reply.payload)
            .map_err(|e| BusError::JetStream(format!("account info: {e}")))?;
        if let Some(error) = info.get("error") {
            return Err(BusError::JetStream(format!(
                "JetStream unavailable: {error}"
            )));
        }
        Ok(())
    }

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

    fn headers(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            TRACEPARENT,
            TraceContext::current_or_new()
                .child()
                .traceparent()
                .as_str(),
        );
        headers
    }

    fn encode<M: BusMessage>(message: &M) -> Result<Bytes, BusError> {
        serde_json::to_vec(message)
            .map(Bytes::from)
            .map_err(|e| BusError::Codec {
                subject: M::SUBJECT.to_owned(),
                reason: e.to_string(),
            })
    }

    /// Publishes a message. For a stream message this returns once JetStream stored it (or
    /// recognised it as a duplicate): the message is then durable. Returns `true` when it
    /// was a duplicate.
    pub async fn publish<M: BusMessage>(&self, message: &M) -> Result<bool, BusError> {
        let subject = M::subject(&self.namespace);
        let payload = Self::encode(message)?;
        let failed = |e: &dyn std::fmt::Display| BusError::Publish {
            subject: subject.clone(),
            reason: e.to_string(),
        };
        match M::DELIVERY {
            Delivery::Stream(_) => {
                let mut publish = jetstream::message::PublishMessage::build()
                    .payload(payload)
                    .headers(self.headers());
                if let Some(id) = message.dedupe_id() {
                    publish = publish.message_id(id);
                }
                let ack = self
                    .jetstream
                    .send_publish(subject.clone(), publish)
                    .await
                    .map_err(|e| failed(&e))?
                    .await
                    .map_err(|e| failed(&e))?;
                self.metrics.published(&subject, ack.duplicate);
                Ok(ack.duplicate)
            }
            Delivery::Broadcast | Delivery::Request | Delivery::Reply => {
                self.client
                    .publish_with_headers(subject.clone(), self.headers(), payload)
                    .await
                    .map_err(|e| failed(&e))?;
                self.metrics.published(&subject, false);
                Ok(false)
            }
        }
    }

    /// Sends a request to the queue group that serves it and decodes the reply. No
    /// responder and no answer in time are distinct, clear errors.
    pub async fn request<R: BusRequest>(&self, request: &R) -> Result<R::Reply, BusError> {
        let subject = R::subject(&self.namespace);
        let payload = Self::encode(request)?;
        let sent = async_nats::Request::new()
            .payload(payload)
            .headers(self.headers())
            .timeout(Some(
                R::TIMEOUT
                    .unwrap_or(self.request_timeout)
                    .max(self.request_timeout),
            ));
        let reply = self
            .client
            .send_request(subject.clone(), sent)
            .await
            .map_err(|e| match e.kind() {
                RequestErrorKind::NoResponders => BusError::NoResponders(subject.clone()),
                RequestErrorKind::TimedOut => BusError::Timeout(subject.clone()),
                _ => BusError::Request {
                    subject: subject.clone(),
                    reason: e.to_string(),
                },
            })?;
        serde_json::from_slice(&reply.payload).map_err(|e| BusError::Codec {
            subject: subject.clone(),
            reason: e.to_string(),
        })
    }

    /// Serves requests of type `R` in its queue group until `cancel` fires. Each request is
    /// handled on its own task, so one slow request does not hold the others.
    pub async fn serve<R, F, Fut>(
        &self,
        handler: F,
        cancel: CancellationToken,
    ) -> Result<(), BusError>
    where
        R: BusRequest,
        F: Fn(R) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = R::Reply> + Send + 'static,
    {
        let subject = R::subject(&self.namespace);
        let mut requests = self
            .client
            .queue_subscribe(subject.clone(), R::QUEUE_GROUP.to_owned())
            .await
            .map_err(|e| BusError::Connect(e.to_string()))?;
        let handler = std::sync::Arc::new(handler);
        loop {
            let message = tokio::select! {
                () = cancel.cancelled() => break,
                message = requests.next() => match message { Some(m) => m, None => break },
            };
            let Some(reply_to) = message.reply.clone() else {
                continue;
            };
            let trace = trace_of(message.headers.as_ref());
            let request: R = match serde_json::from_slice(&message.payload) {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(%subject, error = %e, "undecodable request dropped");
                    continue;
                }
            };
            let (client, handler) = (self.client.clone(), handler.clone());
            let span = tracing::info_span!("request", %subject, trace_id = %trace);
            tokio::spawn(
                trace
                    .scope(async move {
                        let reply = handler(request).await;
                        match serde_json::to_vec(&reply) {
                            Ok(body) => {
                                if let Err(e) = client.publish(reply_to, body.into()).await {
                                    tracing::warn!(error = %e, "reply not sent");
                                }
                            }
                            Err(e) => tracing::error!(error = %e, "reply not encodable"),
                        }
                    })
                    .instrument(span),
            );
        }
        let _unsubscribed = requests.unsubscribe().await;
        Ok(())
    }

    /// Pulls messages of type `M` from the stack's `kind` stream through the durable consumer
    /// `durable` (shared by every instance), until `cancel` fires. The message is acked only
    /// after `handler` returned `Ok` (and the server confirmed the ack); a transient error
    /// naks it with a growing delay; a poison message (undecodable, or the handler says so)
    /// is terminated so that it never blocks the stream.
    pub async fn consume<M, F, Fut>(
        &self,
        kind: StreamKind,
        durable: &str,
        handler: F,
        cancel: CancellationToken,
    ) -> Result<(), BusError>
    where
        M: BusMessage,
        F: Fn(M) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), HandleError>> + Send,
    {
        let handler = &handler;
        self.consume_groups(
            kind,
            durable,
            1,
            move |group: Vec<M>| async move {
                match group.into_iter().next() {
                    Some(message) => handler(message).await,
                    None => Ok(()),
                }
            },
            cancel,
        )
        .await
    }

    /// Like [`Bus::consume`], but hands the handler up to `max_group` messages at a time (as
    /// many as have already arrived, never waiting for more), so that it can commit them in
    /// one transaction. `Ok` acks every message of the group after the handler returned;
    /// a transient error naks them all; a poison verdict on a group is retried message by
    /// message, so that one bad message is terminated without dropping its neighbours.
    pub async fn consume_groups<M, F, Fut>(
        &self,
        kind: StreamKind,
        durable: &str,
        max_group: usize,
        handler: F,
        cancel: CancellationToken,
    ) -> Result<(), BusError>
    where
        M: BusMessage,
        F: Fn(Vec<M>) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), HandleError>> + Send,
    {
        let stream = self.ensure_stream(kind).await?;
        let consumer: consumer::PullConsumer = stream
            .get_or_create_consumer(
                durable,
                consumer::pull::Config {
                    durable_name: Some(durable.to_owned()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: ACK_WAIT,
                    filter_subject: M::filter(&self.namespace),
                    max_ack_pending: 10_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| BusError::JetStream(e.to_string()))?;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| BusError::JetStream(e.to_string()))?;
        let stream_name = self.namespace.stream(kind);
        loop {
            // Cancellation is only looked at between groups: the group in hand finishes.
            let first = tokio::select! {
                () = cancel.cancelled() => break,
                message = messages.next() => message,
            };
            let mut arrived = match first {
                Some(Ok(m)) => vec![m],
                Some(Err(e)) => {
                    tracing::warn!(stream = %stream_name, error = %e, "pull failed, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
                None => break,
            };
            while arrived.len() < max_group.max(1) {
                match futures::FutureExt::now_or_never(messages.next()) {
                    Some(Some(Ok(m))) => arrived.push(m),
                    _ => break,
                }
            }
            let mut group = Vec::with_capacity(arrived.len());
            let mut decoded = Vec::with_capacity(arrived.len());
            for message in arrived {
                match serde_json::from_slice::<M>(&message.payload) {
                    Ok(m) => {
                        decoded.push(m);
                        group.push(message);
                    }
                    Err(e) => {
                        tracing::error!(stream = %stream_name, error = %e, "undecodable message terminated");
                        self.settle(&stream_name, &message, AckKind::Term, "terminated")
                            .await;
                    }
                }
            }
            if group.is_empty() {
                continue;
            }
            let trace = trace_of(group[0].headers.as_ref());
            let span = tracing::info_span!("consume", stream = %stream_name, trace_id = %trace, messages = group.len());
            let outcome = trace.scope(handler(decoded)).instrument(span).await;
            match outcome {
                Ok(()) => {
                    for message in &group {
                        self.settle(&stream_name, message, AckKind::Ack, "acked")
                            .await;
                    }
                }
                Err(HandleError::Transient(reason)) => {
                    tracing::warn!(stream = %stream_name, %reason, "transient failure, will retry");
                    for message in &group {
                        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
                        self.settle(
                            &stream_name,
                            message,
                            AckKind::Nak(Some(nak_delay(delivered))),
                            "nacked",
                        )
                        .await;
                    }
                }
                Err(HandleError::Poison(reason)) if group.len() == 1 => {
                    tracing::error!(stream = %stream_name, %reason, "poison message terminated");
                    self.settle(&stream_name, &group[0], AckKind::Term, "terminated")
                        .await;
                }
                Err(HandleError::Poison(reason)) => {
                    tracing::warn!(stream = %stream_name, %reason, "poison in a group, retrying one by one");
                    for message in group {
                        let Ok(single) = serde_json::from_slice::<M>(&message.payload) else {
                            continue;
                        };
                        let (kind_of_ack, label) = match handler(vec![single]).await {
                            Ok(()) => (AckKind::Ack, "acked"),
                            Err(HandleError::Transient(_)) => {
                                let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
                                (AckKind::Nak(Some(nak_delay(delivered))), "nacked")
                            }
                            Err(HandleError::Poison(reason)) => {
                                tracing::error!(stream = %stream_name, %reason, "poison message terminated");
                                (AckKind::Term, "terminated")
                            }
                        };
                        self.settle(&stream_name, &message, kind_of_ack, label)
                            .await;
                    }
                }
            }
        }
        Ok(())
    }

    /// Acks, naks or terms, waiting for the server to confirm. An unconfirmed ack leads to a
    /// redelivery after `ACK_WAIT`, which the handlers' idempotence makes harmless.
    async fn settle(&self, stream: &str, message: &jetstream::Message, kind: AckKind, label: &str) {
        if let Err(e) = message.double_ack_with(kind).await {
            tracing::warn!(%stream, error = %e, "ack not confirmed");
        }
        self.metrics.consumed(stream, label);
    }
}

/// Backoff between redeliveries of a message that failed transiently: 1 s, 2 s, 4 s … 60 s.
fn nak_delay(delivered: i64) -> Duration {
    let exponent = u32::try_from(delivered.clamp(1, 7) - 1).unwrap_or(0);
    Duration::from_secs(2u64.pow(exponent)).min(Duration::from_secs(60))
}

fn trace_of(headers: Option<&HeaderMap>) -> TraceContext {
    headers
        .and_then(|h| h.get(TRACEPARENT))
        .and_then(|v| TraceContext::parse(v.as_str()))
        .unwrap_or_else(TraceContext::new_root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redelivery_backs_off_up_to_a_minute() {
        assert_eq!(nak_delay(1), Duration::from_secs(1));
        assert_eq!(nak_delay(3), Duration::from_secs(4));
        assert_eq!(nak_delay(1000), Duration::from_secs(60));
    }
}
