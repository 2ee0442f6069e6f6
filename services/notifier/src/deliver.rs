//! Delivering queued messages: every notifier instance pulls `DeliveryQueued` from the ALERTS
//! stream (durable consumer `notifier-deliveries`), each on its own task so that a channel that
//! hangs never delays the others.
//!
//! A delivery is sent once: a sent one is marked in the `<prefix>_deliveries` bucket *before*
//! its message is acked, and a redelivered message whose mark exists is acked without being
//! sent. Only a crash between the channel's answer and the mark (a few milliseconds) can send
//! it twice; the receiver can tell by the delivery id (`Message-ID`, `Idempotency-Key`).
//! A failed send is retried with backoff (5 s doubling to 10 min) up to `notify.max_attempts`;
//! during the channel's quiet hours it waits for their end; an "open" whose alert resolved
//! meanwhile is skipped.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use boom_bus::{Bus, Settle};
use boom_config::NotifySettings;
use boom_contracts::StreamKind;
use boom_contracts::messages::{
    ChannelTestReply, ChannelTestRequest, DeliveryQueued, DeliveryState, DeliveryUpdated, Notice,
    Transition,
};
use boom_contracts::namespace::NOTIFIER_DELIVERIES;
use chrono::Utc;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::book::{AlertRecord, key};
use crate::send::{SendError, Senders};
use boom_contracts::paris;

/// Deliveries handled at once by one instance.
const CONCURRENCY: usize = 32;
/// How long a sent mark is kept: longer than any redelivery (attempts, quiet hours).
const MARK_TTL: Duration = Duration::from_secs(14 * 24 * 60 * 60);

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub channel: &'static str,
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Default)]
pub struct DeliveryMetrics {
    pub deliveries: Family<OutcomeLabels, Counter>,
}

impl DeliveryMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "boom_deliveries",
            "Delivery attempts by channel and outcome (sent, retrying, failed, deferred, skipped, duplicate)",
            m.deliveries.clone(),
        );
        m
    }
}

/// What each delivery task shares.
#[derive(Debug)]
pub struct Deliverer {
    pub bus: Bus,
    pub senders: Senders,
    pub settings: NotifySettings,
    pub marks: kv::Store,
    pub alerts: kv::Store,
    pub metrics: DeliveryMetrics,
}

/// A delivery id as a KV key (which allows no `:`).
fn mark_key(delivery_id: &str) -> String {
    delivery_id.replace(':', "_")
}

/// The mark that a channel was told an alert opened (by its opening or a reminder).
fn told_key(queued: &DeliveryQueued) -> String {
    format!(
        "told_{}_{}",
        queued.notice.alert_id, queued.channel.channel_id
    )
}

