//! The durable mode (`--database-url`): an ack means committed to PostgreSQL. Real `chat-server`
//! processes on one Redis and one PostgreSQL of the test's own, which it kills and restarts:
//! after each fault every acked message is in the database exactly once, in one dense order, and
//! readable through `history` paging; clients recover with `since`, also after Redis lost
//! everything. Tests that need no fault share the script's PostgreSQL, one database each.

mod common;

use std::{collections::BTreeMap, time::Duration};

use common::{
    Client, PgServer, RedisServer, ServerProcess, fresh_database, page_all, redis_cmd,
    start_server, stored_messages, wait_ready, wait_readyz,
};
use serde_json::{Value, json};

fn args<'a>(db: &'a str, redis: Option<&'a str>) -> Vec<&'a str> {
    let mut a = vec!["--database-url", db];
    if let Some(r) = redis {
        a.extend(["--redis-url", r]);
    }
    a.extend(common::FAST_SENDS);
    a
}

fn http(p: &ServerProcess) -> String {
    format!("http://{}", p.addr)
}

/// Send `n` messages without waiting, then read until every one is answered or the socket
/// closes: the acked (client_id, offset) pairs.
async fn burst(c: &mut Client, tag: &str, n: usize) -> BTreeMap<String, u64> {
    for i in 0..n {
        let msg = json!({"type": "send", "room": "general", "content": format!("{tag} {i}"),
                         "client_id": format!("{tag}-{i}")});
        if c.ws_send(msg).await.is_err() {
            break;
        }
    }
    let mut acked = BTreeMap::new();
    let mut answered = 0;
    while answered < n {
        match c.next_or_closed().await {
            Some(v) if v["type"] == "ack" => {
                answered += 1;
                acked.insert(
                    v["client_id"].as_str().unwrap().to_owned(),
                    v["offset"].as_u64().unwrap(),
                );
            }
            Some(v) if v["type"] == "error" && v["client_id"].is_string() => answered += 1,
            Some(_) => {}
            None => break,
        }
    }
    acked
}

/// Every acked message is stored once, at its acked offset, and offsets are dense from 1; the
/// same through `history` paging.
async fn check_all(db: &str, reader: &mut Client, acked: &BTreeMap<String, u64>) -> usize {
    let rows = stored_messages(db, "general").await;
    let offs: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let dense: Vec<i64> = (1..=rows.len() as i64).collect();
    assert_eq!(offs, dense, "offsets are dense");
    let by_client: BTreeMap<&str, i64> = rows.iter().map(|(o, c)| (c.as_str(), *o)).collect();
    assert_eq!(by_client.len(), rows.len(), "no client_id twice");
    for (client, off) in acked {
        assert_eq!(
            by_client.get(client.as_str()).copied(),
            Some(*off as i64),
            "acked {client} at {off}"
        );
    }
    let paged = page_all(reader, "general", 200).await;
    let paged_offs: Vec<i64> = paged
        .iter()
        .map(|m| m["offset"].as_i64().unwrap())
        .collect();
    assert_eq!(
        paged_offs, dense,
        "history pages give every message once, in order"
    );
    rows.len()
}

