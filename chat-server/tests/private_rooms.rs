//! Private rooms and room deletion (#13) over real sockets: two replicas on one Redis (the
//! Redis-only mode) and on Redis + PostgreSQL (the durable mode), and one in-memory server.
//! Accounts are made through `POST /api/register` and sockets carry its cookie. What is checked:
//! a guest and a registered non-participant cannot join, read, search, list, send to, type in,
//! vote or edit in, or otherwise learn of a private room (the answer is byte for byte the one for
//! a room that does not exist); a
//! participant removed on one replica stops receiving on the other and is told; an added one sees
//! the room appear; deletion is for the creator or an admin and removes the room everywhere.

mod common;

use common::{
    Client,
    accounts::{PASSWORD, connect, register, user},
    cluster::{Cluster, Mode, ask, request},
    redis_cmd, shared_redis, start_server, unique_prefix,
};
use serde_json::{Value, json};

/// Create a private room as `c`; its full name.
async fn create_private(c: &mut Client, name: &str) -> String {
    c.send(json!({"type": "create_room", "name": name, "private": true}))
        .await;
    let prefix = format!("{name}-");
    let created = c
        .expect_where(|v| {
            let room = v["room"].as_str().unwrap_or("");
            (v["type"] == "room_created" || v["type"] == "error")
                && (room == name || room.starts_with(&prefix))
        })
        .await;
    assert_eq!(created["private"], true, "{created}");
    let room = created["room"].as_str().unwrap().to_owned();
    assert!(room.starts_with(&format!("{name}-")), "{room}");
    room
}

