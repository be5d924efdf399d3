//! Filters and search over real sockets: a filtered `join` receives only matching messages, live
//! (also sent through another replica) and in its pages; a malformed query gets `bad_query` with
//! the position of the problem; `search` in the durable mode finds messages long gone from the
//! Redis window, newest first, page by page; without a database it searches what the store keeps.

mod common;

use common::{
    Client, FAST_SENDS, fresh_database, shared_redis, start_server, unique_prefix, wait_ready,
};
use serde_json::{Value, json};

fn contents(frames: &[Value]) -> Vec<&str> {
    frames
        .iter()
        .map(|m| m["content"].as_str().unwrap())
        .collect()
}

/// The messages of `frame` (a `joined`, `history` or `search_results`).
fn messages(frame: &Value) -> Vec<Value> {
    frame["messages"].as_array().expect("messages").clone()
}

async fn search(c: &mut Client, query: &str, limit: u64, before: Option<u64>) -> Value {
    let mut frame = json!({"type": "search", "room": "general", "query": query, "limit": limit});
    if let Some(before) = before {
        frame["before"] = json!(before);
    }
    c.send(frame).await;
    c.expect_where(|v| v["type"] == "search_results" || v["type"] == "error")
        .await
}

#[tokio::test]
async fn a_filtered_join_gets_only_matching_messages_from_any_replica() {
    let (db, _pg) = fresh_database().await;
    let (redis, _r) = shared_redis().await;
    let prefix = unique_prefix();
    let mut args = vec![
        "--database-url",
        &db,
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
    ];
    args.extend(FAST_SENDS);
    let one = start_server(&args).await;
    let two = start_server(&args).await;
    wait_ready(&one.http_url()).await;
    wait_ready(&two.http_url()).await;

    let mut ann = Client::hello(&one.ws_url(), "Ann").await;
    let mut all = Client::hello(&one.ws_url(), "Al").await;
    let mut bob = Client::hello(&two.ws_url(), "Bob").await;
    let filter = "#deploy AND NOT \"dry run\"";
    ann.send(json!({"type": "join", "room": "general", "filter": filter}))
        .await;
    assert_eq!(messages(&ann.expect("joined").await), Vec::<Value>::new());
    all.join("general").await;
    bob.join("general").await;
    let sent = [
        "hello",
        "#deploy now",
        "#Deploy: dry-run first",
        "#deployment",
        "#deploy done",
    ];
    for (i, text) in sent.iter().enumerate() {
        assert_eq!(
            bob.say("general", text, &format!("b{i}")).await["type"],
            "ack"
        );
    }
    // The unfiltered member of the same replica sees every message, in order; Ann only those
    // that match, and nothing else is queued for her before the last one.
    assert_eq!(contents(&all.messages("general", 5).await), sent);
    assert_eq!(
        contents(&ann.messages("general", 2).await),
        ["#deploy now", "#deploy done"]
    );

    // The joined page and history pages are filtered too; a sender filter matches the name.
    let mut cat = Client::hello(&two.ws_url(), "Cat").await;
    cat.send(json!({"type": "join", "room": "general", "filter": "from:BOB (hello OR done)"}))
        .await;
    assert_eq!(
        contents(&messages(&cat.expect("joined").await)),
        ["hello", "#deploy done"]
    );
    cat.send(json!({"type": "history", "room": "general", "before": 5, "limit": 10}))
        .await;
    assert_eq!(contents(&messages(&cat.expect("history").await)), ["hello"]);

    // Joining again without a filter clears it: the page and live messages are whole again.
    assert_eq!(contents(&messages(&ann.join("general").await)), sent);
    bob.say("general", "plain", "b9").await;
    assert_eq!(contents(&ann.messages("general", 1).await), ["plain"]);
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn a_malformed_query_gets_bad_query_with_its_position() {
    let server = start_server(&[]).await;
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    c.send(json!({"type": "hello", "name": "Ann"})).await;
    let limits = c.expect("welcome").await["limits"].clone();
    assert_eq!(
        (
            &limits["max_query_chars"],
            &limits["max_query_terms"],
            &limits["max_query_depth"]
        ),
        (&json!(500), &json!(32), &json!(8)),
        "{limits}"
    );
    let e = search(&mut c, "#deploy AND (from:ann", 10, None).await;
    assert_eq!(
        (
            e["code"].as_str(),
            e["position"].as_u64(),
            e["field"].as_str()
        ),
        (Some("bad_query"), Some(12), Some("query")),
        "{e}"
    );
    c.send(json!({"type": "join", "room": "general", "filter": "a OR OR b"}))
        .await;
    let e = c.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["position"].as_u64()),
        (Some("bad_query"), Some(5)),
        "{e}"
    );
    // A refused filter joins nothing.
    c.send(json!({"type": "send", "room": "general", "content": "x", "client_id": "c1"}))
        .await;
    assert_eq!(c.expect("error").await["code"], "not_joined");
    let e = search(&mut c, &"x ".repeat(300), 10, None).await;
    assert_eq!(e["position"], 500, "{e}");
    c.send(json!({"type": "search", "room": "nowhere", "query": "x"}))
        .await;
    assert_eq!(c.expect("error").await["code"], "no_such_room");
    server.stop().await;
}

