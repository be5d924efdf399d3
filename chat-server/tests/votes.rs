//! Replies and votes end to end over real sockets: a vote on one replica is seen on the other,
//! once per user, changed and withdrawn; reply counts are live; pages (`history`, `joined`, a
//! recovery) carry the current counts, in durable mode even after Redis lost everything; a reply
//! to a missing parent and a guest's vote are refused. Two replicas on Redis + PostgreSQL and on
//! Redis alone, and the memory mode.

mod common;

use common::{
    Client,
    accounts::{connect_at, register_at},
};
use serde_json::{Value, json};

/// A signed-in socket, said hello and joined `general`.
async fn member(ws: &str, cookie: &str) -> Client {
    let hello = json!({"type":"hello","name":"ignored"});
    let (mut c, _) = connect_at(ws, Some(cookie), hello).await;
    assert_eq!(c.join("general").await["type"], "joined");
    c
}

async fn vote(c: &mut Client, offset: u64, value: i64) -> Value {
    c.send(json!({"type":"vote","room":"general","offset":offset,"value":value}))
        .await;
    c.expect_where(|v| v["type"] == "error" || (v["type"] == "votes" && v.get("mine").is_some()))
        .await
}

/// The next `votes` broadcast for `offset` with these counts (earlier ones may be queued).
async fn sees_votes(c: &mut Client, offset: u64, up: u64, down: u64) {
    c.expect_where(|v| {
        v["type"] == "votes"
            && v["offset"] == offset
            && v["up"] == up
            && v["down"] == down
            && v.get("mine").is_none()
    })
    .await;
}

/// The message at `offset` in a list of message frames.
fn at(messages: &Value, offset: u64) -> Value {
    messages
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["offset"] == offset)
        .cloned()
        .unwrap_or_else(|| panic!("no message {offset} in {messages}"))
}

