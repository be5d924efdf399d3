//! Counters, gaps and latency summaries.

use super::*;

#[test]
fn in_order_offsets_have_no_gap() {
    let mut t = OffsetTracker::new(41);
    for o in 42..=50 {
        t.see(o);
    }
    t.finish(50);
    assert_eq!(
        t,
        OffsetTracker {
            last: 50,
            missing: 0,
            duplicates: 0
        }
    );
    assert_eq!(t.gaps(), 0);
}

#[test]
fn skipped_offsets_are_missing() {
    let mut t = OffsetTracker::new(0);
    t.see(1);
    t.see(4); // 2 and 3 never came
    t.see(5);
    assert_eq!((t.missing, t.duplicates, t.last), (2, 0, 5));
    assert_eq!(t.gaps(), 2);
}

#[test]
fn repeated_or_old_offsets_are_duplicates() {
    let mut t = OffsetTracker::new(10);
    t.see(10); // carried by `joined` already
    t.see(11);
    t.see(11);
    t.see(12);
    t.see(11); // late, out of order
    assert_eq!((t.missing, t.duplicates, t.last), (0, 3, 12));
}

#[test]
fn a_lost_tail_is_found_at_finish() {
    let mut t = OffsetTracker::new(5);
    t.see(6);
    t.finish(9);
    assert_eq!((t.missing, t.last), (3, 9));
    t.finish(3); // an older final offset changes nothing
    assert_eq!((t.missing, t.last), (3, 9));
}

#[test]
fn stamps_round_trip_and_foreign_content_is_ignored() {
    let mut s = String::new();
    write_stamp(&mut s, 1_234_567);
    s.push_str(" hello");
    assert_eq!(&s[..16], "0000000001234567");
    assert_eq!(read_stamp(&s), Some(1_234_567));
    assert_eq!(read_stamp("hi"), None);
    assert_eq!(read_stamp("00000000012345x7 hi"), None);
    assert_eq!(read_stamp("ééééééééé"), None);
}

#[test]
fn percentiles_over_shards() {
    let l = Latencies::default();
    assert_eq!(l.summary(), Percentiles::default());
    // 1..=100 ms, from four threads: four shards, merged by the summary.
    std::thread::scope(|s| {
        for t in 0..4 {
            let l = &l;
            s.spawn(move || {
                for i in (1..=100u64).filter(|i| i % 4 == t) {
                    l.record(i * 1000);
                }
            });
        }
    });
    let p = l.summary();
    assert_eq!(p.count, 100);
    assert!((p.p50 - 50.0).abs() < 0.1, "{p:?}");
    assert!((p.p99 - 99.0).abs() < 0.1, "{p:?}");
    assert!((p.max - 100.0).abs() < 0.1, "{p:?}");
    l.record(u64::MAX); // clamped, not a panic
    assert!((l.summary().max - 60_000.0).abs() < 60.0);
}

#[test]
fn error_codes_are_counted() {
    let c = Counters::default();
    c.error("rate_limited");
    c.error("rate_limited");
    c.error("closed_4008");
    assert_eq!(Counters::get(&c.errors), 3);
    let codes = c.error_codes();
    assert_eq!(codes["rate_limited"], 2);
    assert_eq!(codes["closed_4008"], 1);
}
