//! Typed publishing on a [`Bus`]: JSON bodies, a `traceparent` header on every message, the
//! `Nats-Msg-Id` that lets JetStream drop duplicates, and request / reply.

use async_nats::jetstream;
use async_nats::{HeaderMap, client::RequestErrorKind};
use boom_contracts::messages::{BusMessage, BusRequest, Delivery};
use boom_telemetry::{TRACEPARENT, TraceContext};
use bytes::Bytes;

use crate::{Bus, BusError};

impl Bus {
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
}