/// The whole story on servers `a` and `b` (the same one in the memory mode); returns the
/// parent's offset. Ann is on A, Bob on B.
async fn replies_and_votes(a_http: &str, a_ws: &str, b_ws: &str) -> u64 {
    let ann = register_at(a_http, "ann", None).await;
    let bob = register_at(a_http, "bob", None).await;
    let mut on_a = member(a_ws, &ann).await;
    let mut on_b = member(b_ws, &bob).await;

    // A reply: its frame names the parent, and both replicas hear the parent's new count.
    let parent = on_a.say("general", "the parent", "a-1").await["offset"]
        .as_u64()
        .unwrap();
    on_b.send(json!({"type":"send","room":"general","content":"a reply",
                     "client_id":"b-1","reply_to":parent}))
        .await;
    let ack = on_b.expect("ack").await;
    let reply = on_a
        .expect_where(|v| v["type"] == "message" && v["client_id"] == "b-1")
        .await;
    assert_eq!(reply["reply_to"], parent, "{reply}");
    for c in [&mut on_a, &mut on_b] {
        c.expect_where(|v| v["type"] == "reply_count" && v["offset"] == parent && v["count"] == 1)
            .await;
    }
    // A parent that is not there is refused, and nothing is stored.
    on_b.send(json!({"type":"send","room":"general","content":"lost",
                     "client_id":"b-2","reply_to":parent + 1000}))
        .await;
    let refused = on_b.expect("error").await;
    assert_eq!(refused["code"], "no_such_message", "{refused}");
    assert_eq!(refused["client_id"], "b-2");

    // Votes: seen on the other replica; once per user; changed; withdrawn.
    let mine = vote(&mut on_a, parent, 1).await;
    assert_eq!(
        (&mine["up"], &mine["down"], &mine["mine"]),
        (&json!(1), &json!(0), &json!(1))
    );
    sees_votes(&mut on_b, parent, 1, 0).await;
    let again = vote(&mut on_a, parent, 1).await;
    assert_eq!(
        (&again["up"], &again["down"]),
        (&json!(1), &json!(0)),
        "one vote per user"
    );
    assert_eq!(vote(&mut on_b, parent, 1).await["up"], 2);
    sees_votes(&mut on_a, parent, 2, 0).await;
    let changed = vote(&mut on_b, parent, -1).await;
    assert_eq!(
        (&changed["up"], &changed["down"]),
        (&json!(1), &json!(1)),
        "{changed}"
    );
    sees_votes(&mut on_a, parent, 1, 1).await;
    let withdrawn = vote(&mut on_a, parent, 0).await;
    assert_eq!(
        (&withdrawn["up"], &withdrawn["down"]),
        (&json!(0), &json!(1))
    );
    sees_votes(&mut on_b, parent, 0, 1).await;
    let missing = vote(&mut on_a, parent + 1000, 1).await;
    assert_eq!(missing["code"], "no_such_message", "{missing}");

    // Guests may read but not vote, even with guest posting on.
    let mut guest = Client::hello(b_ws, "Guest").await;
    guest.join("general").await;
    let refused = vote(&mut guest, parent, 1).await;
    assert_eq!(refused["code"], "login_required", "{refused}");

    // Pages carry the current counts, and the reader's own vote.
    on_b.send(json!({"type":"history","room":"general","after":0}))
        .await;
    let page = on_b.expect("history").await;
    let p = at(&page["messages"], parent);
    assert_eq!(p["votes"], json!({"up": 0, "down": 1}), "{p}");
    assert_eq!(p["reply_count"], 1);
    assert_eq!(p["my_vote"], -1);
    let child = at(&page["messages"], ack["offset"].as_u64().unwrap());
    assert_eq!(child["reply_to"], parent);
    // Counts are always in a page, zeros included; `my_vote` only where the reader voted.
    assert_eq!(child["votes"], json!({"up": 0, "down": 0}), "{child}");
    assert_eq!(child["reply_count"], 0, "{child}");
    assert!(child.get("my_vote").is_none(), "{child}");
    let joined = guest.join("general").await;
    let p = at(&joined["messages"], parent);
    assert_eq!(
        (&p["votes"]["down"], &p["reply_count"]),
        (&json!(1), &json!(1)),
        "{p}"
    );
    assert!(p.get("my_vote").is_none(), "a guest has no vote: {p}");

    // A deleted message keeps no counts: none served with its tombstone, no new votes or replies.
    let doomed = on_a.say("general", "doomed", "a-2").await["offset"]
        .as_u64()
        .unwrap();
    assert_eq!(vote(&mut on_a, doomed, 1).await["up"], 1);
    on_a.send(json!({"type":"delete","room":"general","offset":doomed}))
        .await;
    on_a.expect_where(|v| v["type"] == "deleted" && v["offset"] == doomed)
        .await;
    assert_eq!(vote(&mut on_b, doomed, 1).await["code"], "no_such_message");
    on_b.send(json!({"type":"send","room":"general","content":"late",
                     "client_id":"b-3","reply_to":doomed}))
        .await;
    assert_eq!(on_b.expect("error").await["code"], "no_such_message");
    on_b.send(json!({"type":"history","room":"general","after":0}))
        .await;
    let tombstone = at(&on_b.expect("history").await["messages"], doomed);
    assert_eq!(tombstone["deleted"], true, "{tombstone}");
    for gone in ["votes", "reply_count", "my_vote"] {
        assert!(tombstone.get(gone).is_none(), "{gone} on {tombstone}");
    }
    parent
}

#[tokio::test]
async fn replies_and_votes_in_the_memory_mode() {
    let server = common::start_server(&["--guest-posting", "true"]).await;
    replies_and_votes(&server.http_url(), &server.ws_url(), &server.ws_url()).await;
    server.stop().await;
}

