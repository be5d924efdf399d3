//! The support API's bidirectional `Chat` in the durable mode (PostgreSQL + Redis), with the
//! generated tonic client over TCP to a real chat-server process and an agent on a real
//! WebSocket: it resumes through history pages without a gap, gets acks and refusals, sees an
//! agent's close and its own reopen, and ends when the caller closes its side.

mod common;

use chat_server::grpc::proto::{
    self, ChatRequest, ChatSend, State, StreamRequest, event::Event as E,
};
use common::{
    FAST_SENDS, WAIT, fresh_database,
    grpc::{Replica, TOKEN, agent, event_where, open},
    shared_redis, unique_prefix,
};
use serde_json::json;

#[tokio::test]
async fn a_durable_chat_resumes_through_history_pages_and_sees_close_and_reopen() {
    let (db, _pg) = fresh_database().await;
    let (redis, _guard) = shared_redis().await;
    let mut args = vec!["--database-url", db.as_str(), "--support-agents", "ann"];
    args.extend_from_slice(&FAST_SENDS);
    let replica = Replica::start(&redis, &unique_prefix(), &args).await;
    let mut desk = replica.desk(Some(TOKEN)).await;
    let room = desk.open(open("bulk")).await.unwrap().into_inner().room;
    let mut ann = agent(&replica.server, "ann").await;
    ann.send(json!({"type":"join","room":room})).await;
    ann.expect("joined").await;
    // More than one page (200), so resuming from offset 3 reads history pages first.
    const SENT: u64 = 230;
    for i in 1..=SENT {
        let ack = ann.say(&room, &format!("m{i}"), &format!("a-{i}")).await;
        assert_eq!(ack["offset"], i, "{ack}");
    }

    let (requests, rx) = tokio::sync::mpsc::channel::<ChatRequest>(8);
    let start = StreamRequest {
        client_id: "bulk".into(),
        since_offset: Some(3),
        client_name: Some("Bulk".into()),
    };
    requests
        .send(ChatRequest {
            request: Some(proto::chat_request::Request::Start(start)),
        })
        .await
        .unwrap();
    let call = desk.chat(tokio_stream::wrappers::ReceiverStream::new(rx));
    let mut chat = call.await.unwrap().into_inner();
    assert!(matches!(
        event_where(&mut chat, |_| true).await,
        E::Conversation(_)
    ));
    let mut offsets = Vec::new();
    while offsets.len() < (SENT - 3) as usize {
        if let E::Message(m) = event_where(&mut chat, |e| matches!(e, E::Message(_))).await {
            offsets.push(m.offset);
        }
    }
    assert_eq!(
        offsets,
        (4..=SENT).collect::<Vec<_>>(),
        "in order, each once"
    );

    let send = |content: &str, id: &str| ChatRequest {
        request: Some(proto::chat_request::Request::Send(ChatSend {
            content: content.into(),
            client_msg_id: id.into(),
        })),
    };
    requests.send(send("thanks", "c-1")).await.unwrap();
    let ack = event_where(&mut chat, |e| matches!(e, E::Ack(_))).await;
    assert!(
        matches!(&ack, E::Ack(a) if a.offset == SENT + 1 && a.client_msg_id == "c-1"),
        "{ack:?}"
    );
    requests.send(send("", "c-2")).await.unwrap();
    let refused = event_where(&mut chat, |e| matches!(e, E::Refused(_))).await;
    assert!(
        matches!(&refused, E::Refused(r) if r.client_msg_id == "c-2" && r.code == "invalid_field"),
        "{refused:?}"
    );

    ann.send(json!({"type":"support_close","room":room})).await;
    let closed = event_where(&mut chat, |e| matches!(e, E::State(_))).await;
    assert!(
        matches!(&closed, E::State(c) if c.state() == State::Closed),
        "{closed:?}"
    );
    requests.send(send("still there?", "c-3")).await.unwrap();
    let reopened = event_where(&mut chat, |e| matches!(e, E::State(_))).await;
    assert!(
        matches!(&reopened, E::State(c) if c.state() == State::Waiting),
        "{reopened:?}"
    );

    drop(requests);
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match chat.message().await {
                Ok(Some(_)) => continue,
                other => return other.map(|_| ()),
            }
        }
    });
    end.await.expect("the call ends").expect("without an error");
}
