//! Real `chat-server` replicas on ONE real Redis Cluster of three masters and three replicas
//! (`common/redis_cluster.rs`), started once for every scenario (each on its own key prefix, the
//! ones that kill a master last). Durable mode (PostgreSQL): rooms spread over every master, each
//! room's events on its sharded channel, history from the database and the cluster's cache, and
//! a master killed mid-chat: its replica takes over, an ack still means stored, and every member
//! ends with exactly what was stored, in order. The Redis-only store (no database) on the same
//! cluster: `redis_cluster/redis_only.rs` and `redis_cluster/deletion.rs`.

mod common;
#[path = "redis_cluster/deletion.rs"]
mod deletion;
#[path = "redis_cluster/redis_only.rs"]
mod redis_only;

use std::time::{Duration, Instant};

use common::{
    Client, ServerProcess, fresh_database, http_get, offsets, redis_cluster::RedisCluster,
    unique_prefix,
};
use serde_json::{Value, json};

/// Both replicas' flags: the cluster, durable mode (with `database`) or not, and send limits out
/// of the test's way.
fn args<'a>(cluster: &'a str, prefix: &'a str, database: Option<&'a str>) -> Vec<&'a str> {
    let mut a = vec![
        "--redis-url",
        cluster,
        "--redis-cluster",
        "true",
        "--redis-prefix",
        prefix,
        "--send-rate",
        "1000",
        "--send-burst",
        "1000",
        "--address-send-rate",
        "100000",
        "--address-send-burst",
        "100000",
        "--rooms-per-address-per-hour",
        "1000",
    ];
    if let Some(database) = database {
        a.extend(["--database-url", database]);
    }
    a
}

async fn metric(server: &ServerProcess, name: &str) -> f64 {
    let (_, _, text) = http_get(&format!("http://{}/metrics", server.addr)).await;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in metrics:\n{text}"))
}

