//! The Redis-only store (no `--database-url`) on the real cluster of `redis_cluster.rs`: every
//! call stays within one slot, so rooms on every master chat across two replicas with exact
//! recovery (including a room joined while still empty, whose epoch comes from the global
//! incarnation); deletions (`deletion.rs`); timed rooms clear and expire; read positions and mentions (room and user slots) follow the
//! user; and a master killed mid-chat loses no acked message.

use serde_json::{Value, json};

use crate::{
    args,
    common::{
        Client, ServerProcess,
        accounts::{connect_at, register_at},
        offsets,
        redis_cluster::RedisCluster,
        unique_prefix,
    },
    create_and_join, kill_master_mid_chat, received_through, rooms_on_every_master, wait_ready,
};

/// Two Redis-only replicas on the cluster with `extra` flags.
pub(crate) async fn replicas(
    url: &str,
    prefix: &str,
    extra: &[&str],
) -> (ServerProcess, ServerProcess) {
    let mut a = args(url, prefix, None);
    a.extend(extra);
    let one = ServerProcess::spawn(&a).await;
    let two = ServerProcess::spawn(&a).await;
    wait_ready(&one).await;
    wait_ready(&two).await;
    (one, two)
}

pub(crate) fn base(server: &ServerProcess) -> String {
    format!("http://{}", server.addr)
}

pub(crate) async fn signed_in(server: &ServerProcess, cookie: &str) -> Client {
    let hello = json!({"type":"hello","name":"ignored"});
    connect_at(&server.ws_url(), Some(cookie), hello).await.0
}

/// A command on the master of `key`'s slot.
pub(crate) async fn on(cluster: &RedisCluster, key: &str, command: &[&str]) -> String {
    let port = cluster.master_of(key).await;
    cluster.cli(port, command).await.trim().to_owned()
}

/// A room's key under `prefix` (hash-tagged: the cluster layout of `store/redis/keys.rs`).
pub(crate) fn room_key(prefix: &str, room: &str, what: &str) -> String {
    format!("{prefix}:room:{{{room}}}:{what}")
}

fn contents(frames: &Value) -> Vec<String> {
    frames
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["content"].as_str().unwrap().to_owned())
        .collect()
}

/// No `resync` reached `c` before the answer to a ping.
async fn no_resync(c: &mut Client) {
    c.send(json!({"type":"ping","id":7})).await;
    let next = c
        .expect_where(|v| v["type"] == "resync" || v["type"] == "pong")
        .await;
    assert_eq!(next["type"], "pong", "no resync expected: {next}");
}

pub(crate) async fn rooms_on_every_master_chat_with_exact_recovery(cluster: &RedisCluster) {
    let (url, prefix) = (cluster.url(), unique_prefix());
    let (one, two) = replicas(&url, &prefix, &[]).await;
    let rooms = rooms_on_every_master(cluster, &prefix).await;
    let mut ann = Client::hello(&one.ws_url(), "Ann").await;
    let mut bob = Client::hello(&two.ws_url(), "Bob").await;
    let mut empty_epochs = Vec::new();
    for room in &rooms {
        create_and_join(&mut ann, room).await;
        // Joined while empty: the epoch comes from the incarnation (a global key) and must be
        // the one the first message gets (in the room's slot).
        let joined = bob.join(room).await;
        assert_eq!(joined["offset"], 0, "{joined}");
        empty_epochs.push(joined["epoch"].as_str().unwrap().to_owned());
    }
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
    no_resync(&mut bob).await;
    let mut cy = Client::hello(&two.ws_url(), "Cy").await;
    for (room, epoch) in rooms.iter().zip(&empty_epochs) {
        let want: Vec<String> = (1..=N).map(|i| format!("{room}-{i}")).collect();
        // A newcomer reads the history.
        let joined = cy.join(room).await;
        assert_eq!(joined["offset"], N, "{joined}");
        assert_eq!(contents(&joined["messages"]), want, "{room}");
        // Exactly what came after a position: from the empty room's epoch at 0, and from 2.
        for since in [0, 2] {
            cy.send(json!({"type":"join","room":room,"since":{"epoch":epoch,"offset":since}}))
                .await;
            let back = cy.expect("joined").await;
            assert_eq!(back["recovered"], true, "{room} since {since}: {back}");
            assert_eq!(
                offsets(back["messages"].as_array().unwrap()),
                (since + 1..=N).collect::<Vec<_>>(),
                "{room} since {since}"
            );
        }
        // Another epoch is not this room's history: the recent page, not recovered.
        cy.send(json!({"type":"join","room":room,"since":{"epoch":"elsewhere","offset":2}}))
            .await;
        let other = cy.expect("joined").await;
        assert_eq!(other["recovered"], false, "{other}");
        assert_eq!(contents(&other["messages"]), want, "{room}");
    }
}

