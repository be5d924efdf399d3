//! Timed rooms (`create_room` with `clear_every_mins` / `expire_after_mins`) over real sockets:
//! two real `chat-server` replicas on a real Redis, and on PostgreSQL (durable mode, Redis as
//! the bus), plus the in-memory mode. A "minute" is shortened with the test-only
//! `--timed-minute-ms`, so nothing waits minutes. A clear happens once with two replicas racing
//! (every `cleared` frame each client gets is counted), still happens after the replica that
//! scheduled it is SIGKILLed, recovery never hands back a cleared message, cleared messages are
//! gone from Redis and PostgreSQL, and an expired room leaves every list.

mod common;

use common::{
    Client, ServerProcess,
    accounts::{connect_at, register_at},
    fresh_database, redis_cmd, shared_redis, start_server, stored_messages, unique_prefix,
    wait_ready,
};
use serde_json::{Value, json};

/// The length of a timed-rooms "minute" in these tests.
const MINUTE_MS: &str = "400";

/// Where the replicas keep their state.
enum Backend {
    Redis {
        url: String,
        prefix: String,
    },
    Durable {
        db: String,
        redis: String,
        prefix: String,
    },
}

impl Backend {
    fn args(&self) -> Vec<&str> {
        let mut a = vec!["--timed-minute-ms", MINUTE_MS];
        match self {
            Backend::Redis { url, prefix } => {
                a.extend(["--redis-url", url, "--redis-prefix", prefix]);
            }
            Backend::Durable { db, redis, prefix } => {
                a.extend(["--database-url", db, "--redis-url", redis]);
                a.extend(["--redis-prefix", prefix]);
            }
        }
        a.extend(common::FAST_SENDS);
        a
    }

    /// Offsets of a room's messages still stored (Redis stream, or database rows).
    async fn stored(&self, room: &str) -> Vec<u64> {
        match self {
            Backend::Redis { url, prefix } => {
                let key = format!("{prefix}:room:{room}:stream");
                let ids: Vec<(String, Vec<(String, String)>)> =
                    redis_cmd(url, &["XRANGE", &key, "-", "+"]).await.unwrap();
                ids.iter()
                    .map(|(id, _)| id.trim_start_matches("0-").parse().unwrap())
                    .collect()
            }
            Backend::Durable { db, .. } => stored_messages(db, room)
                .await
                .into_iter()
                .map(|(o, _)| o as u64)
                .collect(),
        }
    }
}

async fn backends() -> (Vec<Backend>, impl Sized) {
    let (redis, r) = shared_redis().await;
    let (db, pg) = fresh_database().await;
    let list = vec![
        Backend::Redis {
            url: redis.clone(),
            prefix: unique_prefix(),
        },
        Backend::Durable {
            db,
            redis,
            prefix: unique_prefix(),
        },
    ];
    (list, (r, pg))
}

async fn replica(backend: &Backend) -> ServerProcess {
    let p = ServerProcess::spawn(&backend.args()).await;
    wait_ready(&format!("http://{}", p.addr)).await;
    p
}

async fn create(c: &mut Client, room: &str, clear: u32, expire: u32) -> Value {
    c.send(
        json!({"type": "create_room", "name": room, "clear_every_mins": clear,
                  "expire_after_mins": expire}),
    )
    .await;
    c.expect_where(|v| (v["type"] == "room_created" && v["room"] == room) || v["type"] == "error")
        .await
}

/// Read frames until a `cleared` of `room` through at least `through`; every `cleared` of the
/// room seen on the way, in order.
async fn cleared_until(c: &mut Client, room: &str, through: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        let v = c.next().await.expect("socket open");
        if v["type"] == "cleared" && v["room"] == room {
            let t = v["through"].as_u64().unwrap();
            seen.push(t);
            if t >= through {
                return seen;
            }
        }
    }
}

