//! The result of a run: one flat [`Report`], printed as a table for people and as one JSON line
//! for scripts (`--json`: the last line of output).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use serde::Serialize;

use crate::client::Shared;
use crate::engine::Plan;
use crate::probe::Sample;
use crate::protocol::Protocol;
use crate::stats::{Counters, Percentiles};

/// Figures of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scenario: String,
    /// The servers' wire protocol: `chatapp`, or a peer's (`socketio`, `nats`), which have no
    /// offsets, so `gaps` is not measured there (compare `delivered` with `expected_deliveries`).
    pub protocol: Protocol,
    pub urls: Vec<String>,
    pub rooms: usize,
    /// Clients that completed hello + join.
    pub connections: u64,
    pub connect_failures: u64,
    /// Time from the first connect to the last client joined (or failed).
    pub connect_s: f64,
    pub connections_per_s: f64,
    /// TCP connect -> `joined`, per client.
    pub connect_ms: Percentiles,
    /// Length of the sending phase.
    pub send_s: f64,
    pub sent: u64,
    pub sent_per_s: f64,
    pub acked: u64,
    /// `message` frames received that carry our send stamp, over all recipients.
    pub delivered: u64,
    /// Every acknowledged message times its room's members.
    pub expected_deliveries: u64,
    /// Deliveries per second from the start of sending to the end of the drain.
    pub deliveries_per_s: f64,
    /// Send -> `message` received, over every delivery.
    pub latency_ms: Percentiles,
    /// Send -> `ack`.
    pub ack_latency_ms: Percentiles,
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    /// Offsets missing or duplicated, summed over every (client, room).
    pub gaps: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Server RSS before connecting, with everyone connected, and after the traffic (KiB).
    pub server_rss_kb: Option<[Option<u64>; 3]>,
    /// (RSS with everyone connected - RSS before) / connections, in KiB.
    pub rss_per_connection_kb: Option<f64>,
    /// CPU seconds used during the run by the server and by chat-bench itself.
    pub server_cpu_s: Option<f64>,
    pub client_cpu_s: Option<f64>,
    /// CPU seconds the hypervisor took from this machine during the run (all CPUs; `None` off
    /// Linux). Latencies of a run that lost much measured a busy host.
    pub steal_s: Option<f64>,
}

/// What [`Report::build`] adds up.
pub(crate) struct Inputs<'a> {
    pub plan: &'a Plan,
    pub shared: &'a Shared,
    pub connect_time: Duration,
    pub send_time: Duration,
    pub active_time: Duration,
    pub expected: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Before connecting, everyone connected, after traffic.
    pub samples: [Sample; 3],
}

