//! The chat over real sockets on the in-memory backend: messaging, history, recovery,
//! idempotency, validation, limits, origin checks, liveness and shutdown.

mod common;

use common::{Client, http_get, offsets, start_server, status};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn two_clients_exchange_messages_and_the_sender_gets_an_ack() {
    let server = start_server(&[]).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    let mut bob = Client::hello(&server.ws_url(), "Bob").await;
    ann.join("general").await;
    bob.join("general").await;

    ann.send(json!({"type":"send","room":"general","topic":"intro","content":"hi bob","client_id":"a-1"}))
        .await;
    let ack = ann.expect("ack").await;
    assert_eq!(
        (ack["client_id"].as_str(), ack["offset"].as_u64()),
        (Some("a-1"), Some(1)),
        "{ack}"
    );
    assert_eq!(ack["duplicate"], false);
    let got = bob.expect("message").await;
    assert_eq!(got["name"], "Ann");
    assert_eq!(got["email"], "ann@example.com");
    assert_eq!(got["topic"], "intro");
    assert_eq!(got["content"], "hi bob");
    assert_eq!(got["offset"], 1);
    assert_eq!(got["id"], ack["id"]);
    let time = got["time"].as_str().unwrap();
    assert!(
        time.ends_with('Z') && time.len() == 24,
        "RFC 3339 UTC with ms: {time}"
    );
    let own = ann.expect("message").await;
    assert_eq!(own["id"], got["id"], "the sender sees its own message too");

    bob.say("general", "hi ann", "b-1").await;
    let back = ann.expect("message").await;
    assert_eq!(
        (back["name"].as_str(), back["offset"].as_u64()),
        (Some("Bob"), Some(2))
    );
    server.stop().await;
}