#[tokio::test]
async fn acked_messages_survive_replica_kill_redis_flush_and_postgres_crashes() {
    let pg = PgServer::start().await;
    let db = pg.url();
    let redis = RedisServer::start(false).await;
    let redis_url = redis.url();
    let a = ServerProcess::spawn(&args(&db, Some(&redis_url))).await;
    let b = ServerProcess::spawn(&args(&db, Some(&redis_url))).await;
    wait_ready(&http(&a)).await;
    wait_ready(&http(&b)).await;
    let mut acked = BTreeMap::new();

    // 1. SIGKILL a replica during a stream of sends.
    let mut on_a = Client::hello(&a.ws_url(), "Ann").await;
    on_a.join("general").await;
    let mut reader = Client::hello(&b.ws_url(), "Rita").await;
    let joined = reader.join("general").await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    let sends = tokio::spawn(async move {
        let got = burst(&mut on_a, "kill", 400).await;
        (on_a, got)
    });
    // Killed mid-stream: once a hundred are in the database.
    while stored_messages(&db, "general").await.len() < 100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.kill().await;
    let (_, got) = sends.await.unwrap();
    eprintln!(
        "replica SIGKILL: {} of 400 sends acked before it died",
        got.len()
    );
    acked.extend(got);
    let a = ServerProcess::spawn(&args(&db, Some(&redis_url))).await;
    wait_ready(&http(&a)).await;
    let n1 = check_all(&db, &mut reader, &acked).await;
    assert!(n1 >= acked.len(), "{n1} stored, {} acked", acked.len());

    // 2. Redis flushed and restarted empty: nothing is lost, `since` still recovers.
    redis_cmd::<()>(&redis_url, &["FLUSHALL"]).await.unwrap();
    let mut redis = redis;
    redis.restart().await;
    let mut on_b = Client::hello(&b.ws_url(), "Bob").await;
    on_b.join("general").await;
    acked.extend(burst(&mut on_b, "flush", 50).await);
    let mut back = Client::hello(&a.ws_url(), "Rita").await;
    back.send(json!({"type": "join", "room": "general",
                     "since": {"epoch": epoch, "offset": 1}}))
        .await;
    let rejoined = back.expect("joined").await;
    assert_eq!(rejoined["recovered"], true, "recovered from the database");
    assert_eq!(
        rejoined["epoch"],
        epoch.as_str(),
        "the epoch survives a Redis flush"
    );
    let n2 = check_all(&db, &mut back, &acked).await;
    assert_eq!(n2, n1 + 50);

    // 3. PostgreSQL fast shutdown, then kill -9 of the postmaster during sends.
    pg.stop_fast().await;
    let why = wait_readyz(&http(&b), 503).await;
    assert!(why.contains("database"), "/readyz says why: {why}");
    let refused = on_b.say("general", "while down", "down-1").await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    pg.start_again().await;
    wait_ready(&http(&b)).await;
    let sends = tokio::spawn(async move {
        let got = burst(&mut on_b, "crash", 300).await;
        (on_b, got)
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    pg.kill9().await;
    pg.start_again().await;
    let (mut on_b, got) = sends.await.unwrap();
    eprintln!("postgres kill -9: {} of 300 sends acked", got.len());
    acked.extend(got);
    wait_ready(&http(&b)).await;
    // A retry of what was not acked is stored once; an acked one is a duplicate.
    let retry = on_b.say("general", "crash 0", "crash-0").await;
    assert_eq!(retry["type"], "ack", "{retry}");
    if let Some(off) = acked.get("crash-0") {
        assert_eq!(
            (retry["offset"].as_u64(), retry["duplicate"].as_bool()),
            (Some(*off), Some(true))
        );
    }
    acked.insert("crash-0".into(), retry["offset"].as_u64().unwrap());
    let mut last = Client::hello(&b.ws_url(), "Rita").await;
    let total = check_all(&db, &mut last, &acked).await;
    eprintln!(
        "{total} messages stored, {} acked, every acked one present once",
        acked.len()
    );
    a.kill().await;
    b.kill().await;
}

#[tokio::test]
async fn offsets_are_dense_across_replicas_and_idempotent_in_the_database() {
    let (db, _pg) = fresh_database().await;
    let redis = RedisServer::start(false).await;
    let redis_url = redis.url();
    let one = start_server(&args(&db, Some(&redis_url))).await;
    let two = start_server(&args(&db, Some(&redis_url))).await;
    wait_ready(&one.http_url()).await;
    wait_ready(&two.http_url()).await;
    let mut x = Client::hello(&one.ws_url(), "Ann").await;
    let mut y = Client::hello(&two.ws_url(), "Bob").await;
    let mut watcher = Client::hello(&two.ws_url(), "Wes").await;
    let epoch = x.join("general").await["epoch"]
        .as_str()
        .unwrap()
        .to_owned();
    y.join("general").await;
    watcher.join("general").await;
    let (ax, ay) = tokio::join!(burst(&mut x, "x", 150), burst(&mut y, "y", 150));
    assert_eq!(ax.len() + ay.len(), 300);
    let mut acked = ax.clone();
    acked.extend(ay);
    assert_eq!(check_all(&db, &mut x, &acked).await, 300);

    // The same send through the other replica: the original, once.
    let mut ann_on_two = Client::hello(&two.ws_url(), "Ann").await;
    ann_on_two.join("general").await;
    let dup = ann_on_two.say("general", "x 3", "x-3").await;
    assert_eq!(dup["duplicate"], true, "{dup}");
    assert_eq!(dup["offset"].as_u64(), ax.get("x-3").copied());
    let other = y.say("general", "x 3", "x-3").await;
    assert_eq!(
        other["code"], "client_id_conflict",
        "another sender: {other}"
    );

    // Every replica delivers all 300 live, in order.
    let live: Vec<u64> = common::offsets(&watcher.messages("general", 300).await);
    assert_eq!(live, (1..=300).collect::<Vec<_>>());

    // Redis caches the recent window (`--history-len`, 200) and is refilled after losing it.
    let key = format!("chatapp:cache:general:{epoch}");
    let cached: u64 = redis_cmd(&redis_url, &["ZCARD", &key]).await.unwrap();
    assert_eq!(cached, 200);
    redis_cmd::<()>(&redis_url, &["FLUSHALL"]).await.unwrap();
    y.send(json!({"type": "history", "room": "general", "limit": 50}))
        .await;
    let page = y.expect("history").await;
    let newest = common::offsets(page["messages"].as_array().unwrap());
    assert_eq!(newest, (251..=300).collect::<Vec<_>>(), "from the database");
    let cached: u64 = redis_cmd(&redis_url, &["ZCARD", &key]).await.unwrap();
    assert_eq!(
        cached, 51,
        "a miss refills the cache (the page and the row that said `more`)"
    );
    // The same page again comes from the cache; an older one from the database.
    y.send(json!({"type": "history", "room": "general", "limit": 50}))
        .await;
    let again = y.expect("history").await;
    assert_eq!(again["messages"], page["messages"]);
    assert_eq!(again["more"], true);
    y.send(json!({"type": "history", "room": "general", "before": 11, "limit": 50}))
        .await;
    let oldest = y.expect("history").await;
    let first = common::offsets(oldest["messages"].as_array().unwrap());
    assert_eq!(first, (1..=10).collect::<Vec<_>>());
    assert_eq!(oldest["more"], false);
    one.stop().await;
    two.stop().await;
}

#[tokio::test]
async fn a_far_behind_client_recovers_everything_in_pages() {
    let (db, _pg) = fresh_database().await;
    let mut a = args(&db, None);
    a.extend(["--history-len", "50"]);
    let server = start_server(&a).await;
    wait_ready(&server.http_url()).await;
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    let joined = c.join("general").await;
    assert_eq!(joined["more"], false);
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    assert_eq!(burst(&mut c, "p", 260).await.len(), 260);
    let (_, _, metrics) = common::http_get(&format!("{}/metrics", server.http_url())).await;
    let batches = metrics
        .lines()
        .find(|l| l.starts_with("chat_commit_batch_size_sum"))
        .unwrap_or_else(|| panic!("no commit metrics in {metrics}"));
    assert!(
        batches.ends_with(" 260.0") || batches.ends_with(" 260"),
        "{batches}"
    );
    c.send(json!({"type": "create_room", "name": "kept"})).await;
    c.expect("room_created").await;
    server.stop().await;

    // A new process on the same database: rooms, epochs and every message are still there.
    let server = start_server(&a).await;
    wait_ready(&server.http_url()).await;
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    c.send(json!({"type": "join", "room": "general", "since": {"epoch": epoch, "offset": 5}}))
        .await;
    let j: Value = c.expect("joined").await;
    assert_eq!(
        (j["recovered"].as_bool(), j["more"].as_bool()),
        (Some(true), Some(true)),
        "{j}"
    );
    let first = common::offsets(j["messages"].as_array().unwrap());
    assert_eq!(
        first,
        (6..=55).collect::<Vec<_>>(),
        "the first page, `history_len` long"
    );
    let mut seen = first;
    loop {
        let after = *seen.last().unwrap();
        c.send(json!({"type": "history", "room": "general", "after": after, "limit": 100}))
            .await;
        let page = c.expect("history").await;
        seen.extend(common::offsets(page["messages"].as_array().unwrap()));
        if page["more"] != true {
            break;
        }
    }
    assert_eq!(seen, (6..=260).collect::<Vec<_>>());
    c.send(json!({"type": "history", "room": "general", "before": 6, "limit": 200}))
        .await;
    let older = c.expect("history").await;
    assert_eq!(
        common::offsets(older["messages"].as_array().unwrap()),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(older["more"], false);
    assert_eq!(
        c.join("kept").await["type"],
        "joined",
        "rooms live in the database"
    );
    server.stop().await;
}

#[tokio::test]
async fn migrate_runs_alone_and_concurrently() {
    let (db, _pg) = fresh_database().await;
    let run = || {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .args(["migrate", "--database-url", &db])
            .output()
    };
    let (first, second) = tokio::join!(run(), run());
    for out in [first.unwrap(), second.unwrap()] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let again = run().await.unwrap();
    assert!(again.status.success());
    assert_eq!(stored_messages(&db, "general").await.len(), 0);
}

#[tokio::test]
async fn retention_keeps_the_newest_messages_per_room() {
    let (db, _pg) = fresh_database().await;
    let server = start_server(&args(&db, None)).await;
    wait_ready(&server.http_url()).await;
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    let epoch = c.join("general").await["epoch"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(burst(&mut c, "r", 30).await.len(), 30);
    server.stop().await;

    // Retention runs at start, then every minute.
    let mut a = args(&db, None);
    a.extend(["--retention-messages", "10"]);
    let server = start_server(&a).await;
    wait_ready(&server.http_url()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while stored_messages(&db, "general").await.len() > 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "retention did not run"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    let all = page_all(&mut c, "general", 200).await;
    assert_eq!(common::offsets(&all), (21..=30).collect::<Vec<_>>());
    c.send(json!({"type": "join", "room": "general", "since": {"epoch": epoch, "offset": 5}}))
        .await;
    let j = c.expect("joined").await;
    assert_eq!(j["recovered"], false, "offsets 6..=20 are gone: {j}");
    c.send(json!({"type": "join", "room": "general", "since": {"epoch": epoch, "offset": 20}}))
        .await;
    let j = c.expect("joined").await;
    assert_eq!(j["recovered"], true, "everything after 20 is kept: {j}");
    server.stop().await;
}