fn per_s(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        round2(n as f64 / d.as_secs_f64())
    }
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Report {
    pub(crate) fn build(i: Inputs<'_>) -> Self {
        let c = &i.shared.counters;
        let connections = Counters::get(&c.connected);
        let [before, connected, after] = i.samples;
        let rss = [
            before.server_rss_kb,
            connected.server_rss_kb,
            after.server_rss_kb,
        ];
        let rss_per_connection = match (before.server_rss_kb, connected.server_rss_kb) {
            (Some(b), Some(p)) if connections > 0 => {
                Some(round2((p as f64 - b as f64) / connections as f64))
            }
            _ => None,
        };
        let cpu = |f: fn(&Sample) -> Option<f64>| Some(round2(f(&after)? - f(&before)?));
        Self {
            scenario: i.plan.scenario.clone(),
            protocol: i.plan.protocol,
            urls: i.plan.urls.clone(),
            rooms: i.plan.rooms.len(),
            connections,
            connect_failures: Counters::get(&c.connect_failures),
            connect_s: round3(i.connect_time.as_secs_f64()),
            connections_per_s: per_s(connections, i.connect_time),
            connect_ms: i.shared.connect.summary(),
            send_s: round3(i.send_time.as_secs_f64()),
            sent: Counters::get(&c.sent),
            sent_per_s: per_s(Counters::get(&c.sent), i.send_time),
            acked: Counters::get(&c.acked),
            delivered: Counters::get(&c.delivered),
            expected_deliveries: i.expected,
            deliveries_per_s: per_s(Counters::get(&c.delivered), i.active_time),
            latency_ms: i.shared.delivery.summary(),
            ack_latency_ms: i.shared.ack.summary(),
            errors: Counters::get(&c.errors),
            error_codes: c.error_codes(),
            gaps: i.missing + i.duplicates,
            missing: i.missing,
            duplicates: i.duplicates,
            server_rss_kb: rss.iter().any(Option::is_some).then_some(rss),
            rss_per_connection_kb: rss_per_connection,
            server_cpu_s: cpu(|s| s.server_cpu_s),
            client_cpu_s: cpu(|s| s.client_cpu_s),
            steal_s: cpu(|s| s.steal_s),
        }
    }

    /// The report as an aligned two-column table.
    pub fn table(&self) -> String {
        let mut rows: Vec<(&str, String)> = vec![
            ("scenario", self.scenario.clone()),
            ("targets", self.urls.join(" ")),
            ("rooms", self.rooms.to_string()),
            (
                "connections",
                format!("{} ({} failed)", self.connections, self.connect_failures),
            ),
            ("connect time", format!("{:.3} s", self.connect_s)),
            ("connections/s", format!("{:.1}", self.connections_per_s)),
            ("connect ms", pcts(&self.connect_ms)),
            ("send phase", format!("{:.3} s", self.send_s)),
            ("sent / acked", format!("{} / {}", self.sent, self.acked)),
            ("sent/s", format!("{:.1}", self.sent_per_s)),
            (
                "delivered",
                format!(
                    "{} of {} expected",
                    self.delivered, self.expected_deliveries
                ),
            ),
            ("deliveries/s", format!("{:.1}", self.deliveries_per_s)),
            ("latency ms", pcts(&self.latency_ms)),
            ("ack latency ms", pcts(&self.ack_latency_ms)),
            ("errors", format!("{} {:?}", self.errors, self.error_codes)),
            (
                "gaps",
                format!(
                    "{} ({} missing, {} duplicated)",
                    self.gaps, self.missing, self.duplicates
                ),
            ),
        ];
        if self.protocol != Protocol::Chatapp {
            let name = format!("{:?} (no offsets: gaps not measured)", self.protocol);
            rows.insert(1, ("protocol", name.to_lowercase()));
        }
        if let Some([b, p, a]) = self.server_rss_kb {
            let kb =
                |v: Option<u64>| v.map_or("?".into(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
            rows.push((
                "server RSS",
                format!("{} before, {} connected, {} after", kb(b), kb(p), kb(a)),
            ));
        }
        if let Some(per) = self.rss_per_connection_kb {
            rows.push(("RSS/connection", format!("{per:.1} KiB")));
        }
        if let (Some(s), Some(c)) = (self.server_cpu_s, self.client_cpu_s) {
            rows.push(("CPU s", format!("server {s:.2}, chat-bench {c:.2}")));
        } else if let Some(c) = self.client_cpu_s {
            rows.push(("CPU s", format!("chat-bench {c:.2}")));
        }
        if let Some(steal) = self.steal_s {
            rows.push((
                "stolen CPU s",
                format!("{steal:.2} (by the hypervisor, all CPUs)"),
            ));
        }
        table(&rows)
    }

    /// The report as one line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }
}

/// Rows of `label  value`, the labels padded to one width: the human form of a report.
pub(crate) fn table(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in rows {
        let _ = writeln!(out, "{k:<width$}  {v}");
    }
    out
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn pcts(p: &Percentiles) -> String {
    format!(
        "p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}  (n={})",
        p.p50, p.p95, p.p99, p.max, p.count
    )
}
