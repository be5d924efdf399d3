//! Presence signals end to end over real sockets (issue #14, items 6-7): typing reaches the room's
//! other members on the other replica and never the sender, and is rate-limited; read positions
//! only move up and turn into receipts with names on the other replica; unread and mention counts
//! follow a user to a second connection and across a reconnect (and reach a user mentioned by
//! username who never opened the room); one read in a room of many
//! members costs a constant number of Redis writes. Run against two replicas on Redis alone, two
//! on Redis + PostgreSQL, and the memory mode.

mod common;

use common::{
    Client,
    accounts::{connect_at, register_at},
};
use serde_json::{Value, json};

/// Register a user (display name "<username> D.") and return the session cookie.
async fn register(base: &str, username: &str) -> String {
    register_at(base, username, Some(&format!("{username} D."))).await
}

/// A signed-in socket that said hello.
async fn signed_in(ws: &str, cookie: &str) -> Client {
    let hello = json!({"type":"hello","name":"ignored"});
    connect_at(ws, Some(cookie), hello).await.0
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Memory,
    Redis,
    Durable,
}

/// Two replicas (the same one twice in memory mode) and what must stay alive meanwhile.
async fn replicas(mode: Mode) -> (common::TestServer, Option<common::TestServer>, impl Sized) {
    let (redis, redis_server) = common::shared_redis().await;
    let prefix = common::unique_prefix();
    let (db, pg) = match mode {
        Mode::Durable => {
            let (db, pg) = common::fresh_database().await;
            (Some(db), pg)
        }
        _ => (None, None),
    };
    let mut args = vec!["--presence-ttl-secs", "3"];
    if !matches!(mode, Mode::Memory) {
        args.extend(["--redis-url", &redis, "--redis-prefix", &prefix]);
    }
    if let Some(db) = &db {
        args.extend(["--database-url", db]);
    }
    let a = common::start_server(&args).await;
    common::wait_ready(&a.http_url()).await;
    let b = match mode {
        Mode::Memory => None,
        _ => {
            let b = common::start_server(&args).await;
            common::wait_ready(&b.http_url()).await;
            Some(b)
        }
    };
    (a, b, (redis_server, pg))
}

/// Frames of `c` up to and including the message with `content`.
async fn until_message(c: &mut Client, content: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    loop {
        let v = c.next().await.expect("socket open");
        let done = v["type"] == "message" && v["content"] == content;
        seen.push(v);
        if done {
            return seen;
        }
    }
}

fn of_type<'a>(frames: &'a [Value], kind: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["type"] == kind).collect()
}

async fn typing_reaches_others_once_per_interval(mode: Mode) {
    let (a, b, _keep) = replicas(mode).await;
    let b_ws = b.as_ref().map_or_else(|| a.ws_url(), |b| b.ws_url());
    let ann = register(&a.http_url(), "ann").await;
    let mut on_a = signed_in(&a.ws_url(), &ann).await;
    let mut on_b = Client::hello(&b_ws, "Bea").await;
    on_a.join("general").await;
    on_b.join("general").await;
    for _ in 0..5 {
        on_a.send(json!({"type":"typing","room":"general"})).await;
    }
    on_a.say("general", "done typing", "t1").await;
    let at_b = until_message(&mut on_b, "done typing").await;
    let typing = of_type(&at_b, "typing");
    assert_eq!(
        typing.len(),
        1,
        "{mode:?}: five keystrokes in 2 s relay one: {at_b:#?}"
    );
    assert_eq!(
        *typing[0],
        json!({"type":"typing","room":"general","name":"ann D.","user":"ann"})
    );
    let at_a = until_message(&mut on_a, "done typing").await;
    assert!(
        of_type(&at_a, "typing").is_empty(),
        "{mode:?}: not echoed: {at_a:#?}"
    );
    // A guest's typing (guest posting is on in the harness) carries no user.
    on_b.send(json!({"type":"typing","room":"general"})).await;
    let from_guest = on_a.expect("typing").await;
    assert_eq!(from_guest["name"], "Bea");
    assert_eq!(from_guest["user"], Value::Null);
    // Typing needs the room joined.
    on_b.send(json!({"type":"typing","room":"elsewhere"})).await;
    assert_eq!(on_b.expect("error").await["code"], "not_joined");
    a.stop().await;
    if let Some(b) = b {
        b.stop().await;
    }
}

