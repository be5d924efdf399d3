//! Redis misbehaving in the ways a real deployment meets: absent at start, configured to evict,
//! out of memory, restarted without its data, stalled mid-call; and idempotency that neither a
//! stranger nor a retry can fool. Each test runs real `chat-server` processes on a private
//! `redis-server`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{http, replica_args, wait_status};
use crate::common::{
    Client, RedisServer, ServerProcess, free_port, http_get, offsets, redis_cmd, status,
    unique_prefix,
};

/// Poll `/readyz` until its body contains `want` (and return the status it had then).
async fn wait_readyz_body(server: &ServerProcess, want: &str) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (code, _, body) = http_get(&http(server, "/readyz")).await;
        if body.contains(want) {
            return code;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz never said {want:?}; last: {code} {body:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_server_started_before_redis_waits_unready_and_then_works() {
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let server = ServerProcess::spawn(&replica_args(&url, "chatapp")).await;

    assert_eq!(status(&http(&server, "/healthz")).await, 200, "alive");
    let (code, _, body) = http_get(&http(&server, "/readyz")).await;
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("store unreachable"), "{body}");
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    assert_eq!(ann.expect("health").await["ready"], false);
    ann.send(json!({"type":"join","room":"general"})).await;
    let refused = ann.expect("error").await;
    assert_eq!(refused["code"], "unavailable", "{refused}");

    let _redis = RedisServer::start_on(port, false).await;
    wait_status(&http(&server, "/readyz"), 200).await;
    assert_eq!(ann.expect("health").await["ready"], true);
    ann.join("general").await;
    let ack = ann.say("general", "hello", "c-1").await;
    assert_eq!(
        (ack["type"].as_str(), ack["offset"].as_u64()),
        (Some("ack"), Some(1))
    );
    assert_eq!(ann.messages("general", 1).await[0]["content"], "hello");
}

#[tokio::test]
async fn an_evicting_redis_keeps_the_server_unready_until_it_is_set_to_noeviction() {
    let redis = RedisServer::start(false).await;
    let url = redis.url();
    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"])
        .await
        .unwrap();
    let server = ServerProcess::spawn(&replica_args(&url, "chatapp")).await;
    let code = wait_readyz_body(&server, "maxmemory-policy is allkeys-lru; set noeviction").await;
    assert_eq!(code, 503);
    assert_eq!(status(&http(&server, "/healthz")).await, 200);
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    let health = ann.expect("health").await;
    assert!(
        health["reason"].as_str().unwrap().contains("noeviction"),
        "{health}"
    );
    ann.join("general").await;
    let refused = ann
        .say("general", "not into an evicting redis", "c-1")
        .await;
    assert_eq!(refused["code"], "unavailable", "{refused}");

    // volatile-* evicts only keys with a TTL, and the idempotency records have one.
    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory-policy", "volatile-lru"])
        .await
        .unwrap();
    assert_eq!(
        wait_readyz_body(&server, "maxmemory-policy is volatile-lru; set noeviction").await,
        503
    );

    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory-policy", "noeviction"])
        .await
        .unwrap();
    wait_status(&http(&server, "/readyz"), 200).await;

    // A Redis that does not let us read its configuration: a warning in the log, and ready.
    let _: () = redis_cmd(&url, &["ACL", "SETUSER", "default", "-config"])
        .await
        .unwrap();
    let other = ServerProcess::spawn(&replica_args(&url, "chatapp")).await;
    wait_status(&http(&other, "/readyz"), 200).await;
}

/// What Redis says it uses, in bytes.
async fn used_memory(url: &str) -> u64 {
    let info: String = redis_cmd(url, &["INFO", "memory"]).await.unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Give Redis a `maxmemory` just above what it uses and fill it until it refuses writes; then
/// pin the limit a little below its use, so a freed client buffer cannot let a write slip in.
async fn fill_until_oom(url: &str) {
    let max = (used_memory(url).await + 2_000_000).to_string();
    let _: () = redis_cmd(url, &["CONFIG", "SET", "maxmemory", &max])
        .await
        .unwrap();
    let blob = "x".repeat(64 * 1024);
    for i in 0.. {
        let key = format!("ballast:{i}");
        if let Err(e) = redis_cmd::<()>(url, &["SET", &key, &blob]).await {
            assert!(e.to_string().contains("OOM"), "{e}");
            break;
        }
    }
    let pinned = (used_memory(url).await - 256 * 1024).to_string();
    let _: () = redis_cmd(url, &["CONFIG", "SET", "maxmemory", &pinned])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_redis_out_of_memory_refuses_sends_but_still_serves_joins_and_recovery() {
    let redis = RedisServer::start(false).await;
    let url = redis.url();
    let server = ServerProcess::spawn(&replica_args(&url, "chatapp")).await;
    // Until its first health check a replica calls the store unreachable, and a client that
    // connects then is told so: wait for it, so the only `ready: false` below is the OOM.
    wait_status(&http(&server, "/readyz"), 200).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    ann.send(json!({"type":"create_room","name":"quiet"})).await;
    ann.expect("room_created").await;
    let joined = ann.join("general").await;
    for i in 1..=3 {
        ann.say("general", &format!("m{i}"), &format!("c-{i}"))
            .await;
    }
    assert_eq!(offsets(&ann.messages("general", 3).await), [1, 2, 3]);

    fill_until_oom(&url).await;
    let refused = ann.say("general", "too much", "c-4").await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    let code = wait_readyz_body(&server, "refuses writes").await;
    assert_eq!(code, 200, "reads still work: keep serving");
    let health = ann
        .expect_where(|v| v["type"] == "health" && v["ready"] == false)
        .await;
    assert!(
        health["reason"]
            .as_str()
            .unwrap()
            .contains("refuses writes"),
        "{health}"
    );
    let (_, _, metrics) = http_get(&http(&server, "/metrics")).await;
    assert!(metrics.contains("chat_store_writable 0"), "{metrics}");

    // Joining, recovering and joining a room without messages only read.
    let mut bob = Client::hello(&server.ws_url(), "Bob").await;
    bob.send(json!({"type":"join","room":"general",
        "since":{"epoch":joined["epoch"],"offset":1}}))
        .await;
    let rejoined = bob
        .expect_where(|v| v["type"] == "joined" || v["type"] == "error")
        .await;
    assert_eq!(rejoined["recovered"], true, "{rejoined}");
    assert_eq!(offsets(rejoined["messages"].as_array().unwrap()), [2, 3]);
    bob.send(json!({"type":"join","room":"quiet"})).await;
    let quiet = bob
        .expect_where(|v| v["type"] == "joined" || v["type"] == "error")
        .await;
    assert_eq!(
        (quiet["type"].as_str(), quiet["offset"].as_u64()),
        (Some("joined"), Some(0)),
        "{quiet}"
    );

    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory", "0"])
        .await
        .unwrap();
    wait_readyz_body(&server, "ready\n").await;
    ann.expect_where(|v| v["type"] == "health" && v["ready"] == true)
        .await;
    let ack = ann.say("general", "room again", "c-4").await;
    assert_eq!(ack["offset"], 4, "{ack}");
}

#[tokio::test]
async fn a_member_of_a_room_without_messages_recovers_its_first_messages_without_resync() {
    let redis = RedisServer::start(false).await;
    let url = redis.url();
    let servers = [
        ServerProcess::spawn(&replica_args(&url, "chatapp")).await,
        ServerProcess::spawn(&replica_args(&url, "chatapp")).await,
    ];
    let mut ann = Client::hello(&servers[0].ws_url(), "Ann").await;
    ann.send(json!({"type":"create_room","name":"fresh"})).await;
    ann.expect("room_created").await;
    let mut stay = Client::hello(&servers[1].ws_url(), "Stay").await;
    let empty = stay.join("fresh").await;
    let away = ann.join("fresh").await;
    assert_eq!(empty["offset"], 0);
    drop(ann);

    let mut bob = Client::hello(&servers[0].ws_url(), "Bob").await;
    bob.join("fresh").await;
    bob.say("fresh", "first", "b-1").await;
    bob.say("fresh", "second", "b-2").await;

    // The member that stayed gets them live, as the next offsets, with no resync.
    let live = stay.messages("fresh", 2).await;
    assert_eq!(offsets(&live), [1, 2], "{live:?}");
    // The one that was away comes back with the position of the empty room and misses nothing.
    let mut ann = Client::hello(&servers[1].ws_url(), "Ann").await;
    ann.send(json!({"type":"join","room":"fresh",
        "since":{"epoch":away["epoch"],"offset":0}}))
        .await;
    let back = ann.expect("joined").await;
    assert_eq!(back["recovered"], true, "{back}");
    assert_eq!(offsets(back["messages"].as_array().unwrap()), [1, 2]);
    stay.send(json!({"type":"ping","id":1})).await;
    let next = stay
        .expect_where(|v| v["type"] == "resync" || v["type"] == "pong")
        .await;
    assert_eq!(
        next["type"], "pong",
        "no resync for a room that lost nothing: {next}"
    );
}

#[tokio::test]
async fn a_join_before_redis_has_an_incarnation_gets_epoch_0_and_a_resync_later() {
    // Out of memory before the server ever saw it: no incarnation, so no epoch can be announced.
    let redis = RedisServer::start(false).await;
    let url = redis.url();
    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory", "1"])
        .await
        .unwrap();
    let server = ServerProcess::spawn(&replica_args(&url, "chatapp")).await;
    wait_readyz_body(&server, "refuses writes").await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    let joined = ann.join("general").await;
    assert_eq!(
        (joined["epoch"].as_str(), joined["offset"].as_u64()),
        (Some("0"), Some(0))
    );

    let _: () = redis_cmd(&url, &["CONFIG", "SET", "maxmemory", "0"])
        .await
        .unwrap();
    wait_readyz_body(&server, "ready\n").await;
    let mut bob = Client::hello(&server.ws_url(), "Bob").await;
    bob.join("general").await;
    bob.say("general", "first", "b-1").await;
    let resync = ann.expect("resync").await;
    assert_ne!(resync["epoch"], "0", "{resync}");
    assert_eq!(offsets(&ann.messages("general", 1).await), [1]);
    // "0" promises nothing once the real epoch exists.
    let mut cat = Client::hello(&server.ws_url(), "Cat").await;
    cat.send(json!({"type":"join","room":"general","since":{"epoch":"0","offset":0}}))
        .await;
    let back = cat.expect("joined").await;
    assert_eq!(
        (back["recovered"].as_bool(), &back["epoch"]),
        (Some(false), &resync["epoch"])
    );
}

#[tokio::test]
async fn a_client_id_used_by_another_sender_or_for_other_content_is_a_conflict() {
    let redis = RedisServer::start(false).await;
    let server = ServerProcess::spawn(&replica_args(&redis.url(), "chatapp")).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    ann.join("general").await;
    let first = ann.say("general", "mine", "c-1").await;
    assert_eq!(first["duplicate"], false, "{first}");
    let retry = ann.say("general", "mine", "c-1").await;
    assert_eq!(
        (retry["duplicate"].as_bool(), &retry["id"]),
        (Some(true), &first["id"])
    );

    // Someone else (even under the same name) cannot have their send acked as Ann's message.
    let mut eve = Client::hello(&server.ws_url(), "Ann").await;
    eve.join("general").await;
    let hijack = eve.say("general", "not hers", "c-1").await;
    assert_eq!(hijack["code"], "client_id_conflict", "{hijack}");
    let mut bob = Client::hello(&server.ws_url(), "Bob").await;
    bob.join("general").await;
    let stranger = bob.say("general", "mine", "c-1").await;
    assert_eq!(stranger["code"], "client_id_conflict", "{stranger}");
    let next = bob.say("general", "mine", "c-2").await;
    assert_eq!(
        next["offset"], 2,
        "nothing was stored by the conflicts: {next}"
    );
}

#[tokio::test]
async fn idempotency_records_are_kept_for_the_history_window_only() {
    let redis = RedisServer::start(false).await;
    let url = redis.url();
    let prefix = unique_prefix();
    let mut args = replica_args(&url, &prefix);
    args.extend(["--history-len", "5"]);
    let server = ServerProcess::spawn(&args).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    ann.join("general").await;
    for i in 1..=30 {
        ann.say("general", &format!("m{i}"), &format!("c-{i}"))
            .await;
    }
    // The last five are recognised; the first was trimmed with the history and is new again.
    let recent = ann.say("general", "m26", "c-26").await;
    assert_eq!(
        (recent["duplicate"].as_bool(), recent["offset"].as_u64()),
        (Some(true), Some(26))
    );
    let old = ann.say("general", "m1", "c-1").await;
    assert_eq!(
        (old["duplicate"].as_bool(), old["offset"].as_u64()),
        (Some(false), Some(31))
    );

    let keys: Vec<String> = redis_cmd(&url, &["KEYS", &format!("{prefix}:*idem*")])
        .await
        .unwrap();
    let mut records = 0;
    for key in &keys {
        let kind: String = redis_cmd(&url, &["TYPE", key]).await.unwrap();
        records += match kind.as_str() {
            "hash" => redis_cmd::<usize>(&url, &["HLEN", key]).await.unwrap(),
            _ => 1,
        };
    }
    assert!(records <= 5, "{records} idempotency records in {keys:?}");
}

#[tokio::test]
async fn a_send_retried_by_the_server_after_a_redis_stall_is_not_a_duplicate() {
    let redis = RedisServer::start(false).await;
    let url = redis.url();
    let server = ServerProcess::spawn(&replica_args(&url, "chatapp")).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    ann.join("general").await;
    // Loads the script, so the stalled call below is the one that stores.
    ann.say("general", "warm up", "c-0").await;

    // Redis busy for longer than the server's response timeout (3 s): the server gives up on
    // its first call, which Redis still runs later, and tries again.
    let stall = tokio::spawn({
        let url = url.clone();
        async move { stall_redis(&url, 3_500).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ack = ann.say("general", "during a stall", "c-1").await;
    stall.await.unwrap();
    assert_eq!(
        (
            ack["type"].as_str(),
            ack["duplicate"].as_bool(),
            ack["offset"].as_u64()
        ),
        (Some("ack"), Some(false), Some(2)),
        "a first send is never acked as a duplicate: {ack}"
    );
}

/// Keep Redis busy with one script for `millis` (every other client waits, as behind a slow
/// command; past Redis's busy threshold, 5 s, they get `BUSY` errors instead).
async fn stall_redis(url: &str, millis: u64) {
    let busy = format!(
        "local t0 = redis.call('TIME') \
         while true do local t = redis.call('TIME') \
         if (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > {}000 then return 1 end end",
        millis
    );
    let _: i64 = redis_cmd(url, &["EVAL", &busy, "0"]).await.unwrap();
}

#[tokio::test]
async fn one_slow_health_check_is_not_an_outage_but_a_longer_stall_is() {
    let redis = RedisServer::start(false).await;
    let url = redis.url();
    let server = ServerProcess::spawn(&replica_args(&url, "chatapp")).await;
    wait_status(&http(&server, "/readyz"), 200).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    ann.join("general").await;
    ann.say("general", "before", "c-0").await;

    // 3 s: exactly one health check (they start every second, time out after 2 s) waits past
    // its timeout; the next one is answered. Before the fix that one check made the store
    // "unreachable": every client got `health {ready: false}` and /readyz said 503.
    stall_redis(&url, 3_000).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(status(&http(&server, "/readyz")).await, 200);
    ann.send(json!({"type":"send","room":"general","content":"after","client_id":"c-1"}))
        .await;
    let first = ann
        .expect_where(|v| v["type"] == "health" || v["type"] == "ack")
        .await;
    assert_eq!(
        first["type"], "ack",
        "no health change before the ack: {first}"
    );

    // 7 s: two checks in a row time out (or Redis answers BUSY): that is reported, and the
    // recovery after it.
    let stall = tokio::spawn({
        let url = url.clone();
        async move { stall_redis(&url, 7_000).await }
    });
    let down = ann.expect("health").await;
    assert_eq!(down["ready"], false, "{down}");
    stall.await.unwrap();
    let up = ann.expect("health").await;
    assert_eq!(up["ready"], true, "{up}");
}

#[tokio::test]
async fn rooms_with_members_survive_a_redis_that_lost_its_data() {
    let mut redis = RedisServer::start(false).await;
    let servers = [
        ServerProcess::spawn(&replica_args(&redis.url(), "chatapp")).await,
        ServerProcess::spawn(&replica_args(&redis.url(), "chatapp")).await,
    ];
    let mut ann = Client::hello(&servers[0].ws_url(), "Ann").await;
    for room in ["ops", "empty"] {
        ann.send(json!({"type":"create_room","name":room})).await;
        ann.expect("room_created").await;
    }
    ann.join("ops").await;
    ann.say("ops", "before", "a-1").await;
    assert_eq!(ann.messages("ops", 1).await[0]["content"], "before");

    redis.restart().await;
    for s in &servers {
        wait_status(&http(s, "/readyz"), 200).await;
    }
    // Someone on the other replica can still join the room Ann is in, and talk to her.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut bob = Client::hello(&servers[1].ws_url(), "Bob").await;
    loop {
        bob.send(json!({"type":"join","room":"ops"})).await;
        let reply = bob
            .expect_where(|v| v["type"] == "joined" || v["type"] == "error")
            .await;
        if reply["type"] == "joined" {
            break;
        }
        assert_eq!(reply["code"], "no_such_room", "{reply}");
        assert!(Instant::now() < deadline, "ops never came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ack = bob.say("ops", "after", "b-1").await;
    assert_eq!(ack["offset"], 1, "{ack}");
    ann.expect("resync").await;
    assert_eq!(ann.messages("ops", 1).await[0]["content"], "after");
    // A room nobody was in is lost with the data.
    bob.send(json!({"type":"join","room":"empty"})).await;
    let gone = bob.expect("error").await;
    assert_eq!(gone["code"], "no_such_room", "{gone}");
}
