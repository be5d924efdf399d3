//! Several real `chat-server` processes on one real Redis behave as one chat: ordering and
//! exactly-once delivery across replicas, global presence that expires with a dead replica,
//! recovery on another replica, and a Redis restart during traffic that loses nothing acked;
//! per-room subscriptions in `redis/shards.rs`, Redis faults in `redis/faults.rs`.

mod common;
#[path = "redis/faults.rs"]
mod faults;
#[path = "redis/shards.rs"]
mod shards;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Client, RedisServer, ServerProcess, offsets, shared_redis, status, unique_prefix};
use serde_json::{Value, json};

/// Flags every replica gets: a shared Redis under a private prefix, and a send rate high
/// enough that the test's bursts are never rate-limited.
fn replica_args<'a>(url: &'a str, prefix: &'a str) -> Vec<&'a str> {
    vec![
        "--redis-url",
        url,
        "--redis-prefix",
        prefix,
        "--send-rate",
        "1000",
        "--send-burst",
        "1000",
        "--presence-ttl-secs",
        "3",
    ]
}

async fn replicas(n: usize, url: &str, prefix: &str) -> Vec<ServerProcess> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(ServerProcess::spawn(&replica_args(url, prefix)).await);
    }
    out
}

fn http(p: &ServerProcess, path: &str) -> String {
    format!("http://{}{path}", p.addr)
}

