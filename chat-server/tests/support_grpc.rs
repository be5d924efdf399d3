//! The support API (docs/support-api.md) with a real gRPC client: the generated tonic client over
//! TCP to real chat-server processes on a real Redis, two replicas, an agent on a real WebSocket.
//! What is checked: no token or a wrong one is UNAUTHENTICATED; a bad client_id is
//! INVALID_ARGUMENT; a platform's client opens a conversation and writes on one replica, and an
//! agent on the other sees it in `support_queue` as `ext:<id>`, takes it and answers; the answer,
//! the agent's typing, the take and the read receipts arrive on the client's `Stream`; the
//! client's typing and reads reach the agent; a retried send is stored once; `since_offset`
//! resumes; shutdown ends a stream with UNAVAILABLE; gRPC without a token refuses to start. In
//! the durable mode (PostgreSQL + Redis), a bidirectional `Chat` resumes through history pages
//! without a gap, gets acks and refusals, and sees an agent's close and its own reopen.

mod common;

use std::time::Duration;

use chat_server::grpc::proto::{
    self, ChatRequest, ChatSend, OpenRequest, ReadRequest, SendRequest, State, StreamRequest,
    TypingRequest, event::Event as E, support_desk_client::SupportDeskClient,
};
use common::{
    Client, FAST_SENDS, ServerProcess, WAIT, free_port, fresh_database, http_request, shared_redis,
    unique_prefix,
};
use serde_json::json;
use tonic::{
    Code, Request, Status, Streaming,
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

const TOKEN: &str = "test-token-0123456789abcdef0123456789";
const PASSWORD: &str = "correct horse battery";

/// Adds `authorization` to every call (None: no header).
#[derive(Clone)]
struct Bearer(Option<String>);

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            let value = format!("Bearer {token}").parse().unwrap();
            request.metadata_mut().insert("authorization", value);
        }
        Ok(request)
    }
}

type Desk = SupportDeskClient<InterceptedService<Channel, Bearer>>;

/// A chat-server process with the support API on, sharing `redis` and `prefix`.
struct Replica {
    server: ServerProcess,
    grpc: String,
}

impl Replica {
    async fn start(redis: &str, prefix: &str, extra: &[&str]) -> Self {
        let grpc_listen = format!("127.0.0.1:{}", free_port());
        let mut args = vec![
            "--redis-url",
            redis,
            "--redis-prefix",
            prefix,
            "--grpc-listen",
            &grpc_listen,
        ];
        args.extend_from_slice(extra);
        let server =
            ServerProcess::spawn_with_env(&args, &[("CHATAPP_SUPPORT_API_TOKEN", TOKEN)]).await;
        common::wait_ready(&format!("http://{}", server.addr)).await;
        Self {
            server,
            grpc: format!("http://{grpc_listen}"),
        }
    }

    async fn desk(&self, token: Option<&str>) -> Desk {
        let channel = Channel::from_shared(self.grpc.clone())
            .unwrap()
            .connect()
            .await
            .expect("the gRPC port accepts");
        SupportDeskClient::with_interceptor(channel, Bearer(token.map(str::to_owned)))
    }
}

/// Register `username` on `server` and return a signed-in socket after `hello`.
async fn agent(server: &ServerProcess, username: &str) -> Client {
    let base = format!("http://{}", server.addr);
    let body = json!({"username": username, "password": PASSWORD}).to_string();
    let headers = [
        ("Origin", base.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, head, text) =
        http_request("POST", &format!("{base}/api/register"), &headers, &body).await;
    assert_eq!(status, 201, "register {username}: {head:?} {text}");
    let cookie = head["set-cookie"].split(';').next().unwrap().to_owned();
    let mut c = Client::connect_with_cookie(&server.ws_url(), &cookie).await;
    c.send(json!({"type":"hello","name":username})).await;
    c.expect("welcome").await;
    c
}

/// The stream's next event that `pick` accepts, skipping others.
async fn event_where(stream: &mut Streaming<proto::Event>, pick: impl Fn(&E) -> bool) -> E {
    let found = tokio::time::timeout(WAIT, async {
        loop {
            let event = stream.message().await.expect("the stream goes on");
            let event = event.expect("not ended").event.expect("an event");
            if pick(&event) {
                return event;
            }
        }
    });
    found.await.expect("the expected event in time")
}

fn open(id: &str) -> OpenRequest {
    OpenRequest {
        client_id: id.into(),
        client_name: "Carla".into(),
        email: Some("carla@example.com".into()),
    }
}

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
