//! Typed consuming on a [`Bus`]: serving requests, and pulling stream messages through a
//! durable consumer with ack only after the handler's side effect, nak with backoff on
//! transient errors, and poison messages set aside.
//!
//! A message is *set aside* when it can never be handled: it cannot be decoded, the handler
//! calls it poison (a constraint or range error), or it failed [`MAX_ATTEMPTS`] times in a
//! row. With a [`DeadLetters`] sink (the gateway writes a table admins see) it is acked once
//! the sink has kept it, and nacked when the sink fails, so nothing is lost; without one
//! it is terminated. A group that fails is retried message by message, so one bad message
//! never holds back the others of its group.

use std::future::Future;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::{self, AckKind};
use boom_contracts::StreamKind;
use boom_contracts::messages::{BusMessage, BusRequest};
use boom_telemetry::{TRACEPARENT, TraceContext};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::{Bus, BusError};

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

/// What [`Bus::consume_each`] does with a message its handler is done with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Handled: acked.
    Done,
    /// Delivered again after this delay.
    RetryIn(Duration),
    /// Never delivered again.
    Never,
}

/// Deliveries of a message that keeps failing transiently before it is set aside: with the
/// backoff of 1, 2, 4 … 60 s, about seven minutes. Each delivery runs the handler again, so
/// a message that failed while the database was down is recorded once it is back; only a
/// message that keeps failing while the rest of the stream is handled ends aside.
pub const MAX_ATTEMPTS: i64 = 12;
/// What tells JetStream that a delivery is still being handled (`AckKind::Progress`): its
/// ack wait starts again.
const PROGRESS: &[u8] = b"+WPI";
/// Ack waits a message a consumer pulled is kept alive at most (five minutes with the
/// stack's 30 s): a handler takes seconds (the notifier's sends are bounded at 20 s), and one
/// that hangs past this lets JetStream hand its messages out again.
const KEEP_ALIVE_AT_MOST: u32 = 10;
/// Deliveries of a failing group before its messages are tried one by one.
const SPLIT_AFTER: i64 = 3;

/// A message set aside: where it came from, its bytes, and why.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub stream: String,
    pub subject: String,
    pub payload: Vec<u8>,
    pub reason: String,
    /// Deliveries so far, this one included.
    pub deliveries: i64,
}

type Keep =
    dyn Fn(DeadLetter) -> futures::future::BoxFuture<'static, Result<(), String>> + Send + Sync;

/// Keeps a message set aside; `Err` when it could not (the message is then redelivered).
#[derive(Clone)]
pub struct DeadLetters(std::sync::Arc<Keep>);

impl DeadLetters {
    pub fn new(
        keep: impl Fn(DeadLetter) -> futures::future::BoxFuture<'static, Result<(), String>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        Self(std::sync::Arc::new(keep))
    }
}

impl std::fmt::Debug for DeadLetters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeadLetters")
    }
}