async fn reads_make_receipts_and_unread_follows_the_user(mode: Mode) {
    let (a, b, _keep) = replicas(mode).await;
    let b_url = b.as_ref().map_or_else(|| a.http_url(), |b| b.http_url());
    let b_ws = b.as_ref().map_or_else(|| a.ws_url(), |b| b.ws_url());
    let ann = register(&a.http_url(), "ann").await;
    let bob = register(&b_url, "bob").await;
    let mut ann_a = signed_in(&a.ws_url(), &ann).await;
    let mut bob_b = signed_in(&b_ws, &bob).await;
    ann_a.join("general").await;
    bob_b.join("general").await;
    for i in 1..=3 {
        ann_a
            .say("general", &format!("m{i}"), &format!("c{i}"))
            .await;
    }
    bob_b.messages("general", 3).await;
    bob_b
        .send(json!({"type":"read","room":"general","offset":2}))
        .await;
    let receipt = ann_a
        .expect_where(|v| v["type"] == "receipts" && v["offset"] == 2)
        .await;
    assert_eq!(receipt["count"], 1, "{mode:?}: {receipt}");
    assert_eq!(receipt["names"], json!(["bob D."]));
    // Backwards changes nothing; beyond the head is capped at it.
    bob_b
        .send(json!({"type":"read","room":"general","offset":1}))
        .await;
    let mut bob_second = signed_in(&a.ws_url(), &bob).await;
    let unread = bob_second.expect("unread").await;
    assert_eq!(
        unread["rooms"],
        json!([{"room":"general","offset":2,"unread":1,"mentions":0}]),
        "{mode:?}: the position follows bob to another connection on the other replica"
    );
    // A mention while bob is away is counted apart.
    ann_a.say("general", "hey @Bob, look", "c4").await;
    ann_a.say("general", "and @bob D. again", "c5").await;
    drop(bob_second);
    drop(bob_b);
    let mut bob_back = signed_in(&b_ws, &bob).await;
    let unread = bob_back.expect("unread").await;
    assert_eq!(
        unread["rooms"],
        json!([{"room":"general","offset":2,"unread":3,"mentions":2}]),
        "{mode:?}: after a reconnect"
    );
    bob_back.join("general").await;
    bob_back
        .send(json!({"type":"read","room":"general","offset":999}))
        .await;
    let unread = bob_back
        .expect_where(|v| v["type"] == "unread" && v["rooms"][0]["offset"] == 5)
        .await;
    assert_eq!(
        unread["rooms"],
        json!([{"room":"general","offset":5,"unread":0,"mentions":0}]),
        "{mode:?}: a read past the head stops at it and clears the mentions it passed"
    );
    let receipt = ann_a
        .expect_where(|v| v["type"] == "receipts" && v["offset"] == 5)
        .await;
    assert_eq!(receipt["names"], json!(["bob D."]));
    // Guests have no position.
    let mut guest = Client::hello(&a.ws_url(), "Gus").await;
    guest.join("general").await;
    guest
        .send(json!({"type":"read","room":"general","offset":1}))
        .await;
    assert_eq!(guest.expect("error").await["code"], "login_required");
    // Someone who never opened the room is counted as mentioned by their username.
    let carol = register(&a.http_url(), "carol").await;
    ann_a.say("general", "@carol are you there?", "c6").await;
    let mut carol_b = signed_in(&b_ws, &carol).await;
    assert_eq!(
        carol_b.expect("unread").await["rooms"],
        json!([{"room":"general","offset":0,"unread":6,"mentions":1}]),
        "{mode:?}"
    );
    a.stop().await;
    if let Some(b) = b {
        b.stop().await;
    }
}

#[tokio::test]
async fn typing_in_memory() {
    typing_reaches_others_once_per_interval(Mode::Memory).await;
}

#[tokio::test]
async fn typing_across_redis_replicas() {
    typing_reaches_others_once_per_interval(Mode::Redis).await;
}

#[tokio::test]
async fn typing_across_durable_replicas() {
    typing_reaches_others_once_per_interval(Mode::Durable).await;
}

#[tokio::test]
async fn receipts_and_unread_in_memory() {
    reads_make_receipts_and_unread_follows_the_user(Mode::Memory).await;
}

#[tokio::test]
async fn receipts_and_unread_across_redis_replicas() {
    reads_make_receipts_and_unread_follows_the_user(Mode::Redis).await;
}

#[tokio::test]
async fn receipts_and_unread_across_durable_replicas() {
    reads_make_receipts_and_unread_follows_the_user(Mode::Durable).await;
}

/// Calls of Redis commands that write, from `INFO commandstats`.
async fn writes(url: &str) -> (u64, String) {
    let info: String = common::redis_cmd(url, &["INFO", "commandstats"])
        .await
        .unwrap();
    const WRITES: &[&str] = &[
        "set",
        "hset",
        "hdel",
        "del",
        "xadd",
        "zadd",
        "sadd",
        "incr",
        "expire",
        "hincrby",
        "zrem",
        "zremrangebyrank",
    ];
    let total = info
        .lines()
        .filter_map(|l| {
            let (name, rest) = l.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = rest
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse::<u64>()
                .ok()?;
            WRITES.contains(&name).then_some(calls)
        })
        .sum();
    (total, info)
}

#[tokio::test]
async fn one_read_in_a_room_of_many_members_is_a_constant_number_of_redis_writes() {
    let redis = common::RedisServer::start(false).await;
    let url = redis.url();
    let args = [
        "--redis-url",
        &url,
        "--presence-ttl-secs",
        "60",
        "--max-connections-per-address",
        "1000",
    ];
    let server = common::start_server(&args).await;
    common::wait_ready(&server.http_url()).await;
    let reader = register(&server.http_url(), "reader").await;
    let mut me = signed_in(&server.ws_url(), &reader).await;
    me.join("general").await;
    me.say("general", "read me", "r1").await;
    let mut members = Vec::new();
    for i in 0..200 {
        let mut c = Client::hello(&server.ws_url(), &format!("m{i}")).await;
        c.join("general").await;
        members.push(c);
    }
    // Let the presence heartbeat that follows the joins go by before counting.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let () = common::redis_cmd(&url, &["CONFIG", "RESETSTAT"])
        .await
        .unwrap();
    me.send(json!({"type":"read","room":"general","offset":1}))
        .await;
    me.expect_where(|v| v["type"] == "receipts" && v["offset"] == 1)
        .await;
    let receipt = members[199]
        .expect_where(|v| v["type"] == "receipts" && v["offset"] == 1)
        .await;
    assert_eq!(receipt["names"], json!(["reader D."]));
    let (total, info) = writes(&url).await;
    // read.lua writes two hashes; a presence heartbeat may add a few. 200 members never show.
    assert!(
        total <= 6,
        "{total} writes for one read among 201 members:\n{info}"
    );
    let stats: String = common::redis_cmd(&url, &["INFO", "commandstats"])
        .await
        .unwrap();
    assert!(
        stats.contains("cmdstat_hset:calls="),
        "the read was written: {stats}"
    );
    server.stop().await;
}
