//! The support API (docs/support-api.md) with a real gRPC client: the generated tonic client over
//! TCP to real chat-server processes on a real Redis, two replicas, an agent on a real WebSocket.
//! What is checked: no token or a wrong one is UNAUTHENTICATED; a bad client_id is
//! INVALID_ARGUMENT; a platform's client opens a conversation and writes on one replica, and an
//! agent on the other sees it in `support_queue` as `ext:<id>`, takes it and answers; the answer,
//! the agent's typing, the take and the read receipts arrive on the client's `Stream`; the
//! client's typing and reads reach the agent; a retried send is stored once; `since_offset`
//! resumes; shutdown ends a stream with UNAVAILABLE; gRPC without a token refuses to start.
//! The durable mode and `Chat`: support_grpc_chat.rs.

mod common;

use std::time::Duration;

use chat_server::grpc::proto::{
    ReadRequest, SendRequest, State, StreamRequest, TypingRequest, event::Event as E,
};
use common::{
    WAIT,
    grpc::{Replica, TOKEN, agent, event_where, open},
    shared_redis, unique_prefix,
};
use serde_json::json;
use tonic::Code;

fn send(id: &str, content: &str, msg_id: &str) -> SendRequest {
    SendRequest {
        client_id: id.into(),
        client_name: "Carla".into(),
        content: content.into(),
        client_msg_id: msg_id.into(),
    }
}

#[tokio::test]
async fn calls_without_the_token_are_unauthenticated_and_bad_ids_invalid() {
    let (redis, _guard) = shared_redis().await;
    let replica = Replica::start(&redis, &unique_prefix(), &[]).await;
    for token in [None, Some("wrong-token-0123456789abcdef0123456789")] {
        let mut desk = replica.desk(token).await;
        let status = desk.open(open("c1")).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
        let status = desk.stream(StreamRequest::default()).await.unwrap_err();
        assert_eq!(
            status.code(),
            Code::Unauthenticated,
            "{token:?}: {status:?}"
        );
    }
    let mut desk = replica.desk(Some(TOKEN)).await;
    for bad in ["", "a:b", "has space", &"x".repeat(65)] {
        let status = desk.open(open(bad)).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{bad:?}: {status:?}");
    }
    let status = desk.send(send("c1", "", "m-1")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("content"), "{status:?}");
    let too_long = "x".repeat(4097);
    let status = desk.send(send("c1", &too_long, "m-1")).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");

    let (_, _, metrics) =
        common::http_get(&format!("http://{}/metrics", replica.server.addr)).await;
    for counted in [
        r#"chat_support_api_calls_total{call="-",code="Unauthenticated"} 4"#,
        r#"chat_support_api_calls_total{call="Open",code="InvalidArgument"} 4"#,
        r#"chat_support_api_calls_total{call="Send",code="InvalidArgument"} 2"#,
    ] {
        assert!(metrics.contains(counted), "{counted} in:\n{metrics}");
    }
}