#[tokio::test]
async fn replies_and_votes_across_two_redis_replicas() {
    let (redis, _redis_server) = common::shared_redis().await;
    let prefix = common::unique_prefix();
    let args = [
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
        "--guest-posting",
        "true",
    ];
    let a = common::start_server(&args).await;
    let b = common::start_server(&args).await;
    common::wait_ready(&a.http_url()).await;
    common::wait_ready(&b.http_url()).await;
    replies_and_votes(&a.http_url(), &a.ws_url(), &b.ws_url()).await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn durable_counts_survive_a_redis_flush_and_come_back_with_recovery() {
    let redis = common::RedisServer::start(false).await;
    let (db, _pg) = common::fresh_database().await;
    let prefix = common::unique_prefix();
    let redis_url = redis.url();
    let args = [
        "--redis-url",
        &redis_url,
        "--redis-prefix",
        &prefix,
        "--database-url",
        &db,
        "--guest-posting",
        "true",
    ];
    let a = common::start_server(&args).await;
    let b = common::start_server(&args).await;
    common::wait_ready(&a.http_url()).await;
    common::wait_ready(&b.http_url()).await;
    let parent = replies_and_votes(&a.http_url(), &a.ws_url(), &b.ws_url()).await;
    let mut reader = Client::hello(&b.ws_url(), "Rita").await;
    let epoch = reader.join("general").await["epoch"]
        .as_str()
        .unwrap()
        .to_owned();

    // Redis loses everything: the database still has the votes and replies.
    common::redis_cmd::<()>(&redis_url, &["FLUSHALL"])
        .await
        .unwrap();
    let mut back = Client::hello(&a.ws_url(), "Rita").await;
    back.send(json!({"type":"join","room":"general",
                     "since":{"epoch": epoch, "offset": parent - 1}}))
        .await;
    let joined = back.expect("joined").await;
    assert_eq!(joined["recovered"], true, "{joined}");
    let p = at(&joined["messages"], parent);
    assert_eq!(p["votes"], json!({"up": 0, "down": 1}), "{p}");
    assert_eq!(p["reply_count"], 1, "{p}");
    // And a vote after the flush still counts from the record.
    let cookie = register_at(&a.http_url(), "cyd", None).await;
    let mut cyd = member(&b.ws_url(), &cookie).await;
    let counted = vote(&mut cyd, parent, 1).await;
    assert_eq!(
        (&counted["up"], &counted["down"]),
        (&json!(1), &json!(1)),
        "{counted}"
    );
    a.stop().await;
    b.stop().await;
}

/// Votes from many users at once on two replicas, in durable mode: every one is counted, and the
/// last `votes` the room hears carries the final counts (announced in the order they were counted).
#[tokio::test]
async fn concurrent_votes_are_each_counted_and_announced_in_order() {
    const VOTERS: usize = 6;
    let (redis, _redis_server) = common::shared_redis().await;
    let (db, _pg) = common::fresh_database().await;
    let prefix = common::unique_prefix();
    let args = [
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
        "--database-url",
        &db,
    ];
    let a = common::start_server(&args).await;
    let b = common::start_server(&args).await;
    common::wait_ready(&a.http_url()).await;
    common::wait_ready(&b.http_url()).await;
    let mut voters = Vec::new();
    for i in 0..VOTERS {
        let cookie = register_at(&a.http_url(), &format!("voter{i}"), None).await;
        let ws = if i % 2 == 0 { a.ws_url() } else { b.ws_url() };
        voters.push(member(&ws, &cookie).await);
    }
    let mut observer = Client::hello(&b.ws_url(), "Olga").await;
    observer.join("general").await;
    let offset = voters[0].say("general", "vote on me", "v-1").await["offset"]
        .as_u64()
        .unwrap();
    let votes = voters.into_iter().map(|mut c| {
        tokio::spawn(async move {
            c.send(json!({"type":"vote","room":"general","offset":offset,"value":1}))
                .await;
            c.expect_where(|v| v["type"] == "votes" && v.get("mine").is_some())
                .await
        })
    });
    for vote in votes.collect::<Vec<_>>() {
        assert_eq!(vote.await.unwrap()["mine"], 1);
    }
    // The observer hears VOTERS changes; the last one has every vote.
    let mut last = Value::Null;
    for _ in 0..VOTERS {
        last = observer
            .expect_where(|v| v["type"] == "votes" && v["offset"] == offset)
            .await;
    }
    assert_eq!(last["up"], VOTERS, "{last}");
    observer
        .send(json!({"type":"history","room":"general","after":0}))
        .await;
    let page = observer.expect("history").await;
    assert_eq!(at(&page["messages"], offset)["votes"]["up"], VOTERS);
    a.stop().await;
    b.stop().await;
}

/// In the Redis-only mode the room's tally hash forgets messages trimmed from history: voting on
/// every message of a long conversation leaves it bounded by what the stream keeps, and the
/// kept messages' counts are intact.
#[tokio::test]
async fn redis_forgets_the_votes_of_trimmed_messages() {
    const HISTORY: usize = 5;
    let (redis, _redis_server) = common::shared_redis().await;
    let prefix = common::unique_prefix();
    let history = HISTORY.to_string();
    let mut args = vec![
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
        "--history-len",
        &history,
        "--request-rate",
        "1000",
        "--request-burst",
        "1000",
    ];
    args.extend(common::FAST_SENDS);
    let server = common::start_server(&args).await;
    common::wait_ready(&server.http_url()).await;
    let cookie = register_at(&server.http_url(), "ann", None).await;
    let mut ann = member(&server.ws_url(), &cookie).await;
    let mut last = 0;
    for i in 0..60 {
        let ack = ann
            .say("general", &format!("m{i}"), &format!("c-{i}"))
            .await;
        last = ack["offset"].as_u64().unwrap();
        // Each vote and each reply adds fields for its message.
        assert_eq!(vote(&mut ann, last, 1).await["up"], 1);
        ann.send(json!({"type":"send","room":"general","content":"re",
                        "client_id":format!("r-{i}"),"reply_to":last}))
            .await;
        ann.expect_where(|v| v["type"] == "ack" && v["client_id"] == format!("r-{i}"))
            .await;
    }
    let key = format!("{prefix}:room:general:tally");
    let fields: u64 = common::redis_cmd(&redis, &["HLEN", &key]).await.unwrap();
    // Without the sweep: 3 fields for each of the 60 voted messages. With it: at most twice
    // the floor of three fields per kept message, plus what was added since the last sweep.
    assert!(
        fields <= (2 * 3 * HISTORY + 4) as u64,
        "{fields} fields in {key}"
    );
    ann.send(json!({"type":"history","room":"general","before": last + 1}))
        .await;
    let page = ann.expect("history").await;
    let voted = at(&page["messages"], last);
    assert_eq!(voted["votes"]["up"], 1, "{voted}");
    assert_eq!(voted["reply_count"], 1, "{voted}");
    assert_eq!(voted["my_vote"], 1, "{voted}");
    server.stop().await;
}

/// Votes spend the request budget like every request but `send`.
#[tokio::test]
async fn votes_are_rate_limited_like_other_requests() {
    let server = common::start_server(&["--request-rate", "0.1", "--request-burst", "6"]).await;
    let cookie = register_at(&server.http_url(), "ann", None).await;
    let mut ann = member(&server.ws_url(), &cookie).await;
    let offset = ann.say("general", "vote on me", "c-1").await["offset"]
        .as_u64()
        .unwrap();
    let mut refused = None;
    for i in 0..10 {
        let answer = vote(&mut ann, offset, if i % 2 == 0 { 1 } else { 0 }).await;
        if answer["type"] == "error" {
            refused = Some(answer);
            break;
        }
    }
    let refused = refused.expect("a burst of votes is refused");
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    server.stop().await;
}