/// Online count of `room` as a `rooms` request answers it now.
async fn online(c: &mut Client, room: &str) -> Option<u64> {
    c.send(json!({"type":"rooms"})).await;
    let frame = c.expect("rooms").await;
    frame["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == room)
        .map(|r| r["online"].as_u64().unwrap())
}

/// Poll until `room` shows `want` online (presence converges within a heartbeat or two).
async fn wait_online(c: &mut Client, room: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = online(c, room).await;
        if got == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{room}: online {got:?}, want {want}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Poll an HTTP endpoint until it answers `want`.
async fn wait_status(url: &str, want: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = status(url).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{url}: {got}, want {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn three_replicas_deliver_every_message_once_in_one_order() {
    let (url, _own) = shared_redis().await;
    let prefix = unique_prefix();
    let servers = replicas(3, &url, &prefix).await;

    // Two members per replica; the first member of each replica also sends.
    let mut members = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        for j in 0..2 {
            let mut c = Client::hello(&s.ws_url(), &format!("U{i}{j}")).await;
            c.join("general").await;
            members.push(c);
        }
    }
    const EACH: usize = 20;
    let senders: Vec<Client> = vec![members.remove(4), members.remove(2), members.remove(0)];
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(s, mut c)| {
            tokio::spawn(async move {
                for i in 0..EACH {
                    let ack = c
                        .say("general", &format!("s{s}-{i}"), &format!("s{s}-{i}"))
                        .await;
                    assert_eq!(ack["type"], "ack", "{ack}");
                }
                c
            })
        })
        .collect();
    for t in tasks {
        members.push(t.await.unwrap());
    }

    let total = 3 * EACH;
    let mut orders: Vec<Vec<Value>> = Vec::new();
    let mut first = Vec::new();
    for c in &mut members {
        let got = c.messages("general", total).await;
        assert_eq!(
            offsets(&got),
            (1..=total as u64).collect::<Vec<_>>(),
            "every offset once, in order"
        );
        orders.push(got.iter().map(|m| m["id"].clone()).collect());
        if first.is_empty() {
            first = got;
        }
    }
    for o in &orders[1..] {
        assert_eq!(o, &orders[0], "every member sees the same order");
    }
    // Each sender's messages keep the order it sent them in.
    for s in 0..3 {
        let own: Vec<&str> = first
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .filter(|c| c.starts_with(&format!("s{s}-")))
            .collect();
        let sent: Vec<String> = (0..EACH).map(|i| format!("s{s}-{i}")).collect();
        assert_eq!(own, sent);
    }

    // Nothing arrives twice later: the next message everyone sees is the marker, at total + 1.
    let ack = members[0].say("general", "marker", "marker").await;
    assert_eq!(ack["offset"], total as u64 + 1, "{ack}");
    for c in &mut members {
        let next = c.messages("general", 1).await.remove(0);
        assert_eq!(
            (next["content"].as_str(), next["offset"].as_u64()),
            (Some("marker"), Some(total as u64 + 1)),
            "{next}"
        );
    }
}

#[tokio::test]
async fn presence_and_rooms_are_global_and_a_dead_replica_stops_counting() {
    let (url, _own) = shared_redis().await;
    let prefix = unique_prefix();
    let mut servers = replicas(2, &url, &prefix).await;

    let mut observer = Client::hello(&servers[0].ws_url(), "Obs").await;
    let mut ann = Client::hello(&servers[0].ws_url(), "Ann").await;
    ann.join("general").await;
    let mut bob = Client::hello(&servers[1].ws_url(), "Bob").await;
    let mut cat = Client::hello(&servers[1].ws_url(), "Cat").await;
    bob.join("general").await;
    cat.join("general").await;
    wait_online(&mut observer, "general", 3).await;

    // A room created on one replica is listed on the other.
    bob.send(json!({"type":"create_room","name":"ops"})).await;
    bob.expect("room_created").await;
    wait_online(&mut observer, "ops", 0).await;

    // A client that leaves stops counting everywhere.
    drop(cat);
    wait_online(&mut observer, "general", 2).await;

    // A replica killed without any cleanup: its presence expires (ttl 3 s), it does not leak.
    servers.pop().unwrap().kill().await;
    wait_online(&mut observer, "general", 1).await;
    drop(bob);
}

#[tokio::test]
async fn a_replica_stopped_gracefully_stops_counting_at_once() {
    let (url, _own) = shared_redis().await;
    let prefix = unique_prefix();
    // A presence TTL far longer than the wait below: only the shutdown itself can clear it.
    let mut args = replica_args(&url, &prefix);
    let ttl = args
        .iter()
        .position(|a| *a == "--presence-ttl-secs")
        .unwrap()
        + 1;
    args[ttl] = "120";
    let stays = ServerProcess::spawn(&args).await;
    let leaves = ServerProcess::spawn(&args).await;

    let mut observer = Client::hello(&stays.ws_url(), "Obs").await;
    let mut ann = Client::hello(&leaves.ws_url(), "Ann").await;
    ann.join("general").await;
    wait_online(&mut observer, "general", 1).await;
    let exit = leaves.terminate().await;
    assert!(exit.success(), "SIGTERM exits cleanly: {exit:?}");
    assert_eq!(ann.close_code().await, Some(1001));
    wait_online(&mut observer, "general", 0).await;
}

#[tokio::test]
async fn a_client_recovers_on_another_replica() {
    let (url, _own) = shared_redis().await;
    let prefix = unique_prefix();
    let servers = replicas(3, &url, &prefix).await;

    let mut ann = Client::hello(&servers[0].ws_url(), "Ann").await;
    let joined = ann.join("general").await;
    let mut bob = Client::hello(&servers[1].ws_url(), "Bob").await;
    bob.join("general").await;
    bob.say("general", "before", "b-0").await;
    let seen = ann.messages("general", 1).await.remove(0);
    drop(ann);

    for i in 1..=3 {
        bob.say("general", &format!("away {i}"), &format!("b-{i}"))
            .await;
    }
    // Back on a third replica, with the position it had.
    let mut ann = Client::hello(&servers[2].ws_url(), "Ann").await;
    ann.send(json!({"type":"join","room":"general",
        "since":{"epoch":joined["epoch"],"offset":seen["offset"]}}))
        .await;
    let rejoined = ann.expect("joined").await;
    assert_eq!(rejoined["recovered"], true, "{rejoined}");
    assert_eq!(
        offsets(rejoined["messages"].as_array().unwrap()),
        [2, 3, 4],
        "{rejoined}"
    );
    bob.say("general", "after", "b-4").await;
    let live = ann.messages("general", 1).await.remove(0);
    assert_eq!(live["offset"], 5, "no gap, no duplicate: {live}");
}

#[tokio::test]
async fn a_redis_restart_during_traffic_loses_no_acknowledged_message() {
    // appendonly + fsync always: what Redis acknowledged survives its restart.
    let mut redis = RedisServer::start(true).await;
    let url = redis.url();
    let servers = replicas(2, &url, "chatapp").await;

    let mut receiver = Client::hello(&servers[1].ws_url(), "Rita").await;
    receiver.join("general").await;
    let mut sender = Client::hello(&servers[0].ws_url(), "Sam").await;
    sender.join("general").await;
    // Someone who only reads: told when the replica cannot store, and when it can again.
    let mut watcher = Client::hello(&servers[0].ws_url(), "Wat").await;

    // The sender keeps sending; an error must be `unavailable`, and it retries the same
    // client id until the message is acknowledged. It sends at least TOTAL and goes on until
    // Redis is back, so the outage always falls inside the traffic, however slow the machine.
    const TOTAL: usize = 60;
    /// Most it sends: still within one history page (the newcomer below reads them all).
    const MOST: usize = 150;
    let acked = Arc::new(AtomicUsize::new(0));
    let back = Arc::new(AtomicBool::new(false));
    let progress = acked.clone();
    let redis_back = back.clone();
    let traffic = tokio::spawn(async move {
        let mut offsets = Vec::new();
        let mut unavailable = 0;
        for i in 1..=MOST {
            if i > TOTAL && redis_back.load(Ordering::Relaxed) {
                break;
            }
            let id = format!("m-{i}");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let reply = sender.say("general", &id, &id).await;
                if reply["type"] == "ack" {
                    offsets.push(reply["offset"].as_u64().unwrap());
                    break;
                }
                assert_eq!(reply["code"], "unavailable", "{reply}");
                unavailable += 1;
                assert!(Instant::now() < deadline, "{id} never acknowledged");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            progress.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (offsets, unavailable)
    });

    while acked.load(Ordering::Relaxed) < 15 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    redis.kill().await;
    for s in &servers {
        wait_status(&http(s, "/readyz"), 503).await;
        assert_eq!(
            status(&http(s, "/healthz")).await,
            200,
            "alive while not ready"
        );
    }
    let down = watcher.expect("health").await;
    assert_eq!(
        (down["ready"].as_bool(), down["reason"].as_str()),
        (Some(false), Some("store unreachable")),
        "{down}"
    );
    // A client arriving during the outage learns it right after `welcome`.
    let mut newcomer = Client::hello(&servers[1].ws_url(), "New").await;
    assert_eq!(newcomer.expect("health").await["ready"], false);
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.restart().await;
    for s in &servers {
        wait_status(&http(s, "/readyz"), 200).await;
    }
    assert_eq!(watcher.expect("health").await["ready"], true);
    back.store(true, Ordering::Relaxed);

    let (acked_offsets, unavailable) = traffic.await.unwrap();
    let total = acked_offsets.len();
    assert!(total >= TOTAL, "{total} sent");
    assert!(
        unavailable > 0,
        "the outage was answered with explicit errors"
    );
    let distinct: BTreeSet<u64> = acked_offsets.iter().copied().collect();
    assert_eq!(
        distinct,
        (1..=total as u64).collect(),
        "each message stored once, at its own offset: {acked_offsets:?}"
    );

    // The member on the other replica got every acknowledged message, once and in order.
    let got = receiver.messages("general", total).await;
    assert_eq!(offsets(&got), (1..=total as u64).collect::<Vec<_>>());
    let contents: Vec<&str> = got.iter().map(|m| m["content"].as_str().unwrap()).collect();
    let want: Vec<String> = (1..=total).map(|i| format!("m-{i}")).collect();
    assert_eq!(contents, want);

    // And the history a newcomer reads after the restart holds all of them.
    let mut late = Client::hello(&servers[0].ws_url(), "Late").await;
    let joined = late.join("general").await;
    let history = joined["messages"].as_array().unwrap();
    assert_eq!(offsets(history), (1..=total as u64).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_redis_that_lost_its_data_is_never_a_silent_gap() {
    // No persistence: a restart loses every room's history, and the epoch changes.
    let mut redis = RedisServer::start(false).await;
    let servers = replicas(2, &redis.url(), "chatapp").await;
    let mut stay = Client::hello(&servers[1].ws_url(), "Stay").await;
    stay.join("general").await;
    let mut ann = Client::hello(&servers[0].ws_url(), "Ann").await;
    let joined = ann.join("general").await;
    for i in 1..=3 {
        ann.say("general", &format!("old {i}"), &format!("old-{i}"))
            .await;
    }
    assert_eq!(offsets(&stay.messages("general", 3).await), [1, 2, 3]);
    drop(ann);

    redis.restart().await;
    for s in &servers {
        wait_status(&http(s, "/readyz"), 200).await;
    }
    // A client coming back with its old position is told plainly that recovery is impossible.
    let mut ann = Client::hello(&servers[0].ws_url(), "Ann").await;
    ann.send(json!({"type":"join","room":"general",
        "since":{"epoch":joined["epoch"],"offset":3}}))
        .await;
    let rejoined = ann
        .expect_where(|v| v["type"] == "joined" || v["type"] == "error")
        .await;
    assert_eq!(rejoined["recovered"], false, "{rejoined}");
    assert_ne!(rejoined["epoch"], joined["epoch"], "{rejoined}");

    // A member that stayed connected is told to resync, then sees the new epoch from offset 1.
    let ack = ann.say("general", "new 1", "new-1").await;
    assert_eq!(ack["offset"], 1, "{ack}");
    // The rejoin was told the new epoch, or "0" when it came before the restarted Redis had an
    // incarnation again (docs/architecture.md); either way the member that stayed moves on.
    let resync = stay.expect("resync").await;
    assert_ne!(resync["epoch"], joined["epoch"], "{resync}");
    if rejoined["epoch"] != "0" {
        assert_eq!(resync["epoch"], rejoined["epoch"], "{resync}");
    }
    let fresh = stay.messages("general", 1).await.remove(0);
    assert_eq!(
        (fresh["content"].as_str(), fresh["offset"].as_u64()),
        (Some("new 1"), Some(1)),
        "{fresh}"
    );
}
