//! What a run measures: latency histograms shared by all connections, the run-wide counters, and
//! the per-(client, room) offset tracker that finds gaps. Pure code, no IO: the engine and the
//! connections feed it, the report reads it.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, Ordering::Relaxed};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency the histograms record exactly (60 s, in microseconds); above is clamped.
const MAX_MICROS: u64 = 60_000_000;
/// Shards of a [`Latencies`]: each runtime worker thread records into its own (`SHARD`), so
/// workers rarely meet on one lock, memory stays fixed however many connections there are, and
/// a worker's histogram stays in its core's cache. Recording by connection spread one worker's
/// samples over every shard: 2 MiB of counts, a cache miss per sample, a tenth of chat-bench's
/// CPU at 800,000 deliveries a second (docs/benchmarks.md, "Issue #10, round 5").
const SHARDS: usize = 16;

thread_local! {
    /// This thread's shard of every [`Latencies`].
    static SHARD: usize = {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS
    };
}

/// A latency distribution in microseconds, recorded concurrently from many tasks.
#[derive(Debug)]
pub struct Latencies {
    shards: Vec<Mutex<Histogram<u64>>>,
}

impl Default for Latencies {
    fn default() -> Self {
        let new = || Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static bounds are valid");
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(new())).collect(),
        }
    }
}

impl Latencies {
    /// Records one sample (clamped to 1 µs ..= 60 s) into this thread's shard.
    pub fn record(&self, micros: u64) {
        let mut h = self.shards[SHARD.with(|s| *s)]
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        h.saturating_record(micros.clamp(1, MAX_MICROS));
    }

    /// Percentiles over every shard.
    pub fn summary(&self) -> Percentiles {
        let mut all = Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 3).expect("static bounds");
        for shard in &self.shards {
            let h = shard.lock().unwrap_or_else(|e| e.into_inner());
            all.add(&*h).expect("same bounds");
        }
        Percentiles::of(&all)
    }
}

/// p50/p95/p99/max of a distribution, in milliseconds (all zero when nothing was recorded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Self {
        if h.is_empty() {
            return Self::default();
        }
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            count: h.len(),
            p50: ms(h.value_at_quantile(0.50)),
            p95: ms(h.value_at_quantile(0.95)),
            p99: ms(h.value_at_quantile(0.99)),
            max: ms(h.max()),
        }
    }
}

/// Run-wide counters, bumped by every connection task.
#[derive(Debug, Default)]
pub struct Counters {
    pub connected: AtomicU64,
    pub connect_failures: AtomicU64,
    pub sent: AtomicU64,
    pub acked: AtomicU64,
    pub delivered: AtomicU64,
    /// Error frames, failed sends and unexpected closes.
    pub errors: AtomicU64,
    /// Sends answered by an error frame carrying their `client_id`, or lost with their
    /// connection: with `acked`, the sends that will get no further answer. Not `errors`, which
    /// also counts refused `typing`/`read` signals that answer no send.
    pub send_errors: AtomicU64,
    codes: Mutex<BTreeMap<String, u64>>,
}

impl Counters {
    /// Counts one error under `code` (an error frame's code, or our own name for a failure).
    pub fn error(&self, code: &str) {
        self.errors.fetch_add(1, Relaxed);
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        match codes.get_mut(code) {
            Some(n) => *n += 1,
            None => {
                codes.insert(code.to_owned(), 1);
            }
        }
    }

    /// How many errors of each code.
    pub fn error_codes(&self) -> BTreeMap<String, u64> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Reads one counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }
}

/// Offsets one client saw in one room: the next expected, and what was missing or repeated.
///
/// Live messages must arrive with offsets `joined.offset + 1, + 2, ...` exactly (docs/protocol.md,
/// "Recovery"): anything else is a gap. A jump forward counts every skipped offset as missing; an
/// offset at or below the last one seen is a duplicate (or a reordering, which is as bad).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetTracker {
    /// The highest offset seen (initially the `joined` frame's `offset`).
    pub last: u64,
    pub missing: u64,
    pub duplicates: u64,
}

impl OffsetTracker {
    /// Starts after `joined_offset`, the room's latest offset when the client joined.
    pub fn new(joined_offset: u64) -> Self {
        Self {
            last: joined_offset,
            missing: 0,
            duplicates: 0,
        }
    }

    /// Takes one live message's offset.
    pub fn see(&mut self, offset: u64) {
        if offset <= self.last {
            self.duplicates += 1;
        } else {
            self.missing += offset - self.last - 1;
            self.last = offset;
        }
    }

    /// At the end of a run: offsets up to `final_offset` (the room's last acknowledged offset)
    /// that never arrived count as missing too.
    pub fn finish(&mut self, final_offset: u64) {
        if final_offset > self.last {
            self.missing += final_offset - self.last;
            self.last = final_offset;
        }
    }

    /// Missing plus duplicated offsets.
    pub fn gaps(&self) -> u64 {
        self.missing + self.duplicates
    }
}

/// Writes `micros` as exactly 16 ASCII digits at the start of `out`: the send time a message
/// carries in its content, so any receiver (not only the sender) can time the delivery.
pub fn write_stamp(out: &mut String, micros: u64) {
    use std::fmt::Write;
    let _ = write!(out, "{micros:016}");
}

/// Reads the send time written by [`write_stamp`]; `None` for content that is not ours.
pub fn read_stamp(content: &str) -> Option<u64> {
    // One pass over the digits, read and checked at once (this runs once per delivery).
    content
        .as_bytes()
        .get(..16)?
        .iter()
        .try_fold(0u64, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
        })
}

#[cfg(test)]
mod tests;
