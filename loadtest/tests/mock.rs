//! chat-bench against a tiny in-test server that speaks just enough of docs/protocol.md, so the
//! engine's accounting is checked on its own: a correct server yields no gaps and every
//! delivery, a server that loses or repeats offsets is caught.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use loadtest::{Plan, Probe};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// How the mock misbehaves.
#[derive(Clone, Copy, Default)]
struct Faults {
    /// Do not deliver messages whose offset is a multiple of this (0: never).
    drop_every: u64,
    /// Deliver messages whose offset is a multiple of this twice (0: never).
    repeat_every: u64,
    /// What `welcome.guest_posting` says (absent: a server from before accounts).
    guest_posting: Option<bool>,
    /// Answer every `typing` and `read` with `login_required` (no `client_id`: it answers no send).
    refuse_signals: bool,
    /// Send each `ack` this long after the message's deliveries.
    ack_delay: Duration,
}

#[derive(Default)]
struct Room {
    offset: u64,
    members: Vec<mpsc::UnboundedSender<String>>,
}

async fn mock_server(faults: Faults) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let rooms: Arc<Mutex<HashMap<String, Room>>> = Arc::default();
    rooms
        .lock()
        .unwrap()
        .insert("general".into(), Room::default());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(session(tcp, rooms.clone(), faults));
        }
    });
    url
}

async fn session(tcp: tokio::net::TcpStream, rooms: Arc<Mutex<HashMap<String, Room>>>, f: Faults) {
    let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            if sink.send(Message::text(text)).await.is_err() {
                break;
            }
        }
    });
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let v: Value = serde_json::from_str(&text).unwrap();
        let room = v["room"].as_str().unwrap_or_default().to_owned();
        let reply = match v["type"].as_str().unwrap() {
            "hello" => match f.guest_posting {
                Some(on) => {
                    json!({"type": "welcome", "protocol": 1, "user": null, "guest_posting": on})
                }
                None => json!({"type": "welcome", "protocol": 1}),
            },
            "create_room" => {
                let name = v["name"].as_str().unwrap().to_owned();
                rooms.lock().unwrap().entry(name.clone()).or_default();
                json!({"type": "room_created", "room": name})
            }
            "join" => {
                let mut rooms = rooms.lock().unwrap();
                let r = rooms.get_mut(&room).unwrap();
                r.members.push(tx.clone());
                let _ = tx.send(json!({"type": "rooms", "rooms": []}).to_string());
                json!({"type": "joined", "room": room, "epoch": "e", "offset": r.offset, "messages": [], "recovered": true, "online": r.members.len()})
            }
            "send" => {
                let mut rooms = rooms.lock().unwrap();
                let r = rooms.get_mut(&room).unwrap();
                r.offset += 1;
                let o = r.offset;
                let message = json!({"type": "message", "room": room, "offset": o, "id": "x", "name": "n", "email": null, "time": "t", "topic": null, "content": v["content"], "client_id": v["client_id"]}).to_string();
                let copies = if f.drop_every > 0 && o.is_multiple_of(f.drop_every) {
                    0
                } else if f.repeat_every > 0 && o.is_multiple_of(f.repeat_every) {
                    2
                } else {
                    1
                };
                for member in &r.members {
                    for _ in 0..copies {
                        let _ = member.send(message.clone());
                    }
                }
                let ack = json!({"type": "ack", "client_id": v["client_id"], "room": room, "offset": o, "id": "x", "duplicate": false});
                if !f.ack_delay.is_zero() {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(f.ack_delay).await;
                        let _ = tx.send(ack.to_string());
                    });
                    continue;
                }
                ack
            }
            "typing" | "read" if f.refuse_signals => {
                json!({"type": "error", "code": "login_required", "message": "guests cannot", "room": room})
            }
            _ => json!({"type": "error", "code": "unknown_type", "message": "?"}),
        };
        let _ = tx.send(reply.to_string());
    }
}

fn plan(url: String, rooms: usize, members: usize, messages: u64) -> Plan {
    Plan {
        scenario: "mock".into(),
        urls: vec![url],
        rooms: (0..rooms).map(|i| format!("mock-{i}")).collect(),
        members_per_room: members,
        senders_per_room: 1,
        rate: 2000.0,
        window: 1,
        duration: Duration::from_secs(5),
        max_messages: messages,
        content_bytes: 40,
        connect_rate: 0.0,
        concurrency: 16,
        hold: Duration::ZERO,
        drain: Duration::from_secs(2),
        max_secs: 30,
        signals: false,
        cookie: None,
        source_addrs: Default::default(),
        ready_file: None,
        hold_until: None,
        protocol: Default::default(),
    }
}

