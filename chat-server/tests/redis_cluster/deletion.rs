//! Deleting a room with the Redis-only store on the cluster (`redis_only.rs`): sends racing a
//! deletion on another replica are acked or refused and leave nothing behind; a deletion's wipe
//! leaves a tombstone in the room's slot that a late send cannot get past; a deletion or a
//! creation cut short between its two calls heals itself. The cut-short ones are driven with the
//! store's real scripts announcing on a channel nobody hears, as a replica that died between the
//! calls would leave them.

use std::time::Duration;

use serde_json::json;

use crate::{
    common::{Client, accounts::register_at, redis_cluster::RedisCluster, unique_prefix},
    create_and_join,
    redis_only::{base, on, replicas, room_key, signed_in},
};

/// Runs one of the store's own scripts on the cluster (`redis-cli -c` follows the slot), as a
/// replica would.
async fn eval(cluster: &RedisCluster, script: &str, keys: &[&str], argv: &[&str]) -> String {
    let port = cluster.master_of(keys[0]).await;
    let n = keys.len().to_string();
    let mut a = vec!["-c", "EVAL", script, &n];
    a.extend(keys);
    a.extend(argv);
    cluster.cli(port, &a).await
}

/// The first call of a deletion (`delete_room.lua`, the global slot: unlist the room, mark it
/// deleted), made by hand as a replica would before the room's own call.
async fn unlist(cluster: &RedisCluster, prefix: &str, room: &str) -> String {
    eval(
        cluster,
        include_str!("../../src/store/redis/scripts/delete_room.lua"),
        &[
            &format!("{{{prefix}}}:rooms"),
            &format!("{{{prefix}}}:access"),
            &format!("{{{prefix}}}:deleted"),
            &format!("{{{prefix}}}:timers"),
            &format!("{{{prefix}}}:timed"),
        ],
        &[room, "general", "nobody-listens"],
    )
    .await
}