pub(crate) async fn timed_rooms_clear_and_expire(cluster: &RedisCluster) {
    let (url, prefix) = (cluster.url(), unique_prefix());
    let (one, two) = replicas(&url, &prefix, &["--timed-minute-ms", "400"]).await;
    let mut ann = Client::hello(&one.ws_url(), "Ann").await;
    let mut bob = Client::hello(&two.ws_url(), "Bob").await;
    ann.send(json!({"type":"create_room","name":"tick","clear_every_mins":1}))
        .await;
    assert_eq!(ann.expect("room_created").await["room"], "tick");
    ann.join("tick").await;
    bob.join("tick").await;
    for i in 1..=3 {
        ann.say("tick", &format!("t{i}"), &format!("t{i}")).await;
    }
    // Cleared once through 3 (both replicas sweep; one claims), seen on both replicas.
    for c in [&mut ann, &mut bob] {
        let cleared = c
            .expect_where(|v| v["type"] == "cleared" && v["room"] == "tick")
            .await;
        assert_eq!(cleared["through"], 3, "{cleared}");
    }
    let stream = room_key(&prefix, "tick", "stream");
    assert_eq!(on(cluster, &stream, &["XLEN", &stream]).await, "0");
    // Offsets go on after a clear.
    assert_eq!(ann.say("tick", "t4", "t4").await["offset"], 4);

    ann.send(json!({"type":"create_room","name":"brief","expire_after_mins":2}))
        .await;
    assert_eq!(ann.expect("room_created").await["room"], "brief");
    ann.join("brief").await;
    bob.join("brief").await;
    ann.say("brief", "soon gone", "b1").await;
    for c in [&mut ann, &mut bob] {
        c.expect_where(|v| v["type"] == "expired" && v["room"] == "brief")
            .await;
    }
    let rooms = format!("{{{prefix}}}:rooms");
    assert_eq!(
        on(cluster, &rooms, &["SISMEMBER", &rooms, "brief"]).await,
        "0"
    );
    let stream = room_key(&prefix, "brief", "stream");
    assert_eq!(on(cluster, &stream, &["EXISTS", &stream]).await, "0");
}