/// The names in the next `rooms` frame that satisfies `pred` (names, private flags).
async fn rooms_where(
    c: &mut Client,
    pred: impl Fn(&[(String, bool)]) -> bool,
) -> Vec<(String, bool)> {
    loop {
        let v = c.expect("rooms").await;
        let rooms: Vec<(String, bool)> = v["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| (r["name"].as_str().unwrap().to_owned(), r["private"] == true))
            .collect();
        if pred(&rooms) {
            return rooms;
        }
    }
}

fn lists(rooms: &[(String, bool)], room: &str) -> bool {
    rooms.iter().any(|(n, _)| n == room)
}

/// The error frame with the room's name taken out, to compare two answers.
fn anonymised(error: &Value, room: &str) -> String {
    assert_eq!(error["type"], "error", "{error}");
    error.to_string().replace(room, "ROOM")
}

async fn invisible_to_outsiders(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let ann_cookie = register(&cluster.a, "Ann").await;
    let mut ann = connect(&cluster.a, Some(&ann_cookie)).await;
    let room = create_private(&mut ann, "plans").await;
    let seen = rooms_where(&mut ann, |r| lists(r, &room)).await;
    assert!(seen.contains(&(room.clone(), true)), "{seen:?}");
    ann.join(&room).await;
    let ack = ann.say(&room, "the secret", "s-1").await;
    assert_eq!(ack["type"], "ack", "{ack}");

    let missing = "plans-0000000000";
    let eve = user(cluster.b(), "eve").await;
    let guest = connect(cluster.b(), None).await;
    for (who, mut c) in [("eve", eve), ("guest", guest)] {
        for request in [
            json!({"type": "join", "room": "ROOM"}),
            json!({"type": "history", "room": "ROOM"}),
            json!({"type": "send", "room": "ROOM", "content": "hi", "client_id": "x-1"}),
            // Everything added since private rooms asks the same checks.
            json!({"type": "search", "room": "ROOM", "query": "secret"}),
            json!({"type": "typing", "room": "ROOM"}),
            json!({"type": "vote", "room": "ROOM", "offset": 1, "value": 1}),
            json!({"type": "read", "room": "ROOM", "offset": 1}),
            json!({"type": "edit", "room": "ROOM", "offset": 1, "content": "mine"}),
        ] {
            let for_room = |r: &str| {
                serde_json::from_str::<Value>(&request.to_string().replace("ROOM", r)).unwrap()
            };
            let hidden = ask(&mut c, for_room(&room), "never").await;
            let absent = ask(&mut c, for_room(missing), "never").await;
            // A send names a room the sender has not joined: `not_joined`, for any room.
            let want = match (who, request["type"].as_str().unwrap()) {
                ("guest", "send" | "vote" | "read" | "edit") => "login_required",
                (_, "send" | "vote" | "read" | "edit" | "typing") => "not_joined",
                _ => "no_such_room",
            };
            assert_eq!(hidden["code"], want, "{who}: {hidden}");
            assert_eq!(
                anonymised(&hidden, &room),
                anonymised(&absent, missing),
                "{who} tells a private room from no room"
            );
        }
        for request in [
            json!({"type": "add_participant", "room": "ROOM", "username": "eve"}),
            json!({"type": "remove_participant", "room": "ROOM", "username": "ann"}),
            json!({"type": "delete_room", "room": "ROOM"}),
        ] {
            let for_room = |r: &str| {
                serde_json::from_str::<Value>(&request.to_string().replace("ROOM", r)).unwrap()
            };
            let hidden = ask(&mut c, for_room(&room), "never").await;
            let absent = ask(&mut c, for_room(missing), "never").await;
            let want = if who == "guest" {
                "login_required"
            } else {
                "no_such_room"
            };
            assert_eq!(hidden["code"], want, "{who}: {hidden}");
            assert_eq!(anonymised(&hidden, &room), anonymised(&absent, missing));
        }
        c.send(json!({"type": "rooms"})).await;
        let listed = rooms_where(&mut c, |_| true).await;
        assert!(!lists(&listed, &room), "{who} sees {room}: {listed:?}");
        assert!(lists(&listed, "general"));
        if who == "guest" {
            let create = ask(
                &mut c,
                json!({"type": "create_room", "name": "plans", "private": true}),
                "room_created",
            )
            .await;
            assert_eq!(create["code"], "login_required", "{create}");
        } else {
            // The name asked for is free: a private room's name carries a random suffix, so
            // creating one tells nothing about the others.
            let own = create_private(&mut c, "plans").await;
            assert_ne!(own, room);
        }
    }
    let (_, _, api) = common::http_get(&format!("{}/api/rooms", cluster.b().http_url())).await;
    assert!(
        !api.contains(&room),
        "/api/rooms lists it to a guest: {api}"
    );
    assert!(api.contains("general"), "{api}");
    // The other replica lists it to its creator once its room list caught up (coalesced).
    let deadline = std::time::Instant::now() + common::WAIT;
    loop {
        let (_, _, api) = request(cluster.b(), "GET", "/api/rooms", Some(&ann_cookie), None).await;
        if api.contains(&room) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "/api/rooms hides it from its creator: {api}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    cluster.stop().await;
}

#[tokio::test]
async fn a_private_room_is_invisible_to_guests_and_non_participants_in_memory() {
    invisible_to_outsiders(Mode::Memory).await;
}

#[tokio::test]
async fn a_private_room_is_invisible_to_guests_and_non_participants_with_redis() {
    invisible_to_outsiders(Mode::Redis).await;
}

#[tokio::test]
async fn a_private_room_is_invisible_to_guests_and_non_participants_durable() {
    invisible_to_outsiders(Mode::Durable).await;
}

async fn removal_takes_effect_everywhere(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let mut ann = user(&cluster.a, "ann").await;
    let mut bob = user(cluster.b(), "Bob").await;
    bob.join("general").await;
    let room = create_private(&mut ann, "team").await;
    ann.join(&room).await;
    let participants = ann.expect("participants").await;
    assert_eq!(participants["participants"], json!(["ann"]));

    let unknown = ask(
        &mut ann,
        json!({"type": "add_participant", "room": room, "username": "nobody"}),
        "participants",
    )
    .await;
    assert_eq!(unknown["code"], "no_such_user", "{unknown}");
    assert_eq!(unknown["field"], "username", "{unknown}");
    let added = ask(
        &mut ann,
        json!({"type": "add_participant", "room": room, "username": "BOB"}),
        "participants",
    )
    .await;
    assert_eq!(added["participants"], json!(["ann", "bob"]), "{added}");

    // The room appears in Bob's list on the other replica, live.
    let listed = rooms_where(&mut bob, |r| lists(r, &room)).await;
    assert!(listed.contains(&(room.clone(), true)), "{listed:?}");
    let joined = bob.join(&room).await;
    assert_eq!(joined["room"], room.as_str());
    let p = bob
        .expect_where(|v| v["type"] == "participants" && v["room"] == room)
        .await;
    assert_eq!(p["participants"], json!(["ann", "bob"]));
    assert_eq!(ann.say(&room, "welcome bob", "w-1").await["type"], "ack");
    let got = bob.messages(&room, 1).await;
    assert_eq!(got[0]["content"], "welcome bob");

    // A participant who is not the creator manages nothing.
    let forbidden = ask(
        &mut bob,
        json!({"type": "remove_participant", "room": room, "username": "ann"}),
        "participants",
    )
    .await;
    assert_eq!(forbidden["code"], "forbidden", "{forbidden}");

    // Ann is in the room: she gets the list as the reply and as a member; the last says it all.
    ann.send(json!({"type": "remove_participant", "room": room, "username": "bob"}))
        .await;
    ann.expect_where(|v| v["type"] == "participants" && v["participants"] == json!(["ann"]))
        .await;
    let told = bob
        .expect_where(|v| v["type"] == "removed" && v["room"] == room)
        .await;
    assert_eq!(told["room"], room.as_str());

    // Sent after the removal, then a marker in a room Bob is still in: the marker arrives, the
    // private message never does (one replica delivers a replica's messages in order).
    assert_eq!(ann.say(&room, "after bob left", "w-2").await["type"], "ack");
    ann.join("general").await;
    assert_eq!(ann.say("general", "marker", "m-1").await["type"], "ack");
    loop {
        let v = bob.next().await.expect("bob's socket stays open");
        assert!(
            !(v["type"] == "message" && v["room"] == room),
            "a removed participant received {v}"
        );
        if v["type"] == "message" && v["content"] == "marker" {
            break;
        }
    }
    let again = ask(&mut bob, json!({"type": "join", "room": room}), "joined").await;
    assert_eq!(again["code"], "no_such_room", "{again}");
    let send = ask(
        &mut bob,
        json!({"type": "send", "room": room, "content": "still here?", "client_id": "b-1"}),
        "ack",
    )
    .await;
    assert_eq!(send["code"], "not_joined", "{send}");
    // Every list written after the removal was made without the room.
    bob.send(json!({"type": "rooms"})).await;
    let listed = rooms_where(&mut bob, |_| true).await;
    assert!(!lists(&listed, &room), "{listed:?}");
    cluster.stop().await;
}

#[tokio::test]
async fn a_removed_participant_stops_receiving_and_an_added_one_sees_the_room_in_memory() {
    removal_takes_effect_everywhere(Mode::Memory).await;
}

#[tokio::test]
async fn a_removed_participant_stops_receiving_on_the_other_replica_with_redis() {
    removal_takes_effect_everywhere(Mode::Redis).await;
}

#[tokio::test]
async fn a_removed_participant_stops_receiving_on_the_other_replica_durable() {
    removal_takes_effect_everywhere(Mode::Durable).await;
}

async fn deletion_by_creator_or_admin(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let mut ann = user(&cluster.a, "ann").await;
    let mut bob = user(cluster.b(), "bob").await;
    let mut root = user(cluster.b(), "root").await;
    let room = create_private(&mut ann, "gone").await;
    ask(
        &mut ann,
        json!({"type": "add_participant", "room": room, "username": "bob"}),
        "participants",
    )
    .await;
    ann.join(&room).await;
    bob.join(&room).await;
    for i in 0..3 {
        let ack = ann.say(&room, &format!("m{i}"), &format!("d-{i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    bob.messages(&room, 3).await;
    // An admin sees every private room.
    root.send(json!({"type": "rooms"})).await;
    rooms_where(&mut root, |r| lists(r, &room)).await;

    let by_bob = ask(
        &mut bob,
        json!({"type": "delete_room", "room": room}),
        "room_deleted",
    )
    .await;
    assert_eq!(by_bob["code"], "forbidden", "{by_bob}");
    let general = ask(
        &mut root,
        json!({"type": "delete_room", "room": "general"}),
        "room_deleted",
    )
    .await;
    assert_eq!(general["code"], "forbidden", "{general}");

    let done = ask(
        &mut ann,
        json!({"type": "delete_room", "room": room}),
        "room_deleted",
    )
    .await;
    assert_eq!(done["type"], "room_deleted", "{done}");
    let told = bob
        .expect_where(|v| v["type"] == "room_deleted" && v["room"] == room)
        .await;
    assert_eq!(told["room"], room.as_str());
    for c in [&mut ann, &mut bob, &mut root] {
        c.send(json!({"type": "rooms"})).await;
        rooms_where(c, |r| !lists(r, &room)).await;
        let join = ask(c, json!({"type": "join", "room": room}), "joined").await;
        assert_eq!(join["code"], "no_such_room", "{join}");
    }
    if let Some(db) = &cluster.database {
        assert!(common::stored_messages(db, &room).await.is_empty());
    }
    if let Some((url, prefix)) = &cluster.redis {
        let key = format!("{prefix}:room:{room}:stream");
        let stream: i64 = redis_cmd(url, &["EXISTS", &key]).await.unwrap();
        assert_eq!(stream, 0, "the history is gone from Redis");
        let key = format!("{prefix}:access");
        let access: i64 = redis_cmd(url, &["HEXISTS", &key, &room]).await.unwrap();
        assert_eq!(access, 0);
    }

    // A public room (timed, voted on, read): its creator deletes it, someone else may not, an
    // admin may; its timers, votes and read positions go with it.
    let created = ask(
        &mut bob,
        json!({"type": "create_room", "name": "lobby", "clear_every_mins": 10}),
        "room_created",
    )
    .await;
    assert_eq!(created["type"], "room_created", "{created}");
    bob.join("lobby").await;
    bob.say("lobby", "old", "l-1").await;
    let votes = ask(
        &mut bob,
        json!({"type": "vote", "room": "lobby", "offset": 1, "value": 1}),
        "votes",
    )
    .await;
    assert_eq!(votes["up"], 1, "{votes}");
    bob.send(json!({"type": "read", "room": "lobby", "offset": 1}))
        .await;
    // Redis-only mode: the positions are in Redis (the durable mode keeps them in PostgreSQL).
    if let (Some((url, prefix)), None) = (&cluster.redis, &cluster.database) {
        let key = format!("{prefix}:room:lobby:reads");
        let deadline = std::time::Instant::now() + common::WAIT;
        while redis_cmd::<i64>(url, &["EXISTS", &key]).await.unwrap() == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the read was not written"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
    let by_ann = ask(
        &mut ann,
        json!({"type": "delete_room", "room": "lobby"}),
        "room_deleted",
    )
    .await;
    assert_eq!(by_ann["code"], "forbidden", "{by_ann}");
    let by_root = ask(
        &mut root,
        json!({"type": "delete_room", "room": "lobby"}),
        "room_deleted",
    )
    .await;
    assert_eq!(by_root["type"], "room_deleted", "{by_root}");
    // The name is free again, and the new room starts empty.
    ask(
        &mut bob,
        json!({"type": "create_room", "name": "lobby"}),
        "room_created",
    )
    .await;
    let joined = bob.join("lobby").await;
    assert_eq!(joined["messages"], json!([]), "{joined}");
    assert_eq!(joined["offset"], 0, "{joined}");
    bob.say("lobby", "new", "l-2").await;
    bob.send(json!({"type": "history", "room": "lobby"})).await;
    let page = bob
        .expect_where(|v| v["type"] == "history" && v["room"] == "lobby")
        .await;
    let first = &page["messages"][0];
    assert_eq!(first["content"], "new", "{page}");
    assert_eq!(
        first["votes"],
        json!({"up": 0, "down": 0}),
        "old votes: {page}"
    );
    assert!(first.get("my_vote").is_none(), "{page}");
    if let (Some((url, prefix)), None) = (&cluster.redis, &cluster.database) {
        for what in ["tally", "reads"] {
            let key = format!("{prefix}:room:lobby:{what}");
            let n: i64 = redis_cmd(url, &["EXISTS", &key]).await.unwrap();
            assert_eq!(n, 0, "{key} outlived the deletion");
        }
    }
    cluster.stop().await;
}

#[tokio::test]
async fn delete_room_is_for_the_creator_or_an_admin_in_memory() {
    deletion_by_creator_or_admin(Mode::Memory).await;
}

#[tokio::test]
async fn delete_room_is_for_the_creator_or_an_admin_and_removes_it_everywhere_with_redis() {
    deletion_by_creator_or_admin(Mode::Redis).await;
}

#[tokio::test]
async fn delete_room_is_for_the_creator_or_an_admin_and_removes_it_everywhere_durable() {
    deletion_by_creator_or_admin(Mode::Durable).await;
}

async fn deleted_accounts_leave_their_rooms(mode: Mode) {
    let cluster = Cluster::start(mode).await;
    let mut ann = user(&cluster.a, "ann").await;
    let bob_cookie = register(cluster.b(), "bob").await;
    let room = create_private(&mut ann, "club").await;
    let added = ask(
        &mut ann,
        json!({"type": "add_participant", "room": room, "username": "bob"}),
        "participants",
    )
    .await;
    assert_eq!(added["participants"], json!(["ann", "bob"]), "{added}");
    let body = json!({"password": PASSWORD});
    let path = "/api/account/delete";
    let (status, head, reply) =
        request(cluster.b(), "POST", path, Some(&bob_cookie), Some(&body)).await;
    assert_eq!(status, 204, "{head}\n{reply}");
    // Someone else takes the name: they inherit nothing.
    let mut new_bob = user(cluster.b(), "Bob").await;
    let join = ask(
        &mut new_bob,
        json!({"type": "join", "room": room}),
        "joined",
    )
    .await;
    assert_eq!(join["code"], "no_such_room", "{join}");
    ann.join(&room).await;
    let p = ann
        .expect_where(|v| v["type"] == "participants" && v["participants"] == json!(["ann"]))
        .await;
    assert_eq!(p["room"], room.as_str());
    cluster.stop().await;
}

#[tokio::test]
async fn a_deleted_account_leaves_its_rooms_in_memory() {
    deleted_accounts_leave_their_rooms(Mode::Memory).await;
}

#[tokio::test]
async fn a_deleted_account_leaves_its_rooms_with_redis() {
    deleted_accounts_leave_their_rooms(Mode::Redis).await;
}

#[tokio::test]
async fn a_deleted_account_leaves_its_rooms_durable() {
    deleted_accounts_leave_their_rooms(Mode::Durable).await;
}

/// Redis lost its data (every key of the chat's prefix gone) while people are in a private room:
/// its participants are lost, so the room must not come back as a public room (presence
/// heartbeats bring back the rooms people are in); its members are told it is gone.
#[tokio::test]
async fn a_private_room_does_not_come_back_public_after_redis_lost_its_data() {
    let cluster = Cluster::start(Mode::Redis).await;
    let (url, prefix) = cluster.redis.clone().unwrap();
    let mut ann = user(&cluster.a, "ann").await;
    let room = create_private(&mut ann, "vault").await;
    ann.join(&room).await;
    // Wait for the room list that counts Ann in the room: the presence round for her join is
    // over, so the next one heartbeats with her in the room.
    loop {
        let v = ann.expect("rooms").await;
        let counted =
            v["rooms"].as_array().unwrap().iter().any(|r| {
                r["name"] == room.as_str() && r["online"].as_u64().is_some_and(|n| n >= 1)
            });
        if counted {
            break;
        }
    }
    let keys: Vec<String> = redis_cmd(&url, &["KEYS", &format!("{prefix}:*")])
        .await
        .unwrap();
    let mut del = vec!["DEL"];
    del.extend(keys.iter().map(String::as_str));
    let _: i64 = redis_cmd(&url, &del).await.unwrap();
    // A presence change makes replica A heartbeat (with Ann still in the room) and then
    // refresh its list, which finds the room's participants gone.
    let mut bob = user(&cluster.a, "bob").await;
    bob.join("general").await;
    let told = ann
        .expect_where(|v| v["type"] == "room_deleted" && v["room"] == room)
        .await;
    assert_eq!(told["room"], room.as_str());
    let listed: i64 = redis_cmd(&url, &["SISMEMBER", &format!("{prefix}:rooms"), &room])
        .await
        .unwrap();
    assert_eq!(
        listed, 0,
        "the heartbeat brought {room} back as a public room"
    );
    bob.send(json!({"type": "rooms"})).await;
    let seen = rooms_where(&mut bob, |_| true).await;
    assert!(!lists(&seen, &room), "{seen:?}");
    cluster.stop().await;
}

/// A timed private room that expires leaves its participants' lists like any room: its access
/// record goes with it (memory and Redis; PostgreSQL drops the row and its participants).
async fn expired_private_room_leaves_the_lists(redis: bool) {
    let mut args = vec!["--timed-minute-ms".to_owned(), "200".to_owned()];
    let _guard = if redis {
        let (url, guard) = shared_redis().await;
        args.extend([
            "--redis-url".into(),
            url,
            "--redis-prefix".into(),
            unique_prefix(),
        ]);
        guard
    } else {
        None
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = start_server(&args).await;
    common::wait_ready(&server.http_url()).await;
    let mut ann = user(&server, "ann").await;
    ann.send(
        json!({"type": "create_room", "name": "brief", "private": true, "expire_after_mins": 2}),
    )
    .await;
    let created = ann.expect("room_created").await;
    let room = created["room"].as_str().unwrap().to_owned();
    assert_eq!(created["expire_after_mins"], 2, "{created}");
    ann.join(&room).await;
    ann.expect_where(|v| v["type"] == "expired" && v["room"] == room)
        .await;
    ann.send(json!({"type": "rooms"})).await;
    rooms_where(&mut ann, |r| !lists(r, &room)).await;
    // Not listed again by a later refresh either (the hub's copy is repaired from the store).
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    ann.send(json!({"type": "rooms"})).await;
    let listed = rooms_where(&mut ann, |_| true).await;
    assert!(!lists(&listed, &room), "{listed:?}");
    server.stop().await;
}

#[tokio::test]
async fn an_expired_private_room_leaves_the_lists_in_memory() {
    expired_private_room_leaves_the_lists(false).await;
}

#[tokio::test]
async fn an_expired_private_room_leaves_the_lists_with_redis() {
    expired_private_room_leaves_the_lists(true).await;
}

/// `@eve` in a private room eve is not in counts no mention for her: her `unread` (sent after
/// every `welcome`) does not name the room.
#[tokio::test]
async fn a_mention_in_a_private_room_tells_a_non_participant_nothing() {
    let cluster = Cluster::start(Mode::Memory).await;
    let mut ann = user(&cluster.a, "ann").await;
    let eve_cookie = register(&cluster.a, "eve").await;
    let room = create_private(&mut ann, "hush").await;
    ann.join(&room).await;
    let ack = ann.say(&room, "ask @eve about it", "m-1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let mut eve = connect(&cluster.a, Some(&eve_cookie)).await;
    let unread = eve.expect("unread").await;
    assert!(!unread.to_string().contains(&room), "{unread}");
    cluster.stop().await;
}
