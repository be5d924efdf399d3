//! chat-bench's peer protocols end to end, against tiny in-test servers that speak just enough
//! core NATS over WebSocket and socket.io (Engine.IO v4) to relay a room: the engine, a session's
//! decoding and its accounting with each adapter. The NATS mock cuts every operation it sends in
//! two WebSocket frames and acks in order (PONG), so reassembly and the in-order ack stamps are
//! exercised; runs are closed loop with two sends in flight per sender, so every ack must refill
//! the window. loadtest/bench/peers.sh runs the real servers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use loadtest::protocol::Protocol;
use loadtest::{Plan, Probe, Report};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Members = Arc<Mutex<HashMap<String, Vec<mpsc::UnboundedSender<Message>>>>>;

/// Listens on loopback; every connection runs `session` with the shared rooms.
async fn mock<F, Fut>(session: F) -> String
where
    F: Fn(TcpStream, Members) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let rooms = Members::default();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(session(tcp, rooms.clone()));
        }
    });
    url
}

/// Accepts the WebSocket and starts its writer: what is sent on the returned channel goes out.
async fn accept(
    tcp: TcpStream,
) -> Option<(
    mpsc::UnboundedSender<Message>,
    futures_util::stream::SplitStream<tokio_tungstenite::WebSocketStream<TcpStream>>,
)> {
    let ws = tokio_tungstenite::accept_async(tcp).await.ok()?;
    let (mut sink, stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if sink.send(m).await.is_err() {
                break;
            }
        }
    });
    Some((tx, stream))
}

/// Sends `op` as two binary frames, cut in its middle.
fn send_split(tx: &mpsc::UnboundedSender<Message>, op: &str) {
    let (a, b) = op.as_bytes().split_at(op.len() / 2);
    let _ = tx.send(Message::binary(a.to_vec()));
    let _ = tx.send(Message::binary(b.to_vec()));
}

async fn nats_session(tcp: TcpStream, rooms: Members) {
    let Some((tx, mut stream)) = accept(tcp).await else {
        return;
    };
    send_split(
        &tx,
        "INFO {\"server_id\":\"mock\",\"max_payload\":1048576}\r\n",
    );
    let mut pending = String::new();
    while let Some(Ok(msg)) = stream.next().await {
        let data = msg.into_data();
        pending.push_str(std::str::from_utf8(&data).unwrap());
        // Operations from chat-bench arrive whole: a line, and for PUB its payload line.
        while let Some(eol) = pending.find("\r\n") {
            let line = pending[..eol].to_owned();
            let mut words = line.split(' ');
            let mut used = eol + 2;
            match words.next().unwrap() {
                "SUB" => {
                    let subject = words.next().unwrap().to_owned();
                    rooms
                        .lock()
                        .unwrap()
                        .entry(subject)
                        .or_default()
                        .push(tx.clone());
                }
                "PUB" => {
                    let subject = words.next().unwrap();
                    let len: usize = words.next().unwrap().parse().unwrap();
                    let payload = &pending[used..used + len];
                    used += len + 2;
                    let op = format!("MSG {subject} 1 {len}\r\n{payload}\r\n");
                    for member in rooms.lock().unwrap().get(subject).into_iter().flatten() {
                        send_split(member, &op);
                    }
                }
                "PING" => send_split(&tx, "PONG\r\n"),
                _ => {}
            }
            pending.drain(..used);
        }
    }
}

async fn socketio_session(tcp: TcpStream, rooms: Members) {
    let Some((tx, mut stream)) = accept(tcp).await else {
        return;
    };
    let _ = tx.send(Message::text(r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#));
    // A keep-alive before anything else: the client must answer it and carry on.
    let _ = tx.send(Message::text("2"));
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let text = text.as_str();
        if text == "40" {
            let _ = tx.send(Message::text(r#"40{"sid":"n"}"#));
            continue;
        }
        let Some(rest) = text.strip_prefix("42") else {
            continue;
        };
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let (id, args) = rest.split_at(digits);
        let v: Value = serde_json::from_str(args).unwrap();
        match v[0].as_str().unwrap() {
            "join" => {
                let room = v[1].as_str().unwrap().to_owned();
                rooms
                    .lock()
                    .unwrap()
                    .entry(room.clone())
                    .or_default()
                    .push(tx.clone());
                let _ = tx.send(Message::text(format!(r#"43{id}[{{"room":"{room}"}}]"#)));
            }
            "send" => {
                let room = v[1]["room"].as_str().unwrap();
                let event = serde_json::json!(["message", v[1]]).to_string();
                for member in rooms.lock().unwrap().get(room).into_iter().flatten() {
                    let _ = member.send(Message::text(format!("42{event}")));
                }
                let ack = serde_json::json!([{"client_id": v[1]["client_id"]}]);
                let _ = tx.send(Message::text(format!("43{id}{ack}")));
            }
            _ => {}
        }
    }
}

fn plan(protocol: Protocol, url: String) -> Plan {
    Plan {
        scenario: "peers".into(),
        protocol,
        urls: vec![url],
        rooms: (0..3).map(|i| format!("bench-{i}")).collect(),
        members_per_room: 4,
        senders_per_room: 2,
        rate: 0.0,
        window: 2,
        duration: Duration::from_secs(5),
        max_messages: 90,
        content_bytes: 40,
        connect_rate: 0.0,
        concurrency: 16,
        hold: Duration::ZERO,
        drain: Duration::from_secs(5),
        max_secs: 30,
        signals: false,
        cookie: None,
        source_addrs: Default::default(),
        ready_file: None,
        hold_until: None,
    }
}

fn check(r: &Report, protocol: &str) {
    let t = r.table();
    assert_eq!((r.connections, r.connect_failures), (12, 0), "{t}");
    assert_eq!((r.sent, r.acked, r.errors), (90, 90, 0), "{t}");
    // Every message reached the 4 members of its room, once, with its stamp.
    assert_eq!(r.delivered, 90 * 4, "{t}");
    assert_eq!(r.expected_deliveries, r.delivered, "{t}");
    assert_eq!(r.latency_ms.count, r.delivered, "{t}");
    // Every ack found its send's stamp (NATS: from the in-order queue).
    assert_eq!(r.ack_latency_ms.count, 90, "{t}");
    let json: Value = serde_json::from_str(&r.json()).unwrap();
    assert_eq!(json["protocol"], protocol, "{json}");
    assert!(t.contains("gaps not measured"), "{t}");
}

#[tokio::test]
async fn nats_over_websocket_in_split_frames() {
    let url = mock(nats_session).await;
    let r = loadtest::run(&plan(Protocol::Nats, url), &Probe::default())
        .await
        .unwrap();
    check(&r, "nats");
}

#[tokio::test]
async fn socketio_events_and_acks() {
    let url = mock(socketio_session).await;
    let r = loadtest::run(&plan(Protocol::Socketio, url), &Probe::default())
        .await
        .unwrap();
    check(&r, "socketio");
}