pub(crate) async fn reads_and_mentions_follow_the_user(cluster: &RedisCluster) {
    let (url, prefix) = (cluster.url(), unique_prefix());
    let (one, two) = replicas(&url, &prefix, &[]).await;
    let ann = register_at(&base(&one), "ann", None).await;
    let bob = register_at(&base(&two), "bob", None).await;
    let mut ann_a = signed_in(&one, &ann).await;
    let mut bob_b = signed_in(&two, &bob).await;
    create_and_join(&mut ann_a, "notes").await;
    bob_b.join("notes").await;
    for i in 1..=3 {
        ann_a.say("notes", &format!("m{i}"), &format!("c{i}")).await;
    }
    bob_b.messages("notes", 3).await;
    bob_b
        .send(json!({"type":"read","room":"notes","offset":2}))
        .await;
    let receipt = ann_a
        .expect_where(|v| v["type"] == "receipts" && v["offset"] == 2)
        .await;
    assert_eq!(receipt["names"], json!(["bob"]), "{receipt}");
    // Backwards changes nothing.
    bob_b
        .send(json!({"type":"read","room":"notes","offset":1}))
        .await;
    ann_a.say("notes", "hey @bob, look", "c4").await;
    drop(bob_b);
    let mut bob_back = signed_in(&one, &bob).await;
    let unread = bob_back.expect("unread").await;
    assert_eq!(
        unread["rooms"],
        json!([{"room":"notes","offset":2,"unread":2,"mentions":1}]),
        "{unread}"
    );
    bob_back.join("notes").await;
    bob_back
        .send(json!({"type":"read","room":"notes","offset":999}))
        .await;
    let unread = bob_back
        .expect_where(|v| v["type"] == "unread" && v["rooms"][0]["offset"] == 4)
        .await;
    assert_eq!(
        unread["rooms"],
        json!([{"room":"notes","offset":4,"unread":0,"mentions":0}]),
        "a read past the head stops at it and clears the mention it passed"
    );
    let receipt = ann_a
        .expect_where(|v| v["type"] == "receipts" && v["offset"] == 4)
        .await;
    assert_eq!(receipt["names"], json!(["bob"]), "{receipt}");
    // A room on another master mentions bob and carol at once (each user's keys in their own
    // slot); bob's unread spans both rooms' slots.
    let notes = cluster.master_of(&room_key(&prefix, "notes", "seq")).await;
    let mut i = 0;
    let far = loop {
        let name = format!("far{i}");
        if cluster.master_of(&room_key(&prefix, &name, "seq")).await != notes {
            break name;
        }
        i += 1;
    };
    let carol = register_at(&base(&one), "carol", None).await;
    create_and_join(&mut ann_a, &far).await;
    ann_a.say(&far, "@bob and @carol: here", "f1").await;
    drop(bob_back);
    let mut bob_again = signed_in(&two, &bob).await;
    assert_eq!(
        bob_again.expect("unread").await["rooms"],
        json!([{"room":far,"offset":0,"unread":1,"mentions":1},
               {"room":"notes","offset":4,"unread":0,"mentions":0}])
    );
    let mut carol_b = signed_in(&two, &carol).await;
    assert_eq!(
        carol_b.expect("unread").await["rooms"],
        json!([{"room":far,"offset":0,"unread":1,"mentions":1}])
    );
}

/// A master killed mid-chat, avoiding `spared` (a master left without a replica by an earlier
/// kill): every send acked or refused, every acked message reaches the other replica's member
/// once, in order, and a newcomer's history.
pub(crate) async fn a_killed_master_loses_no_acked_message(
    cluster: &mut RedisCluster,
    spared: u16,
) {
    let (url, prefix) = (cluster.url(), unique_prefix());
    let (one, two) = replicas(&url, &prefix, &[]).await;
    let mut room = String::new();
    for candidate in rooms_on_every_master(cluster, &prefix).await {
        if cluster
            .master_of(&room_key(&prefix, &candidate, "events"))
            .await
            != spared
        {
            room = candidate;
            break;
        }
    }
    let channel = room_key(&prefix, &room, "events");
    let mut ann = Client::hello(&one.ws_url(), "Ann").await;
    let mut bob = Client::hello(&two.ws_url(), "Bob").await;
    create_and_join(&mut ann, &room).await;
    bob.join(&room).await;
    assert_eq!(ann.say(&room, "before", "before").await["offset"], 1);
    received_through(&mut bob, &room, 0, 1).await;
    // The first sends after the failover may still find the old route: retried with the same
    // client id, never stored twice.
    let (_, last) =
        kill_master_mid_chat(cluster, (&mut ann, &mut bob), &two, (&room, &channel), true).await;
    let mut cy = Client::hello(&two.ws_url(), "Cy").await;
    let joined = cy.join(&room).await;
    assert_eq!(joined["offset"], last, "{joined}");
    assert_eq!(
        offsets(joined["messages"].as_array().unwrap()),
        (1..=last).collect::<Vec<_>>()
    );
}
