//! The session loop over in-memory channels instead of a socket: the same state machine the
//! WebSocket drives, observable frame by frame.

use std::convert::Infallible;

use clap::Parser;
use futures_util::{sink, stream};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::*;
use crate::{Config, build_state};

/// The test's end of a session: what it sends in, what comes out, and the session task.
struct Peer {
    to_server: mpsc::Sender<Message>,
    from_server: mpsc::Receiver<Message>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(flags: &[&str]) -> Peer {
    start_as(flags, crate::accounts::Visitor::Guest).await
}

async fn start_as(flags: &[&str], visitor: crate::accounts::Visitor) -> Peer {
    start_on(state_with(flags).await, visitor)
}

/// A server's state (guests post: the open mode), for sessions that share it.
async fn state_with(flags: &[&str]) -> AppState {
    let mut argv = vec!["chat-server", "--guest-posting", "true"];
    argv.extend_from_slice(flags);
    build_state(Config::parse_from(argv)).await.unwrap()
}

/// One more session on `state`.
fn start_on(state: AppState, visitor: crate::accounts::Visitor) -> Peer {
    let (to_server, inbound) = mpsc::channel::<Message>(64);
    let (outbound, from_server) = mpsc::channel::<Message>(1024);
    let input = Box::pin(stream::unfold(inbound, |mut rx| async move {
        rx.recv().await.map(|m| (Ok::<_, Infallible>(m), rx))
    }));
    let output = Box::pin(sink::unfold(outbound, |tx, m: Message| async move {
        tx.send(m).await.map_err(|_| ())?;
        Ok::<_, ()>(tx)
    }));
    let admission = Admission {
        _permit: state.admission.clone().try_acquire_owned().unwrap(),
        address: state.addresses.admit([127, 0, 0, 1].into()).unwrap(),
    };
    let session = Session::new(state, admission, visitor);
    let socket = Duplex {
        sink: output,
        stream: input,
    };
    let task = tokio::spawn(session.run(socket));
    Peer {
        to_server,
        from_server,
        task,
    }
}

impl Peer {
    async fn send(&self, v: Value) {
        self.to_server
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    async fn recv(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(5), self.from_server.recv())
            .await
            .expect("a frame")
            .expect("session open")
    }

    /// The next text frame of a type, skipping others (e.g. `rooms` pushes).
    async fn expect(&mut self, kind: &str) -> Value {
        loop {
            if let Message::Text(t) = self.recv().await {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == kind {
                    return v;
                }
            }
        }
    }
}

#[tokio::test]
async fn hello_join_send_over_channels_and_the_loop_ends_with_its_input() {
    let mut peer = start(&[]).await;
    peer.send(json!({"type":"hello","name":" Ann ","email":"ann@example.com"}))
        .await;
    let welcome = peer.expect("welcome").await;
    assert_eq!(welcome["name"], "Ann", "names are trimmed: {welcome}");
    assert_eq!(welcome["protocol"], 1);
    peer.send(json!({"type":"join","room":"general"})).await;
    let joined = peer.expect("joined").await;
    assert_eq!(joined["recovered"], true, "{joined}");
    peer.send(json!({"type":"send","room":"general","content":"hi","client_id":"c-1"}))
        .await;
    let ack = peer.expect("ack").await;
    assert_eq!(
        (ack["offset"].as_u64(), ack["duplicate"].as_bool()),
        (Some(1), Some(false))
    );
    let message = peer.expect("message").await;
    assert_eq!(
        (message["content"].as_str(), message["id"].clone()),
        (Some("hi"), ack["id"].clone())
    );

    drop(peer.to_server);
    tokio::time::timeout(Duration::from_secs(5), peer.task)
        .await
        .expect("the session ends when its input ends")
        .unwrap();
}

#[tokio::test]
async fn binary_frames_are_refused_and_abuse_ends_in_a_policy_close() {
    let mut peer = start(&[]).await;
    for _ in 0..ABUSE_LIMIT {
        peer.to_server
            .send(Message::Binary(vec![0u8; 4].into()))
            .await
            .unwrap();
    }
    let mut codes = Vec::new();
    let close = loop {
        match peer.recv().await {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "error" {
                    codes.push(v["code"].as_str().unwrap().to_owned());
                }
            }
            Message::Close(frame) => break frame.expect("a close frame has a code"),
            _ => {}
        }
    };
    assert_eq!(close.code, close::POLICY);
    assert!(
        !codes.is_empty() && codes.iter().all(|c| c == "binary_unsupported"),
        "{codes:?}"
    );
    tokio::time::timeout(Duration::from_secs(5), peer.task)
        .await
        .expect("the session ends after closing")
        .unwrap();
}

