//! Prometheus metrics of one server, served at `/metrics`. One registry per server, owned by
//! `AppState` (the Redis subscriber, the hub and the sessions all count into it); names are
//! documented in the README.
//! Besides the `chat_` metrics it exports the standard `process_` ones (memory, CPU, open files,
//! start time) read from `/proc` at each scrape, so RSS per connection can be watched.

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, text::encode},
    metrics::{
        counter::{ConstCounter, Counter},
        family::Family,
        gauge::{ConstGauge, Gauge},
        histogram::Histogram,
    },
    registry::{Registry, Unit},
};

/// Label of `chat_protocol_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: &'static str,
}

/// Label of `chat_delivery_gaps_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

/// Label of `chat_support_api_calls_total`: the gRPC method (`-` when refused before one was
/// picked, i.e. unauthenticated) and its status code as tonic names it (`Ok`, `InvalidArgument`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiCallLabel {
    pub call: &'static str,
    pub code: String,
}

/// Label of `chat_logins_total`: `ok`, `bad_credentials` or `rate_limited`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
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
    /// Payloads this replica's Redis subscriber received (its rooms' channels and the global one).
    pub redis_pubsub_received: Counter<u64, AtomicU64>,
    /// Rooms whose sharded channel this replica is subscribed to.
    pub redis_subscribed_rooms: Gauge<i64, AtomicI64>,
    /// 1 while the store accepts writes, 0 while it refuses them or is unreachable.
    pub store_writable: Gauge<i64, AtomicI64>,
    pub slow_consumer_drops: Counter<u64, AtomicU64>,
    /// Times a connection's queue passed `--outbound-queue-bytes` and one of its rooms was
    /// switched to being pulled from the store.
    pub outbound_lagged: Counter<u64, AtomicU64>,
    pub rejected_connections: Counter<u64, AtomicU64>,
    pub protocol_errors: Family<CodeLabel, Counter<u64, AtomicU64>>,
    pub delivery_gaps: Family<ReasonLabel, Counter<u64, AtomicU64>>,
    /// Password checks (logins, password changes, deletions) by outcome.
    pub logins: Family<ResultLabel, Counter<u64, AtomicU64>>,
    /// Support API (gRPC) calls by method and status; a stream counts when it opens.
    pub support_api_calls: Family<ApiCallLabel, Counter<u64, AtomicU64>>,
    /// Durable mode: sends per group-commit transaction.
    pub commit_batch: Histogram,
    /// Durable mode: time of one group-commit transaction, BEGIN to COMMIT.
    pub commit_duration: Histogram,
    registry: Registry,
}

