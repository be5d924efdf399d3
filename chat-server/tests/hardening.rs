//! Faults found when chat-server was attacked (issue #9), each reproduced over real sockets: a
//! connection that never says hello, floods of cheap requests with expensive replies, many
//! connections from one address, a reader that stops reading, and a replica that misses more
//! messages than Redis keeps.

mod common;

use std::time::{Duration, Instant};

use common::{Client, ServerProcess, http_get, shared_redis, start_server, unique_prefix};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{self, Message, client::IntoClientRequest};

/// Value of an unlabelled metric in a Prometheus exposition.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// Poll `/metrics` until `name` equals `want`.
async fn wait_metric(http_url: &str, name: &str, want: f64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = http_get(&format!("{http_url}/metrics")).await.2;
        let got = metric(&text, name);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} = {got}, want {want}: {text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_connection_that_never_says_hello_is_closed() {
    let server = start_server(&["--hello-timeout-secs", "1"]).await;
    let mut silent = Client::connect(&server.ws_url()).await;
    assert_eq!(silent.close_code().await, Some(1008));
    // One that does say hello in time stays.
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ann.send(json!({"type":"ping","id":1})).await;
    assert_eq!(ann.expect("pong").await["id"], 1);
    server.stop().await;
}

#[tokio::test]
async fn cheap_requests_cannot_buy_unbounded_replies() {
    let server = start_server(&[
        "--send-rate",
        "10000",
        "--send-burst",
        "10000",
        "--address-send-rate",
        "10000",
        "--address-send-burst",
        "10000",
    ])
    .await;
    let mut writer = Client::hello(&server.ws_url(), "Writer").await;
    writer.join("general").await;
    let big = "x".repeat(4000);
    for i in 0..200 {
        let ack = writer.say("general", &big, &format!("w{i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }

    // 33-byte joins of a room with 200 messages of 4 KB: 800 KB of reply each.
    let mut flood = Client::hello(&server.ws_url(), "Flood").await;
    let join = Message::Text(r#"{"type":"join","room":"general"}"#.into());
    for _ in 0..500 {
        flood.ws.feed(join.clone()).await.unwrap();
    }
    flood.ws.flush().await.unwrap();
    let (mut reply_bytes, mut limited) = (0usize, 0);
    let until = Instant::now() + Duration::from_secs(3);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(until.into(), flood.ws.next()).await {
        let Message::Text(t) = msg else { continue };
        reply_bytes += t.len();
        let v: Value = serde_json::from_str(&t).unwrap();
        if v["code"] == "rate_limited" {
            limited += 1;
        }
        // Without limits this is 400 MB; with them it stops near the 4 MiB burst plus 1 MiB/s.
        assert!(reply_bytes < 12 << 20, "{reply_bytes} bytes of replies");
    }
    assert!(limited > 0, "the flood was told it is rate limited");
    assert!(reply_bytes > 800_000, "at least one full page was served");
    server.stop().await;
}

#[tokio::test]
async fn one_address_cannot_multiply_the_limits_by_opening_connections() {
    let server = start_server(&[
        "--max-connections-per-address",
        "3",
        "--address-send-rate",
        "0.01",
        "--address-send-burst",
        "4",
        "--rooms-per-address-per-hour",
        "2",
    ])
    .await;
    let url = server.ws_url();
    let mut a = Client::hello(&url, "Ann").await;
    let mut b = Client::hello(&url, "Bob").await;
    let c = Client::hello(&url, "Cat").await;
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tungstenite::Error::Http(res)) => assert_eq!(res.status(), 429),
        other => panic!("a fourth connection from one address: {other:?}"),
    }
    drop(c);
    // Its slot is free again once the server has seen it close.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio_tungstenite::connect_async(url.as_str())
        .await
        .is_err()
    {
        assert!(Instant::now() < deadline, "slot never released");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Sends share one budget per address: 4 in all, whichever connection sends them.
    a.join("general").await;
    b.join("general").await;
    let mut acks = 0;
    for i in 0..6 {
        let who = if i % 2 == 0 { &mut a } else { &mut b };
        let reply = who.say("general", "hi", &format!("m{i}")).await;
        if reply["type"] == "ack" {
            acks += 1;
        } else {
            assert_eq!(reply["code"], "rate_limited", "{reply}");
        }
    }
    assert_eq!(
        acks, 4,
        "the per-address burst, not 2 x the per-connection one"
    );

    // Room creation: 2 per hour per address, and reconnecting does not reset it.
    for name in ["r1", "r2"] {
        a.send(json!({"type":"create_room","name":name})).await;
        a.expect("room_created").await;
    }
    drop(a);
    let mut again = Client::hello(&url, "Ann").await;
    again.send(json!({"type":"create_room","name":"r3"})).await;
    let e = again.expect("error").await;
    assert_eq!(e["code"], "rate_limited", "{e}");
    server.stop().await;
}

#[tokio::test]
async fn the_address_comes_from_the_configured_proxy_header_only() {
    let server = start_server(&[
        "--max-connections-per-address",
        "1",
        "--client-address-header",
        "X-Forwarded-For",
    ])
    .await;
    let connect = |xff: &str| {
        let mut req = server.ws_url().into_client_request().unwrap();
        req.headers_mut()
            .insert("X-Forwarded-For", xff.parse().unwrap());
        tokio_tungstenite::connect_async(req)
    };
    // The proxy appends the address it saw; a client-supplied first entry is ignored.
    let _one = connect("6.6.6.6, 10.0.0.1")
        .await
        .expect("first from 10.0.0.1");
    let _two = connect("10.0.0.2").await.expect("another address");
    assert!(
        connect("7.7.7.7, 10.0.0.1").await.is_err(),
        "10.0.0.1 again, whatever the client prepends"
    );
    server.stop().await;
}

/// A client on a socket with a tiny receive buffer that never reads after joining.
async fn stuck_reader(ws_url: &str) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    let addr = ws_url
        .strip_prefix("ws://")
        .unwrap()
        .strip_suffix("/ws")
        .unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr.parse().unwrap()).await.unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(ws_url, stream)
        .await
        .unwrap();
    for frame in [
        json!({"type":"hello","name":"Stuck"}),
        json!({"type":"join","room":"general"}),
    ] {
        ws.send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }
    ws
}

/// Fill the room with ~12 MB, far more than the stuck reader's socket buffers hold.
async fn flood_room(ws_url: &str) {
    let mut fast = Client::hello(ws_url, "Fast").await;
    fast.join("general").await;
    let big = "x".repeat(60_000);
    for i in 0..200 {
        let ack = fast.say("general", &big, &format!("f{i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
}

/// A reader stuck behind a zero TCP window while the room floods: its session must end and
/// release the socket (before the fix it stayed stuck in a write for as long as the peer lived).
async fn stuck_reader_is_cut_off(extra: [&str; 4]) {
    let mut flags = common::FLOOD_FLAGS.to_vec();
    flags.extend(extra);
    let server = start_server(&flags).await;
    let _stuck = stuck_reader(&server.ws_url()).await;
    wait_metric(&server.http_url(), "chat_connections", 1.0).await;
    flood_room(&server.ws_url()).await;
    // The flooding client has left; the stuck session ended too and released its socket.
    wait_metric(&server.http_url(), "chat_connections", 0.0).await;
    server.stop().await;
}

#[tokio::test]
async fn a_reader_that_stops_reading_is_cut_off_by_the_write_timeout() {
    // A queue large enough that only the write timeout can end the stuck write.
    stuck_reader_is_cut_off(["--outbound-queue", "100000", "--write-timeout-secs", "2"]).await;
}

#[tokio::test]
async fn a_kicked_reader_stuck_in_a_write_is_cut_off_at_once() {
    // A write timeout that never fires within the test: the kick itself must end the write.
    stuck_reader_is_cut_off(["--outbound-queue", "8", "--write-timeout-secs", "600"]).await;
}

#[tokio::test]
async fn a_replica_that_missed_more_than_history_holds_says_so() {
    let (url, _own) = shared_redis().await;
    let prefix = unique_prefix();
    let args = [
        "--redis-url",
        &url,
        "--redis-prefix",
        &prefix,
        "--history-len",
        "10",
        "--send-rate",
        "100000",
        "--send-burst",
        "100000",
        "--address-send-rate",
        "100000",
        "--address-send-burst",
        "100000",
    ];
    let sending = ServerProcess::spawn(&args).await;
    let receiving = ServerProcess::spawn(&args).await;
    let mut sender = Client::hello(&sending.ws_url(), "Sam").await;
    sender.join("general").await;
    let mut receiver = Client::hello(&receiving.ws_url(), "Rita").await;
    receiver.join("general").await;
    sender.say("general", "first", "s0").await;
    let first = receiver.expect("message").await;
    assert_eq!(first["offset"], 1);

    // Cut every replica's pub/sub connection, and land 30 messages (3 x history) while they
    // resubscribe (at least 100 ms).
    let redis_port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    let killed = std::process::Command::new("redis-cli")
        .args(["-p", redis_port, "client", "kill", "type", "pubsub"])
        .output()
        .unwrap();
    assert!(killed.status.success(), "{killed:?}");
    for i in 1..=30 {
        let frame = json!({"type":"send","room":"general","content":format!("m{i}"),"client_id":format!("s{i}")});
        sender
            .ws
            .feed(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
    }
    sender.ws.flush().await.unwrap();
    for _ in 0..30 {
        assert_eq!(sender.expect("ack").await["type"], "ack");
    }

    // The receiver sees every offset in order, or is told plainly what it lost.
    let mut last = 1;
    while last < 31 {
        let f = receiver
            .expect_where(|v| v["type"] == "message" || v["type"] == "joined")
            .await;
        if f["type"] == "joined" {
            assert_eq!(f["recovered"], false, "{f}");
            last = f["offset"].as_u64().unwrap();
            continue;
        }
        let offset = f["offset"].as_u64().unwrap();
        assert_eq!(offset, last + 1, "a silent jump in offsets: {f}");
        last = offset;
    }
    let metrics = http_get(&format!("http://{}/metrics", receiving.addr))
        .await
        .2;
    assert!(
        metrics.contains("chat_delivery_gaps_total{reason=\"trimmed\"}"),
        "the gap is counted: {metrics}"
    );
}