#[tokio::test]
async fn search_finds_old_messages_beyond_the_redis_window_and_pages() {
    let (db, _pg) = fresh_database().await;
    let (redis, _r) = shared_redis().await;
    let prefix = unique_prefix();
    let mut args = vec![
        "--database-url",
        &db,
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
        "--history-len",
        "20",
    ];
    args.extend(FAST_SENDS);
    let server = start_server(&args).await;
    wait_ready(&server.http_url()).await;
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    c.join("general").await;
    for i in 1..=120 {
        let text = if i % 10 == 1 {
            format!("#deploy rollout {i}")
        } else {
            format!("chatter {i}")
        };
        assert_eq!(
            c.say("general", &text, &format!("m{i}")).await["type"],
            "ack"
        );
    }
    let mut late = Client::hello(&server.ws_url(), "Bob").await;
    assert_eq!(
        messages(&late.join("general").await).len(),
        20,
        "Redis keeps 20"
    );

    // Newest first, five at a time, down to the very first message.
    let mut found = Vec::new();
    let mut before = None;
    loop {
        let page = search(&mut late, "#deploy", 5, before).await;
        assert_eq!(page["type"], "search_results", "{page}");
        assert_eq!(page["query"], "#deploy");
        found.extend(messages(&page));
        if page["more"] != true {
            assert!(page.get("next_before").is_none(), "{page}");
            break;
        }
        before = page["next_before"].as_u64();
        assert_eq!(before, found.last().unwrap()["offset"].as_u64(), "{page}");
    }
    let want: Vec<String> = (0..12)
        .rev()
        .map(|k| format!("#deploy rollout {}", k * 10 + 1))
        .collect();
    assert_eq!(contents(&found), want);

    // Words, phrases, NOT and time ranges work over the whole history as they do live.
    let page = search(
        &mut late,
        "rollout NOT (\"rollout 11\" OR \"rollout 21\") after:2000-01-01",
        50,
        None,
    )
    .await;
    assert_eq!(messages(&page).len(), 10, "{page}");
    let page = search(&mut late, "chatter 2", 50, None).await;
    assert_eq!(contents(&messages(&page)), ["chatter 2"], "{page}");
    let page = search(&mut late, "from:ann before:2000-01-01", 50, None).await;
    assert_eq!(
        (messages(&page).len(), &page["more"]),
        (0, &json!(false)),
        "{page}"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_database_search_covers_what_the_store_keeps() {
    let mut args = vec!["--history-len", "20"];
    args.extend(FAST_SENDS);
    let server = start_server(&args).await;
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    c.join("general").await;
    for i in 1..=40 {
        let text = if i % 10 == 1 {
            format!("#deploy {i}")
        } else {
            format!("chatter {i}")
        };
        assert_eq!(
            c.say("general", &text, &format!("m{i}")).await["type"],
            "ack"
        );
    }
    let page = search(&mut c, "#DEPLOY", 10, None).await;
    assert_eq!(
        contents(&messages(&page)),
        ["#deploy 31", "#deploy 21"],
        "{page}"
    );
    assert_eq!(page["more"], false);
    server.stop().await;
}

/// The database's index narrows, the matcher decides: PostgreSQL search finds exactly what a
/// search over every message in memory finds, for words in any script, hashtags, names, topics,
/// times and negations (a prefilter that dropped a match would show here).
#[tokio::test]
async fn the_database_finds_exactly_what_the_matcher_accepts() {
    let (db, _pg) = fresh_database().await;
    let mut args = vec!["--database-url", &db, "--history-len", "200"];
    args.extend(FAST_SENDS);
    let durable = start_server(&args).await;
    let mut args = vec!["--history-len", "200"];
    args.extend(FAST_SENDS);
    let memory = start_server(&args).await;
    wait_ready(&durable.http_url()).await;
    let texts = [
        ("Ann", None, "#deploy now, please"),
        ("Ann", Some("Release"), "the dry-run of #Deploy_v2 failed"),
        ("Zoë Lee", None, "Déjà vu: DRY RUN again"),
        ("Zoë Lee", Some("ops"), "naïve café au lait #café"),
        ("bob", Some("OPS"), "v2.1 shipped; 123abc and 1e5 and 0x1F"),
        ("bob", None, "İstanbul ﬁle K-9 straße STRASSE"),
        ("Ann", None, "rock and roll #deployment"),
        ("bob", None, "dry\nrun\tacross lines #deploy"),
    ];
    let mut clients = Vec::new();
    for server in [&durable, &memory] {
        let mut by_name = std::collections::BTreeMap::new();
        for (name, _, _) in texts {
            if !by_name.contains_key(name) {
                let mut c = Client::connect(&server.ws_url()).await;
                c.send(json!({"type": "hello", "name": name})).await;
                c.expect("welcome").await;
                c.join("general").await;
                by_name.insert(name, c);
            }
        }
        for (i, (name, topic, content)) in texts.iter().enumerate() {
            let c = by_name.get_mut(name).unwrap();
            c.send(
                json!({"type": "send", "room": "general", "content": content,
                          "topic": topic, "client_id": format!("t{i}")}),
            )
            .await;
            let ack = c
                .expect_where(|v| v["type"] == "ack" || v["type"] == "error")
                .await;
            assert_eq!(ack["type"], "ack", "{ack}");
        }
        clients.push(by_name.remove("Ann").unwrap());
    }
    let queries = [
        "#deploy",
        "#DEPLOY_V2",
        "#café",
        "dry run",
        "\"dry run\"",
        "NOT \"dry run\"",
        "dry-run",
        "déjà",
        "DÉJÀ VU",
        "café au lait",
        "naïve",
        "123abc",
        "1e5",
        "0x1f",
        "v2",
        "straße",
        "strasse",
        "istanbul",
        "k",
        "from:ann",
        "from:ZOË",
        "from:\"zoë lee\"",
        "topic:ops",
        "NOT topic:ops",
        "topic:release OR from:bob",
        "and",
        "NOT #deploy",
        "after:2000-01-01 NOT (from:bob OR #café)",
        "before:2000-01-01",
        "across lines",
    ];
    let mut matched = std::collections::BTreeMap::new();
    for query in queries {
        let mut got = Vec::new();
        for c in &mut clients {
            let page = search(c, query, 50, None).await;
            assert_eq!(page["type"], "search_results", "{query}: {page}");
            got.push(
                contents(&messages(&page))
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(got[0], got[1], "{query}: PostgreSQL, then memory");
        matched.insert(query, got[0].len());
    }
    let expect = [
        ("#deploy", 2),
        ("\"dry run\"", 3),
        ("NOT \"dry run\"", 5),
        ("café au lait", 1),
        ("from:ZOË", 0),
        ("from:\"zoë lee\"", 2),
        ("topic:ops", 2),
        ("before:2000-01-01", 0),
        ("k", 1),
    ];
    for (query, n) in expect {
        assert_eq!(matched[query], n, "{query}: {matched:?}");
    }
    durable.stop().await;
    memory.stop().await;
}

/// A filter belongs to one room of one connection; `search` spends the request budget like
/// `history`.
#[tokio::test]
async fn a_filter_is_per_room_and_per_connection_and_search_is_rate_limited() {
    let mut args = vec!["--request-rate", "0.1", "--request-burst", "6"];
    args.extend(FAST_SENDS);
    let server = start_server(&args).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    let mut other_tab = Client::hello(&server.ws_url(), "Ann").await;
    let mut bob = Client::hello(&server.ws_url(), "Bob").await;
    bob.send(json!({"type": "create_room", "name": "ops"}))
        .await;
    bob.expect("room_created").await;
    ann.send(json!({"type": "join", "room": "general", "filter": "wanted"}))
        .await;
    ann.expect("joined").await;
    ann.join("ops").await;
    other_tab.join("general").await;
    bob.join("general").await;
    bob.join("ops").await;
    bob.say("general", "noise", "b1").await;
    bob.say("ops", "noise in ops", "b2").await;
    bob.say("general", "wanted", "b3").await;
    assert_eq!(
        contents(&other_tab.messages("general", 2).await),
        ["noise", "wanted"]
    );
    assert_eq!(contents(&ann.messages("ops", 1).await), ["noise in ops"]);
    assert_eq!(contents(&ann.messages("general", 1).await), ["wanted"]);

    // Ann has spent three requests (hello, two joins) of her burst of six.
    for _ in 0..3 {
        assert_eq!(
            search(&mut ann, "noise", 10, None).await["type"],
            "search_results"
        );
    }
    let refused = search(&mut ann, "noise", 10, None).await;
    assert_eq!(refused["code"], "rate_limited", "{refused}");
    server.stop().await;
}