#[tokio::test]
async fn a_correct_server_has_every_delivery_and_no_gap() {
    let url = mock_server(Faults::default()).await;
    let r = loadtest::run(&plan(url, 3, 4, 60), &Probe::default())
        .await
        .unwrap();
    assert_eq!(
        (r.connections, r.connect_failures),
        (12, 0),
        "{}",
        r.table()
    );
    assert_eq!((r.sent, r.acked), (60, 60), "{}", r.table());
    assert_eq!(r.delivered, 60 * 4, "{}", r.table());
    assert_eq!(r.expected_deliveries, r.delivered);
    assert_eq!((r.gaps, r.errors), (0, 0), "{}", r.table());
    assert_eq!(r.latency_ms.count, r.delivered);
    assert_eq!(r.ack_latency_ms.count, 60);
    let json: Value = serde_json::from_str(&r.json()).unwrap();
    for key in [
        "scenario",
        "connections",
        "connections_per_s",
        "sent",
        "delivered",
        "deliveries_per_s",
        "errors",
        "gaps",
    ] {
        assert!(json.get(key).is_some(), "{key} missing from {json}");
    }
    for key in ["p50", "p95", "p99", "max"] {
        assert!(
            json["latency_ms"][key].as_f64().is_some(),
            "latency_ms.{key} in {json}"
        );
    }
}

#[tokio::test]
async fn lost_offsets_are_gaps() {
    let url = mock_server(Faults {
        drop_every: 5,
        ..Faults::default()
    })
    .await;
    // One room, 3 members, 20 messages: offsets 5, 10, 15, 20 never arrive, at any member.
    let r = loadtest::run(&plan(url, 1, 3, 20), &Probe::default())
        .await
        .unwrap();
    assert_eq!(r.acked, 20, "{}", r.table());
    assert_eq!(r.delivered, 16 * 3, "{}", r.table());
    assert_eq!(
        (r.missing, r.duplicates, r.gaps),
        (4 * 3, 0, 12),
        "{}",
        r.table()
    );
}

#[tokio::test]
async fn repeated_offsets_are_gaps() {
    let url = mock_server(Faults {
        repeat_every: 4,
        ..Faults::default()
    })
    .await;
    let r = loadtest::run(&plan(url, 1, 2, 12), &Probe::default())
        .await
        .unwrap();
    assert_eq!((r.missing, r.duplicates), (0, 3 * 2), "{}", r.table());
}

#[tokio::test]
async fn refused_signals_do_not_end_the_drain_before_the_last_ack() {
    // Guests' `read`s (here every signal) are refused with errors that answer no send, and the
    // acks come late: the drain must still wait for every ack. Counting those errors as answers
    // once ended it early, and a run that lost nothing reported 59 acks for 60 sends.
    let url = mock_server(Faults {
        refuse_signals: true,
        ack_delay: Duration::from_millis(400),
        ..Faults::default()
    })
    .await;
    let p = Plan {
        signals: true,
        rate: 20.0,
        drain: Duration::from_secs(10),
        ..plan(url, 1, 3, 10)
    };
    let r = loadtest::run(&p, &Probe::default()).await.unwrap();
    assert_eq!(
        (r.sent, r.acked, r.delivered),
        (10, 10, 30),
        "{}",
        r.table()
    );
    let refused = r.error_codes.get("login_required").copied().unwrap_or(0);
    assert!(refused >= 10, "{}", r.table());
    assert_eq!(r.errors, refused, "{}", r.table());
}

#[tokio::test]
async fn closed_loop_sends_exactly_the_budget() {
    let url = mock_server(Faults::default()).await;
    let p = Plan {
        rate: 0.0,
        window: 4,
        ..plan(url, 2, 2, 100)
    };
    let r = loadtest::run(&p, &Probe::default()).await.unwrap();
    assert_eq!(
        (r.sent, r.acked, r.delivered, r.gaps),
        (100, 100, 200, 0),
        "{}",
        r.table()
    );
}

#[tokio::test]
async fn a_chat_whose_guests_only_read_stops_the_run_with_what_to_do() {
    let url = mock_server(Faults {
        guest_posting: Some(false),
        ..Faults::default()
    })
    .await;
    let err = loadtest::run(&plan(url.clone(), 1, 2, 10), &Probe::default())
        .await
        .expect_err("guests cannot post: the run cannot measure anything");
    let text = err.to_string();
    assert!(text.contains("--guest-posting true"), "{text}");
    assert!(text.contains("spec.chat.guestPosting"), "{text}");
    // Connecting alone needs no posting: the connect scenario still runs there.
    let connect_only = Plan {
        rooms: vec!["general".into()],
        senders_per_room: 0,
        max_messages: 0,
        duration: Duration::from_millis(100),
        ..plan(url, 1, 3, 0)
    };
    let r = loadtest::run(&connect_only, &Probe::default())
        .await
        .unwrap();
    assert_eq!((r.connections, r.connect_failures), (3, 0), "{}", r.table());
}

#[tokio::test]
async fn a_chat_that_lets_guests_post_runs_as_before() {
    let url = mock_server(Faults {
        guest_posting: Some(true),
        ..Faults::default()
    })
    .await;
    let r = loadtest::run(&plan(url, 2, 2, 20), &Probe::default())
        .await
        .unwrap();
    assert_eq!((r.sent, r.acked, r.gaps), (20, 20, 0), "{}", r.table());
}