impl Bus {
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
    /// naks it with a growing delay; a poison message (undecodable, the handler says so, or
    /// out of attempts) is set aside so that it never blocks the stream.
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
    /// a transient error naks them all (for its first deliveries); a poison verdict, or a
    /// group that keeps failing, is retried message by message, so that one bad message is
    /// set aside without holding back its neighbours.
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
        self.consume_lanes(kind, durable, max_group, 1, |_| 0, handler, cancel)
            .await
    }

    /// Like [`Bus::consume_groups`], but deals the messages out to `lanes` lanes by
    /// `lane_of(message) % lanes`, each handling its own groups one after the other while the
    /// others do the same, each group settled on its own. Messages of one lane key are always
    /// in the same lane, in the order they arrived, so what one key says is handled in order,
    /// while keys of different lanes do not wait for each other's commits: the pull goes on
    /// while the lanes work. `max_group` is shared out: a lane's next group is what arrived
    /// for it meanwhile, up to `max_group / lanes` (rounded up), and it keeps at most as many
    /// waiting besides the group in hand. A lane with that many waiting holds the pull back,
    /// and with it the other lanes once they have handled what they hold: memory stays
    /// bounded (twice `max_group` messages in the lanes, one in the pull's hand, and what the
    /// client prefetched), and a booth's order is kept.
    ///
    /// Until it settles them, the messages it holds (in a lane's hand or waiting in its
    /// queue) are kept alive: every third of the consumer's ack wait, JetStream is told they
    /// are still being handled, so a slow commit does not get them delivered again. Each is
    /// released just before it is settled (a nak's delay is then JetStream's to keep), and
    /// kept alive for ten ack waits at most, so that a handler that hangs does not hold it
    /// for ever. What the NATS client prefetched and this has not pulled
    /// yet is not covered.
    ///
    /// Once `cancel` fires, nothing more is pulled; each lane handles what it holds, then
    /// this returns.
    #[allow(clippy::too_many_arguments)]
    pub async fn consume_lanes<M, F, Fut, L>(
        &self,
        kind: StreamKind,
        durable: &str,
        max_group: usize,
        lanes: usize,
        lane_of: L,
        handler: F,
        cancel: CancellationToken,
    ) -> Result<(), BusError>
    where
        M: BusMessage,
        F: Fn(Vec<M>) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), HandleError>> + Send,
        L: Fn(&M) -> u64 + Send + Sync,
    {
        let lanes = lanes.max(1);
        let max_group = max_group.div_ceil(lanes).max(1);
        let consumer = self.durable_consumer::<M>(kind, durable).await?;
        let ack_wait = consumer.cached_info().config.ack_wait;
        let mut messages = consumer
            .messages()
            .await
            .map_err(|e| BusError::JetStream(e.to_string()))?;
        let stream_name = self.namespace.stream(kind);
        let stream_name = stream_name.as_str();
        let (queues, inboxes): (Vec<_>, Vec<_>) = (0..lanes)
            .map(|_| tokio::sync::mpsc::channel::<(jetstream::Message, M)>(max_group))
            .unzip();
        let (held, finished) = (&Held::default(), &CancellationToken::new());
        let pull = async move {
            while let Some((message, decoded)) = self
                .next_decoded::<M>(stream_name, &mut messages, &cancel)
                .await
            {
                let lane = &queues[(lane_of(&decoded) % lanes as u64) as usize];
                // A full lane holds the pull back (and with it the other lanes' next
                // messages). A message waits here for at most the group in hand and the
                // one queued before it, kept alive meanwhile.
                held.hold(&message);
                if lane.send((message, decoded)).await.is_err() {
                    break;
                }
            }
            // The queues close: each lane ends once it has handled what it holds.
            drop(queues);
        };
        let work = inboxes.into_iter().map(|mut inbox| {
            let handler = &handler;
            async move {
                let mut arrived = Vec::with_capacity(max_group);
                while inbox.recv_many(&mut arrived, max_group).await > 0 {
                    let (group, decoded) = arrived.drain(..).unzip();
                    self.handle_group(stream_name, group, decoded, handler, held)
                        .await;
                }
            }
        });
        let work = async move {
            futures::future::join_all(work).await;
            finished.cancel();
        };
        let (every, at_most) = (keep_alive_every(ack_wait), ack_wait * KEEP_ALIVE_AT_MOST);
        futures::join!(pull, work, self.keep_alive(held, every, at_most, finished));
        Ok(())
    }

    /// Tells JetStream every `every` that the messages `held` (for less than `at_most`) are
    /// still being handled, until `finished`.
    async fn keep_alive(
        &self,
        held: &Held,
        every: Duration,
        at_most: Duration,
        finished: &CancellationToken,
    ) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = finished.cancelled() => return,
                _ = tick.tick() => {}
            }
            for subject in held.held_for_less_than(at_most) {
                if finished.is_cancelled() {
                    return;
                }
                if let Err(e) = self.client.publish(subject, PROGRESS.into()).await {
                    tracing::debug!(error = %e, "progress not sent");
                }
            }
        }
    }

    /// Runs the handler on one group and settles its messages (see [`Bus::consume_groups`]).
    async fn handle_group<M, F, Fut>(
        &self,
        stream_name: &str,
        group: Vec<jetstream::Message>,
        decoded: Vec<M>,
        handler: &F,
        held: &Held,
    ) where
        M: BusMessage,
        F: Fn(Vec<M>) -> Fut + Send + Sync,
        Fut: Future<Output = Result<(), HandleError>> + Send,
    {
        let trace = trace_of(group[0].headers.as_ref());
        let span = tracing::info_span!("consume", stream = %stream_name, trace_id = %trace, messages = group.len());
        let outcome = trace.scope(handler(decoded)).instrument(span).await;
        let most_delivered = group.iter().map(delivered).max().unwrap_or(1);
        match outcome {
            Ok(()) => {
                held.release(&group);
                // Every ack of the group at once, then their confirmations: one round
                // trip for the group rather than one per message on the recorder's path.
                futures::future::join_all(
                    group
                        .iter()
                        .map(|message| self.settle(stream_name, message, AckKind::Ack, "acked")),
                )
                .await;
            }
            Err(error) if group.len() == 1 => {
                held.release(&group);
                self.failed(stream_name, &group[0], error).await;
            }
            Err(HandleError::Transient(reason)) if most_delivered < SPLIT_AFTER => {
                tracing::warn!(stream = %stream_name, %reason, "transient failure, will retry");
                held.release(&group);
                for message in &group {
                    self.nak(stream_name, message).await;
                }
            }
            Err(error) => {
                tracing::warn!(stream = %stream_name, %error, "a group failed, retrying its messages one by one");
                // Within half the stack's ack wait: what is left then is nacked (and
                // redelivered later) rather than holding the lane's other messages.
                let budget = tokio::time::Instant::now() + crate::ACK_WAIT / 2;
                for message in group {
                    if tokio::time::Instant::now() > budget {
                        held.release(std::slice::from_ref(&message));
                        self.nak(stream_name, &message).await;
                        continue;
                    }
                    // It decoded when pulled; were it not to now, it is set aside, not left held.
                    let outcome = match serde_json::from_slice::<M>(&message.payload) {
                        Ok(single) => handler(vec![single]).await,
                        Err(e) => Err(HandleError::Poison(format!("undecodable: {e}"))),
                    };
                    held.release(std::slice::from_ref(&message));
                    match outcome {
                        Ok(()) => {
                            self.settle(stream_name, &message, AckKind::Ack, "acked")
                                .await;
                        }
                        Err(error) => self.failed(stream_name, &message, error).await,
                    }
                }
            }
        }
    }

    /// Pulls messages of type `M` through the durable consumer `durable` and hands each to
    /// `handler` on its own task, at most `concurrency` at once, so that a slow message (a mail
    /// server timing out) never delays the others. The handler decides each message's fate
    /// ([`Settle`]): done (acked), again after a delay (nacked with that delay, which it
    /// chooses: a backoff, or the end of quiet hours), or never (terminated). It is told how
    /// many times the message was delivered, this time included.
    pub async fn consume_each<M, F, Fut>(
        &self,
        kind: StreamKind,
        durable: &str,
        concurrency: usize,
        handler: F,
        cancel: CancellationToken,
    ) -> Result<(), BusError>
    where
        M: BusMessage,
        F: Fn(M, i64) -> Fut + Clone + Send + Sync + 'static,
        Fut: Future<Output = Settle> + Send + 'static,
    {
        let consumer = self.durable_consumer::<M>(kind, durable).await?;
        let ack_wait = consumer.cached_info().config.ack_wait;
        // Pull no more than can be handled at once: a message waiting in the client for a
        // free task past the ack wait would be handed out again, and handled twice.
        let mut messages = consumer
            .stream()
            .max_messages_per_batch(concurrency.max(1))
            .messages()
            .await
            .map_err(|e| BusError::JetStream(e.to_string()))?;
        let stream_name = self.namespace.stream(kind);
        let limit = std::sync::Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
        // Each message in a handler's hand is kept alive, as the lanes' are (a slow handler is
        // not redelivered to another while it runs), and released just before it is settled.
        let held = std::sync::Arc::new(Held::default());
        let finished = &CancellationToken::new();
        let mut running = tokio::task::JoinSet::new();
        let work = async {
            loop {
                let permit = tokio::select! {
                    () = cancel.cancelled() => break,
                    permit = limit.clone().acquire_owned() => match permit {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let Some((message, decoded)) = self
                    .next_decoded::<M>(&stream_name, &mut messages, &cancel)
                    .await
                else {
                    break;
                };
                let (bus, handler, stream) = (self.clone(), handler.clone(), stream_name.clone());
                let trace = trace_of(message.headers.as_ref());
                let span = tracing::info_span!("consume", stream = %stream, trace_id = %trace);
                held.hold(&message);
                let held = held.clone();
                running.spawn(
                    trace
                        .scope(async move {
                            let _permit = permit;
                            let outcome = handler(decoded, delivered(&message)).await;
                            held.release(std::slice::from_ref(&message));
                            let (kind, label) = match outcome {
                                Settle::Done => (AckKind::Ack, "acked"),
                                Settle::RetryIn(delay) => (AckKind::Nak(Some(delay)), "nacked"),
                                Settle::Never => (AckKind::Term, "terminated"),
                            };
                            bus.settle(&stream, &message, kind, label).await;
                        })
                        .instrument(span),
                );
                // Reap what finished, so the set does not grow with the stream.
                while running.try_join_next().is_some() {}
            }
            // The messages in hand finish (each is bounded by its own timeout).
            while running.join_next().await.is_some() {}
            finished.cancel();
        };
        let (every, at_most) = (keep_alive_every(ack_wait), ack_wait * KEEP_ALIVE_AT_MOST);
        futures::join!(work, self.keep_alive(&held, every, at_most, finished));
        Ok(())
    }

    /// The next message pulled and its decoded form; `None` once `cancel` fires or the pull
    /// ends. A failed pull is retried after a pause; a message that does not decode is set
    /// aside.
    async fn next_decoded<M: BusMessage>(
        &self,
        stream_name: &str,
        messages: &mut jetstream::consumer::pull::Stream,
        cancel: &CancellationToken,
    ) -> Option<(jetstream::Message, M)> {
        loop {
            let next = tokio::select! {
                biased;
                () = cancel.cancelled() => return None,
                message = messages.next() => message,
            };
            let message = match next? {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(stream = %stream_name, error = %e, "pull failed, retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            match serde_json::from_slice::<M>(&message.payload) {
                Ok(decoded) => return Some((message, decoded)),
                Err(e) => {
                    self.set_aside(stream_name, &message, format!("undecodable: {e}"))
                        .await;
                }
            }
        }
    }

    /// One message the handler failed: nak a transient failure with backoff, until
    /// [`MAX_ATTEMPTS`]; set aside a poison message, or one out of attempts.
    async fn failed(&self, stream: &str, message: &jetstream::Message, error: HandleError) {
        let deliveries = delivered(message);
        match error {
            HandleError::Transient(reason) if deliveries < MAX_ATTEMPTS => {
                tracing::warn!(%stream, %reason, deliveries, "transient failure, will retry");
                self.nak(stream, message).await;
            }
            HandleError::Transient(reason) => {
                let reason = format!("failed {deliveries} times: {reason}");
                self.set_aside(stream, message, reason).await;
            }
            HandleError::Poison(reason) => self.set_aside(stream, message, reason).await,
        }
    }

    /// Sets a message aside: into the [`DeadLetters`] sink (acked once kept, nacked when the
    /// sink fails), or terminated without one.
    async fn set_aside(&self, stream: &str, message: &jetstream::Message, reason: String) {
        let deliveries = delivered(message);
        let Some(sink) = &self.dead_letters else {
            tracing::error!(%stream, %reason, "message that can never be handled terminated");
            self.settle(stream, message, AckKind::Term, "terminated")
                .await;
            return;
        };
        let letter = DeadLetter {
            stream: stream.to_owned(),
            subject: message.subject.to_string(),
            payload: message.payload.to_vec(),
            reason: reason.clone(),
            deliveries,
        };
        match (sink.0)(letter).await {
            Ok(()) => {
                tracing::error!(%stream, %reason, "message that can never be handled set aside");
                self.settle(stream, message, AckKind::Ack, "set_aside")
                    .await;
            }
            Err(error) => {
                tracing::warn!(%stream, %error, "cannot set the message aside yet, will retry");
                self.nak(stream, message).await;
            }
        }
    }

    /// Asks for a redelivery after the backoff its deliveries so far call for.
    async fn nak(&self, stream: &str, message: &jetstream::Message) {
        let delay = nak_delay(delivered(message));
        self.settle(stream, message, AckKind::Nak(Some(delay)), "nacked")
            .await;
    }

    /// Acks, naks or terms, waiting for the server to confirm. An unconfirmed ack leads to a
    /// redelivery after the consumer's ack wait, which the handlers' idempotence makes
    /// harmless.
    async fn settle(&self, stream: &str, message: &jetstream::Message, kind: AckKind, label: &str) {
        if let Err(e) = message.double_ack_with(kind).await {
            tracing::warn!(%stream, error = %e, "ack not confirmed");
        }
        self.metrics.consumed(stream, label);
    }
}

/// How often a consumer tells JetStream that what it holds is still being handled: a third
/// of its ack wait (10 s for the stack's 30 s), so that one lost notice costs nothing.
fn keep_alive_every(ack_wait: Duration) -> Duration {
    (ack_wait / 3).max(Duration::from_millis(100))
}

/// The deliveries a consumer pulled and has not settled yet, by their ack subject (unique
/// to each delivery) with when they were pulled, kept alive together by [`Bus::keep_alive`].
#[derive(Default)]
struct Held(
    std::sync::Mutex<std::collections::BTreeMap<async_nats::Subject, tokio::time::Instant>>,
);

impl Held {
    fn set(
        &self,
    ) -> std::sync::MutexGuard<
        '_,
        std::collections::BTreeMap<async_nats::Subject, tokio::time::Instant>,
    > {
        // Nothing panics while it is locked; a poisoned set is still the set.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn hold(&self, message: &jetstream::Message) {
        if let Some(subject) = message.reply.clone() {
            self.set().insert(subject, tokio::time::Instant::now());
        }
    }

    /// Before settling `messages`: from now on, JetStream decides when they come back.
    fn release(&self, messages: &[jetstream::Message]) {
        let mut held = self.set();
        for subject in messages.iter().filter_map(|m| m.reply.as_ref()) {
            held.remove(subject);
        }
    }

    fn held_for_less_than(&self, at_most: Duration) -> Vec<async_nats::Subject> {
        let now = tokio::time::Instant::now();
        self.set()
            .iter()
            .filter(|(_, since)| now.duration_since(**since) < at_most)
            .map(|(subject, _)| subject.clone())
            .collect()
    }
}

fn delivered(message: &jetstream::Message) -> i64 {
    message.info().map(|i| i.delivered).unwrap_or(1)
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
