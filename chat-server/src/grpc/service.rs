//! The `SupportDesk` service: each call validates its request, admits itself (at most
//! [`MAX_SUPPORT_API_CALLS`] at once), and runs as a [`Bridge`] session of the platform's client.
//! Unary calls end their session when they answer; `Stream` keeps it for the call's life.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr},
    sync::{Arc, Mutex},
};

use serde_json::json;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
    time::Instant,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use super::{
    bridge::Bridge,
    client::{PlatformClient, invalid},
    events::ack_of,
    proto::{
        Ack, ChatRequest, Conversation, Event, OpenRequest, ReadAck, ReadRequest, SendRequest,
        StreamRequest, TypingAck, TypingRequest, chat_request, support_desk_server,
    },
    stream::Follower,
};
use crate::{
    AppState,
    limits::MAX_SUPPORT_API_CALLS,
    metrics::ApiCallLabel,
    protocol::{validate_client_id, validate_content},
    signals::TYPING_EVERY,
};

/// Events buffered per `Stream` call before the bridge waits for the caller.
const STREAM_BUFFER: usize = 64;
/// Clients whose last typing notice the gate remembers; past it, notices are dropped until old
/// entries expire, so a flood of client ids costs bounded memory.
const TYPING_CLIENTS: usize = 10_000;

/// When each client's last typing notice went out. A session relays one per [`TYPING_EVERY`],
/// but every call is a new session, so the API keeps that rule per client here.
#[derive(Default)]
struct TypingGate(Mutex<HashMap<String, Instant>>);

impl TypingGate {
    /// Whether a notice of `key` may go now (and remember it if so).
    fn admit(&self, key: &str) -> bool {
        let mut last = self.0.lock().unwrap();
        let now = Instant::now();
        let recent = |t: &Instant| now.duration_since(*t) < TYPING_EVERY;
        if last.get(key).is_some_and(recent) {
            return false;
        }
        if last.len() >= TYPING_CLIENTS {
            last.retain(|_, t| recent(t));
            if last.len() >= TYPING_CLIENTS {
                return false;
            }
        }
        last.insert(key.to_owned(), now);
        true
    }
}

/// The service; cheap to clone.
#[derive(Clone)]
pub(crate) struct SupportDesk {
    state: AppState,
    calls: Arc<Semaphore>,
    typing: Arc<TypingGate>,
}

impl SupportDesk {
    pub(crate) fn new(state: AppState) -> Self {
        Self {
            state,
            calls: Arc::new(Semaphore::new(MAX_SUPPORT_API_CALLS)),
            typing: Arc::default(),
        }
    }

    /// A place among the calls served at once.
    fn admit(&self) -> Result<OwnedSemaphorePermit, Status> {
        self.calls
            .clone()
            .try_acquire_owned()
            .map_err(|_| Status::resource_exhausted("too many support API calls; retry later"))
    }

    /// Connect as `client` and open their conversation.
    async fn open_as<T>(
        &self,
        request: &Request<T>,
        client: &PlatformClient,
    ) -> Result<(Bridge, Conversation), Status> {
        self.open_from(peer_of(request), client).await
    }

    /// [`Self::open_as`] for a call from `peer`.
    async fn open_from(
        &self,
        peer: IpAddr,
        client: &PlatformClient,
    ) -> Result<(Bridge, Conversation), Status> {
        let mut bridge = Bridge::connect(&self.state, client, peer).await?;
        let conversation = bridge.open(client).await?;
        Ok((bridge, conversation))
    }

    /// Connect, open and join: ready to write in the conversation.
    async fn join_as<T>(
        &self,
        request: &Request<T>,
        client: &PlatformClient,
    ) -> Result<(Bridge, Conversation), Status> {
        let (mut bridge, conversation) = self.open_as(request, client).await?;
        bridge.join(&conversation.room).await?;
        Ok((bridge, conversation))
    }

    fn client(&self, id: &str, name: Option<&str>) -> Result<PlatformClient, Status> {
        PlatformClient::new(id, name, None, &self.state.limits)
    }
}

/// The calling platform's address: its calls count as its connections.
fn peer_of<T>(request: &Request<T>) -> IpAddr {
    request
        .remote_addr()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |a| a.ip())
}

/// The calls; the trait's methods below count each one's status.
impl SupportDesk {
    async fn open_call(
        &self,
        request: Request<OpenRequest>,
    ) -> Result<Response<Conversation>, Status> {
        let _call = self.admit()?;
        let r = request.get_ref();
        let limits = &self.state.limits;
        let client = PlatformClient::new(
            &r.client_id,
            Some(&r.client_name),
            r.email.as_deref(),
            limits,
        )?;
        let (_, conversation) = self.open_as(&request, &client).await?;
        Ok(Response::new(conversation))
    }

    async fn send_call(&self, request: Request<SendRequest>) -> Result<Response<Ack>, Status> {
        let _call = self.admit()?;
        let r = request.get_ref();
        let client = self.client(&r.client_id, Some(&r.client_name))?;
        let max = self.state.limits.max_content_bytes;
        let content = validate_content(&r.content, max).map_err(|e| invalid("content", e))?;
        let msg_id =
            validate_client_id(&r.client_msg_id).map_err(|e| invalid("client_msg_id", e))?;
        let (mut bridge, conversation) = self.join_as(&request, &client).await?;
        let send = json!({"type": "send", "room": conversation.room, "content": content, "client_id": msg_id});
        let ack = bridge.request(send, "ack").await?;
        Ok(Response::new(ack_of(&ack)))
    }