#[tokio::test]
async fn joining_returns_recent_history_capped_at_history_len() {
    let server = start_server(&["--history-len", "5"]).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    ann.join("general").await;
    for i in 1..=8 {
        let ack = ann.say("general", &format!("m{i}"), &format!("c{i}")).await;
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let mut late = Client::hello(&server.ws_url(), "Late").await;
    let joined = late.join("general").await;
    let page = joined["messages"].as_array().unwrap();
    assert_eq!(offsets(page), [4, 5, 6, 7, 8], "{joined}");
    assert_eq!(page[4]["content"], "m8");
    assert_eq!(joined["offset"], 8);
    assert_eq!(joined["recovered"], true);
    server.stop().await;
}

#[tokio::test]
async fn a_reconnecting_client_recovers_exactly_what_it_missed() {
    let server = start_server(&[]).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    let mut bob = Client::hello(&server.ws_url(), "Bob").await;
    let joined = ann.join("general").await;
    bob.join("general").await;
    bob.say("general", "before", "b-0").await;
    let seen = ann.expect("message").await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    drop(ann); // the connection drops

    for i in 1..=3 {
        bob.say("general", &format!("while away {i}"), &format!("b-{i}"))
            .await;
    }
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    ann.send(
        json!({"type":"join","room":"general","since":{"epoch":epoch,"offset":seen["offset"]}}),
    )
    .await;
    let rejoined = ann.expect("joined").await;
    assert_eq!(rejoined["recovered"], true, "{rejoined}");
    assert_eq!(offsets(rejoined["messages"].as_array().unwrap()), [2, 3, 4]);

    bob.say("general", "after", "b-4").await;
    let live = ann.expect("message").await;
    assert_eq!(
        live["offset"], 5,
        "no duplicate and no gap after the page: {live}"
    );
    server.stop().await;
}

#[tokio::test]
async fn recovery_that_is_impossible_says_so() {
    let server = start_server(&["--history-len", "3"]).await;
    let mut bob = Client::hello(&server.ws_url(), "Bob").await;
    let joined = bob.join("general").await;
    let epoch = joined["epoch"].as_str().unwrap().to_owned();
    for i in 1..=6 {
        bob.say("general", &format!("m{i}"), &format!("c{i}")).await;
    }
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    ann.send(json!({"type":"join","room":"general","since":{"epoch":epoch,"offset":1}}))
        .await;
    let trimmed = ann.expect("joined").await;
    assert_eq!(
        trimmed["recovered"], false,
        "offsets 2-3 were trimmed: {trimmed}"
    );
    assert_eq!(offsets(trimmed["messages"].as_array().unwrap()), [4, 5, 6]);

    ann.send(json!({"type":"join","room":"general","since":{"epoch":"another-epoch","offset":6}}))
        .await;
    let other = ann.expect("joined").await;
    assert_eq!(
        other["recovered"], false,
        "a changed epoch is never silently accepted"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_retried_send_is_stored_once() {
    let server = start_server(&[]).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    ann.join("general").await;
    let first = ann.say("general", "only once", "same-id").await;
    let mut again = Client::hello(&server.ws_url(), "Ann").await;
    again.join("general").await;
    let second = again.say("general", "only once", "same-id").await;
    assert_eq!(second["duplicate"], true, "{second}");
    assert_eq!(second["offset"], first["offset"]);
    assert_eq!(second["id"], first["id"]);
    let mut reader = Client::hello(&server.ws_url(), "Reader").await;
    let joined = reader.join("general").await;
    assert_eq!(joined["messages"].as_array().unwrap().len(), 1, "{joined}");
    server.stop().await;
}

#[tokio::test]
async fn rooms_are_created_listed_joined_together_and_left() {
    let server = start_server(&[]).await;
    let mut ann = Client::hello(&server.ws_url(), "Ann").await;
    let mut bob = Client::hello(&server.ws_url(), "Bob").await;
    ann.send(json!({"type":"create_room","name":"ops"})).await;
    assert_eq!(ann.expect("room_created").await["room"], "ops");
    ann.send(json!({"type":"create_room","name":"ops"})).await;
    assert_eq!(ann.expect("error").await["code"], "room_exists");
    ann.send(json!({"type":"join","room":"nowhere"})).await;
    assert_eq!(ann.expect("error").await["code"], "no_such_room");

    ann.join("general").await;
    ann.join("ops").await;
    bob.join("ops").await;
    let rooms = bob
        .expect_where(|v| {
            v["type"] == "rooms"
                && v["rooms"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|r| r["name"] == "ops" && r["online"] == 2)
        })
        .await;
    let names: Vec<_> = rooms["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].clone())
        .collect();
    assert_eq!(names, [json!("general"), json!("ops")]);

    bob.say("ops", "in ops", "b-ops").await;
    let m = ann.expect_where(|v| v["type"] == "message").await;
    assert_eq!(m["room"], "ops", "a member of two rooms gets both");

    ann.send(json!({"type":"leave","room":"ops"})).await;
    assert_eq!(ann.expect("left").await["room"], "ops");
    bob.expect_where(|v| {
        v["type"] == "rooms"
            && v["rooms"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "ops" && r["online"] == 1)
    })
    .await;
    drop(bob);
    ann.expect_where(|v| {
        v["type"] == "rooms"
            && v["rooms"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "ops" && r["online"] == 0)
    })
    .await;

    let api: serde_json::Value =
        reqwest_get_json(&format!("{}/api/rooms", server.http_url())).await;
    assert!(
        api["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "general" && r["online"] == 1),
        "{api}"
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_input_gets_error_frames_naming_the_field_and_stores_nothing() {
    let server = start_server(&[]).await;
    let mut c = Client::connect(&server.ws_url()).await;
    c.send(json!({"type":"join","room":"general"})).await;
    assert_eq!(c.expect("error").await["code"], "not_identified");
    c.send(json!({"type":"hello","name":""})).await;
    let e = c.expect("error").await;
    assert_eq!(
        (e["code"].as_str(), e["field"].as_str()),
        (Some("invalid_field"), Some("name"))
    );
    c.send(json!({"type":"hello","name":"Ann","email":"not-an-email"}))
        .await;
    assert_eq!(c.expect("error").await["field"], "email");
    c.send(json!({"type":"hello","name":"Ann"})).await;
    let welcome = c.expect("welcome").await;
    // Every limit a client must respect is announced, so no client hard-codes one.
    let limits = &welcome["limits"];
    for (name, want) in [
        ("max_content_bytes", json!(4096)),
        ("max_name_chars", json!(64)),
        ("max_topic_chars", json!(64)),
        ("max_frame_bytes", json!(65536)),
        ("send_rate_per_s", json!(10.0)),
        ("send_burst", json!(20)),
        ("history_len", json!(200)),
        ("max_room_chars", json!(32)),
        ("max_email_chars", json!(254)),
        ("max_client_id_chars", json!(64)),
    ] {
        assert_eq!(limits[name], want, "{name}: {welcome}");
    }
    c.send(json!({"type":"send","room":"general","content":"x","client_id":"c0"}))
        .await;
    assert_eq!(c.expect("error").await["code"], "not_joined");
    c.join("general").await;
    c.send(json!({"type":"send","room":"general","content":"x".repeat(4097),"client_id":"c1"}))
        .await;
    let e = c.expect("error").await;
    assert_eq!(
        (e["field"].as_str(), e["client_id"].as_str()),
        (Some("content"), Some("c1")),
        "{e}"
    );
    c.send(json!({"type":"send","room":"general","content":"ok","client_id":"c2","topic":"t".repeat(65)}))
        .await;
    assert_eq!(c.expect("error").await["field"], "topic");
    c.send(json!({"type":"send","room":"general","content":5,"client_id":"c3"}))
        .await;
    assert_eq!(c.expect("error").await["field"], "content");
    c.send(json!({"type":"dance"})).await;
    assert_eq!(c.expect("error").await["code"], "unknown_type");
    c.send_raw(Message::Text("{nope".into())).await;
    assert_eq!(c.expect("error").await["code"], "bad_json");
    c.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(c.expect("error").await["code"], "binary_unsupported");
    c.send(json!({"type":"ping","id":"p1"})).await;
    assert_eq!(
        c.expect("pong").await["id"],
        "p1",
        "the connection still works"
    );

    let mut reader = Client::hello(&server.ws_url(), "Reader").await;
    let joined = reader.join("general").await;
    assert_eq!(
        joined["messages"].as_array().unwrap().len(),
        0,
        "nothing invalid was stored"
    );
    server.stop().await;
}

#[tokio::test]
async fn repeated_abuse_closes_with_policy_violation() {
    let server = start_server(&[]).await;
    let mut c = Client::connect(&server.ws_url()).await;
    for _ in 0..10 {
        c.send_raw(Message::Text("garbage".into())).await;
    }
    assert_eq!(c.close_code().await, Some(1008));
    server.stop().await;
}

#[tokio::test]
async fn oversized_frames_close_with_1009() {
    let server = start_server(&["--max-frame-bytes", "2048"]).await;
    let mut c = Client::hello(&server.ws_url(), "Big").await;
    let huge = json!({"type":"send","room":"general","content":"x".repeat(5000),"client_id":"c"});
    c.send(huge).await;
    assert_eq!(c.close_code().await, Some(1009));
    server.stop().await;
}

#[tokio::test]
async fn frames_larger_than_the_read_buffer_but_within_limits_go_through() {
    // The read buffer starts at 4 KiB; the largest allowed message must still arrive whole.
    let server = start_server(&["--max-content-bytes", "60000"]).await;
    let mut c = Client::hello(&server.ws_url(), "Big").await;
    c.join("general").await;
    let content = "é".repeat(30_000); // 60 000 bytes of UTF-8, in a ~60 KiB frame
    let ack = c.say("general", &content, "big-1").await;
    assert_eq!(ack["type"], "ack", "{ack}");
    let got = c.messages("general", 1).await.remove(0);
    assert_eq!(got["content"].as_str(), Some(content.as_str()));
    server.stop().await;
}

#[tokio::test]
async fn sending_too_fast_is_rate_limited_and_not_stored() {
    let server = start_server(&["--send-rate", "1", "--send-burst", "3"]).await;
    let mut c = Client::hello(&server.ws_url(), "Fast").await;
    c.join("general").await;
    let mut codes = Vec::new();
    for i in 0..5 {
        let r = c.say("general", "spam", &format!("s{i}")).await;
        codes.push(r["type"].as_str().unwrap().to_owned() + ":" + r["code"].as_str().unwrap_or(""));
    }
    assert_eq!(
        codes,
        [
            "ack:",
            "ack:",
            "ack:",
            "error:rate_limited",
            "error:rate_limited"
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn foreign_origins_are_refused_at_the_handshake() {
    let server = start_server(&[]).await;
    let own = format!("http://{}", server.addr);
    assert!(
        Client::connect_with_origin(&server.ws_url(), &own)
            .await
            .is_ok()
    );
    let err = Client::connect_with_origin(&server.ws_url(), "http://evil.example")
        .await
        .err();
    assert!(err.as_deref().is_some_and(|e| e.contains("403")), "{err:?}");
    server.stop().await;

    let server = start_server(&["--allowed-origins", "https://chat.example.com"]).await;
    assert!(
        Client::connect_with_origin(&server.ws_url(), "https://chat.example.com")
            .await
            .is_ok()
    );
    // The allowlist adds origins: the server's own (loopback) page still works, others do not.
    let own = format!("http://{}", server.addr);
    assert!(
        Client::connect_with_origin(&server.ws_url(), &own)
            .await
            .is_ok()
    );
    let other_port = format!("http://127.0.0.1:{}", server.addr.port() ^ 1);
    assert!(
        Client::connect_with_origin(&server.ws_url(), &other_port)
            .await
            .is_err()
    );
    server.stop().await;
}

#[tokio::test]
async fn a_slow_consumer_is_closed_with_4008_instead_of_growing_memory() {
    let mut flags = vec!["--outbound-queue", "8"];
    flags.extend_from_slice(&common::FLOOD_FLAGS);
    let server = start_server(&flags).await;
    let mut slow = Client::hello(&server.ws_url(), "Slow").await;
    slow.join("general").await;
    let mut fast = Client::hello(&server.ws_url(), "Fast").await;
    fast.join("general").await;
    let big = "x".repeat(60_000);
    // ~30 MB towards a client that never reads: more than the socket buffers can hold.
    // The sender reads its acks (and so its own echoes); the slow one reads nothing.
    for i in 0..500 {
        let ack = fast.say("general", &big, &format!("f{i}")).await;
        if ack["type"] != "ack" {
            break;
        }
    }
    // 4008 when the close frame still fits in the socket; otherwise the server drops the TCP
    // connection without it (a reader that is not reading cannot be told).
    let code = slow.close_code().await;
    assert!(matches!(code, Some(4008) | None), "{code:?}");
    let metrics = reqwest_get_text(&format!("{}/metrics", server.http_url())).await;
    let drops = metric_value(&metrics, "chat_slow_consumer_drops_total");
    assert!(drops >= 1.0, "{metrics}");
    server.stop().await;
}

#[tokio::test]
async fn silent_peers_are_closed_by_the_liveness_check() {
    let server = start_server(&["--ping-interval-secs", "1"]).await;
    let mut quiet = Client::hello(&server.ws_url(), "Quiet").await;
    // Not reading means not answering pings.
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    assert_eq!(quiet.close_code().await, Some(4000));
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_sockets_with_1001() {
    let server = start_server(&[]).await;
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    c.join("general").await;
    server.stop().await;
    assert_eq!(c.close_code().await, Some(1001));
}

#[tokio::test]
async fn readyz_turns_false_while_draining() {
    let server = start_server(&["--drain-delay-secs", "2"]).await;
    let url = server.http_url();
    assert_eq!(status(&format!("{url}/readyz")).await, 200);
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    let stopping = tokio::spawn(server.stop());
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        status(&format!("{url}/readyz")).await,
        503,
        "draining is not ready"
    );
    assert_eq!(status(&format!("{url}/healthz")).await, 200, "but alive");
    assert_eq!(c.close_code().await, Some(1001));
    stopping.await.unwrap();
}

#[tokio::test]
async fn http_endpoints_serve_the_ui_with_security_headers_and_metrics() {
    let server = start_server(&[]).await;
    let (code, headers, body) = http_get(&format!("{}/", server.http_url())).await;
    assert_eq!(code, 200);
    let csp = headers.get("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"));
    assert_eq!(
        headers.get("x-content-type-options").map(String::as_str),
        Some("nosniff")
    );
    assert!(body.contains("<html"), "the UI is served");
    for path in [
        "/app.js",
        "/app.css",
        "/favicon.svg",
        "/healthz",
        "/readyz",
        "/api/rooms",
    ] {
        assert_eq!(
            status(&format!("{}{path}", server.http_url())).await,
            200,
            "{path}"
        );
    }
    let mut c = Client::hello(&server.ws_url(), "Ann").await;
    c.join("general").await;
    c.say("general", "counted", "m1").await;
    c.expect("message").await;
    let metrics = reqwest_get_text(&format!("{}/metrics", server.http_url())).await;
    for name in [
        "chat_connections",
        "chat_rooms",
        "chat_messages_received_total",
        "chat_messages_delivered_total",
        "chat_delivery_latency_seconds_bucket",
        "chat_redis_errors_total",
        "chat_slow_consumer_drops_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    assert!(metric_value(&metrics, "chat_messages_received_total") >= 1.0);
    server.stop().await;
}

async fn reqwest_get_text(url: &str) -> String {
    http_get(url).await.2
}

async fn reqwest_get_json(url: &str) -> serde_json::Value {
    serde_json::from_str(&reqwest_get_text(url).await).unwrap()
}

fn metric_value(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in metrics:\n{text}"))
}

/// Issue #9: the handshake's origin check, RFC 6455 protocol violations and the exact echo of
/// frames, driven through a raw TCP socket where a normal client would refuse to misbehave.
mod wire {
    use std::net::SocketAddr;

    use serde_json::{Value, json};
    use tokio::{
        io::{AsyncReadExt, AsyncWriteExt},
        net::TcpStream,
    };
    use tokio_tungstenite::tungstenite::Message;

    use super::common::{Client, WAIT, start_server};

    /// Open `/ws` with a hand-written handshake; returns the HTTP status and the socket.
    async fn handshake(addr: SocketAddr, host: &str, origin: Option<&str>) -> (u16, TcpStream) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
        let req = format!(
            "GET /ws HTTP/1.1\r\nHost: {host}\r\n{origin}Upgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(s.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, s)
    }

    async fn status_for(addr: SocketAddr, host: &str, origin: &str) -> u16 {
        handshake(addr, host, Some(origin)).await.0
    }

    /// One client frame: `head` is the first byte (FIN, RSV1-3, opcode).
    fn frame(head: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mask_bit = if masked { 0x80 } else { 0 };
        let mut out = vec![head];
        match payload.len() {
            n @ 0..=125 => out.push(mask_bit | n as u8),
            n => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
        }
        if masked {
            let key = [0x12, 0x34, 0x56, 0x78];
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    /// Read server frames until a close frame; its code, or None when TCP ended without one.
    async fn close_code(s: &mut TcpStream) -> Option<u16> {
        let read = async {
            loop {
                let mut h = [0u8; 2];
                s.read_exact(&mut h).await.ok()?;
                let len = match h[1] & 0x7f {
                    126 => u64::from(s.read_u16().await.ok()?),
                    127 => s.read_u64().await.ok()?,
                    n => u64::from(n),
                };
                let mut payload = vec![0; len as usize];
                s.read_exact(&mut payload).await.ok()?;
                if h[0] & 0x0f == 0x8 {
                    return payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]]));
                }
            }
        };
        tokio::time::timeout(WAIT, read)
            .await
            .expect("close within WAIT")
    }

    #[tokio::test]
    async fn protocol_violations_close_with_1002_or_1007() {
        let server = start_server(&[]).await;
        let host = server.addr.to_string();
        // 126 bytes: one over the limit of a control frame.
        let too_big_ping = frame(0x89, &[b'p'; 126], true);
        let cases: [(&str, Vec<u8>, u16); 7] = [
            ("unmasked client frame", frame(0x81, b"{}", false), 1002),
            ("RSV1 without an extension", frame(0xC1, b"{}", true), 1002),
            ("reserved data opcode", frame(0x83, b"{}", true), 1002),
            ("reserved control opcode", frame(0x8B, b"", true), 1002),
            ("fragmented ping", frame(0x09, b"hi", true), 1002),
            ("ping over 125 bytes", too_big_ping, 1002),
            (
                "invalid UTF-8 in text",
                frame(0x81, b"{\"a\":\"\xff\xfe\"}", true),
                1007,
            ),
        ];
        for (what, bytes, code) in cases {
            let (status, mut s) = handshake(server.addr, &host, None).await;
            assert_eq!(status, 101, "{what}");
            s.write_all(&bytes).await.unwrap();
            assert_eq!(close_code(&mut s).await, Some(code), "{what}");
        }
        server.stop().await;
    }

    #[tokio::test]
    async fn dns_rebinding_is_refused_and_loopback_pages_work_without_configuration() {
        let server = start_server(&[]).await;
        let port = server.addr.port();
        // A rebound name: the Origin and the Host agree, but neither is this server's origin.
        assert_eq!(
            status_for(server.addr, "evil.example", "http://evil.example").await,
            403
        );
        let evil_port = format!("evil.example:{port}");
        let evil_origin = format!("http://{evil_port}");
        assert_eq!(status_for(server.addr, &evil_port, &evil_origin).await, 403);
        for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}")] {
            let own = format!("http://{host}");
            assert_eq!(status_for(server.addr, &host, &own).await, 101, "{own}");
            let tls = format!("https://{host}");
            assert_eq!(status_for(server.addr, &host, &tls).await, 403, "{tls}");
            let other_port = format!("http://{}:1", host.split(':').next().unwrap());
            assert_eq!(status_for(server.addr, &host, &other_port).await, 403);
        }
        assert_eq!(
            status_for(
                server.addr,
                &format!("[::1]:{port}"),
                &format!("http://[::1]:{port}")
            )
            .await,
            101
        );
        assert_eq!(status_for(server.addr, "x", "null").await, 403);
        server.stop().await;
    }

    #[tokio::test]
    async fn the_public_url_is_the_origin_and_the_allowlist_adds_to_it() {
        let server = start_server(&[
            "--public-url",
            "http://Node.Example:30222/",
            "--allowed-origins",
            "https://chat.example.com",
        ])
        .await;
        let a = server.addr;
        let public = "node.example:30222";
        assert_eq!(
            status_for(a, public, "http://node.example:30222").await,
            101
        );
        assert_eq!(
            status_for(a, "other:1", "http://NODE.example:30222").await,
            101
        );
        assert_eq!(
            status_for(a, public, "https://node.example:30222").await,
            403
        );
        assert_eq!(
            status_for(a, public, "http://node.example:30223").await,
            403
        );
        assert_eq!(status_for(a, public, "http://node.example").await, 403);
        assert_eq!(status_for(a, "x", "https://chat.example.com").await, 101);
        assert_eq!(
            status_for(a, "x", "https://chat.example.com:443").await,
            101
        );
        assert_eq!(
            status_for(a, "evil.example", "http://evil.example").await,
            403
        );
        // With a public URL the loopback fallback is off: it is not the origin people open.
        let own = format!("http://{a}");
        assert_eq!(status_for(a, &a.to_string(), &own).await, 403);
        assert_eq!(handshake(a, "x", None).await.0, 101, "non-browser clients");
        server.stop().await;
    }

    #[tokio::test]
    async fn ping_ids_are_echoed_byte_for_byte() {
        let server = start_server(&[]).await;
        let mut c = Client::connect(&server.ws_url()).await;
        for id in [
            "12345678901234567890123",
            "1.000000000000000000001",
            "-0",
            r#"{"b":1,"a":[true,null,"\u00e9"]}"#,
        ] {
            let ping = format!(r#"{{"type":"ping","id":{id}}}"#);
            c.send_raw(Message::Text(ping.into())).await;
            let pong = next_text(&mut c).await;
            assert_eq!(pong, format!(r#"{{"type":"pong","id":{id}}}"#));
        }
        let huge = format!(r#"{{"type":"ping","id":"{}"}}"#, "x".repeat(200));
        c.send_raw(Message::Text(huge.into())).await;
        let err: Value = serde_json::from_str(&next_text(&mut c).await).unwrap();
        assert_eq!(
            (err["code"].as_str(), err["field"].as_str()),
            (Some("invalid_field"), Some("id"))
        );
        server.stop().await;
    }

    async fn next_text(c: &mut Client) -> String {
        loop {
            match tokio::time::timeout(WAIT, futures_util::StreamExt::next(&mut c.ws)).await {
                Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
                Ok(Some(Ok(_))) => continue,
                other => panic!("no text frame: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn duplicate_keys_are_bad_json_and_not_identified_names_the_client_id() {
        let server = start_server(&[]).await;
        let mut c = Client::connect(&server.ws_url()).await;
        c.send(json!({"type":"send","room":"general","content":"x","client_id":"c-7"}))
            .await;
        let err = c.expect("error").await;
        assert_eq!(err["code"], "not_identified", "{err}");
        assert_eq!(err["client_id"], "c-7", "{err}");
        let dup = r#"{"type":"hello","name":"Ann","name":"Bob"}"#;
        c.send_raw(Message::Text(dup.into())).await;
        let err = c.expect("error").await;
        assert_eq!(err["code"], "bad_json", "{err}");
        server.stop().await;
    }

    #[tokio::test]
    async fn names_are_normalised_and_invisible_characters_refused() {
        let server = start_server(&[]).await;
        let mut c = Client::connect(&server.ws_url()).await;
        for bad in [
            "Ann\u{202e}",
            "\u{200b}",
            "A\u{2060}nn",
            "\u{ad}",
            " \u{feff} ",
        ] {
            c.send(json!({"type":"hello","name":bad})).await;
            let err = c.expect("error").await;
            assert_eq!(err["field"], "name", "{bad:?}: {err}");
        }
        c.send(json!({"type":"hello","name":"  Zoe\u{301} \u{a0}\t Lee "}))
            .await;
        let err = c.expect("error").await;
        assert_eq!(err["field"], "name", "a tab is a control character: {err}");
        c.send(json!({"type":"hello","name":"  Zoe\u{301} \u{a0}  Lee "}))
            .await;
        let welcome = c.expect("welcome").await;
        assert_eq!(welcome["name"], "Zo\u{e9} Lee");
        server.stop().await;
    }
}
