//! Per-room subscriptions (issue #10 item 7): a replica hears only the rooms its clients are in,
//! and a member joining a room on another replica (its first member there, so the replica
//! subscribes just then), even while the room is being written to, misses nothing and gets
//! nothing twice. Real `chat-server` processes on a real Redis.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};
use std::time::{Duration, Instant};

use serde_json::json;

use super::{http, replica_args};
use crate::common::{
    Client, RedisServer, ServerProcess, http_get, offsets, shared_redis, unique_prefix,
};

/// A metric of one replica now.
async fn metric(server: &ServerProcess, name: &str) -> f64 {
    let (_, _, text) = http_get(&http(server, "/metrics")).await;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in metrics:\n{text}"))
}

/// Poll a metric until it reads `want`.
async fn wait_metric(server: &ServerProcess, name: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = metric(server, name).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "{name}: {got}, want {want}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_room(c: &mut Client, room: &str) {
    c.send(json!({"type":"create_room","name":room})).await;
    let reply = c
        .expect_where(|v| v["type"] == "room_created" || v["type"] == "error")
        .await;
    assert_eq!(reply["type"], "room_created", "{reply}");
}

/// Two replicas on one Redis, with no per-address send limit in the way of the test's bursts.
async fn two_replicas() -> (ServerProcess, ServerProcess, Option<RedisServer>) {
    let (url, own) = shared_redis().await;
    let prefix = unique_prefix();
    let mut args = replica_args(&url, &prefix);
    args.extend([
        "--address-send-rate",
        "100000",
        "--address-send-burst",
        "100000",
    ]);
    let one = ServerProcess::spawn(&args).await;
    let two = ServerProcess::spawn(&args).await;
    (one, two, own)
}

const SUBSCRIBED: &str = "chat_redis_subscribed_rooms";
const RECEIVED: &str = "chat_redis_pubsub_received_total";

#[tokio::test]
async fn a_replica_hears_only_the_rooms_its_clients_are_in() {
    let (one, two, _own) = two_replicas().await;
    let mut ann = Client::hello(&one.ws_url(), "Ann").await;
    create_room(&mut ann, "solo").await;
    ann.join("solo").await;
    wait_metric(&one, SUBSCRIBED, 1.0).await;
    assert_eq!(
        metric(&two, SUBSCRIBED).await,
        0.0,
        "nobody is in a room on two"
    );

    let (one_before, two_before) = (metric(&one, RECEIVED).await, metric(&two, RECEIVED).await);
    const N: u64 = 60;
    for i in 1..=N {
        let ack = ann.say("solo", &format!("m{i}"), &format!("c{i}")).await;
        assert_eq!(ack["offset"], i, "{ack}");
    }
    let got = ann.messages("solo", N as usize).await;
    assert_eq!(offsets(&got), (1..=N).collect::<Vec<_>>());
    let heard_one = metric(&one, RECEIVED).await - one_before;
    let heard_two = metric(&two, RECEIVED).await - two_before;
    assert!(heard_one >= N as f64, "replica one heard {heard_one}");
    // Only the rare global events (room list changes) may reach replica two.
    assert!(
        heard_two < (N / 4) as f64,
        "replica two heard {heard_two} payloads of a room it has nobody in"
    );

    // A member on two gets the history and, now that two subscribed, what follows.
    let mut bob = Client::hello(&two.ws_url(), "Bob").await;
    let joined = bob.join("solo").await;
    assert_eq!(joined["offset"], N, "{joined}");
    assert_eq!(
        metric(&two, SUBSCRIBED).await,
        1.0,
        "subscribed before the join's reply"
    );
    let ack = ann.say("solo", "after", "after").await;
    assert_eq!(ack["offset"], N + 1, "{ack}");
    let next = bob.messages("solo", 1).await.remove(0);
    assert_eq!(
        (next["offset"].as_u64(), next["content"].as_str()),
        (Some(N + 1), Some("after"))
    );

    // The last member on two leaves: two unsubscribes and hears the room no more.
    drop(bob);
    wait_metric(&two, SUBSCRIBED, 0.0).await;
    let two_before = metric(&two, RECEIVED).await;
    for i in 0..N {
        let id = format!("late{i}");
        assert_eq!(ann.say("solo", &id, &id).await["type"], "ack");
    }
    ann.messages("solo", N as usize + 1).await;
    let heard_two = metric(&two, RECEIVED).await - two_before;
    assert!(
        heard_two < (N / 4) as f64,
        "replica two still heard {heard_two}"
    );
}

