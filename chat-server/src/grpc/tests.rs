//! The bridge and the `Stream` follower over a real in-memory server state, without sockets:
//! sessions as the platform's clients, in a public room (the support frames are the chat's,
//! tested with the socket suites and end to end in tests/support_grpc.rs).

use std::time::Duration;

use clap::Parser;
use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use tonic::Code;

use super::{
    bridge::Bridge,
    client::PlatformClient,
    proto::{
        ChatRequest, ChatSend, Conversation, StreamRequest, chat_request::Request as R,
        event::Event as E,
    },
    stream::Follower,
};
use crate::{AppState, Config, build_state};

async fn state() -> AppState {
    let argv = ["chat-server", "--send-rate", "1000", "--send-burst", "1000"];
    build_state(Config::parse_from(argv)).await.unwrap()
}

async fn bridge(state: &AppState, id: &str) -> (Bridge, PlatformClient) {
    let client = PlatformClient::new(id, Some(id), None, &state.limits).unwrap();
    let bridge = Bridge::connect(state, &client, [127, 0, 0, 1].into())
        .await
        .unwrap();
    (bridge, client)
}

async fn say(bridge: &mut Bridge, content: &str, id: &str) -> u64 {
    let send = json!({"type":"send","room":"general","content":content,"client_id":id});
    bridge.request(send, "ack").await.unwrap()["offset"]
        .as_u64()
        .unwrap()
}

/// A follower of `general` for `client`, from `since`; its events.
async fn follow(
    state: &AppState,
    client: &str,
    since: Option<u64>,
) -> mpsc::Receiver<Result<super::proto::Event, tonic::Status>> {
    let (bridge, client) = bridge(state, client).await;
    let conversation = Conversation {
        room: "general".into(),
        client: client.key,
        ..Default::default()
    };
    let (events, rx) = mpsc::channel(16);
    let follower = Follower::new(bridge, &conversation, events);
    tokio::spawn(follower.run(conversation, since));
    rx
}

async fn next(rx: &mut mpsc::Receiver<Result<super::proto::Event, tonic::Status>>) -> E {
    let event = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    event
        .expect("an event in time")
        .expect("open")
        .unwrap()
        .event
        .unwrap()
}

#[tokio::test]
async fn a_bridge_session_is_the_platform_client_and_its_errors_are_statuses() {
    let state = state().await;
    let (mut writer, _) = bridge(&state, "Writer-1").await;
    writer
        .request(json!({"type":"join","room":"general"}), "joined")
        .await
        .unwrap();
    assert_eq!(say(&mut writer, "hi", "m-1").await, 1);
    let status = writer
        .request(
            json!({"type":"send","room":"nowhere","content":"x","client_id":"m-2"}),
            "ack",
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    let quiet = json!({"type":"typing","room":"general"});
    writer.request_quiet(quiet).await.unwrap();
    let status = writer
        .request_quiet(json!({"type":"read","room":"nowhere","offset":1}))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
}

#[tokio::test]
async fn a_follower_sends_the_conversation_then_history_after_since_then_live_events() {
    let state = state().await;
    let (mut writer, _) = bridge(&state, "w").await;
    writer
        .request(json!({"type":"join","room":"general"}), "joined")
        .await
        .unwrap();
    for i in 1..=3 {
        say(&mut writer, &format!("m{i}"), &format!("id-{i}")).await;
    }
    let mut events = follow(&state, "reader", Some(1)).await;
    assert!(matches!(next(&mut events).await, E::Conversation(c) if c.room == "general"));
    for offset in [2, 3] {
        let event = next(&mut events).await;
        assert!(
            matches!(&event, E::Message(m) if m.offset == offset && !m.from_client && m.user == "ext:w"),
            "{event:?}"
        );
    }
    say(&mut writer, "live", "id-4").await;
    let live = next(&mut events).await;
    assert!(
        matches!(&live, E::Message(m) if m.offset == 4 && m.content == "live"),
        "{live:?}"
    );
    writer
        .request_quiet(json!({"type":"typing","room":"general"}))
        .await
        .unwrap();
    let typing = next(&mut events).await;
    assert!(
        matches!(&typing, E::Typing(t) if t.user == "ext:w"),
        "{typing:?}"
    );
}

#[tokio::test]
async fn a_follower_resuming_past_the_head_gets_a_resync_and_the_page() {
    let state = state().await;
    let (mut writer, _) = bridge(&state, "w").await;
    writer
        .request(json!({"type":"join","room":"general"}), "joined")
        .await
        .unwrap();
    for i in 1..=2 {
        say(&mut writer, &format!("m{i}"), &format!("id-{i}")).await;
    }
    // From before the history was lost: offsets restarted, so 10 is past the head (2).
    let mut events = follow(&state, "reader", Some(10)).await;
    assert!(matches!(next(&mut events).await, E::Conversation(_)));
    assert!(matches!(next(&mut events).await, E::Resync(_)));
    for offset in [1, 2] {
        let event = next(&mut events).await;
        assert!(
            matches!(&event, E::Message(m) if m.offset == offset),
            "{event:?}"
        );
    }
}

#[tokio::test]
async fn a_session_whose_call_went_away_mid_write_ends_cleanly() {
    let state = state().await;
    let (mut writer, _) = bridge(&state, "w").await;
    let (mut reader, _) = bridge(&state, "r").await;
    for bridge in [&mut writer, &mut reader] {
        let join = json!({"type":"join","room":"general"});
        bridge.request(join, "joined").await.unwrap();
    }
    assert_eq!(state.metrics.connections.get(), 2);
    // The reader never reads: its session's writes wait on a full channel.
    for i in 0..100 {
        say(&mut writer, "x", &format!("id-{i}")).await;
    }
    drop(reader);
    // The pending write fails, the session writes its close and cleans up (a panic there would
    // skip the clean-up and leave the connection counted).
    let gone = async {
        while state.metrics.connections.get() != 1 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), gone)
        .await
        .expect("the reader's session ended and was counted out");
}