#[tokio::test]
async fn a_login_session_that_expires_closes_the_socket_with_4001() {
    use crate::accounts::{SignedIn, User, Visitor};
    let signed_in = SignedIn {
        user: User {
            username: "Ann".into(),
            display_name: "Ann A.".into(),
            email: None,
            admin: false,
            agent: false,
        },
        key: "ann".into(),
        token_hash: "h".into(),
        expires_ms: now_ms() + 300,
    };
    let mut peer = start_as(&[], Visitor::Registered(signed_in.into())).await;
    peer.send(json!({"type":"hello","name":"Mallory"})).await;
    let welcome = peer.expect("welcome").await;
    assert_eq!(
        (welcome["name"].clone(), welcome["user"]["username"].clone()),
        (json!("Ann A."), json!("Ann"))
    );
    assert_eq!(peer.expect("error").await["code"], "session_ended");
    let close = loop {
        if let Message::Close(frame) = peer.recv().await {
            break frame.expect("a close code");
        }
    };
    assert_eq!(close.code, close::SESSION_ENDED);
}

/// The gRPC API's in-process visitor: a registered `ext:<id>` without a token opens, joins and
/// writes in its support conversation like any client (no account is looked up for it).
#[tokio::test]
async fn an_in_process_platform_client_opens_and_writes_in_its_support_conversation() {
    use crate::accounts::{SignedIn, User, Visitor};
    let signed_in = SignedIn {
        user: User {
            username: "ext:shop-42".into(),
            display_name: "Pat from the shop".into(),
            email: None,
            admin: false,
            agent: false,
        },
        key: "ext:shop-42".into(),
        token_hash: String::new(),
        expires_ms: u64::MAX,
    };
    let mut peer = start_as(&[], Visitor::Registered(signed_in.into())).await;
    peer.send(json!({"type":"hello","name":"x"})).await;
    assert_eq!(peer.expect("welcome").await["user"]["agent"], false);
    peer.send(json!({"type":"support_open"})).await;
    let opened = peer.expect("support_opened").await;
    let room = opened["room"].as_str().unwrap().to_owned();
    assert!(room.starts_with("support-") && opened.get("resume").is_none());
    peer.send(json!({"type":"join","room":room})).await;
    peer.expect("joined").await;
    peer.send(json!({"type":"send","room":room,"content":"where is my parcel","client_id":"p-1"}))
        .await;
    assert_eq!(peer.expect("ack").await["room"], room.as_str());
    peer.send(json!({"type":"support_queue"})).await;
    assert_eq!(peer.expect("error").await["code"], "forbidden");
}

/// A member of a quiet room gets each message at once; once two flushes came less than two
/// windows apart (a busy room), the next messages wait in its queue, without waking it, and go
/// out together when the window ends (docs/benchmarks.md, "Issue #10, round 4").
#[tokio::test(start_paused = true)]
async fn a_busy_members_messages_wait_for_the_window_and_go_out_together() {
    let state = state_with(&[]).await;
    let mut ann = joined_on(&state, "Ann").await;
    let mut bob = joined_on(&state, "Bob").await;
    let start = tokio::time::Instant::now();
    for n in 1..=2 {
        send_from(&mut bob, n).await;
        assert_eq!(ann.expect("message").await["content"], format!("m{n}"));
    }
    assert_eq!(
        start.elapsed(),
        Duration::ZERO,
        "written at once (paused time)"
    );
    for n in 3..=4 {
        send_from(&mut bob, n).await;
    }
    let contents = [ann.expect("message").await, ann.expect("message").await]
        .map(|m| m["content"].as_str().unwrap().to_owned());
    assert_eq!(contents, ["m3", "m4"]);
    let waited = start.elapsed();
    let window = write::COALESCE..write::COALESCE + Duration::from_millis(2);
    assert!(window.contains(&waited), "paused time: {waited:?}");
}