#[tokio::test]
async fn members_joining_on_another_replica_while_a_room_is_written_miss_nothing() {
    let (one, two, _own) = two_replicas().await;
    const ROOMS: usize = 3;
    const JOINERS: usize = 6;
    const LIVE: usize = 5;

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for r in 0..ROOMS {
        let room = format!("race{r}");
        let mut w = Client::hello(&one.ws_url(), &format!("W{r}")).await;
        create_room(&mut w, &room).await;
        w.join(&room).await;
        let stop = stop.clone();
        writers.push(tokio::spawn(async move {
            let mut last = 0;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let id = format!("w{i}");
                let ack = w.say(&room, &id, &id).await;
                assert_eq!(ack["type"], "ack", "{ack}");
                last = ack["offset"].as_u64().unwrap();
                // Paced, so the member that stays reads its backlog at the end within its queue.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            last
        }));
    }

    // On two, one member at a time per room: each is the room's only member there, so each join
    // subscribes anew, racing the previous member's unsubscribe and the writer's sends.
    let mut joiners = Vec::new();
    for r in 0..ROOMS {
        let url = two.ws_url();
        joiners.push(tokio::spawn(async move {
            let room = format!("race{r}");
            for j in 0..JOINERS {
                let mut c = Client::hello(&url, &format!("J{r}{j}")).await;
                let head = c.join(&room).await["offset"].as_u64().unwrap();
                let live = c.messages(&room, LIVE).await;
                let want: Vec<u64> = (head + 1..=head + LIVE as u64).collect();
                assert_eq!(offsets(&live), want, "{room}, joiner {j}");
            }
            // The last one stays to the end.
            let mut c = Client::hello(&url, &format!("J{r}last")).await;
            let head = c.join(&room).await["offset"].as_u64().unwrap();
            (c, head)
        }));
    }
    let mut stayers = Vec::new();
    for j in joiners {
        stayers.push(j.await.unwrap());
    }
    stop.store(true, Ordering::Relaxed);
    for (r, w) in writers.into_iter().enumerate() {
        let last = w.await.unwrap();
        let (c, head) = &mut stayers[r];
        let room = format!("race{r}");
        let got = c.messages(&room, (last - *head) as usize).await;
        assert_eq!(
            offsets(&got),
            (*head + 1..=last).collect::<Vec<_>>(),
            "{room}: every offset after the join once, in order"
        );
    }
}

#[tokio::test]
async fn after_redis_comes_back_every_room_is_subscribed_again() {
    let mut redis = RedisServer::start(true).await;
    let (url, prefix) = (redis.url(), unique_prefix());
    let one = ServerProcess::spawn(&replica_args(&url, &prefix)).await;
    let two = ServerProcess::spawn(&replica_args(&url, &prefix)).await;
    let mut ann = Client::hello(&one.ws_url(), "Ann").await;
    let mut bob = Client::hello(&two.ws_url(), "Bob").await;
    ann.join("general").await;
    bob.join("general").await;
    wait_metric(&one, SUBSCRIBED, 1.0).await;

    let errors = metric(&one, "chat_redis_errors_total").await;
    redis.restart().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&one, "chat_redis_errors_total").await <= errors {
        assert!(
            Instant::now() < deadline,
            "the lost connection went unnoticed"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait_metric(&one, SUBSCRIBED, 1.0).await;

    // Bob's message reaches Ann's replica over the room's channel again.
    let heard = metric(&one, RECEIVED).await;
    let mut ack = bob.say("general", "back", "back").await;
    let retry = Instant::now() + Duration::from_secs(20);
    while ack["type"] != "ack" {
        assert!(Instant::now() < retry, "{ack}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        ack = bob.say("general", "back", "back").await;
    }
    let got = ann
        .expect_where(|v| v["type"] == "message" && v["content"] == "back")
        .await;
    assert_eq!(got["offset"], ack["offset"], "{got}");
    assert!(
        metric(&one, RECEIVED).await > heard,
        "not heard over pub/sub"
    );
}
