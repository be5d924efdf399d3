//! chat-bench against real chat-servers (in-process, on loopback): small bounded runs of every
//! scenario whose counts must add up exactly: every acknowledged message delivered once to every
//! member of its room, no offset missing or repeated.

mod common;

use std::time::Duration;

use common::{redis, start_server, unique_prefix};
use loadtest::{Plan, Probe, Report};

fn plan(urls: Vec<String>, rooms: &[&str], members: usize, senders: usize, messages: u64) -> Plan {
    Plan {
        scenario: "test".into(),
        urls,
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
        members_per_room: members,
        senders_per_room: senders,
        rate: 500.0,
        window: 1,
        duration: Duration::from_secs(10),
        max_messages: messages,
        content_bytes: 64,
        connect_rate: 0.0,
        concurrency: 32,
        hold: Duration::ZERO,
        drain: Duration::from_secs(5),
        max_secs: 60,
        signals: false,
        cookie: None,
        source_addrs: Default::default(),
        ready_file: None,
        hold_until: None,
        protocol: Default::default(),
    }
}

/// Every acknowledged message reached every member once, in order.
fn assert_consistent(r: &Report, members: u64) {
    let t = r.table();
    assert_eq!(r.connect_failures, 0, "{t}");
    assert_eq!(
        r.acked + r.error_codes.get("rate_limited").copied().unwrap_or(0),
        r.sent,
        "{t}"
    );
    assert_eq!(r.delivered, r.acked * members, "{t}");
    assert_eq!(r.delivered, r.expected_deliveries, "{t}");
    assert_eq!(r.gaps, 0, "{t}");
    assert_eq!(r.latency_ms.count, r.delivered, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_delivers_every_message_to_every_member() {
    let server = start_server(&[]).await;
    let p = plan(vec![server.url()], &["bench-fanout"], 6, 2, 60);
    let r = loadtest::run(
        &p,
        &Probe {
            server_pid: Some(std::process::id()),
            metrics_url: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(
        (r.connections, r.sent, r.acked),
        (6, 60, 60),
        "{}",
        r.table()
    );
    assert_consistent(&r, 6);
    assert_eq!(r.errors, 0, "{}", r.table());
    assert!(
        r.server_rss_kb.is_some() && r.server_cpu_s.is_some(),
        "{}",
        r.table()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signals_send_typing_and_reads_without_disturbing_delivery() {
    let server = start_server(&[]).await;
    let p = Plan {
        signals: true,
        rate: 20.0,
        ..plan(vec![server.url()], &["bench-fanout"], 6, 2, 60)
    };
    let probe = Probe {
        server_pid: None,
        metrics_url: None,
    };
    let r = loadtest::run(&p, &probe).await.unwrap();
    assert_consistent(&r, 6);
    // Without --cookie the members are guests: each `read` they send is refused, which shows
    // they were sent (typing from guests is relayed: guest posting is on).
    let refused = r.error_codes.get("login_required").copied().unwrap_or(0);
    assert!(refused > 0, "{}", r.table());
    assert_eq!(r.errors, refused, "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_keep_their_messages_apart() {
    let server = start_server(&[]).await;
    let rooms = ["bench-0", "bench-1", "bench-2", "bench-3"];
    let p = Plan {
        rate: 0.0,
        window: 2,
        ..plan(vec![server.url()], &rooms, 3, 1, 80)
    };
    let r = loadtest::run(&p, &Probe::default()).await.unwrap();
    assert_eq!((r.connections, r.sent), (12, 80), "{}", r.table());
    assert_consistent(&r, 3);
    assert_eq!(r.errors, 0, "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_opens_and_joins_every_client() {
    let server = start_server(&[]).await;
    let p = Plan {
        senders_per_room: 0,
        ..plan(vec![server.url()], &["general"], 40, 0, 0)
    };
    let r = loadtest::run(&p, &Probe::default()).await.unwrap();
    assert_eq!(
        (r.connections, r.connect_failures, r.sent, r.errors),
        (40, 0, 0, 0),
        "{}",
        r.table()
    );
    assert_eq!(r.connect_ms.count, 40, "{}", r.table());
    assert!(r.connections_per_s > 0.0, "{}", r.table());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_servers_send_rate_limit_shows_as_errors_not_gaps() {
    // Default limit: 10/s, burst 20. One sender offering 200/s for 1 s is mostly refused.
    let server = start_server(&["--send-rate", "10", "--send-burst", "20"]).await;
    let p = Plan {
        rate: 200.0,
        duration: Duration::from_secs(1),
        ..plan(vec![server.url()], &["bench-limited"], 2, 1, 200)
    };
    let r = loadtest::run(&p, &Probe::default()).await.unwrap();
    let limited = r.error_codes.get("rate_limited").copied().unwrap_or(0);
    assert!(
        limited > 100 && r.acked >= 20 && r.acked < 60,
        "{}",
        r.table()
    );
    assert_consistent(&r, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_on_one_redis_act_as_one_chat() {
    let redis = redis();
    let prefix = unique_prefix("replicas");
    let flags = [
        "--redis-url",
        redis.url.as_str(),
        "--redis-prefix",
        prefix.as_str(),
    ];
    let a = start_server(&flags).await;
    let b = start_server(&flags).await;
    let rooms = ["bench-r0", "bench-r1", "bench-r2"];
    // Room members alternate between the replicas, so every room spans both.
    let r = loadtest::run(
        &plan(vec![a.url(), b.url()], &rooms, 4, 2, 60),
        &Probe::default(),
    )
    .await
    .unwrap();
    assert_eq!((r.connections, r.sent), (12, 60), "{}", r.table());
    assert_consistent(&r, 4);
    assert_eq!(r.errors, 0, "{}", r.table());
}

/// The flags scale.sh holds several processes with: clients from several loopback source
/// addresses, a ready file once all joined, and no sending until the hold file exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_from_several_source_addresses_holds_until_told() {
    let server = start_server(&[]).await;
    let dir = std::env::temp_dir().join(format!("chat-bench-hold-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ready, go) = (dir.join("ready"), dir.join("go"));
    let p = Plan {
        source_addrs: loadtest::source::SourceAddrs::parse("127.0.0.2-127.0.0.4").unwrap(),
        ready_file: Some(ready.clone()),
        hold_until: Some(go.clone()),
        ..plan(vec![server.url()], &["bench-fanout"], 6, 2, 20)
    };
    let run = tokio::spawn(async move { loadtest::run(&p, &Probe::default()).await });
    while !ready.exists() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_to_string(&ready).unwrap(), "6 0\n");
    // Held: everyone joined, nothing sent, the run waits for the file.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!run.is_finished(), "the run went on without its hold file");
    std::fs::write(&go, "").unwrap();
    let r = run.await.unwrap().unwrap();
    assert_eq!((r.connections, r.sent), (6, 20), "{}", r.table());
    assert_consistent(&r, 6);
    let _ = std::fs::remove_dir_all(&dir);
}
