//! Edits, deletions and ephemeral messages end to end over real sockets, in each mode: memory (one
//! server), Redis (two replicas on one Redis) and durable (two replicas on one Redis and one
//! PostgreSQL). An edit or deletion is seen live on the other replica, recovery (`join since`,
//! `history`) hands back the edit or tombstone and never the old text, and the old text is in no
//! Redis key and no table row; an ephemeral message reaches the other replica and is stored
//! nowhere.

mod common;

use common::{
    Client, RedisServer, TestServer,
    accounts::{connect_at, register_at},
};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Memory,
    Redis,
    Durable,
}

/// Two replicas (one in memory mode), and where their data lives.
struct Setup {
    a: TestServer,
    b: Option<TestServer>,
    /// Redis URL and this test's key prefix.
    redis: Option<(String, String)>,
    db: Option<String>,
    _keep: (Option<RedisServer>, Option<common::PgServer>),
}

impl Setup {
    async fn start(mode: Mode) -> Self {
        Self::start_with(mode, &[]).await
    }

    async fn start_with(mode: Mode, extra: &[&str]) -> Self {
        let prefix = common::unique_prefix();
        let (redis, redis_server) = match mode {
            Mode::Memory => (None, None),
            _ => {
                let (url, server) = common::shared_redis().await;
                (Some(url), server)
            }
        };
        let (db, pg) = match mode {
            Mode::Durable => {
                let (url, pg) = common::fresh_database().await;
                (Some(url), pg)
            }
            _ => (None, None),
        };
        let mut args = vec!["--admins", "root"];
        if !extra.contains(&"--guest-posting") {
            args.extend(["--guest-posting", "false"]);
        }
        if let Some(url) = &redis {
            args.extend(["--redis-url", url, "--redis-prefix", &prefix]);
        }
        if let Some(url) = &db {
            args.extend(["--database-url", url]);
        }
        args.extend_from_slice(extra);
        let a = common::start_server(&args).await;
        common::wait_ready(&a.http_url()).await;
        let b = if mode == Mode::Memory {
            None
        } else {
            let b = common::start_server(&args).await;
            common::wait_ready(&b.http_url()).await;
            Some(b)
        };
        Self {
            a,
            b,
            redis: redis.map(|url| (url, prefix)),
            db,
            _keep: (redis_server, pg),
        }
    }

    /// The other replica (the same server in memory mode).
    fn b(&self) -> &TestServer {
        self.b.as_ref().unwrap_or(&self.a)
    }

    /// Register `username` and open a signed-in socket on `server` that said hello.
    async fn user(&self, server: &TestServer, username: &str) -> Client {
        let cookie = register_at(&self.a.http_url(), username, None).await;
        let hello = json!({"type": "hello", "name": "ignored"});
        connect_at(&server.ws_url(), Some(&cookie), hello).await.0
    }

    /// Every value of every Redis key of this test, and every stored frame in the database, as
    /// one text to search for words that must be gone.
    async fn everything_stored(&self) -> String {
        let mut all = String::new();
        if let Some((url, prefix)) = &self.redis {
            all.push_str(&redis_dump(url, prefix).await);
        }
        if let Some(db) = &self.db {
            let pool = sqlx::PgPool::connect(db).await.unwrap();
            let rows: Vec<(String,)> = sqlx::query_as("SELECT frame FROM messages")
                .fetch_all(&pool)
                .await
                .unwrap();
            pool.close().await;
            for (frame,) in rows {
                all.push_str(&frame);
                all.push('\n');
            }
        }
        all
    }
}

/// SCAN the prefix, then read each key whole according to its type.
async fn redis_dump(url: &str, prefix: &str) -> String {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = Vec::new();
    let mut cursor = 0u64;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{prefix}:*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        keys.extend(batch);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert!(!keys.is_empty(), "the test's prefix holds keys");
    let mut out = String::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .unwrap();
        let mut cmd = match kind.as_str() {
            "string" => redis::cmd("GET"),
            "list" => redis::cmd("LRANGE"),
            "hash" => redis::cmd("HGETALL"),
            "set" => redis::cmd("SMEMBERS"),
            "zset" => redis::cmd("ZRANGE"),
            "stream" => redis::cmd("XRANGE"),
            _ => continue, // gone meanwhile
        };
        cmd.arg(&key);
        match kind.as_str() {
            "list" | "zset" => {
                cmd.arg(0).arg(-1);
            }
            "stream" => {
                cmd.arg("-").arg("+");
            }
            _ => {}
        }
        let value: redis::Value = cmd.query_async(&mut conn).await.unwrap();
        out.push_str(&key);
        out.push(' ');
        flatten(&value, &mut out);
        out.push('\n');
    }
    out
}