pub(crate) async fn deleted_rooms_stay_deleted_and_cut_short_calls_heal(cluster: &RedisCluster) {
    let (url, prefix) = (cluster.url(), unique_prefix());
    let (one, two) = replicas(&url, &prefix, &[]).await;
    let dora = register_at(&base(&one), "dora", None).await;
    let mut creator = signed_in(&one, &dora).await;
    let mut member = Client::hello(&two.ws_url(), "Meg").await;
    let rooms = format!("{{{prefix}}}:rooms");
    let deleted = format!("{{{prefix}}}:deleted");

    // 1. Sends race a deletion on the other replica: each is acked (before it) or refused; the
    //    room stays deleted with nothing in its keys, and made again it starts at offset 1.
    create_and_join(&mut creator, "doomed").await;
    member.join("doomed").await;
    member.say("doomed", "first", "first").await;
    for i in 0..200 {
        let id = format!("race-{i}");
        member
            .send(json!({"type":"send","room":"doomed","content":id,"client_id":id}))
            .await;
    }
    creator
        .send(json!({"type":"delete_room","room":"doomed"}))
        .await;
    assert_eq!(creator.expect("room_deleted").await["room"], "doomed");
    for i in 0..200 {
        let id = format!("race-{i}");
        let reply = member
            .expect_where(|v| (v["type"] == "ack" || v["type"] == "error") && v["client_id"] == id)
            .await;
        assert!(
            reply["type"] == "ack"
                || reply["code"] == "no_such_room"
                || reply["code"] == "not_joined",
            "{reply}"
        );
    }
    // Past every heartbeat that could have raced it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        on(cluster, &rooms, &["SISMEMBER", &rooms, "doomed"]).await,
        "0"
    );
    let stream = room_key(&prefix, "doomed", "stream");
    assert_eq!(
        on(cluster, &stream, &["XLEN", &stream]).await,
        "0",
        "stored after the wipe"
    );

    // 2. A send that reaches Redis after the deletion wiped the room, before its replica heard
    //    of it: the deletion run with the real scripts, announced on a channel nobody hears.
    create_and_join(&mut creator, "late").await;
    member.join("late").await;
    let mut watcher = Client::hello(&one.ws_url(), "Wat").await;
    watcher.join("late").await;
    assert_eq!(member.say("late", "one", "l1").await["offset"], 1);
    watcher.messages("late", 1).await;
    let (stream, epoch) = (
        room_key(&prefix, "late", "stream"),
        room_key(&prefix, "late", "epoch"),
    );
    let old_epoch = on(cluster, &epoch, &["GET", &epoch]).await;
    let unlisted = unlist(cluster, &prefix, "late").await;
    assert_eq!(unlisted.trim(), "1");
    let wiped = eval(
        cluster,
        include_str!("../../src/store/redis/scripts/wipe_room.lua"),
        &[
            &epoch,
            &room_key(&prefix, "late", "gone"),
            &stream,
            &room_key(&prefix, "late", "seq"),
            &room_key(&prefix, "late", "idem"),
            &room_key(&prefix, "late", "tally"),
            &room_key(&prefix, "late", "reads"),
            &room_key(&prefix, "late", "cleared"),
        ],
        &[&old_epoch, "fresh0000000"],
    )
    .await;
    assert_eq!(wiped.trim(), "1");
    let refused = member.say("late", "too late", "l2").await;
    assert_eq!(refused["code"], "no_such_room", "{refused}");
    // Refused before it was stored or announced: a typing frame on the room's channel after
    // it reaches the watcher with no message before it.
    member.send(json!({"type":"typing","room":"late"})).await;
    let next = watcher
        .expect_where(|v| v["type"] == "typing" || v["type"] == "message")
        .await;
    assert_eq!(
        next["type"], "typing",
        "the late send was announced: {next}"
    );
    assert_eq!(
        on(cluster, &stream, &["XLEN", &stream]).await,
        "0",
        "the tombstone let it in"
    );
    assert_eq!(
        on(cluster, &rooms, &["SISMEMBER", &rooms, "late"]).await,
        "0"
    );

    // 3. A deletion cut short after its global call (its wipe never ran): the name made again
    //    starts empty at offset 1 in a new epoch, not on the old history.
    create_and_join(&mut creator, "cut").await;
    for i in 1..=3 {
        creator
            .say("cut", &format!("old {i}"), &format!("c{i}"))
            .await;
    }
    let old = creator.join("cut").await;
    let unlisted = unlist(cluster, &prefix, "cut").await;
    assert_eq!(unlisted.trim(), "1");
    let mut fresh = signed_in(&two, &dora).await;
    let made = {
        fresh.send(json!({"type":"create_room","name":"cut"})).await;
        fresh
            .expect_where(|v| v["type"] == "room_created" || v["type"] == "error")
            .await
    };
    assert_eq!(made["type"], "room_created", "{made}");
    let joined = fresh.join("cut").await;
    assert_eq!(joined["offset"], 0, "{joined}");
    assert_ne!(joined["epoch"], old["epoch"], "{joined}");
    assert_eq!(fresh.say("cut", "new", "n1").await["offset"], 1);

    // 4. A creation cut short after its global call (the tombstone stayed): the next send
    //    finds the room listed and not deleted, lifts the tombstone and is stored at offset 1.
    creator
        .send(json!({"type":"delete_room","room":"cut"}))
        .await;
    creator
        .expect_where(|v| v["type"] == "room_deleted" && v["room"] == "cut")
        .await;
    let gone = room_key(&prefix, "cut", "gone");
    assert_ne!(
        on(cluster, &gone, &["EXISTS", &gone]).await,
        "0",
        "a deletion leaves a tombstone"
    );
    let created = eval(
        cluster,
        include_str!("../../src/store/redis/scripts/create_room.lua"),
        &[&rooms, &format!("{{{prefix}}}:access"), &deleted],
        &["cut", "1000", "nobody-listens", "general", ""],
    )
    .await;
    assert_eq!(created.trim(), "created");
    let mut again = signed_in(&one, &dora).await;
    again.join("cut").await;
    let ack = again.say("cut", "after the cut", "a1").await;
    assert_eq!(ack["offset"], 1, "{ack}");
    assert_eq!(on(cluster, &gone, &["EXISTS", &gone]).await, "0");
}