#[tokio::test]
async fn shutdown_ends_a_follower_with_unavailable() {
    let state = state().await;
    let mut events = follow(&state, "reader", None).await;
    assert!(matches!(next(&mut events).await, E::Conversation(_)));
    state.lifecycle.sessions.cancel();
    let end = tokio::time::timeout(Duration::from_secs(5), events.recv()).await;
    let status = end
        .expect("the stream ends")
        .expect("with a status")
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    let refused = Bridge::connect(
        &state,
        &PlatformClient::new("late", None, None, &state.limits).unwrap(),
        [127, 0, 0, 1].into(),
    )
    .await;
    assert_eq!(refused.err().map(|s| s.code()), Some(Code::Unavailable));
}

#[tokio::test]
async fn a_chat_writes_requests_and_answers_acks_and_refusals_as_events() {
    let state = state().await;
    let (bridge, client) = bridge(&state, "chatter").await;
    let conversation = Conversation {
        room: "general".into(),
        client: client.key,
        ..Default::default()
    };
    let (requests, inbound) = mpsc::channel::<ChatRequest>(4);
    let inbound = tokio_stream::wrappers::ReceiverStream::new(inbound).map(Ok);
    let (events, mut rx) = mpsc::channel(16);
    let follower = Follower::new(bridge, &conversation, events).with_requests(Box::pin(inbound));
    tokio::spawn(follower.run(conversation, None));
    assert!(matches!(next(&mut rx).await, E::Conversation(_)));
    let send = |content: &str, id: &str| ChatRequest {
        request: Some(R::Send(ChatSend {
            content: content.into(),
            client_msg_id: id.into(),
        })),
    };
    requests.send(send("hello", "c-1")).await.unwrap();
    let (mut acked, mut seen) = (None, None);
    while acked.is_none() || seen.is_none() {
        match next(&mut rx).await {
            E::Ack(ack) => acked = Some(ack),
            E::Message(m) => seen = Some(m),
            _ => {}
        }
    }
    let (ack, message) = (acked.unwrap(), seen.unwrap());
    assert_eq!(
        (ack.client_msg_id.as_str(), ack.offset),
        ("c-1", message.offset)
    );
    assert!(
        message.from_client && message.content == "hello",
        "{message:?}"
    );

    requests.send(send("", "c-2")).await.unwrap();
    let refused = next(&mut rx).await;
    assert!(
        matches!(&refused, E::Refused(r) if r.client_msg_id == "c-2" && r.code == "invalid_field"),
        "{refused:?}"
    );
    let again = ChatRequest {
        request: Some(R::Start(StreamRequest::default())),
    };
    requests.send(again).await.unwrap();
    let refused = next(&mut rx).await;
    assert!(
        matches!(&refused, E::Refused(r) if r.code == "bad_request"),
        "{refused:?}"
    );

    drop(requests);
    let end = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert!(
        end.expect("the call ends").is_none(),
        "ends without an error"
    );
}
