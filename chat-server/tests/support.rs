//! The support desk (#15) over real sockets: two replicas on one Redis (the Redis-only mode) and
//! on Redis + PostgreSQL (the durable mode), and one in-memory server. Agents come from
//! `--support-agents` (and `--admins`); accounts are made through `POST /api/register`. What is
//! checked: a client's message reaches an agent on the other replica in the `support_queue`, with
//! the client's key; of two agents taking one conversation on different replicas exactly one wins
//! and the other gets `taken`; typing and read notices reach the other side; a non-agent gets
//! `forbidden` for the queue and cannot join or read another client's conversation; hand-over,
//! closing and reopening by writing again; support rooms stay out of `rooms`; guests with
//! `--guest-support` get a conversation they resume with their token.

mod common;

use common::{
    Client,
    accounts::{PASSWORD, connect, register, user},
    cluster::{Cluster, Mode, ask, request},
};
use serde_json::{Value, json};

const AGENTS: [&str; 2] = ["--support-agents", "ann,bob"];

/// The conversation of `room` in the next `support_queue` where it satisfies `pred`.
async fn queued(c: &mut Client, room: &str, pred: impl Fn(&Value) -> bool) -> Value {
    loop {
        let queue = c.expect("support_queue").await;
        let found = queue["conversations"]
            .as_array()
            .expect("conversations")
            .iter()
            .find(|conv| conv["room"] == room)
            .cloned();
        if let Some(conv) = found.filter(|c| pred(c)) {
            return conv;
        }
    }
}

/// The next `support_state` of `room`.
async fn state_of(c: &mut Client, room: &str) -> Value {
    c.expect_where(|v| v["type"] == "support_state" && v["room"] == room)
        .await
}

/// `request` about `room` answered by `support_state` or an error naming the room.
async fn act(c: &mut Client, request: Value) -> Value {
    ask(c, request, "support_state").await
}

/// An agent's socket: `welcome` says `agent: true` and the queue follows it (returned).
async fn agent(server: &common::TestServer, username: &str) -> (Client, Value) {
    let cookie = register(server, username).await;
    let mut c = Client::connect_with_cookie(&server.ws_url(), &cookie).await;
    c.send(json!({"type": "hello", "name": "x"})).await;
    let welcome = c.expect("welcome").await;
    assert_eq!(welcome["user"]["agent"], true, "{welcome}");
    let queue = c.expect("support_queue").await;
    (c, queue)
}

async fn open(c: &mut Client) -> Value {
    c.send(json!({"type": "support_open"})).await;
    c.expect_where(|v| v["type"] == "support_opened" || v["type"] == "error")
        .await
}