#[tokio::test]
async fn a_clear_happens_once_across_replicas_and_its_messages_are_gone() {
    let (backends, _keep) = backends().await;
    for backend in &backends {
        let (r1, r2) = (replica(backend).await, replica(backend).await);
        let mut ann = Client::hello(&r1.ws_url(), "ann").await;
        let mut bob = Client::hello(&r2.ws_url(), "bob").await;
        let created = create(&mut ann, "tick", 1, 0).await;
        assert_eq!(created["type"], "room_created", "{created}");
        assert_eq!(created["clear_every_mins"], 1, "{created}");
        assert_eq!(created["expire_after_mins"], 0, "{created}");
        let epoch = ann.join("tick").await["epoch"].clone();
        bob.join("tick").await;
        for i in 1..=3 {
            let ack = ann.say("tick", &format!("m{i}"), &format!("a{i}")).await;
            assert_eq!(ack["type"], "ack", "{ack}");
        }
        // Both replicas sweep; each client sees each clear exactly once.
        let first_ann = cleared_until(&mut ann, "tick", 3).await;
        let first_bob = cleared_until(&mut bob, "tick", 3).await;
        // (A clear may have fallen between two of the sends: then two, each once.)
        let through = *first_ann.last().unwrap();
        assert!(
            first_ann.windows(2).all(|w| w[0] < w[1]),
            "a clear announced twice: {first_ann:?}"
        );
        assert_eq!(first_bob, first_ann);
        let left = backend.stored("tick").await;
        assert!(
            left.iter().all(|o| *o > through),
            "cleared rows left: {left:?}"
        );

        // Offsets keep growing; the next clear is its own, once again.
        let ack = bob.say("tick", "after", "b1").await;
        let after = ack["offset"].as_u64().unwrap();
        assert!(after > through, "{ack}");
        let mut carol = Client::hello(&r2.ws_url(), "carol").await;
        carol
            .send(json!({"type": "join", "room": "tick", "since": {"epoch": epoch, "offset": 1}}))
            .await;
        let joined = carol.expect("joined").await;
        assert_eq!(
            joined["recovered"], false,
            "a since before the clear: {joined}"
        );
        let offsets: Vec<u64> = joined["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["offset"].as_u64().unwrap())
            .collect();
        assert!(
            offsets.iter().all(|o| *o > through),
            "cleared handed back: {offsets:?}"
        );
        let second_ann = cleared_until(&mut ann, "tick", after).await;
        let second_bob = cleared_until(&mut bob, "tick", after).await;
        assert_eq!(second_ann, [after], "one clear, announced once");
        assert_eq!(second_bob, [after]);
        assert!(backend.stored("tick").await.iter().all(|o| *o > after));
        // A client that saw the last cleared message (its since is the clear's offset, the
        // head) may still show cleared messages: it is told to start over, not "recovered".
        let mut dan = Client::hello(&r1.ws_url(), "dan").await;
        let since = json!({"epoch": epoch, "offset": after});
        dan.send(json!({"type": "join", "room": "tick", "since": since}))
            .await;
        let joined = dan.expect("joined").await;
        assert_eq!(joined["recovered"], false, "a since at the clear: {joined}");
        r1.kill().await;
        r2.kill().await;
    }
}

#[tokio::test]
async fn a_clear_still_happens_when_the_replica_that_scheduled_it_died() {
    let (backends, _keep) = backends().await;
    for backend in &backends {
        let (r1, r2) = (replica(backend).await, replica(backend).await);
        let mut ann = Client::hello(&r1.ws_url(), "ann").await;
        assert_eq!(
            create(&mut ann, "orphan", 2, 0).await["type"],
            "room_created"
        );
        let mut bob = Client::hello(&r2.ws_url(), "bob").await;
        bob.join("orphan").await;
        let ack = bob.say("orphan", "before the crash", "b1").await;
        let offset = ack["offset"].as_u64().unwrap();
        r1.kill().await; // SIGKILL: the replica that created and scheduled the room
        let seen = cleared_until(&mut bob, "orphan", offset).await;
        assert_eq!(seen, [offset]);
        assert!(backend.stored("orphan").await.is_empty());
        r2.kill().await;
    }
}

#[tokio::test]
async fn an_idle_room_expires_everywhere_and_leaves_every_list() {
    let (backends, _keep) = backends().await;
    for backend in &backends {
        let (r1, r2) = (replica(backend).await, replica(backend).await);
        let mut ann = Client::hello(&r1.ws_url(), "ann").await;
        let mut bob = Client::hello(&r2.ws_url(), "bob").await;
        assert_eq!(
            create(&mut ann, "brief", 0, 2).await["type"],
            "room_created"
        );
        ann.join("brief").await;
        bob.join("brief").await;
        bob.send(json!({"type": "rooms"})).await;
        let listed = bob
            .expect_where(|v| {
                v["type"] == "rooms"
                    && v["rooms"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["name"] == "brief")
            })
            .await;
        let entry = listed["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "brief")
            .unwrap()
            .clone();
        assert_eq!(entry["expire_after_mins"], 2, "{entry}");
        assert_eq!(entry["clear_every_mins"], 0, "{entry}");
        assert_eq!(ann.say("brief", "still here", "a1").await["type"], "ack");
        for c in [&mut ann, &mut bob] {
            c.expect_where(|v| v["type"] == "expired" && v["room"] == "brief")
                .await;
            c.send(json!({"type": "rooms"})).await;
            c.expect_where(|v| {
                v["type"] == "rooms"
                    && !v["rooms"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["name"] == "brief")
            })
            .await;
            let refused = c.say("brief", "too late", "late").await;
            assert_eq!(refused["code"], "not_joined", "{refused}");
            c.send(json!({"type": "join", "room": "brief"})).await;
            let err = c.expect("error").await;
            assert_eq!(err["code"], "no_such_room", "{err}");
        }
        assert!(backend.stored("brief").await.is_empty());
        r1.kill().await;
        r2.kill().await;
    }
}

#[tokio::test]
async fn memory_mode_clears_expires_and_refuses_other_intervals() {
    let server = start_server(&["--timed-minute-ms", MINUTE_MS, "--general-clear-mins", "1"]).await;
    let mut ann = Client::hello(&server.ws_url(), "ann").await;
    for (field, bad) in [("clear_every_mins", 4), ("expire_after_mins", 1)] {
        ann.send(json!({"type": "create_room", "name": "bad", field: bad}))
            .await;
        let err = ann.expect("error").await;
        assert_eq!(
            (err["code"].as_str(), err["field"].as_str()),
            (Some("invalid_field"), Some(field)),
            "{err}"
        );
    }
    // `general` clears on the deployment's interval.
    let epoch = ann.join("general").await["epoch"].clone();
    let ack = ann.say("general", "hello", "g1").await;
    let through = ack["offset"].as_u64().unwrap();
    assert_eq!(cleared_until(&mut ann, "general", through).await, [through]);
    let mut bob = Client::hello(&server.ws_url(), "bob").await;
    let since = json!({"epoch": epoch, "offset": through});
    bob.send(json!({"type": "join", "room": "general", "since": since}))
        .await;
    let joined = bob.expect("joined").await;
    assert_eq!(joined["recovered"], false, "{joined}");
    assert_eq!(joined["messages"], json!([]), "{joined}");

    assert_eq!(
        create(&mut ann, "brief", 3, 2).await["type"],
        "room_created"
    );
    ann.join("brief").await;
    ann.expect_where(|v| v["type"] == "expired" && v["room"] == "brief")
        .await;
    ann.send(json!({"type": "rooms"})).await;
    ann.expect_where(|v| {
        v["type"] == "rooms"
            && !v["rooms"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "brief")
    })
    .await;
    server.stop().await;
}

/// Register `username` on `http` and return a signed-in socket that said hello.
async fn voter(http: &str, ws: &str, username: &str) -> Client {
    let cookie = register_at(http, username, None).await;
    let hello = json!({"type": "hello", "name": username});
    connect_at(ws, Some(&cookie), hello).await.0
}

/// Vote on and reply to the first message of `room`; returns its offset.
async fn voted_message(c: &mut Client, room: &str) -> u64 {
    let offset = c.say(room, "voted on", "v1").await["offset"]
        .as_u64()
        .unwrap();
    c.send(json!({"type": "vote", "room": room, "offset": offset, "value": 1}))
        .await;
    let votes = c.expect("votes").await;
    assert_eq!(votes["up"], 1, "{votes}");
    c.send(
        json!({"type": "send", "room": room, "content": "re", "client_id": "v2",
                  "reply_to": offset}),
    )
    .await;
    c.expect_where(|v| v["type"] == "ack" && v["client_id"] == "v2")
        .await;
    offset
}

/// A clear or an expiry takes the room's votes and reply counts with its messages: Redis keeps
/// no tally of them, and a room made again under an expired room's name (its offsets starting
/// over) shows none of the old counts.
#[tokio::test]
async fn votes_and_replies_go_with_cleared_and_expired_rooms() {
    let (mut backends, _keep) = backends().await;
    let mut runs: Vec<Option<Backend>> = backends.drain(..).map(Some).collect();
    runs.push(None); // the memory mode
    for backend in &runs {
        // Longer "minutes" here: the votes must land before the first clear.
        let mut args = backend.as_ref().map_or_else(Vec::new, Backend::args);
        match args.iter().position(|a| *a == "--timed-minute-ms") {
            Some(at) => args[at + 1] = "1500",
            None => args.extend(["--timed-minute-ms", "1500"]),
        }
        let server = ServerProcess::spawn(&args).await;
        let http = format!("http://{}", server.addr);
        wait_ready(&http).await;
        let mut ann = voter(&http, &server.ws_url(), "ann").await;

        assert_eq!(create(&mut ann, "tick", 1, 0).await["type"], "room_created");
        ann.join("tick").await;
        voted_message(&mut ann, "tick").await;
        cleared_until(&mut ann, "tick", 2).await;
        if let Some(Backend::Redis { url, prefix }) = backend {
            let key = format!("{prefix}:room:tick:tally");
            let left: u64 = redis_cmd(url, &["EXISTS", &key]).await.unwrap();
            assert_eq!(left, 0, "{key} outlived the clear");
        }

        assert_eq!(
            create(&mut ann, "brief", 0, 2).await["type"],
            "room_created"
        );
        ann.join("brief").await;
        let offset = voted_message(&mut ann, "brief").await;
        ann.expect_where(|v| v["type"] == "expired" && v["room"] == "brief")
            .await;
        assert_eq!(
            create(&mut ann, "brief", 0, 0).await["type"],
            "room_created"
        );
        ann.join("brief").await;
        let again = ann.say("brief", "new room", "n1").await;
        if !matches!(backend, Some(Backend::Durable { .. })) {
            // Redis and memory start the offsets over: old counts would land on new messages.
            assert_eq!(again["offset"], offset, "offsets start over: {again}");
        }
        ann.send(json!({"type": "history", "room": "brief", "after": 0}))
            .await;
        let page = ann.expect("history").await;
        let fresh = &page["messages"][0];
        assert_eq!(fresh["votes"], json!({"up": 0, "down": 0}), "{fresh}");
        assert_eq!(fresh["reply_count"], 0, "{fresh}");
        assert!(fresh.get("my_vote").is_none(), "{fresh}");
        server.kill().await;
    }
}
