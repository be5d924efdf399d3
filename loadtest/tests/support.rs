//! chat-bench's `support` scenario against a real chat-server (in-process, on loopback): every
//! client opens its conversation, the agent holds the ones it took, every client message is
//! acknowledged, the queue ends showing every conversation's newest message, and every message
//! in the agent's conversations reaches it.

mod common;

use std::time::Duration;

use common::{redis, start_server, unique_prefix};
use loadtest::Probe;
use loadtest::support::{SupportPlan, SupportReport};

fn plan(urls: Vec<String>, clients: usize, take: usize, register: bool) -> SupportPlan {
    SupportPlan {
        urls,
        clients,
        take,
        rate: 40.0,
        duration: Duration::from_secs(2),
        content_bytes: 64,
        concurrency: 32,
        hold: Duration::ZERO,
        drain: Duration::from_secs(10),
        max_secs: 120,
        register,
        agent: "bench-agent".into(),
        agent_cookie: None,
    }
}

fn assert_complete(r: &SupportReport, clients: u64, take: u64) {
    let t = r.table();
    assert_eq!((r.connections, r.connect_failures), (clients, 0), "{t}");
    assert_eq!(r.taken, take, "{t}");
    assert!(r.sent > 0 && r.acked == r.sent, "{t}");
    assert_eq!(r.queue_unreflected, 0, "{t}");
    assert!(r.queue_latency_ms.count > 0 && r.queue_frames > 0, "{t}");
    assert!(r.queue_listed >= clients, "{t}");
    assert!(r.agent_expected > 0, "{t}");
    assert_eq!(r.agent_delivered, r.agent_expected, "{t}");
    assert_eq!(r.agent_latency_ms.count, r.agent_delivered, "{t}");
    assert_eq!(r.errors, 0, "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_and_an_agent_in_memory_mode() {
    let server =
        start_server(&["--support-agents", "bench-agent", "--guest-support", "true"]).await;
    let r = loadtest::support::run(&plan(vec![server.url()], 20, 5, false), &Probe::default())
        .await
        .unwrap();
    assert_complete(&r, 20, 5);
    assert_eq!(r.client_kind, "guests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_clients_over_two_replicas() {
    let redis = redis();
    let prefix = unique_prefix("support");
    let flags = [
        "--redis-url",
        redis.url.as_str(),
        "--redis-prefix",
        prefix.as_str(),
        "--support-agents",
        "bench-agent",
        "--client-address-header",
        "X-Forwarded-For",
    ];
    let a = start_server(&flags).await;
    let b = start_server(&flags).await;
    // Clients alternate between the replicas; the agent is on the first: half the queue
    // updates cross the Redis bus.
    let r = loadtest::support::run(&plan(vec![a.url(), b.url()], 6, 2, true), &Probe::default())
        .await
        .unwrap();
    assert_complete(&r, 6, 2);
    assert_eq!(r.client_kind, "registered");
}

#[tokio::test]
async fn an_agent_the_server_does_not_know_stops_the_run_with_the_flag_to_set() {
    let server = start_server(&["--guest-support", "true"]).await;
    let err = loadtest::support::run(&plan(vec![server.url()], 2, 1, false), &Probe::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--support-agents bench-agent"), "{err}");
}
