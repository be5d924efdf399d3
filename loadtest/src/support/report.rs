//! The figures of a `support` run, [`SupportReport`]: a table for people and one JSON line for
//! scripts, like the other scenarios' [`crate::Report`].

use std::collections::BTreeMap;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use serde::Serialize;

use super::SupportPlan;
use super::board::Board;
use crate::probe::Sample;
use crate::stats::{Counters, Percentiles};

/// Figures of one `support` run.
#[derive(Debug, Clone, Serialize)]
pub struct SupportReport {
    pub scenario: String,
    pub urls: Vec<String>,
    /// Waiting clients asked for, and those that opened their conversation.
    pub clients: usize,
    pub connections: u64,
    pub connect_failures: u64,
    /// `registered` or `guests`.
    pub client_kind: String,
    /// Time from the first connect to the last client's conversation open.
    pub connect_s: f64,
    /// Conversations the agent took and joined.
    pub taken: u64,
    pub send_s: f64,
    pub sent: u64,
    pub sent_per_s: f64,
    pub acked: u64,
    /// Client send -> `ack`.
    pub ack_latency_ms: Percentiles,
    /// Client send -> the first `support_queue` frame at the agent whose `last` is that message;
    /// `count` is how many messages a queue frame showed (one superseded within the server's
    /// 100 ms coalescing is never shown, so not timed).
    pub queue_latency_ms: Percentiles,
    /// `support_queue` frames the agent received, their mean size, and the conversations the last
    /// one listed.
    pub queue_frames: u64,
    pub queue_frame_bytes: u64,
    pub queue_listed: u64,
    /// Conversations whose newest acknowledged message the queue never showed (should be 0).
    pub queue_unreflected: u64,
    /// Client send -> `message` at the agent, in the conversations it holds.
    pub agent_latency_ms: Percentiles,
    pub agent_delivered: u64,
    /// Messages acknowledged in the agent's conversations: what it should have received.
    pub agent_expected: u64,
    pub errors: u64,
    pub error_codes: BTreeMap<String, u64>,
    /// Server RSS before connecting, with everyone connected, and after the traffic (KiB).
    pub server_rss_kb: Option<[Option<u64>; 3]>,
    /// CPU seconds used during the run by the server and by chat-bench itself.
    pub server_cpu_s: Option<f64>,
    pub client_cpu_s: Option<f64>,
}

/// What [`SupportReport::build`] adds up.
pub(crate) struct Inputs<'a> {
    pub plan: &'a SupportPlan,
    pub board: &'a Board,
    pub connect_time: Duration,
    pub send_time: Duration,
    /// Before connecting, everyone connected, after traffic.
    pub samples: [Sample; 3],
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl SupportReport {
    pub(crate) fn build(i: Inputs<'_>) -> Self {
        let b = i.board;
        let c = &b.counters;
        let [before, connected, after] = i.samples;
        let rss = [
            before.server_rss_kb,
            connected.server_rss_kb,
            after.server_rss_kb,
        ];
        let cpu = |f: fn(&Sample) -> Option<f64>| Some(round2(f(&after)? - f(&before)?));
        let sent = Counters::get(&c.sent);
        let frames = b.queue_frames.load(Relaxed);
        Self {
            scenario: "support".into(),
            urls: i.plan.urls.clone(),
            clients: i.plan.clients,
            connections: Counters::get(&c.connected),
            connect_failures: Counters::get(&c.connect_failures),
            client_kind: if i.plan.register {
                "registered"
            } else {
                "guests"
            }
            .into(),
            connect_s: round2(i.connect_time.as_secs_f64()),
            taken: b.taken.load(Relaxed),
            send_s: round2(i.send_time.as_secs_f64()),
            sent,
            sent_per_s: round2(sent as f64 / i.send_time.as_secs_f64().max(1e-9)),
            acked: Counters::get(&c.acked),
            ack_latency_ms: b.ack.summary(),
            queue_latency_ms: b.queue.summary(),
            queue_frames: frames,
            queue_frame_bytes: b.queue_bytes.load(Relaxed) / frames.max(1),
            queue_listed: b.queue_listed.load(Relaxed),
            queue_unreflected: b.unreflected(),
            agent_latency_ms: b.delivery.summary(),
            agent_delivered: b.agent_delivered.load(Relaxed),
            agent_expected: b.owed_to_agent(),
            errors: Counters::get(&c.errors),
            error_codes: c.error_codes(),
            server_rss_kb: rss.iter().any(Option::is_some).then_some(rss),
            server_cpu_s: cpu(|s| s.server_cpu_s),
            client_cpu_s: cpu(|s| s.client_cpu_s),
        }
    }

    /// The report as an aligned two-column table.
    pub fn table(&self) -> String {
        let pcts = |p: &Percentiles| {
            format!(
                "p50 {:.2}  p95 {:.2}  p99 {:.2}  max {:.2}  (n={})",
                p.p50, p.p95, p.p99, p.max, p.count
            )
        };
        let mut rows: Vec<(&str, String)> = vec![
            ("scenario", self.scenario.clone()),
            ("targets", self.urls.join(" ")),
            (
                "clients",
                format!(
                    "{} {} ({} failed), agent holds {}",
                    self.connections, self.client_kind, self.connect_failures, self.taken
                ),
            ),
            ("connect time", format!("{:.2} s", self.connect_s)),
            ("send phase", format!("{:.2} s", self.send_s)),
            ("sent / acked", format!("{} / {}", self.sent, self.acked)),
            ("sent/s", format!("{:.1}", self.sent_per_s)),
            ("ack latency ms", pcts(&self.ack_latency_ms)),
            ("queue latency ms", pcts(&self.queue_latency_ms)),
            (
                "queue frames",
                format!(
                    "{} of {} B on average, {} conversations listed, {} never showed their last message",
                    self.queue_frames,
                    self.queue_frame_bytes,
                    self.queue_listed,
                    self.queue_unreflected
                ),
            ),
            ("agent latency ms", pcts(&self.agent_latency_ms)),
            (
                "agent delivered",
                format!(
                    "{} of {} expected",
                    self.agent_delivered, self.agent_expected
                ),
            ),
            ("errors", format!("{} {:?}", self.errors, self.error_codes)),
        ];
        if let Some([b, p, a]) = self.server_rss_kb {
            let kb =
                |v: Option<u64>| v.map_or("?".into(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
            rows.push((
                "server RSS",
                format!("{} before, {} connected, {} after", kb(b), kb(p), kb(a)),
            ));
        }
        if let (Some(s), Some(c)) = (self.server_cpu_s, self.client_cpu_s) {
            rows.push(("CPU s", format!("server {s:.2}, chat-bench {c:.2}")));
        }
        crate::report::table(&rows)
    }

    /// The report as one line of JSON.
    pub fn json(&self) -> String {
        serde_json::to_string(self).expect("a report always serialises")
    }
}
