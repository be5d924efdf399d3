//! Prometheus metrics of the controller: reconciles, failures by reason and durations.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::Error;

/// Label set of the failures counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// What failed (see [`Error::metric_label`]).
    pub reason: String,
}

/// The controller's metrics, registered under the `chatapp_operator` prefix.
#[derive(Debug)]
pub struct Metrics {
    reconciles: Counter,
    failures: Family<FailureLabels, Counter>,
    duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            reconciles: Counter::default(),
            failures: Family::default(),
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 12)),
        }
    }
}

impl Metrics {
    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        let sub = registry.sub_registry_with_prefix("chatapp_operator");
        sub.register("reconciles", "Reconciles run", self.reconciles.clone());
        sub.register(
            "reconcile_failures",
            "Reconciles that failed, by reason",
            self.failures.clone(),
        );
        sub.register(
            "reconcile_duration_seconds",
            "Time one reconcile took",
            self.duration.clone(),
        );
    }

    /// Counts one reconcile that took `elapsed` and failed with `error`, if any.
    pub fn observe(&self, elapsed: Duration, error: Option<&Error>) {
        self.reconciles.inc();
        self.duration.observe(elapsed.as_secs_f64());
        if let Some(error) = error {
            let labels = FailureLabels {
                reason: error.metric_label().to_owned(),
            };
            self.failures.get_or_create(&labels).inc();
        }
    }
}