/// The reminder number in a delivery id (`alertId:transition:sequence:channelId`).
fn sequence_of(delivery_id: &str) -> u32 {
    delivery_id
        .split(':')
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Backoff before attempt `n + 1`: 5 s, 10 s, 20 s … 10 min.
pub fn backoff(attempts: i64) -> Duration {
    let exponent = u32::try_from(attempts.clamp(1, 8) - 1).unwrap_or(0);
    Duration::from_secs(5 * 2u64.pow(exponent)).min(Duration::from_secs(600))
}

impl Deliverer {
    pub async fn new(
        bus: Bus,
        settings: NotifySettings,
        metrics: DeliveryMetrics,
    ) -> anyhow::Result<Self> {
        let marks = bus
            .ensure_kv(&bus.namespace().deliveries_bucket(), MARK_TTL)
            .await?;
        let alerts = bus
            .ensure_kv(&bus.namespace().alerts_bucket(), Duration::ZERO)
            .await?;
        Ok(Self {
            senders: Senders::new(&settings)?,
            bus,
            settings,
            marks,
            alerts,
            metrics,
        })
    }

    /// Pulls and delivers until `cancel`.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) -> Result<(), boom_bus::BusError> {
        let bus = self.bus.clone();
        bus.consume_each(
            StreamKind::Alerts,
            NOTIFIER_DELIVERIES,
            CONCURRENCY,
            move |queued: DeliveryQueued, delivered: i64| {
                let this = self.clone();
                async move { this.deliver(queued, delivered).await }
            },
            cancel,
        )
        .await
    }

    async fn deliver(&self, queued: DeliveryQueued, delivered: i64) -> Settle {
        let channel_kind = queued.channel.kind.as_str();
        let count = |outcome: &'static str| {
            self.metrics
                .deliveries
                .get_or_create(&OutcomeLabels {
                    channel: channel_kind,
                    outcome,
                })
                .inc();
        };
        let mark = mark_key(&queued.delivery_id);
        match self.marks.get(&mark).await {
            Ok(Some(_)) => {
                count("duplicate");
                return Settle::Done;
            }
            Ok(None) => {}
            // Without the bucket a send could be repeated: wait for it.
            Err(error) => {
                tracing::warn!(%error, "delivery marks unreadable, retrying later");
                return Settle::RetryIn(Duration::from_secs(5));
            }
        }
        let now = Utc::now();
        if let Some(quiet) = &queued.channel.quiet_hours
            && queued.notice.transition != Transition::Test
            && let Some(until) = paris::quiet_until(quiet, now)
        {
            count("deferred");
            self.report(&queued, DeliveryState::Deferred, delivered, None)
                .await;
            let wait = (until - now).to_std().unwrap_or(Duration::from_secs(60));
            return Settle::RetryIn(wait.max(Duration::from_secs(1)));
        }
        if let Some(why) = self.outdated(&queued, delivered).await {
            let Some(why) = why else {
                // Wait a little: its opening may be on its way on this channel.
                return Settle::RetryIn(Duration::from_secs(20));
            };
            count("skipped");
            self.report(
                &queued,
                DeliveryState::Skipped,
                delivered,
                Some(why.to_owned()),
            )
            .await;
            return Settle::Done;
        }
        match self
            .senders
            .send(&queued.delivery_id, &queued.channel, &queued.notice)
            .await
        {
            Ok(()) => {
                // The mark first: once it is written, no redelivery sends again.
                for attempt in 0..5 {
                    match self.marks.put(&mark, "sent".into()).await {
                        Ok(_) => break,
                        Err(error) if attempt == 4 => {
                            tracing::error!(%error, delivery = %queued.delivery_id, "sent but not marked: a redelivery may send it again");
                        }
                        Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                    }
                }
                if queued.notice.transition != Transition::Test
                    && let Err(error) = self.marks.put(told_key(&queued), "told".into()).await
                {
                    tracing::warn!(%error, "told mark not written: its resolution may not be sent");
                }
                count("sent");
                self.report(&queued, DeliveryState::Sent, delivered, None)
                    .await;
                Settle::Done
            }
            Err(SendError::Transient(error))
                if delivered < i64::from(self.settings.max_attempts) =>
            {
                count("retrying");
                tracing::warn!(delivery = %queued.delivery_id, %error, delivered, "send failed, will retry");
                self.report(&queued, DeliveryState::Retrying, delivered, Some(error))
                    .await;
                Settle::RetryIn(backoff(delivered))
            }
            Err(error) => {
                count("failed");
                tracing::error!(delivery = %queued.delivery_id, %error, "delivery given up");
                self.report(
                    &queued,
                    DeliveryState::Failed,
                    delivered,
                    Some(error.to_string()),
                )
                .await;
                Settle::Never
            }
        }
    }

    /// Why a message should not go out any more: `Some(Some(reason))` to skip it,
    /// `Some(None)` to ask again a little later, `None` to send it.
    ///
    /// - An opening or reminder of an alert that resolved meanwhile, or that a newer reminder
    ///   replaces (deferred through quiet hours or a channel's outage: one message, not a pile).
    /// - A resolution whose opening this channel was never told (muted, quiet hours, failed).
    async fn outdated(
        &self,
        queued: &DeliveryQueued,
        delivered: i64,
    ) -> Option<Option<&'static str>> {
        let notice = &queued.notice;
        match notice.transition {
            Transition::Test => None,
            Transition::Open | Transition::Reminder => {
                let key = key(notice.kind, notice.photomaton_id);
                match self.alerts.get(&key).await {
                    Ok(Some(bytes)) => match serde_json::from_slice::<AlertRecord>(&bytes) {
                        Ok(r) if r.alert_id != notice.alert_id => {
                            Some(Some("the alert resolved before this message could go out"))
                        }
                        Ok(r) if r.seq > sequence_of(&queued.delivery_id) => {
                            Some(Some("a newer reminder replaces this message"))
                        }
                        _ => None,
                    },
                    Ok(None) => Some(Some("the alert resolved before this message could go out")),
                    // Unsure: better told twice than not at all.
                    Err(_) => None,
                }
            }
            Transition::Resolved => match self.marks.get(told_key(queued)).await {
                Ok(Some(_)) | Err(_) => None,
                Ok(None) if delivered < 3 => Some(None),
                Ok(None) => Some(Some("this channel was never told the alert opened")),
            },
        }
    }

    async fn report(
        &self,
        queued: &DeliveryQueued,
        state: DeliveryState,
        delivered: i64,
        error: Option<String>,
    ) {
        let update = DeliveryUpdated {
            delivery_id: queued.delivery_id.clone(),
            alert_id: queued.notice.alert_id,
            transition: queued.notice.transition,
            channel_id: queued.channel.channel_id,
            channel_kind: queued.channel.kind,
            target: queued.channel.target.clone(),
            state,
            attempts: u32::try_from(delivered).unwrap_or(u32::MAX),
            error,
            at: Utc::now(),
        };
        if let Err(error) = self.bus.publish(&update).await {
            tracing::warn!(%error, "delivery state not reported");
        }
    }

    /// "Send a test": one message now, outside the queue, and its outcome.
    pub async fn test(&self, request: ChannelTestRequest) -> ChannelTestReply {
        let now = Utc::now();
        let detail = crate::rules::Detail::default();
        let subject = crate::words::Subject {
            kind: boom_contracts::messages::AlertKind::PaperWarning,
            transition: Transition::Test,
            booth_name: None,
            hostname: None,
            photomaton_id: None,
            detail: &detail,
            opened_at: now,
            at: now,
            dashboard_url: &self.settings.dashboard_url,
        };
        let (title, text) = crate::words::message(&subject, &request.channel.language);
        let alert_id = uuid::Uuid::now_v7();
        let notice = Notice {
            alert_id,
            kind: subject.kind,
            transition: Transition::Test,
            photomaton_id: None,
            hostname: None,
            booth_name: None,
            title,
            text,
            at: now,
        };
        let delivery_id = format!("{alert_id}:test:0:{}", request.channel.channel_id);
        match self
            .senders
            .send(&delivery_id, &request.channel, &notice)
            .await
        {
            Ok(()) => ChannelTestReply {
                sent: true,
                error: None,
            },
            Err(error) => ChannelTestReply {
                sent: false,
                error: Some(error.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sequence_is_read_from_the_delivery_id() {
        assert_eq!(sequence_of("0193:reminder:4:abcd"), 4);
        assert_eq!(sequence_of("0193:open:0:abcd"), 0);
        assert_eq!(sequence_of("garbage"), 0);
    }

    #[test]
    fn retries_back_off_to_ten_minutes() {
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(8), Duration::from_secs(600));
        assert_eq!(backoff(100), Duration::from_secs(600));
    }
}