async fn flows(mode: Mode) {
    let cluster = Cluster::start_with(mode, &AGENTS).await;
    let (a, b) = (&cluster.a, cluster.b());
    let (mut ann, _) = agent(b, "ann").await;
    let (mut bob, _) = agent(a, "bob").await;
    let carol_cookie = register(a, "Carol").await;
    let mut carol = Client::connect_with_cookie(&a.ws_url(), &carol_cookie).await;
    carol.send(json!({"type": "hello", "name": "x"})).await;
    let welcome = carol.expect("welcome").await;
    assert_eq!(welcome["user"]["agent"], false, "{welcome}");

    // The client opens and writes; the agent on the other replica sees it with the client's key.
    let opened = open(&mut carol).await;
    assert_eq!(opened["type"], "support_opened", "{opened}");
    let room = opened["room"].as_str().unwrap().to_owned();
    assert!(room.starts_with("support-"), "{room}");
    assert_eq!(opened["state"], "waiting");
    assert!(
        opened["taken_by"].is_null() && opened.get("resume").is_none(),
        "{opened}"
    );
    assert_eq!(
        open(&mut carol).await["room"],
        room,
        "one conversation per client"
    );
    carol.join(&room).await;
    let ack = carol.say(&room, "my order never came", "c-1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let first = ack["offset"].as_u64().unwrap();
    let conv = queued(&mut ann, &room, |c| !c["last"].is_null()).await;
    assert_eq!(conv["client"], "carol", "{conv}");
    assert_eq!(conv["client_name"], "Carol");
    assert_eq!(conv["guest"], false);
    assert_eq!(conv["state"], "waiting");
    assert_eq!(conv["last"]["content"], "my order never came");
    assert_eq!(conv["last"]["offset"], first);
    assert!(conv["waiting_since"].is_string(), "{conv}");
    assert_eq!(conv["unread"], 1);
    assert!(
        conv["taken_by"].is_null() && conv["opened_at"].is_string(),
        "{conv}"
    );

    // A non-agent: no queue, no way into someone else's conversation.
    let mut eve = user(b, "eve").await;
    eve.send(json!({"type": "support_queue"})).await;
    let refused = eve.expect("error").await;
    assert_eq!(refused["code"], "forbidden", "{refused}");
    for request in [
        json!({"type": "join", "room": room}),
        json!({"type": "history", "room": room}),
    ] {
        let hidden = ask(&mut eve, request, "never").await;
        assert_eq!(hidden["code"], "no_such_room", "{hidden}");
    }
    let take = json!({"type": "support_take", "room": room});
    assert_eq!(act(&mut eve, take.clone()).await["code"], "forbidden");
    // Her own conversation is another room.
    let eves = open(&mut eve).await;
    assert_ne!(eves["room"], room);
    // Nobody's room list shows support rooms.
    for c in [&mut carol, &mut ann] {
        c.send(json!({"type": "rooms"})).await;
        let rooms = c.expect("rooms").await;
        assert!(!rooms.to_string().contains("support-"), "{rooms}");
    }
    let reserved = json!({"type": "create_room", "name": "support", "private": true});
    carol.send(reserved).await;
    let err = carol.expect("error").await;
    assert_eq!(
        (err["code"].as_str(), err["field"].as_str()),
        (Some("invalid_field"), Some("name"))
    );

    // Two agents on two replicas take at once: exactly one wins.
    ann.send(take.clone()).await;
    bob.send(take.clone()).await;
    let replies = [
        act_reply(&mut ann, &room).await,
        act_reply(&mut bob, &room).await,
    ];
    let won: Vec<&Value> = replies
        .iter()
        .filter(|r| r["type"] == "support_state")
        .collect();
    let lost: Vec<&Value> = replies.iter().filter(|r| r["type"] == "error").collect();
    assert_eq!((won.len(), lost.len()), (1, 1), "{replies:?}");
    assert_eq!(lost[0]["code"], "taken", "{replies:?}");
    let winner = won[0]["taken_by"].as_str().unwrap().to_owned();
    assert_eq!(won[0]["state"], "open");
    let (mut holder, mut other, other_name) = if winner == "ann" {
        (ann, bob, "bob")
    } else {
        (bob, ann, "ann")
    };
    let seen = state_of(&mut carol, &room).await;
    assert_eq!(
        (seen["state"].as_str(), seen["taken_by"].as_str()),
        (Some("open"), Some(winner.as_str()))
    );
    let conv = queued(&mut other, &room, |c| c["state"] == "open").await;
    assert_eq!(conv["taken_by"], winner.as_str());

    // Typing and reads reach the other side; an answer ends the wait.
    holder.join(&room).await;
    holder.send(json!({"type": "typing", "room": room})).await;
    let typing = carol.expect("typing").await;
    assert_eq!(typing["user"], winner.as_str(), "{typing}");
    carol.send(json!({"type": "typing", "room": room})).await;
    let typing = holder.expect("typing").await;
    assert_eq!(typing["user"], "Carol", "{typing}");
    holder
        .send(json!({"type": "read", "room": room, "offset": first}))
        .await;
    let receipt = carol
        .expect_where(|v| v["type"] == "receipts" && v["offset"] == first)
        .await;
    assert_eq!(receipt["names"], json!([winner]), "{receipt}");
    queued(&mut other, &room, |c| c["unread"] == 0).await;
    let answer = holder.say(&room, "on its way", "a-1").await;
    assert_eq!(answer["type"], "ack", "{answer}");
    let message = carol
        .expect_where(|v| v["type"] == "message" && v["user"] == winner.as_str())
        .await;
    assert_eq!(message["content"], "on its way");
    carol
        .send(json!({"type": "read", "room": room, "offset": answer["offset"]}))
        .await;
    holder
        .expect_where(|v| v["type"] == "receipts" && v["names"].to_string().contains("Carol"))
        .await;
    let conv = queued(&mut other, &room, |c| c["last"]["content"] == "on its way").await;
    assert!(conv["waiting_since"].is_null(), "{conv}");

    // Hand-over: not by another agent, not to a non-agent; then to the other agent.
    let to_other = json!({"type": "support_transfer", "room": room, "to": other_name});
    assert_eq!(act(&mut other, to_other.clone()).await["code"], "forbidden");
    let to_eve = json!({"type": "support_transfer", "room": room, "to": "eve"});
    let err = act(&mut holder, to_eve).await;
    assert_eq!(
        (err["code"].as_str(), err["field"].as_str()),
        (Some("invalid_field"), Some("to"))
    );
    holder.send(to_other).await;
    let handed = state_of(&mut carol, &room).await;
    assert_eq!(handed["taken_by"], other_name, "{handed}");
    // The holder is in the room: it hears the change there (no second answer).
    assert_eq!(state_of(&mut holder, &room).await, handed);
    queued(&mut other, &room, |c| c["taken_by"] == other_name).await;

    // Closed by the new holder; the client's next message reopens it.
    let close = json!({"type": "support_close", "room": room});
    assert_eq!(act(&mut holder, close.clone()).await["code"], "forbidden");
    let closed = act(&mut other, close).await;
    assert_eq!(closed["state"], "closed", "{closed}");
    assert_eq!(state_of(&mut carol, &room).await["state"], "closed");
    carol.say(&room, "it came broken", "c-2").await;
    let reopened = state_of(&mut carol, &room).await;
    assert_eq!(reopened["state"], "waiting", "{reopened}");
    assert!(reopened["taken_by"].is_null());
    let conv = queued(&mut other, &room, |c| c["state"] == "waiting").await;
    assert_eq!(conv["unread"], 1, "the first was read: {conv}");
    // An admin is an agent.
    let (mut root, queue) = agent(a, "root").await;
    let listed = queue["conversations"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "carol's and eve's: {queue}");
    assert_eq!(listed[0]["room"], room, "waiting longest: {queue}");
    assert_eq!(listed[0]["client"], "carol");
    root.join(&room).await;
    let (status, _, me) = request(a, "GET", "/api/me", Some(&carol_cookie), None).await;
    assert!(
        status == 200 && me.contains(r#""agent":false"#),
        "{status} {me}"
    );

    // A deleted account's conversation goes with it: the same name later starts afresh.
    let body = json!({"password": PASSWORD});
    let (status, head, _) = request(
        a,
        "POST",
        "/api/account/delete",
        Some(&carol_cookie),
        Some(&body),
    )
    .await;
    assert_eq!(status, 204, "{head}");
    loop {
        let queue = root.expect("support_queue").await;
        if !queue.to_string().contains(&room) {
            break;
        }
    }
    let mut carol = user(b, "carol").await;
    let fresh = open(&mut carol).await;
    assert_ne!(fresh["room"], room, "{fresh}");
    let gone = ask(&mut carol, json!({"type": "join", "room": room}), "never").await;
    assert_eq!(gone["code"], "no_such_room", "{gone}");
    cluster.stop().await;
}

/// The reply to a `support_take` of `room`: `support_state` or an error.
async fn act_reply(c: &mut Client, room: &str) -> Value {
    c.expect_where(|v| (v["type"] == "support_state" || v["type"] == "error") && v["room"] == room)
        .await
}

#[tokio::test]
async fn support_flows_in_memory() {
    flows(Mode::Memory).await;
}

#[tokio::test]
async fn support_flows_across_two_replicas_with_redis() {
    flows(Mode::Redis).await;
}

#[tokio::test]
async fn support_flows_across_two_replicas_durable() {
    flows(Mode::Durable).await;
}

async fn guests(mode: Mode) {
    let cluster =
        Cluster::start_with(mode, &[AGENTS[0], AGENTS[1], "--guest-support", "true"]).await;
    let (mut ann, _) = agent(cluster.b(), "ann").await;
    let mut gus = connect(&cluster.a, None).await;
    let opened = open(&mut gus).await;
    let room = opened["room"].as_str().unwrap().to_owned();
    let resume = opened["resume"]
        .as_str()
        .expect("a resume token")
        .to_owned();
    assert_eq!(resume.len(), 32);
    let twice = open(&mut gus).await;
    assert_eq!(
        (&twice["room"], &twice["resume"]),
        (&opened["room"], &opened["resume"])
    );
    gus.join(&room).await;
    let ack = gus.say(&room, "hi, guest here", "g-1").await;
    assert_eq!(
        ack["type"], "ack",
        "a guest writes in its own conversation: {ack}"
    );
    let conv = queued(&mut ann, &room, |c| !c["last"].is_null()).await;
    assert_eq!(conv["guest"], true);
    assert!(
        conv["client"].as_str().unwrap().starts_with("guest:"),
        "{conv}"
    );
    // Back later with the token: the same conversation.
    let mut again = connect(cluster.b(), None).await;
    again
        .send(json!({"type": "support_open", "resume": resume}))
        .await;
    let resumed = again.expect("support_opened").await;
    assert_eq!(resumed["room"], room);
    again.join(&room).await;
    // Another guest: another conversation, and no way into this one.
    let mut other = connect(cluster.b(), None).await;
    let theirs = open(&mut other).await;
    assert_ne!(theirs["room"], room);
    let hidden = ask(&mut other, json!({"type": "join", "room": room}), "never").await;
    assert_eq!(hidden["code"], "no_such_room", "{hidden}");
    let general = other.say("general", "hi all", "g-2").await;
    assert_eq!(
        general["code"], "login_required",
        "only in its own conversation: {general}"
    );
    cluster.stop().await;
}

#[tokio::test]
async fn guests_resume_their_conversation_in_memory() {
    guests(Mode::Memory).await;
}

#[tokio::test]
async fn guests_resume_their_conversation_with_redis() {
    guests(Mode::Redis).await;
}

#[tokio::test]
async fn without_guest_support_a_guest_may_not_open() {
    let cluster = Cluster::start_with(Mode::Memory, &AGENTS).await;
    let mut guest = connect(&cluster.a, None).await;
    let refused = open(&mut guest).await;
    assert_eq!(refused["code"], "login_required", "{refused}");
    cluster.stop().await;
}

/// Four agents, two per replica, all take each of three conversations at once: each has exactly
/// one winner, and every other take is `taken`.
async fn races(mode: Mode) {
    let cluster = Cluster::start_with(mode, &["--support-agents", "ann,bob,cyd,dee"]).await;
    let mut agents = Vec::new();
    for (i, name) in ["ann", "bob", "cyd", "dee"].into_iter().enumerate() {
        let server = if i % 2 == 0 { &cluster.a } else { cluster.b() };
        agents.push(agent(server, name).await.0);
    }
    let mut rooms = Vec::new();
    for name in ["cl1", "cl2", "cl3"] {
        let mut client = user(&cluster.a, name).await;
        rooms.push(open(&mut client).await["room"].as_str().unwrap().to_owned());
    }
    for room in &rooms {
        for a in &mut agents {
            a.send(json!({"type": "support_take", "room": room})).await;
        }
    }
    for room in &rooms {
        let mut winners = Vec::new();
        for a in &mut agents {
            let reply = act_reply(a, room).await;
            match reply["type"].as_str() {
                Some("support_state") => winners.push(reply["taken_by"].clone()),
                _ => assert_eq!(reply["code"], "taken", "{reply}"),
            }
        }
        assert_eq!(winners.len(), 1, "{room}: {winners:?}");
    }
    cluster.stop().await;
}

#[tokio::test]
async fn concurrent_takes_have_one_winner_with_redis() {
    races(Mode::Redis).await;
}

#[tokio::test]
async fn concurrent_takes_have_one_winner_durable() {
    races(Mode::Durable).await;
}

#[tokio::test]
async fn support_rooms_do_not_count_towards_max_rooms() {
    let cluster = Cluster::start_with(Mode::Redis, &["--max-rooms", "1"]).await;
    for name in ["carol", "dave"] {
        let mut client = user(&cluster.a, name).await;
        let opened = open(&mut client).await;
        assert_eq!(opened["type"], "support_opened", "{opened}");
    }
    let mut erin = user(cluster.b(), "erin").await;
    erin.send(json!({"type": "create_room", "name": "ops"}))
        .await;
    let full = erin
        .expect_where(|v| v["type"] == "room_created" || v["type"] == "error")
        .await;
    assert_eq!(full["code"], "too_many_rooms", "{full}");
    cluster.stop().await;
}
