//! The `Stream` and `Chat` calls: follow one client's conversation. First the conversation as it
//! stands, then the messages after `since_offset` (read with `history` pages while live frames
//! wait in a bounded backlog), then live messages, typing, receipts and state changes, each
//! message once and in offset order. `Chat` also writes the caller's requests into the session as
//! they come, and its acks and errors become `ack` and `refused` events. The call ends when the
//! caller goes away, or with a status when the session ends (shutdown, a slow caller) or the
//! conversation is deleted.

use std::collections::VecDeque;

use futures_util::{StreamExt, stream::BoxStream};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tonic::Status;

use super::{
    bridge::{Bridge, status_of},
    events::{ack_of, event_of, message_of, refused_of},
    proto::{
        ChatRequest, Conversation, Event, Refused, chat_request::Request as R, event::Event as E,
    },
};
use crate::{limits::MAX_SUPPORT_STREAM_BACKLOG, protocol::MAX_PAGE};

/// What the caller receives.
pub(crate) type Events = mpsc::Sender<Result<Event, Status>>;
/// What a `Chat` caller sends after its `start`.
pub(crate) type Requests = BoxStream<'static, Result<ChatRequest, Status>>;

/// What the live loop woke up for.
enum Next {
    Frame(Result<Value, Status>),
    Request(Option<Result<ChatRequest, Status>>),
}

/// One `Stream` call's state.
pub(crate) struct Follower {
    bridge: Bridge,
    room: String,
    client_key: String,
    events: Events,
    /// The offset of the last message sent to the caller.
    last: u64,
    /// `Chat` only: the caller's requests, until the live loop takes them.
    requests: Option<Requests>,
    /// A `Chat` call: acks and errors are events, not the end.
    chat: bool,
}

impl Follower {
    pub(crate) fn new(bridge: Bridge, conversation: &Conversation, events: Events) -> Self {
        Self {
            bridge,
            room: conversation.room.clone(),
            client_key: conversation.client.clone(),
            events,
            last: 0,
            requests: None,
            chat: false,
        }
    }

    /// A `Chat` follower: `requests` are written into the session once it is live.
    pub(crate) fn with_requests(self, requests: Requests) -> Self {
        Self {
            requests: Some(requests),
            chat: true,
            ..self
        }
    }

    /// Run the call to its end; a failure is the stream's last item.
    pub(crate) async fn run(mut self, conversation: Conversation, since: Option<u64>) {
        let events = self.events.clone();
        let result = tokio::select! {
            () = events.closed() => return,
            result = self.follow(conversation, since) => result,
        };
        if let Err(status) = result {
            let _ = events.send(Err(status)).await;
        }
    }

    async fn follow(
        &mut self,
        conversation: Conversation,
        since: Option<u64>,
    ) -> Result<(), Status> {
        self.emit(E::Conversation(conversation)).await?;
        let joined = self.bridge.join(&self.room).await?;
        let head = joined["offset"].as_u64().unwrap_or(0);
        let page = joined["messages"].as_array().cloned().unwrap_or_default();
        let mut backlog = VecDeque::new();
        // An offset past the head comes from before the history was lost (offsets restarted):
        // say so, and send the page as after a `resync`.
        if let Some(since) = since.filter(|since| *since > head) {
            tracing::debug!(room = %self.room, since, head, "stream resumes past the head");
            self.emit(E::Resync(Default::default())).await?;
        } else if let Some(since) = since {
            self.last = since;
            let first = page
                .first()
                .and_then(|m| m["offset"].as_u64())
                .unwrap_or(head + 1);
            if since + 1 < first && since < head {
                backlog = self.catch_up(head).await?;
            }
        }
        self.emit_messages(&page).await?;
        while let Some(frame) = backlog.pop_front() {
            self.live(&frame).await?;
        }
        let Some(mut requests) = self.requests.take() else {
            loop {
                let frame = self.bridge.next().await?;
                self.live(&frame).await?;
            }
        };
        loop {
            let next = tokio::select! {
                frame = self.bridge.next() => Next::Frame(frame),
                request = requests.next() => Next::Request(request),
            };
            match next {
                Next::Frame(frame) => self.live(&frame?).await?,
                Next::Request(Some(Ok(request))) => self.handle(request).await?,
                // The caller closed its side (or it broke): the call is over.
                Next::Request(Some(Err(_)) | None) => return Ok(()),
            }
        }
    }

