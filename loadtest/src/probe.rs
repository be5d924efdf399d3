//! Reading the server's footprint and both processes' CPU time: `/proc/PID/status` (VmRSS) and
//! `/proc/PID/stat` (utime + stime) for a local pid, or `process_resident_memory_bytes` from a
//! Prometheus `/metrics` page; and the CPU time a hypervisor took from this machine
//! (`/proc/stat`'s `steal`). Best effort: a probe that cannot read returns `None`, never fails
//! the run.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Clock ticks per second of `/proc/PID/stat` times (USER_HZ, 100 on every Linux platform we run).
const USER_HZ: f64 = 100.0;

/// Where to read the server's memory from.
#[derive(Debug, Clone, Default)]
pub struct Probe {
    /// The server's pid on this machine (`--server-pid`).
    pub server_pid: Option<u32>,
    /// The server's Prometheus page (`--metrics-url http://127.0.0.1:PORT/metrics`).
    pub metrics_url: Option<String>,
}

/// One reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sample {
    pub server_rss_kb: Option<u64>,
    pub server_cpu_s: Option<f64>,
    pub client_cpu_s: Option<f64>,
    /// CPU time the hypervisor took from this machine so far, all CPUs summed.
    pub steal_s: Option<f64>,
}

impl Probe {
    /// Reads everything it can now.
    pub async fn sample(&self) -> Sample {
        let mut rss = self.server_pid.and_then(rss_kb);
        if rss.is_none()
            && let Some(url) = &self.metrics_url
        {
            rss = metrics_rss_kb(url).await;
        }
        Sample {
            server_rss_kb: rss,
            server_cpu_s: self.server_pid.and_then(cpu_seconds),
            client_cpu_s: cpu_seconds(std::process::id()),
            steal_s: steal_seconds(),
        }
    }
}

/// CPU time taken from this (virtual) machine by its hypervisor since boot, all CPUs summed:
/// while it grows, the server and chat-bench ran on a busy host and their latencies show it.
pub fn steal_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_steal_ticks(&stat).map(|ticks| ticks as f64 / USER_HZ)
}

fn parse_steal_ticks(stat: &str) -> Option<u64> {
    // `cpu  user nice system idle iowait irq softirq steal ...`: the first line sums every CPU.
    let mut fields = stat.lines().next()?.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    fields.nth(7)?.parse().ok()
}

/// VmRSS of `pid`, in KiB.
pub fn rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_rss(&status)
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// User + system CPU time of `pid` (all its threads), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_ticks(&stat).map(|ticks| ticks as f64 / USER_HZ)
}

fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split_whitespace().skip(11); // field 14 (utime) is the 12th after ')'
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// `process_resident_memory_bytes` from a loopback `/metrics` page, in KiB.
async fn metrics_rss_kb(url: &str) -> Option<u64> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let ws_url = format!("ws://{authority}/");
    let target = crate::target::resolve(&ws_url).await.ok()?;
    let body = tokio::time::timeout(Duration::from_secs(5), async {
        let mut tcp = TcpStream::connect(target.addr).await.ok()?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.ok()?;
        let mut body = String::new();
        tcp.read_to_string(&mut body).await.ok()?;
        Some(body)
    })
    .await
    .ok()??;
    parse_metrics_rss(&body).map(|bytes| bytes / 1024)
}

fn parse_metrics_rss(page: &str) -> Option<u64> {
    let line = page
        .lines()
        .find(|l| l.starts_with("process_resident_memory_bytes"))?;
    let value: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(value as u64)
}

#[cfg(test)]
mod tests;