/// A room whose messages come less often than two a window (here one every 15 ms against a
/// 25 ms window) is not held: a window would save few writes and delay each message. Under the
/// first rule (two flushes less than two windows apart) the third message waited 10 ms.
#[tokio::test(start_paused = true)]
async fn a_member_of_a_moderately_busy_room_gets_each_message_at_once() {
    let state = state_with(&[]).await;
    let mut ann = joined_on(&state, "Ann").await;
    let mut bob = joined_on(&state, "Bob").await;
    for n in 1..=4 {
        let sent = tokio::time::Instant::now();
        send_from(&mut bob, n).await;
        assert_eq!(ann.expect("message").await["content"], format!("m{n}"));
        assert_eq!(sent.elapsed(), Duration::ZERO, "m{n} waited (paused time)");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

/// Bob's message `m<n>`, acknowledged.
async fn send_from(bob: &mut Peer, n: usize) {
    let id = format!("b-{n}");
    bob.send(json!({"type":"send","room":"general","content":format!("m{n}"),"client_id":id}))
        .await;
    bob.expect("ack").await;
}

#[tokio::test(start_paused = true)]
async fn a_message_held_for_coalescing_does_not_hold_up_the_clients_requests() {
    let state = state_with(&[]).await;
    let mut peer = joined_on(&state, "Ann").await;
    let mut bob = joined_on(&state, "Bob").await;
    for n in 1..=2 {
        send_from(&mut bob, n).await;
        peer.expect("message").await;
    }
    // The third message reaches the queue within the coalescing window of a busy room: it waits
    // there, and meanwhile its client asks something. (Bob's, not Ann's own: a client waiting
    // for an ack is written to at once, `acks.rs`.)
    send_from(&mut bob, 3).await;
    tokio::time::sleep(Duration::from_millis(1)).await;
    peer.send(json!({"type":"no-such-request"})).await;
    let mut order = Vec::new();
    while order.len() < 2 {
        if let Message::Text(t) = peer.recv().await {
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["type"] == "error" || v["type"] == "message" {
                order.push(v["type"].as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(
        order,
        ["error", "message"],
        "the request is answered while the message waits for its batch"
    );
}

/// A guest session on `state` that said hello as `name` and joined `general`.
async fn joined_on(state: &AppState, name: &str) -> Peer {
    let mut peer = start_on(state.clone(), crate::accounts::Visitor::Guest);
    peer.send(json!({"type":"hello","name":name})).await;
    peer.expect("welcome").await;
    peer.send(json!({"type":"join","room":"general"})).await;
    peer.expect("joined").await;
    peer
}

/// Acks and messages, as `ack <offset>` / `message <content>`, up to and including `until`.
async fn acks_and_messages(peer: &mut Peer, until: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while seen.last().is_none_or(|s| s != until) {
        if let Message::Text(t) = peer.recv().await {
            let v: Value = serde_json::from_str(&t).unwrap();
            match v["type"].as_str() {
                Some("ack") => seen.push(format!("ack {}", v["offset"])),
                Some("message") => seen.push(format!("message {}", v["content"].as_str().unwrap())),
                _ => {}
            }
        }
    }
    seen
}

/// The closed loop's tail (docs/benchmarks.md, "Issue #10, round 3"): an ack written at once
/// overtook the room's messages still queued for the sender, so a client that sends on each ack
/// outran the deliveries and every member's queue grew. The ack now goes out just before the
/// sender's own copy of its message, after everything stored before it.
#[tokio::test(start_paused = true)]
async fn an_ack_does_not_overtake_the_messages_stored_before_it() {
    let state = state_with(&[]).await;
    let mut ann = joined_on(&state, "Ann").await;
    let mut bob = joined_on(&state, "Bob").await;
    bob.send(json!({"type":"send","room":"general","content":"b1","client_id":"b-1"}))
        .await;
    bob.expect("ack").await;
    assert_eq!(
        acks_and_messages(&mut ann, "message b1").await,
        ["message b1"]
    );
    // Bob's next two reach Ann's queue before she sends (the second within her coalescing
    // window: the room is busy now).
    for (content, id) in [("b2", "b-2"), ("b3", "b-3")] {
        bob.send(json!({"type":"send","room":"general","content":content,"client_id":id}))
            .await;
        bob.expect("ack").await;
    }
    ann.send(json!({"type":"send","room":"general","content":"a1","client_id":"a-1"}))
        .await;
    assert_eq!(
        acks_and_messages(&mut ann, "message a1").await,
        ["message b2", "message b3", "ack 4", "message a1"]
    );
}

/// An ack whose echo never comes (the sender left the room at once, so the hub delivers it to
/// nobody here) is still written, after `acks::ACK_WAIT_MAX`.
#[tokio::test(start_paused = true)]
async fn an_ack_whose_echo_never_comes_is_written_after_its_wait() {
    let state = state_with(&[]).await;
    let mut ann = joined_on(&state, "Ann").await;
    ann.send(json!({"type":"send","room":"general","content":"a1","client_id":"a-1"}))
        .await;
    ann.send(json!({"type":"leave","room":"general"})).await;
    let sent = tokio::time::Instant::now();
    let mut seen = Vec::new();
    let ack = loop {
        if let Message::Text(t) = ann.recv().await {
            let v: Value = serde_json::from_str(&t).unwrap();
            let kind = v["type"].as_str().unwrap().to_owned();
            if ["ack", "left", "message"].contains(&kind.as_str()) {
                seen.push(kind);
            }
            if v["type"] == "ack" {
                break v;
            }
        }
    };
    assert_eq!(
        seen,
        ["left", "ack"],
        "the ack waited for an echo that never came"
    );
    assert_eq!(
        (ack["offset"].as_u64(), ack["client_id"].as_str()),
        (Some(1), Some("a-1"))
    );
    let waited = sent.elapsed();
    let wait = acks::ACK_WAIT_MAX..acks::ACK_WAIT_MAX + Duration::from_millis(2);
    assert!(wait.contains(&waited), "paused time: {waited:?}");
}