impl Metrics {
    /// A fresh set of metrics in its own registry (one per server; tests get their own).
    pub fn new() -> Self {
        let connections = Gauge::default();
        let rooms = Gauge::default();
        let messages_in = Counter::default();
        let messages_out = Counter::default();
        let buckets = [
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
        ];
        let delivery_latency = Histogram::new(buckets);
        let redis_errors = Counter::default();
        let redis_pubsub_received = Counter::default();
        let redis_subscribed_rooms = Gauge::default();
        let store_writable = Gauge::default();
        let slow_consumer_drops = Counter::default();
        let outbound_lagged = Counter::default();
        let rejected_connections = Counter::default();
        let protocol_errors = Family::default();
        let delivery_gaps = Family::default();
        let logins = Family::default();
        let support_api_calls = Family::default();
        let commit_batch =
            Histogram::new([1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0]);
        let commit_duration = Histogram::new(buckets);
        let mut root = Registry::default();
        root.register_collector(Box::new(ProcessCollector));
        let r = root.sub_registry_with_prefix("chat");
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
            "Time from a message's server timestamp to its write to a recipient socket, sampled: \
             one delivery in 16 per connection",
            delivery_latency.clone(),
        );
        r.register(
            "redis_errors",
            "Failed Redis operations and lost subscriptions",
            redis_errors.clone(),
        );
        r.register(
            "redis_pubsub_received",
            "Pub/sub payloads this replica's Redis subscriber received (its rooms' channels and \
             the global events channel)",
            redis_pubsub_received.clone(),
        );
        r.register(
            "redis_subscribed_rooms",
            "Rooms whose sharded Redis channel this replica is subscribed to",
            redis_subscribed_rooms.clone(),
        );
        r.register(
            "store_writable",
            "1 while the store accepts writes, 0 while it refuses them or is unreachable",
            store_writable.clone(),
        );
        r.register(
            "slow_consumer_drops",
            "Connections closed because their queue was full",
            slow_consumer_drops.clone(),
        );
        r.register(
            "outbound_lagged",
            "Rooms of connections that fell behind their queue's byte bound and pull from the store",
            outbound_lagged.clone(),
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
        r.register(
            "delivery_gaps",
            "Times this replica could not deliver a room's messages contiguously and its members \
             pulled the gap from the store instead (reason: burst, trimmed, unreadable)",
            delivery_gaps.clone(),
        );
        r.register(
            "logins",
            "Password checks (login, password change, account deletion) by result: ok, \
             bad_credentials, rate_limited",
            logins.clone(),
        );
        r.register(
            "support_api_calls",
            "Support API (gRPC) calls by method and status code (a stream counts when it opens)",
            support_api_calls.clone(),
        );
        r.register(
            "commit_batch_size",
            "Durable mode: sends carried by one group-commit transaction",
            commit_batch.clone(),
        );
        r.register_with_unit(
            "commit_duration",
            "Durable mode: one group-commit transaction, BEGIN to COMMIT",
            Unit::Seconds,
            commit_duration.clone(),
        );
        Self {
            connections,
            rooms,
            messages_in,
            messages_out,
            delivery_latency,
            redis_errors,
            redis_pubsub_received,
            redis_subscribed_rooms,
            store_writable,
            slow_consumer_drops,
            outbound_lagged,
            rejected_connections,
            protocol_errors,
            delivery_gaps,
            logins,
            support_api_calls,
            commit_batch,
            commit_duration,
            registry: root,
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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The standard `process_*` metrics, read from `/proc/self` on each scrape (Linux only; elsewhere
/// they are left out).
#[derive(Debug)]
struct ProcessCollector;

/// What `/proc` says about this process.
#[derive(Debug, Default, PartialEq)]
struct ProcessStats {
    resident_bytes: Option<i64>,
    cpu_seconds: Option<f64>,
    open_fds: Option<i64>,
    start_time_seconds: Option<i64>,
}

/// Clock ticks per second of `/proc/self/stat` times (USER_HZ: 100 on every Linux target).
const CLOCK_TICKS: f64 = 100.0;

fn process_stats() -> ProcessStats {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let boot = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as i64);
    parse_process_stats(&status, &stat, &boot, open_fds)
}

fn parse_process_stats(
    status: &str,
    stat: &str,
    boot: &str,
    open_fds: Option<i64>,
) -> ProcessStats {
    let resident_bytes = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map(|kb| kb * 1024);
    // Fields after the command name, which is in parentheses and may contain spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    let cpu_seconds = field(14)
        .zip(field(15))
        .map(|(user, system)| (user + system) as f64 / CLOCK_TICKS);
    let boot_time = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<u64>().ok());
    let start_time_seconds = boot_time
        .zip(field(22))
        .map(|(boot, ticks)| (boot + (ticks as f64 / CLOCK_TICKS) as u64) as i64);
    ProcessStats {
        resident_bytes,
        cpu_seconds,
        open_fds,
        start_time_seconds,
    }
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let stats = process_stats();
        if let Some(v) = stats.resident_bytes {
            let m = ConstGauge::new(v);
            let e = encoder.encode_descriptor(
                "process_resident_memory",
                "Resident memory size",
                Some(&Unit::Bytes),
                m.metric_type(),
            )?;
            m.encode(e)?;
        }
        if let Some(v) = stats.cpu_seconds {
            let m = ConstCounter::new(v);
            let e = encoder.encode_descriptor(
                "process_cpu",
                "User and system CPU time spent",
                Some(&Unit::Seconds),
                m.metric_type(),
            )?;
            m.encode(e)?;
        }
        if let Some(v) = stats.open_fds {
            let m = ConstGauge::new(v);
            let e = encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors (sockets included)",
                None,
                m.metric_type(),
            )?;
            m.encode(e)?;
        }
        if let Some(v) = stats.start_time_seconds {
            let m = ConstGauge::new(v);
            let e = encoder.encode_descriptor(
                "process_start_time",
                "Start time of the process since the Unix epoch",
                Some(&Unit::Seconds),
                m.metric_type(),
            )?;
            m.encode(e)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_are_parsed_even_with_spaces_in_the_command_name() {
        let status = "Name:\tchat-server\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        let stat = "4242 (chat server) S 1 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 \
                    123400 100000 3000";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let stats = parse_process_stats(status, stat, boot, Some(9));
        assert_eq!(
            stats,
            ProcessStats {
                resident_bytes: Some(12345 * 1024),
                cpu_seconds: Some(3.0),
                open_fds: Some(9),
                start_time_seconds: Some(1_700_000_000 + 1234),
            }
        );
        assert_eq!(
            parse_process_stats("", "", "", None),
            ProcessStats::default()
        );
    }

    #[test]
    fn the_exposition_has_chat_and_process_metrics() {
        let text = Metrics::new().render();
        for name in [
            "chat_connections ",
            "chat_messages_received_total ",
            "process_resident_memory_bytes ",
            "process_cpu_seconds_total ",
            "process_open_fds ",
            "process_start_time_seconds ",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
        let rss = text
            .lines()
            .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap();
        assert!(
            rss > 1024.0 * 1024.0,
            "a running test process has over 1 MiB resident: {rss}"
        );
    }
}