    async fn read_call(&self, request: Request<ReadRequest>) -> Result<Response<ReadAck>, Status> {
        let _call = self.admit()?;
        let r = request.get_ref();
        let client = self.client(&r.client_id, r.client_name.as_deref())?;
        let offset = r.offset;
        let (mut bridge, conversation) = self.join_as(&request, &client).await?;
        let read = json!({"type": "read", "room": conversation.room, "offset": offset});
        bridge.request_quiet(read).await?;
        Ok(Response::new(ReadAck {
            room: conversation.room,
        }))
    }

    async fn typing_call(
        &self,
        request: Request<TypingRequest>,
    ) -> Result<Response<TypingAck>, Status> {
        let _call = self.admit()?;
        let r = request.get_ref();
        let client = self.client(&r.client_id, r.client_name.as_deref())?;
        if !self.typing.admit(&client.key) {
            // Too soon after the last one: dropped, as a session drops it, without a session.
            return Ok(Response::new(TypingAck {
                room: String::new(),
            }));
        }
        let (mut bridge, conversation) = self.join_as(&request, &client).await?;
        let typing = json!({"type": "typing", "room": conversation.room});
        bridge.request_quiet(typing).await?;
        Ok(Response::new(TypingAck {
            room: conversation.room,
        }))
    }

    async fn stream_call(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let call = self.admit()?;
        let r = request.get_ref();
        let client = self.client(&r.client_id, r.client_name.as_deref())?;
        let since = r.since_offset;
        let (bridge, conversation) = self.open_as(&request, &client).await?;
        let (events, rx) = mpsc::channel(STREAM_BUFFER);
        let follower = Follower::new(bridge, &conversation, events);
        tokio::spawn(async move {
            follower.run(conversation, since).await;
            drop(call);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    async fn chat_call(
        &self,
        request: Request<Streaming<ChatRequest>>,
    ) -> Result<Response<EventStream>, Status> {
        let call = self.admit()?;
        let peer = peer_of(&request);
        let mut requests = request.into_inner();
        let Some(chat_request::Request::Start(start)) =
            requests.message().await?.and_then(|r| r.request)
        else {
            return Err(Status::invalid_argument(
                "the first request of Chat is start",
            ));
        };
        let client = self.client(&start.client_id, start.client_name.as_deref())?;
        let (bridge, conversation) = self.open_from(peer, &client).await?;
        let (events, rx) = mpsc::channel(STREAM_BUFFER);
        let follower =
            Follower::new(bridge, &conversation, events).with_requests(Box::pin(requests));
        tokio::spawn(async move {
            follower.run(conversation, start.since_offset).await;
            drop(call);
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

/// What `Stream` and `Chat` answer.
type EventStream = ReceiverStream<Result<Event, Status>>;

/// Count a call's status into `chat_support_api_calls_total`.
fn counted<T>(
    state: &AppState,
    call: &'static str,
    result: Result<T, Status>,
) -> Result<T, Status> {
    let code = result
        .as_ref()
        .map_or_else(Status::code, |_| tonic::Code::Ok);
    let label = ApiCallLabel {
        call,
        code: format!("{code:?}"),
    };
    state.metrics.support_api_calls.get_or_create(&label).inc();
    result
}

#[tonic::async_trait]
impl support_desk_server::SupportDesk for SupportDesk {
    async fn open(&self, request: Request<OpenRequest>) -> Result<Response<Conversation>, Status> {
        counted(&self.state, "Open", self.open_call(request).await)
    }

    async fn send(&self, request: Request<SendRequest>) -> Result<Response<Ack>, Status> {
        counted(&self.state, "Send", self.send_call(request).await)
    }

    async fn read(&self, request: Request<ReadRequest>) -> Result<Response<ReadAck>, Status> {
        counted(&self.state, "Read", self.read_call(request).await)
    }

    async fn typing(&self, request: Request<TypingRequest>) -> Result<Response<TypingAck>, Status> {
        counted(&self.state, "Typing", self.typing_call(request).await)
    }

    type StreamStream = EventStream;

    async fn stream(
        &self,
        request: Request<StreamRequest>,
    ) -> Result<Response<EventStream>, Status> {
        counted(&self.state, "Stream", self.stream_call(request).await)
    }

    type ChatStream = EventStream;

    async fn chat(
        &self,
        request: Request<Streaming<ChatRequest>>,
    ) -> Result<Response<EventStream>, Status> {
        counted(&self.state, "Chat", self.chat_call(request).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn one_typing_notice_per_client_per_interval() {
        let gate = TypingGate::default();
        assert!(gate.admit("ext:a"));
        assert!(!gate.admit("ext:a"), "too soon");
        assert!(gate.admit("ext:b"), "another client");
        tokio::time::advance(TYPING_EVERY).await;
        assert!(gate.admit("ext:a"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_forgets_old_clients_and_stays_bounded() {
        let gate = TypingGate::default();
        for i in 0..TYPING_CLIENTS {
            assert!(gate.admit(&format!("ext:{i}")));
        }
        assert!(!gate.admit("ext:new"), "full of recent clients");
        tokio::time::advance(TYPING_EVERY).await;
        assert!(gate.admit("ext:new"));
        assert_eq!(gate.0.lock().unwrap().len(), 1);
    }
}
