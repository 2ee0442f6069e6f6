//! Counters of what crossed the bus, exported on every service's `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PublishLabels {
    subject: String,
    duplicate: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConsumeLabels {
    stream: String,
    outcome: String,
}

/// `boom_bus_published_total{subject,duplicate}` and
/// `boom_bus_consumed_total{stream,outcome=acked|nacked|terminated}`.
#[derive(Debug, Clone, Default)]
pub struct BusMetrics {
    published: Family<PublishLabels, Counter>,
    consumed: Family<ConsumeLabels, Counter>,
}

impl BusMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "boom_bus_published",
            "Messages published on NATS",
            metrics.published.clone(),
        );
        registry.register(
            "boom_bus_consumed",
            "JetStream messages handled, by outcome",
            metrics.consumed.clone(),
        );
        metrics
    }

    pub(crate) fn published(&self, subject: &str, duplicate: bool) {
        self.published
            .get_or_create(&PublishLabels {
                subject: subject.to_owned(),
                duplicate: duplicate.to_string(),
            })
            .inc();
    }

    pub(crate) fn consumed(&self, stream: &str, outcome: &str) {
        self.consumed
            .get_or_create(&ConsumeLabels {
                stream: stream.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }
}