async fn wait_ready(server: &ServerProcess) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, _, body) = http_get(&format!("http://{}/readyz", server.addr)).await;
        if code == 200 {
            return;
        }
        assert!(Instant::now() < deadline, "never ready: {code} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Rooms whose channels live on every master of the cluster, at least two per master.
async fn rooms_on_every_master(cluster: &RedisCluster, prefix: &str) -> Vec<String> {
    let masters = cluster.masters().await;
    assert_eq!(masters.len(), 3, "{masters:?}");
    let mut per_master = std::collections::BTreeMap::<u16, Vec<String>>::new();
    for i in 0.. {
        let room = format!("c{i}");
        let master = cluster
            .master_of(&format!("{prefix}:room:{{{room}}}:events"))
            .await;
        let list = per_master.entry(master).or_default();
        if list.len() < 2 {
            list.push(room);
        }
        if per_master.len() == 3 && per_master.values().all(|l| l.len() == 2) {
            break;
        }
    }
    per_master.into_values().flatten().collect()
}

async fn create_and_join(c: &mut Client, room: &str) {
    c.send(json!({"type":"create_room","name":room})).await;
    let reply = c
        .expect_where(|v| v["type"] == "room_created" || v["type"] == "error")
        .await;
    assert!(
        reply["type"] == "room_created" || reply["code"] == "room_exists",
        "{reply}"
    );
    c.join(room).await;
}

/// Messages of `room` until offset `last`, each once, in order, starting after `after`.
async fn received_through(c: &mut Client, room: &str, after: u64, last: u64) -> Vec<Value> {
    let got = c.messages(room, (last - after) as usize).await;
    assert_eq!(
        offsets(&got),
        (after + 1..=last).collect::<Vec<_>>(),
        "{room}: every offset once, in order"
    );
    got
}

/// The failover both stores go through: kill the master of `channel`'s slot while Ann (on one
/// replica) sends 20 messages (each acked or refused), wait for a replica to be promoted, send 5
/// more (`retry_after`: the first ones may still find the old route and are retried with the
/// same client id; otherwise each must be acked at once), then check that the acks are
/// consecutive offsets, Bob (on `two`) got every acked message once and in order, and `two`
/// follows the room on the promoted master again. Returns the promoted master and the last
/// acked offset.
async fn kill_master_mid_chat(
    cluster: &mut RedisCluster,
    (ann, bob): (&mut Client, &mut Client),
    two: &ServerProcess,
    (room, channel): (&str, &str),
    retry_after: bool,
) -> (u16, u64) {
    let master = cluster.master_of(channel).await;
    cluster.kill(master).await;
    let mut acked = vec![1];
    for i in 0..20 {
        let id = format!("during-{i}");
        let reply = ann.say(room, &id, &id).await;
        if reply["type"] == "ack" {
            acked.push(reply["offset"].as_u64().unwrap());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let promoted = cluster.wait_failover(channel, master).await;
    assert_ne!(promoted, master);
    for i in 0..5 {
        let id = format!("after-{i}");
        let mut reply = ann.say(room, &id, &id).await;
        let deadline = Instant::now() + Duration::from_secs(20);
        while retry_after && reply["type"] != "ack" && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(200)).await;
            reply = ann.say(room, &id, &id).await;
        }
        assert_eq!(reply["type"], "ack", "{reply}");
        acked.push(reply["offset"].as_u64().unwrap());
    }
    let last = *acked.iter().max().unwrap();
    assert_eq!(
        acked,
        (1..=last).collect::<Vec<_>>(),
        "acks are consecutive offsets"
    );
    received_through(bob, room, 1, last).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while metric(two, "chat_redis_subscribed_rooms").await != 1.0 {
        assert!(
            Instant::now() < deadline,
            "the room was not subscribed again"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    (promoted, last)
}

#[tokio::test]
async fn cluster_mode_needs_its_seed_nodes_but_no_database() {
    use clap::Parser;
    let without_seeds =
        chat_server::Config::try_parse_from(["chat-server", "--redis-cluster", "true"]).unwrap();
    let Err(e) = chat_server::build_state(without_seeds).await else {
        panic!("started without seed nodes");
    };
    assert!(e.to_string().contains("--redis-url"), "{e}");
    // The Redis-only store runs on a cluster: the server starts (and connects lazily).
    let redis_only = chat_server::Config::try_parse_from([
        "chat-server",
        "--redis-url",
        "redis://127.0.0.1:1",
        "--redis-cluster",
        "true",
    ])
    .unwrap();
    assert!(chat_server::build_state(redis_only).await.is_ok());
}

/// Every scenario on one cluster: each on its own prefix, the killed masters last (the second
/// spares the master the first left without a replica).
#[tokio::test]
async fn one_cluster_serves_the_durable_and_the_redis_only_store() {
    let mut cluster = RedisCluster::start().await;
    // A database each: both durable scenarios name their rooms alike.
    let (database, _pg) = fresh_database().await;
    let (second_database, _second_pg) = fresh_database().await;
    rooms_spread_over_three_masters_chat_across_replicas(&cluster, &database).await;
    redis_only::rooms_on_every_master_chat_with_exact_recovery(&cluster).await;
    deletion::deleted_rooms_stay_deleted_and_cut_short_calls_heal(&cluster).await;
    redis_only::timed_rooms_clear_and_expire(&cluster).await;
    redis_only::reads_and_mentions_follow_the_user(&cluster).await;
    let promoted = a_killed_master_fails_over_and_members_end_with_exactly_what_was_stored(
        &mut cluster,
        &second_database,
    )
    .await;
    redis_only::a_killed_master_loses_no_acked_message(&mut cluster, promoted).await;
}

async fn rooms_spread_over_three_masters_chat_across_replicas(
    cluster: &RedisCluster,
    database: &str,
) {
    let (url, prefix) = (cluster.url(), unique_prefix());
    let one = ServerProcess::spawn(&args(&url, &prefix, Some(database))).await;
    let two = ServerProcess::spawn(&args(&url, &prefix, Some(database))).await;
    wait_ready(&one).await;
    wait_ready(&two).await;
    let rooms = rooms_on_every_master(cluster, &prefix).await;

    let mut ann = Client::hello(&one.ws_url(), "Ann").await;
    let mut bob = Client::hello(&two.ws_url(), "Bob").await;
    for room in &rooms {
        create_and_join(&mut ann, room).await;
        bob.join(room).await;
    }
    assert_eq!(
        metric(&two, "chat_redis_subscribed_rooms").await,
        rooms.len() as f64
    );
    const N: u64 = 5;
    for room in &rooms {
        for i in 1..=N {
            let id = format!("{room}-{i}");
            let ack = ann.say(room, &id, &id).await;
            assert_eq!(ack["offset"], i, "{ack}");
        }
    }
    for room in &rooms {
        received_through(&mut bob, room, 0, N).await;
    }
    // A newcomer on two reads the history (the cluster's cache of the database).
    let mut cy = Client::hello(&two.ws_url(), "Cy").await;
    for room in &rooms {
        let joined = cy.join(room).await;
        assert_eq!(joined["offset"], N, "{joined}");
        let contents: Vec<&str> = joined["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        let want: Vec<String> = (1..=N).map(|i| format!("{room}-{i}")).collect();
        assert_eq!(contents, want, "{room}");
    }
    // A deletion drops the room's cache (its slot) and tells every replica (the global one):
    // two calls, not one pipeline across slots.
    let dora = common::accounts::register_at(&redis_only::base(&one), "dora", None).await;
    let mut dora = redis_only::signed_in(&one, &dora).await;
    create_and_join(&mut dora, "temp").await;
    bob.join("temp").await;
    dora.send(json!({"type":"delete_room","room":"temp"})).await;
    let done = dora
        .expect_where(|v| v["type"] == "room_deleted" || v["type"] == "error")
        .await;
    assert_eq!(done["type"], "room_deleted", "{done}");
    let told = bob
        .expect_where(|v| v["type"] == "room_deleted" && v["room"] == "temp")
        .await;
    assert_eq!(told["room"], "temp");
}

/// Returns the promoted master (left without a replica).
async fn a_killed_master_fails_over_and_members_end_with_exactly_what_was_stored(
    cluster: &mut RedisCluster,
    database: &str,
) -> u16 {
    let (url, prefix) = (cluster.url(), unique_prefix());
    let one = ServerProcess::spawn(&args(&url, &prefix, Some(database))).await;
    let two = ServerProcess::spawn(&args(&url, &prefix, Some(database))).await;
    wait_ready(&one).await;
    wait_ready(&two).await;
    let rooms = rooms_on_every_master(cluster, &prefix).await;
    let room = rooms[0].clone();
    let channel = format!("{prefix}:room:{{{room}}}:events");

    let mut ann = Client::hello(&one.ws_url(), "Ann").await;
    let mut bob = Client::hello(&two.ws_url(), "Bob").await;
    create_and_join(&mut ann, &room).await;
    bob.join(&room).await;
    let ack = ann.say(&room, "before", "before").await;
    assert_eq!(ack["offset"], 1, "{ack}");
    received_through(&mut bob, &room, 0, 1).await;

    // Sends while the slot has no master: each is acked (stored: the database is the record) or
    // refused; none is acked and then missing. Its replica follows the room on the promoted master
    // again.
    let (promoted, last) = kill_master_mid_chat(
        cluster,
        (&mut ann, &mut bob),
        &two,
        (&room, &channel),
        false,
    )
    .await;
    let ack = ann.say(&room, "live", "live").await;
    assert_eq!(ack["offset"], last + 1, "{ack}");
    received_through(&mut bob, &room, last, last + 1).await;
    // And a newcomer reads them all.
    let mut cy = Client::hello(&two.ws_url(), "Cy").await;
    let joined = cy.join(&room).await;
    assert_eq!(joined["offset"], last + 1, "{joined}");
    promoted
}