    /// Write a `Chat` request into the session; its answer comes as a frame.
    async fn handle(&mut self, request: ChatRequest) -> Result<(), Status> {
        let room = self.room.as_str();
        let frame = match request.request {
            Some(R::Send(send)) => json!({
                "type": "send", "room": room, "content": send.content, "client_id": send.client_msg_id,
            }),
            Some(R::Read(read)) => json!({"type": "read", "room": room, "offset": read.offset}),
            Some(R::Typing(_)) => json!({"type": "typing", "room": room}),
            Some(R::Start(_)) | None => {
                let refused = Refused {
                    code: "bad_request".into(),
                    message: "start comes once, first; then send, read or typing".into(),
                    ..Default::default()
                };
                return self.emit(E::Refused(refused)).await;
            }
        };
        self.bridge.post(frame).await
    }

    /// Read `history` pages after `last` up to `head`, holding back the live frames that arrive
    /// meanwhile (they are newer); returns them.
    async fn catch_up(&mut self, head: u64) -> Result<VecDeque<Value>, Status> {
        let mut backlog = VecDeque::new();
        loop {
            let ask = json!({"type": "history", "room": self.room, "after": self.last, "limit": MAX_PAGE});
            self.bridge.post(ask).await?;
            let page = loop {
                let frame = self.bridge.next().await?;
                match frame["type"].as_str() {
                    Some("history") if frame["room"] == self.room.as_str() => break frame,
                    Some("error") => return Err(status_of(&frame)),
                    _ if backlog.len() >= MAX_SUPPORT_STREAM_BACKLOG => {
                        return Err(Status::resource_exhausted(
                            "the conversation moved on faster than its history was read; \
                             call Stream again with since_offset",
                        ));
                    }
                    _ => backlog.push_back(frame),
                }
            };
            let messages = page["messages"].as_array().cloned().unwrap_or_default();
            let before = self.last;
            self.emit_messages(&messages).await?;
            let more = page["more"].as_bool().unwrap_or(false);
            if !more || self.last >= head || self.last == before {
                return Ok(backlog);
            }
        }
    }

    /// Handle one frame of the live session.
    async fn live(&mut self, frame: &Value) -> Result<(), Status> {
        let in_room = frame["room"] == self.room.as_str();
        match frame["type"].as_str().unwrap_or("") {
            "message" if in_room => self.emit_messages(std::slice::from_ref(frame)).await,
            // After a gap the server sends the recent page unasked (docs/protocol.md, "Recovery").
            "joined" if in_room => {
                let page = frame["messages"].as_array().cloned().unwrap_or_default();
                self.emit_messages(&page).await
            }
            "resync" if in_room => {
                self.last = 0;
                self.emit(E::Resync(Default::default())).await
            }
            "removed" | "room_deleted" | "expired" if in_room => {
                Err(Status::not_found("the conversation was deleted"))
            }
            "ack" if self.chat => self.emit(E::Ack(ack_of(frame))).await,
            "error" if self.chat => self.emit(E::Refused(refused_of(frame))).await,
            "error" => Err(status_of(frame)),
            _ => match event_of(frame, &self.room, &self.client_key) {
                Some(Event { event: Some(event) }) => self.emit(event).await,
                _ => Ok(()),
            },
        }
    }

    /// Send the messages after `last`, in order.
    async fn emit_messages(&mut self, frames: &[Value]) -> Result<(), Status> {
        for frame in frames {
            let Some(message) = message_of(frame, &self.client_key) else {
                continue;
            };
            if message.offset > self.last {
                self.last = message.offset;
                self.emit(E::Message(message)).await?;
            }
        }
        Ok(())
    }

    async fn emit(&mut self, event: E) -> Result<(), Status> {
        self.events
            .send(Ok(Event { event: Some(event) }))
            .await
            .map_err(|_| Status::cancelled("the caller went away"))
    }
}