fn flatten(v: &redis::Value, out: &mut String) {
    match v {
        redis::Value::BulkString(b) => out.push_str(&String::from_utf8_lossy(b)),
        redis::Value::SimpleString(s) => out.push_str(s),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            for item in items {
                flatten(item, out);
                out.push(' ');
            }
        }
        redis::Value::Map(pairs) => {
            for (k, v) in pairs {
                flatten(k, out);
                out.push(' ');
                flatten(v, out);
                out.push(' ');
            }
        }
        other => out.push_str(&format!("{other:?}")),
    }
}

/// Send a frame and wait for its answer: an error, the `ack` of its `client_id`, or the
/// `edited` / `deleted` notice of its offset (the answer to an edit is the room's notice).
async fn ask(c: &mut Client, frame: Value) -> Value {
    c.send(frame.clone()).await;
    c.expect_where(|v| match v["type"].as_str() {
        Some("error") => true,
        Some("ack") => v["client_id"] == frame["client_id"],
        Some("edited" | "deleted") => v["offset"] == frame["offset"],
        _ => false,
    })
    .await
}

/// Send a frame that must be refused, and return the error.
async fn refused(c: &mut Client, frame: Value) -> Value {
    c.send(frame).await;
    c.expect("error").await
}

fn edit(offset: &Value, content: &str) -> Value {
    json!({"type": "edit", "room": "general", "offset": offset, "content": content})
}

fn delete(offset: &Value) -> Value {
    json!({"type": "delete", "room": "general", "offset": offset})
}

/// The frames of `general` after offset 0 through `join since`, and through `history` paging.
async fn recovered(server: &TestServer, username: &str, setup: &Setup) -> Vec<Vec<Value>> {
    let mut c = setup.user(server, username).await;
    let first = c.join("general").await;
    let epoch = first["epoch"].clone();
    c.send(json!({"type": "leave", "room": "general"})).await;
    c.expect("left").await;
    c.send(json!({"type": "join", "room": "general", "since": {"epoch": epoch, "offset": 0}}))
        .await;
    let joined = c.expect("joined").await;
    assert_eq!(joined["recovered"], true, "{joined}");
    let since = joined["messages"].as_array().unwrap().clone();
    let paged = common::page_all(&mut c, "general", 2).await;
    vec![first["messages"].as_array().unwrap().clone(), since, paged]
}

