//! Prometheus metrics, served at `/metrics`. Every series carries `service="<name>"`
//! and the `ombuds_` prefix. Services register their own metrics beside the common ones.

use std::{borrow::Cow, sync::Mutex};

use prometheus_client::{
    encoding::{text::encode, EncodeLabelSet},
    metrics::{counter::Counter, family::Family},
    registry::{Metric, Registry},
};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsumerLabels {
    pub consumer: String,
    /// done | duplicate | retry | dead_letter
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    pub reason: String,
}

pub struct Metrics {
    registry: Mutex<Registry>,
    /// `ombuds_events_handled_total{consumer,outcome}`
    pub events_handled: Family<ConsumerLabels, Counter>,
    /// `ombuds_dead_letters_total{reason}`
    pub dead_letters: Family<ReasonLabels, Counter>,
    /// `ombuds_outbox_published_total`
    pub outbox_published: Counter,
}

impl Metrics {
    pub fn new(service: &str) -> Self {
        let mut registry = Registry::with_prefix_and_labels(
            "ombuds",
            [(Cow::Borrowed("service"), Cow::Owned(service.to_owned()))].into_iter(),
        );
        let events_handled = Family::<ConsumerLabels, Counter>::default();
        let dead_letters = Family::<ReasonLabels, Counter>::default();
        let outbox_published = Counter::default();
        registry.register(
            "events_handled",
            "JetStream messages handled, by consumer and outcome",
            events_handled.clone(),
        );
        registry.register(
            "dead_letters",
            "Messages moved to the dead-letter stream, by reason",
            dead_letters.clone(),
        );
        registry.register(
            "outbox_published",
            "Outbox events published to JetStream and acknowledged",
            outbox_published.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            events_handled,
            dead_letters,
            outbox_published,
        }
    }

    /// Registers a service-specific metric (name without the `ombuds_` prefix).
    pub fn register(&self, name: &str, help: &str, metric: impl Metric) {
        if let Ok(mut r) = self.registry.lock() {
            r.register(name, help, metric);
        }
    }

    pub fn handled(&self, consumer: &str, outcome: &str) {
        self.events_handled
            .get_or_create(&ConsumerLabels {
                consumer: consumer.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Ok(r) = self.registry.lock() {
            let _ = encode(&mut out, &r);
        }
        out
    }
}
