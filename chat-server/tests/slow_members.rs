//! Slow members (issue #10 item 6): a member that falls behind a busy room by more than its
//! queue's `--outbound-queue-bytes` is not closed; the hub stops queueing the room for it and
//! its session pulls what it missed from the store, paced by its socket. On every backend the
//! member ends up with each message exactly once, in order. (A reader that stops reading for
//! good is still cut off: `tests/hardening.rs`, the write-timeout and kick tests.)

mod common;

use common::{Client, fresh_database, http_get, offsets, shared_redis, start_server};

/// A counter's value in a `/metrics` page (0 when absent).
fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Messages sent while the slow member does not read: 300 of 60 KB, 18 MB, more than the
/// loopback socket buffers hold (so the server's queue for it passes its 64 KiB bound).
const MESSAGES: u64 = 300;

async fn a_member_far_behind_gets_every_message_once_in_order(backend: &[&str]) {
    let mut flags = vec![
        "--outbound-queue-bytes",
        "65536",
        // The slow member's session waits in a write while the room floods; only the queue's
        // bound is under test here, not the write timeout.
        "--write-timeout-secs",
        "120",
        "--history-len",
        "1000",
    ];
    flags.extend_from_slice(&common::FLOOD_FLAGS);
    flags.extend_from_slice(backend);
    let server = start_server(&flags).await;
    let mut slow = Client::hello(&server.ws_url(), "Slow").await;
    slow.join("general").await;
    let mut fast = Client::hello(&server.ws_url(), "Fast").await;
    fast.join("general").await;
    let big = "x".repeat(60_000);
    for i in 0..MESSAGES {
        let ack = fast.say("general", &big, &format!("f{i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let got = slow.messages("general", MESSAGES as usize).await;
    assert_eq!(
        offsets(&got),
        (1..=MESSAGES).collect::<Vec<_>>(),
        "every message once, in order"
    );
    let metrics = http_get(&format!("{}/metrics", server.http_url())).await.2;
    assert!(
        metric_value(&metrics, "chat_outbound_lagged_total") >= 1.0,
        "the member fell behind the bound (else this tests nothing): {metrics}"
    );
    assert_eq!(
        metric_value(&metrics, "chat_slow_consumer_drops_total"),
        0.0,
        "{metrics}"
    );
    server.stop().await;
}

#[tokio::test]
async fn in_memory() {
    a_member_far_behind_gets_every_message_once_in_order(&[]).await;
}

#[tokio::test]
async fn on_redis() {
    let (url, _own) = shared_redis().await;
    let prefix = common::unique_prefix();
    a_member_far_behind_gets_every_message_once_in_order(&[
        "--redis-url",
        &url,
        "--redis-prefix",
        &prefix,
    ])
    .await;
}

#[tokio::test]
async fn durable_recovers_from_the_database() {
    let (db, _pg) = fresh_database().await;
    a_member_far_behind_gets_every_message_once_in_order(&["--database-url", &db]).await;
}