async fn edits_and_deletions(mode: Mode) {
    let s = Setup::start(mode).await;
    let mut ann = s.user(&s.a, "ann").await;
    let mut bob = s.user(s.b(), "bob").await;
    let mut root = s.user(s.b(), "root").await;
    for c in [&mut ann, &mut bob, &mut root] {
        c.join("general").await;
    }
    let one = ann.say("general", "secret-one", "a1").await["offset"].clone();
    let two = ann.say("general", "secret-two", "a2").await["offset"].clone();
    let three = bob.say("general", "secret-three", "b1").await["offset"].clone();
    assert!(
        one.is_u64() && two.is_u64() && three.is_u64(),
        "{one} {two} {three}"
    );
    bob.messages("general", 3).await;

    // The sender edits; the other replica sees it live; the same edit again changes nothing.
    let edited = ask(&mut ann, edit(&one, "public-one")).await;
    assert_eq!(edited["type"], "edited", "{edited}");
    assert_eq!(
        (&edited["offset"], &edited["content"]),
        (&one, &json!("public-one"))
    );
    let live = bob.expect("edited").await;
    assert_eq!(live, edited, "the notice on the other replica");
    let again = ask(&mut ann, edit(&one, "public-one")).await;
    assert_eq!(again, edited, "a retry is answered with the same notice");

    // Not yours: forbidden, for an admin's edit too; an admin deletes anyone's.
    for frame in [edit(&one, "bob was here"), delete(&one)] {
        let err = refused(&mut bob, frame).await;
        assert_eq!(err["code"], "forbidden", "{err}");
    }
    let err = refused(&mut root, edit(&one, "root was here")).await;
    assert_eq!(
        err["code"], "forbidden",
        "admins edit only their own: {err}"
    );
    let gone = ask(&mut ann, delete(&two)).await;
    assert_eq!(
        gone,
        json!({"type": "deleted", "room": "general", "offset": two})
    );
    assert_eq!(bob.expect("deleted").await, gone);
    let by_admin = ask(&mut root, delete(&three)).await;
    assert_eq!(by_admin["type"], "deleted", "{by_admin}");
    assert_eq!(
        bob.expect_where(|v| v["type"] == "deleted").await["offset"],
        three
    );
    let twice = ask(&mut root, delete(&three)).await;
    assert_eq!(twice["type"], "deleted", "deleting again is fine: {twice}");

    // Unknown offsets and tombstones are `no_such_message`; guests `login_required`.
    for frame in [
        edit(&json!(999), "x"),
        edit(&two, "revive"),
        delete(&json!(999)),
    ] {
        let err = refused(&mut ann, frame).await;
        assert_eq!(err["code"], "no_such_message", "{err}");
    }
    let bad = refused(&mut ann, edit(&json!(0), "x")).await;
    assert_eq!(
        (&bad["code"], &bad["field"]),
        (&json!("invalid_field"), &json!("offset"))
    );
    let mut guest = Client::hello(&s.b().ws_url(), "Guest").await;
    guest.join("general").await;
    let err = refused(&mut guest, delete(&one)).await;
    assert_eq!(err["code"], "login_required", "{err}");

    // Offsets go on after the rewritten ones (the Redis stream took its tail back).
    let four = ann.say("general", "after-edits", "a3").await;
    assert_eq!(four["offset"], 4, "{four}");
    let live = bob
        .expect_where(|v| v["type"] == "message" && v["offset"] == 4)
        .await;
    assert_eq!(live["content"], "after-edits");

    // Recovery and history hand back the edit and the tombstones, never the old text.
    for (n, server) in [&s.a, s.b()].into_iter().enumerate() {
        for (i, frames) in recovered(server, &format!("reader{n}"), &s)
            .await
            .into_iter()
            .enumerate()
        {
            let text = serde_json::to_string(&frames).unwrap();
            assert_eq!(frames.len(), 4, "read {i}: {text}");
            assert_eq!(frames[3]["content"], "after-edits", "read {i}: {text}");
            assert!(!text.contains("secret"), "read {i} has old text: {text}");
            assert_eq!(frames[0]["content"], "public-one", "read {i}");
            assert!(frames[0]["edited"].is_string(), "read {i}: {text}");
            for tomb in &frames[1..3] {
                assert_eq!(tomb["deleted"], true, "read {i}: {text}");
                assert!(tomb.get("content").is_none(), "read {i}: {text}");
                assert!(tomb["user"].is_string(), "who wrote it is kept: {text}");
            }
        }
    }
    let stored = s.everything_stored().await;
    assert!(
        !stored.contains("secret"),
        "old text still stored: {stored}"
    );
    if mode != Mode::Memory {
        assert!(
            stored.contains("public-one"),
            "the edit is stored: {stored}"
        );
    }
}

async fn ephemeral(mode: Mode) {
    let s = Setup::start(mode).await;
    let mut ann = s.user(&s.a, "ann").await;
    let mut bob = s.user(s.b(), "bob").await;
    ann.join("general").await;
    bob.join("general").await;
    let send = json!({"type": "send", "room": "general", "content": "whisper-xyz",
                      "client_id": "e1", "ephemeral": true});
    let ack = ask(&mut ann, send).await;
    assert_eq!(
        (&ack["ephemeral"], &ack["client_id"]),
        (&json!(true), &json!("e1")),
        "{ack}"
    );
    assert!(ack.get("offset").is_none(), "{ack}");
    let got = bob
        .expect_where(|v| v["type"] == "message" && v["ephemeral"] == true)
        .await;
    assert_eq!(
        (&got["content"], &got["user"]),
        (&json!("whisper-xyz"), &json!("ann"))
    );
    assert!(got.get("offset").is_none(), "{got}");

    // The next stored message is offset 1: the ephemeral one took no offset.
    let stored = ann.say("general", "kept", "k1").await;
    assert_eq!(stored["offset"], 1, "{stored}");
    let mut guest = Client::hello(&s.b().ws_url(), "Guest").await;
    guest.join("general").await;
    let refused = ask(
        &mut guest,
        json!({"type": "send", "room": "general", "content": "x", "client_id": "g1",
               "ephemeral": true}),
    )
    .await;
    assert_eq!(refused["code"], "login_required", "{refused}");
    let bad = ask(
        &mut ann,
        json!({"type": "send", "room": "general", "content": "x", "client_id": "e2",
               "ephemeral": "yes"}),
    )
    .await;
    assert_eq!(bad["field"], "ephemeral", "{bad}");

    for (n, server) in [&s.a, s.b()].into_iter().enumerate() {
        for frames in recovered(server, &format!("reader{n}"), &s).await {
            let text = serde_json::to_string(&frames).unwrap();
            assert!(!text.contains("whisper"), "ephemeral in history: {text}");
            assert_eq!(frames.len(), 1, "{text}");
        }
    }
    let stored = s.everything_stored().await;
    assert!(!stored.contains("whisper"), "ephemeral stored: {stored}");
    if mode != Mode::Memory {
        assert!(
            stored.contains("kept"),
            "the search reads real data: {stored}"
        );
    }
}

