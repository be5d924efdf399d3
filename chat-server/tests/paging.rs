//! `history {before|after, limit}` paging and `joined.more` in the in-memory and Redis modes: each
//! answers from what it keeps (the last `--history-len` messages), with `more` accordingly. The
//! durable mode's paging over all history is in `durable.rs`.

mod common;

use common::{Client, offsets, shared_redis, start_server, unique_prefix};
use serde_json::{Value, json};

async fn history(c: &mut Client, query: Value) -> Value {
    c.send(query).await;
    c.expect("history").await
}

/// 30 messages, 20 kept: offsets 11..=30.
async fn pages_follow_what_the_store_keeps(url: &str) {
    let mut c = Client::hello(url, "Ann").await;
    c.join("general").await;
    for i in 1..=30 {
        let ack = c.say("general", &format!("m{i}"), &format!("c{i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let cases = [
        (
            json!({"before": 17, "limit": 5}),
            (12..=16).collect::<Vec<u64>>(),
            true,
        ),
        (
            json!({"before": 16, "limit": 5}),
            (11..=15).collect(),
            false,
        ),
        (json!({"before": 31, "limit": 3}), vec![28, 29, 30], true),
        (json!({"before": 13, "limit": 5}), vec![11, 12], false),
        (json!({"after": 25, "limit": 3}), vec![26, 27, 28], true),
        (json!({"after": 27, "limit": 3}), vec![28, 29, 30], false),
        (json!({"after": 30}), vec![], false),
        (
            json!({"after": 0, "limit": 500}),
            (11..=30).collect(),
            false,
        ),
    ];
    for (mut query, want, more) in cases {
        query["type"] = json!("history");
        query["room"] = json!("general");
        let page = history(&mut c, query.clone()).await;
        let got = offsets(page["messages"].as_array().unwrap());
        assert_eq!(got, want, "{query} -> {page}");
        assert_eq!(page["more"], more, "{query} -> {page}");
        assert_eq!(page["room"], "general");
        assert!(page["epoch"].is_string());
    }
    c.send(json!({"type": "history", "room": "general", "before": 3, "after": 1}))
        .await;
    let bad = c.expect("error").await;
    assert_eq!(bad["code"], "invalid_field", "{bad}");
    c.send(json!({"type": "history", "room": "nowhere"})).await;
    let missing = c.expect("error").await;
    assert_eq!(missing["code"], "no_such_room", "{missing}");
    let joined = c.join("general").await;
    assert_eq!(joined["more"], false, "{joined}");
}

#[tokio::test]
async fn memory_mode_pages_its_history() {
    let mut args = vec!["--history-len", "20"];
    args.extend(common::FAST_SENDS);
    let server = start_server(&args).await;
    pages_follow_what_the_store_keeps(&server.ws_url()).await;
    server.stop().await;
}

#[tokio::test]
async fn redis_mode_pages_its_stream() {
    let (redis, _keep) = shared_redis().await;
    let prefix = unique_prefix();
    let mut args = vec![
        "--history-len",
        "20",
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
    ];
    args.extend(common::FAST_SENDS);
    let server = start_server(&args).await;
    common::wait_ready(&server.http_url()).await;
    pages_follow_what_the_store_keeps(&server.ws_url()).await;
    server.stop().await;
}

#[tokio::test]
async fn history_requests_are_rate_limited_like_other_requests() {
    let server = start_server(&["--request-rate", "1", "--request-burst", "2"]).await;
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    let mut limited = false;
    for _ in 0..5 {
        c.send(json!({"type": "history", "room": "general", "limit": 1}))
            .await;
        let reply = c
            .expect_where(|v| v["type"] == "history" || v["type"] == "error")
            .await;
        limited |= reply["code"] == "rate_limited";
    }
    assert!(limited, "history goes through the request budget");
    server.stop().await;
}
