//! Prometheus metrics of one process, served at `/metrics`. One registry for the process (the
//! Redis subscriber and the sessions both count into it); names are documented in the README.

use std::sync::{
    OnceLock,
    atomic::{AtomicI64, AtomicU64},
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// Label of `chat_protocol_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: &'static str,
}

/// Every metric the chat server exports.
#[derive(Debug)]
pub struct Metrics {
    pub connections: Gauge<i64, AtomicI64>,
    pub rooms: Gauge<i64, AtomicI64>,
    pub messages_in: Counter<u64, AtomicU64>,
    pub messages_out: Counter<u64, AtomicU64>,
    pub delivery_latency: Histogram,
    pub redis_errors: Counter<u64, AtomicU64>,
    pub slow_consumer_drops: Counter<u64, AtomicU64>,
    pub rejected_connections: Counter<u64, AtomicU64>,
    pub protocol_errors: Family<CodeLabel, Counter<u64, AtomicU64>>,
    registry: Registry,
}

impl Metrics {
    fn new() -> Self {
        let connections = Gauge::default();
        let rooms = Gauge::default();
        let messages_in = Counter::default();
        let messages_out = Counter::default();
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        let delivery_latency = Histogram::new(buckets);
        let redis_errors = Counter::default();
        let slow_consumer_drops = Counter::default();
        let rejected_connections = Counter::default();
        let protocol_errors = Family::default();
        let mut r = Registry::with_prefix("chat");
        r.register(
            "connections",
            "Open WebSocket connections",
            connections.clone(),
        );
        r.register("rooms", "Rooms that exist", rooms.clone());
        r.register(
            "messages_received",
            "Messages stored from this replica's clients",
            messages_in.clone(),
        );
        r.register(
            "messages_delivered",
            "Message frames written to this replica's clients",
            messages_out.clone(),
        );
        r.register(
            "delivery_latency_seconds",
            "Time from a message's server timestamp to its write to a recipient socket",
            delivery_latency.clone(),
        );
        r.register(
            "redis_errors",
            "Failed Redis operations and lost subscriptions",
            redis_errors.clone(),
        );
        r.register(
            "slow_consumer_drops",
            "Connections closed because their queue was full",
            slow_consumer_drops.clone(),
        );
        r.register(
            "rejected_connections",
            "WebSocket handshakes refused (origin, limit, draining)",
            rejected_connections.clone(),
        );
        r.register(
            "protocol_errors",
            "Error frames sent, by code",
            protocol_errors.clone(),
        );
        Self {
            connections,
            rooms,
            messages_in,
            messages_out,
            delivery_latency,
            redis_errors,
            slow_consumer_drops,
            rejected_connections,
            protocol_errors,
            registry: r,
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::new)
}