/// With a history of 3, a trimmed message is `no_such_message`, and an edit among the kept ones
/// leaves the window and its offsets as they were.
async fn trimmed(mode: Mode) {
    let s = Setup::start_with(mode, &["--history-len", "3"]).await;
    let mut ann = s.user(&s.a, "ann").await;
    ann.join("general").await;
    for i in 1..=5 {
        let ack = ann.say("general", &format!("m{i}"), &format!("c{i}")).await;
        assert_eq!(ack["offset"], i, "{ack}");
    }
    let err = refused(&mut ann, edit(&json!(2), "late")).await;
    assert_eq!(err["code"], "no_such_message", "{err}");
    let ok = ask(&mut ann, edit(&json!(3), "m3-edited")).await;
    assert_eq!(ok["type"], "edited", "{ok}");
    let ack = ann.say("general", "m6", "c6").await;
    assert_eq!(ack["offset"], 6, "{ack}");
    let page = common::page_all(&mut ann, "general", 10).await;
    let seen: Vec<(u64, &str)> = page
        .iter()
        .map(|m| {
            (
                m["offset"].as_u64().unwrap(),
                m["content"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [(4, "m4"), (5, "m5"), (6, "m6")],
        "the window moved on"
    );
}

/// With guest posting on, a guest's message can be edited by nobody (the guest is told why) and
/// deleted by an admin only.
#[tokio::test]
async fn guest_messages_cannot_be_edited_and_only_admins_delete_them() {
    let s = Setup::start_with(Mode::Memory, &["--guest-posting", "true"]).await;
    let mut guest = Client::hello(&s.a.ws_url(), "Ann").await;
    guest.join("general").await;
    let one = guest.say("general", "guest words", "g1").await["offset"].clone();
    let err = refused(&mut guest, edit(&one, "changed")).await;
    assert_eq!(err["code"], "login_required", "{err}");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("posted as a guest"),
        "{err}"
    );
    let mut ann = s.user(&s.a, "ann").await;
    ann.join("general").await;
    let err = refused(&mut ann, delete(&one)).await;
    assert_eq!(
        err["code"], "forbidden",
        "the same name is not the same sender: {err}"
    );
    let mut root = s.user(&s.a, "root").await;
    root.join("general").await;
    let gone = ask(&mut root, delete(&one)).await;
    assert_eq!(gone["type"], "deleted", "{gone}");
}

/// Edits and deletions cost a request token like every request but `send`.
#[tokio::test]
async fn edits_are_rate_limited_like_other_requests() {
    let s = Setup::start_with(
        Mode::Memory,
        &["--request-burst", "5", "--request-rate", "0.01"],
    )
    .await;
    let mut ann = s.user(&s.a, "ann").await; // hello: 1 request
    ann.join("general").await; // 2
    let one = ann.say("general", "hi", "c1").await["offset"].clone(); // a send: its own budget
    for n in 0..3 {
        let ok = ask(&mut ann, edit(&one, &format!("hi {n}"))).await; // 3, 4, 5
        assert_eq!(ok["type"], "edited", "{ok}");
    }
    let err = refused(&mut ann, delete(&one)).await;
    assert_eq!(err["code"], "rate_limited", "{err}");
}

#[tokio::test]
async fn trimmed_messages_cannot_be_changed_in_memory() {
    trimmed(Mode::Memory).await;
}

#[tokio::test]
async fn trimmed_messages_cannot_be_changed_in_redis() {
    trimmed(Mode::Redis).await;
}

#[tokio::test]
async fn edits_and_deletions_in_memory() {
    edits_and_deletions(Mode::Memory).await;
}

#[tokio::test]
async fn edits_and_deletions_across_redis_replicas() {
    edits_and_deletions(Mode::Redis).await;
}

#[tokio::test]
async fn edits_and_deletions_across_durable_replicas() {
    edits_and_deletions(Mode::Durable).await;
}

#[tokio::test]
async fn ephemeral_messages_in_memory() {
    ephemeral(Mode::Memory).await;
}

#[tokio::test]
async fn ephemeral_messages_across_redis_replicas() {
    ephemeral(Mode::Redis).await;
}

#[tokio::test]
async fn ephemeral_messages_across_durable_replicas() {
    ephemeral(Mode::Durable).await;
}