#[tokio::test]
async fn a_platform_client_and_an_agent_on_another_replica_talk_both_ways() {
    let (redis, _guard) = shared_redis().await;
    let prefix = unique_prefix();
    let agents = ["--support-agents", "ann"];
    let a = Replica::start(&redis, &prefix, &agents).await;
    let b = Replica::start(&redis, &prefix, &agents).await;
    let mut ann = agent(&a.server, "ann").await;
    ann.expect("support_queue").await;

    // The platform, on replica B.
    let mut desk = b.desk(Some(TOKEN)).await;
    let conversation = desk.open(open("Crm-42")).await.unwrap().into_inner();
    assert!(
        conversation.room.starts_with("support-"),
        "{conversation:?}"
    );
    assert_eq!(
        (conversation.state(), conversation.client.as_str()),
        (State::Waiting, "ext:crm-42")
    );
    let room = conversation.room.clone();
    let again = desk.open(open("crm-42")).await.unwrap().into_inner();
    assert_eq!(
        again.room, room,
        "one conversation per client, ids ignore case"
    );

    let request = StreamRequest {
        client_id: "crm-42".into(),
        ..Default::default()
    };
    let mut stream = desk.stream(request).await.unwrap().into_inner();
    let first = event_where(&mut stream, |_| true).await;
    assert!(
        matches!(&first, E::Conversation(c) if c.room == room),
        "{first:?}"
    );

    let ack = desk.send(send("crm-42", "my order is late", "m-1")).await;
    let ack = ack.unwrap().into_inner();
    assert_eq!(
        (ack.room.as_str(), ack.offset, ack.duplicate),
        (room.as_str(), 1, false)
    );
    let retry = desk.send(send("crm-42", "my order is late", "m-1")).await;
    let retry = retry.unwrap().into_inner();
    assert_eq!(
        (retry.offset, retry.duplicate, retry.id),
        (1, true, ack.id.clone())
    );
    let own = event_where(&mut stream, |e| matches!(e, E::Message(_))).await;
    assert!(
        matches!(&own, E::Message(m) if m.offset == 1 && m.from_client),
        "{own:?}"
    );

    // The agent on replica A sees the client's key and message in the queue.
    let queue = ann
        .expect_where(|f| {
            f["type"] == "support_queue"
                && f["conversations"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["room"] == room.as_str() && !c["last"].is_null())
                })
        })
        .await;
    let listed = queue["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["room"] == room.as_str())
        .unwrap()
        .clone();
    assert_eq!(
        (
            &listed["client"],
            &listed["client_name"],
            &listed["last"]["content"]
        ),
        (
            &json!("ext:crm-42"),
            &json!("Carla"),
            &json!("my order is late")
        ),
        "{listed}"
    );

    // The agent takes it, joins, reads the message and answers.
    ann.send(json!({"type":"support_take","room":room})).await;
    let taken = event_where(&mut stream, |e| matches!(e, E::State(_))).await;
    assert!(
        matches!(&taken, E::State(c) if c.state() == State::Open && c.taken_by.as_deref() == Some("ann")),
        "{taken:?}"
    );
    ann.send(json!({"type":"join","room":room})).await;
    let joined = ann.expect("joined").await;
    assert_eq!(joined["messages"][0]["user"], "ext:crm-42", "{joined}");
    ann.send(json!({"type":"typing","room":room})).await;
    let typing = event_where(&mut stream, |e| matches!(e, E::Typing(_))).await;
    assert!(
        matches!(&typing, E::Typing(t) if t.user == "ann"),
        "{typing:?}"
    );
    ann.say(&room, "on it", "a-1").await;
    let reply = event_where(&mut stream, |e| matches!(e, E::Message(_))).await;
    let E::Message(reply) = reply else {
        unreachable!()
    };
    assert_eq!(
        (
            reply.offset,
            reply.from_client,
            reply.user.as_str(),
            reply.content.as_str()
        ),
        (2, false, "ann", "on it")
    );
    ann.send(json!({"type":"read","room":room,"offset":2}))
        .await;
    let receipt = event_where(&mut stream, |e| matches!(e, E::Receipt(r) if r.offset == 2)).await;
    assert!(
        matches!(&receipt, E::Receipt(r) if r.names.contains(&"ann".to_owned())),
        "{receipt:?}"
    );

    // The client's typing and read reach the agent.
    let typing = TypingRequest {
        client_id: "crm-42".into(),
        client_name: Some("Carla".into()),
    };
    desk.typing(typing).await.unwrap();
    let seen = ann
        .expect_where(|f| f["type"] == "typing" && f["room"] == room.as_str())
        .await;
    assert_eq!(
        (&seen["user"], &seen["name"]),
        (&json!("ext:crm-42"), &json!("Carla"))
    );
    let read = ReadRequest {
        client_id: "crm-42".into(),
        offset: 2,
        client_name: Some("Carla".into()),
    };
    desk.read(read).await.unwrap();
    let receipts = ann
        .expect_where(|f| {
            f["type"] == "receipts"
                && f["room"] == room.as_str()
                && f["names"]
                    .as_array()
                    .is_some_and(|n| n.contains(&json!("Carla")))
        })
        .await;
    assert_eq!(receipts["offset"], 2, "{receipts}");

    // A second stream from replica A resumes after offset 1.
    let mut desk_a = a.desk(Some(TOKEN)).await;
    let resume = StreamRequest {
        client_id: "crm-42".into(),
        since_offset: Some(1),
        client_name: None,
    };
    let mut resumed = desk_a.stream(resume).await.unwrap().into_inner();
    let next = event_where(&mut resumed, |e| matches!(e, E::Message(_))).await;
    assert!(matches!(&next, E::Message(m) if m.offset == 2), "{next:?}");

    // Shutdown ends open streams with UNAVAILABLE, and the replica exits cleanly.
    let status = b.server.terminate().await;
    assert!(status.success(), "{status:?}");
    let ended = tokio::time::timeout(WAIT, async {
        loop {
            match stream.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(status) => return Some(status.code()),
            }
        }
    });
    assert_eq!(
        ended.await.expect("the stream ends"),
        Some(Code::Unavailable)
    );
}

#[tokio::test]
async fn grpc_without_a_strong_token_refuses_to_start() {
    for token in [None, Some("short")] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"));
        command
            .args(["--listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"])
            .env_remove("CHATAPP_SUPPORT_API_TOKEN");
        if let Some(token) = token {
            command.env("CHATAPP_SUPPORT_API_TOKEN", token);
        }
        let out = tokio::time::timeout(
            Duration::from_secs(30),
            tokio::task::spawn_blocking(move || command.output().unwrap()),
        )
        .await
        .expect("it exits at once")
        .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{token:?}: {stderr}");
        assert!(
            stderr.contains("CHATAPP_SUPPORT_API_TOKEN"),
            "{token:?}: {stderr}"
        );
    }
}
