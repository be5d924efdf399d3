//! chat-bench's `support` scenario against a tiny in-test server that speaks just enough of the
//! support desk (docs/protocol.md, "Support"), so the scenario's accounting is checked on its
//! own: a server whose queue follows every message yields a timed queue and nothing owed; one
//! whose queue stops updating is caught (`queue_unreflected`), as is an agent who is not one.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use loadtest::Probe;
use loadtest::support::SupportPlan;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

/// The agent's session cookie in these tests.
const AGENT: &str = "chatapp_session=agent";

#[derive(Clone, Copy, Default)]
struct Faults {
    /// The queue is pushed once on connect and never again.
    frozen_queue: bool,
    /// The signed-in user is not an agent.
    not_agent: bool,
}

#[derive(Default)]
struct Desk {
    /// room -> (last message, its offset)
    conversations: BTreeMap<String, (Option<Value>, u64)>,
    members: BTreeMap<String, Vec<mpsc::UnboundedSender<String>>>,
    agents: Vec<mpsc::UnboundedSender<String>>,
    dirty: bool,
}

fn queue(desk: &Desk) -> String {
    let conversations: Vec<Value> = desk
        .conversations
        .iter()
        .map(|(room, (last, _))| json!({"room": room, "client": "guest:0", "last": last, "state": "waiting"}))
        .collect();
    json!({"type": "support_queue", "conversations": conversations}).to_string()
}

async fn mock_server(faults: Faults) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let desk: Arc<Mutex<Desk>> = Arc::default();
    // Queue pushes coalesced to one per 100 ms, as the server does.
    let pusher = desk.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let mut d = pusher.lock().unwrap();
            if d.dirty && !faults.frozen_queue {
                d.dirty = false;
                let frame = queue(&d);
                d.agents.retain(|a| a.send(frame.clone()).is_ok());
            }
        }
    });
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            tokio::spawn(session(tcp, desk.clone(), faults));
        }
    });
    url
}

async fn session(tcp: tokio::net::TcpStream, desk: Arc<Mutex<Desk>>, f: Faults) {
    let mut agent = false;
    // The callback's type is tungstenite's (its error is a whole HTTP response).
    #[allow(clippy::result_large_err)]
    let check = |req: &Request, resp: Response| {
        agent = req.headers().get("cookie").is_some_and(|c| c == AGENT);
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, check).await else {
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
        let mut d = desk.lock().unwrap();
        let reply = match v["type"].as_str().unwrap() {
            "hello" if agent => {
                let user = json!({"username": "bench-agent", "agent": !f.not_agent});
                let _ = tx.send(json!({"type": "welcome", "user": user}).to_string());
                d.agents.push(tx.clone());
                queue(&d)
            }
            "hello" => json!({"type": "welcome", "user": null}).to_string(),
            "support_open" => {
                let room = format!("support-{:010x}", d.conversations.len());
                d.conversations.insert(room.clone(), (None, 0));
                d.dirty = true;
                json!({"type": "support_opened", "room": room, "state": "waiting"}).to_string()
            }
            "support_take" => {
                json!({"type": "support_state", "room": room, "state": "open"}).to_string()
            }
            "join" => {
                d.members.entry(room.clone()).or_default().push(tx.clone());
                let offset = d.conversations[&room].1;
                json!({"type": "joined", "room": room, "offset": offset, "messages": []})
                    .to_string()
            }
            "send" => {
                let c = d.conversations.get_mut(&room).unwrap();
                c.1 += 1;
                let o = c.1;
                c.0 = Some(json!({"name": "c", "content": v["content"], "time": "t", "offset": o}));
                d.dirty = true;
                // As from a registered sender: `user` is its username (a string).
                let message = json!({"type": "message", "room": room, "offset": o,
                    "user": "client-1", "content": v["content"]})
                .to_string();
                for m in &d.members[&room] {
                    let _ = m.send(message.clone());
                }
                json!({"type": "ack", "client_id": v["client_id"], "room": room, "offset": o})
                    .to_string()
            }
            _ => json!({"type": "error", "code": "unknown_type"}).to_string(),
        };
        let _ = tx.send(reply);
    }
}

fn plan(url: String) -> SupportPlan {
    SupportPlan {
        urls: vec![url],
        clients: 30,
        take: 5,
        rate: 60.0,
        duration: Duration::from_secs(2),
        content_bytes: 40,
        concurrency: 16,
        hold: Duration::ZERO,
        drain: Duration::from_secs(2),
        max_secs: 30,
        register: false,
        agent: "bench-agent".into(),
        agent_cookie: Some(AGENT.into()),
    }
}

#[tokio::test]
async fn a_queue_that_follows_every_message_is_timed_and_owes_nothing() {
    let url = mock_server(Faults::default()).await;
    let r = loadtest::support::run(&plan(url), &Probe::default())
        .await
        .unwrap();
    let t = r.table();
    assert_eq!((r.connections, r.taken), (30, 5), "{t}");
    assert!(r.sent >= 100 && r.acked == r.sent, "{t}");
    assert_eq!(r.queue_unreflected, 0, "{t}");
    // Each client writes every 0.5 s, the queue is pushed every 0.1 s: every message is shown.
    assert_eq!(r.queue_latency_ms.count, r.acked, "{t}");
    assert!(r.queue_latency_ms.max < 1000.0, "{t}");
    assert_eq!(r.queue_listed, 30, "{t}");
    assert!(
        r.agent_expected > 0 && r.agent_delivered == r.agent_expected,
        "{t}"
    );
    assert_eq!(r.errors, 0, "{t}");
}

#[tokio::test]
async fn a_queue_that_stops_updating_is_caught() {
    let url = mock_server(Faults {
        frozen_queue: true,
        ..Faults::default()
    })
    .await;
    let r = loadtest::support::run(&plan(url), &Probe::default())
        .await
        .unwrap();
    let t = r.table();
    assert_eq!(r.queue_unreflected, 30, "{t}");
    assert_eq!(r.queue_latency_ms.count, 0, "{t}");
    assert_eq!(
        r.agent_delivered, r.agent_expected,
        "messages still flow: {t}"
    );
}

#[tokio::test]
async fn a_user_who_is_not_an_agent_stops_the_run() {
    let url = mock_server(Faults {
        not_agent: true,
        ..Faults::default()
    })
    .await;
    let err = loadtest::support::run(&plan(url), &Probe::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("--support-agents bench-agent"), "{err}");
}
