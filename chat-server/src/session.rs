//! One WebSocket connection as a small state machine: identify, join rooms, send, receive. The
//! loop owns the socket; the hub feeds it through a bounded queue. Everything a client sends is
//! validated by `protocol`; failures become error frames, repeated abuse closes with 1008, and
//! nothing a client sends can make this panic.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::{OwnedSemaphorePermit, mpsc};
use tokio_util::sync::CancellationToken;

use crate::{
    AppState,
    clock::{now_ms, rfc3339_ms},
    error::Error,
    hub::{ConnHandle, ConnId, Outbound},
    limits::{ABUSE_LIMIT, ABUSE_WINDOW},
    metrics::{self, Metrics},
    protocol::{
        ClientMessage, DEFAULT_ROOM, ErrorCode, MessageDraft, PROTOCOL_VERSION, ProtocolError,
        ServerFrame, Since, frames_array,
    },
    store::{Created, NewMessage},
};

/// Close codes of `docs/protocol.md`.
pub mod close {
    pub const GOING_AWAY: u16 = 1001;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const NO_PONG: u16 = 4000;
    pub const SLOW_CONSUMER: u16 = 4008;
}

/// Queued frames written per flush, so a busy room is batched into few syscalls.
const WRITE_BATCH: usize = 64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Why the session ends with a close frame.
struct Close(u16, &'static str);

#[derive(Debug)]
struct RoomView {
    epoch: Arc<str>,
    last_sent: u64,
}

/// Token bucket for sends.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn take(&mut self) -> bool {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Who the connection said it is in `hello`.
#[derive(Debug)]
struct Identity {
    name: String,
    email: Option<String>,
}

/// Invalid frames seen in the current abuse window.
#[derive(Debug)]
struct Abuse {
    count: u32,
    since: Instant,
}

/// One connection's state.
pub struct Session {
    id: ConnId,
    state: AppState,
    rx: mpsc::Receiver<Outbound>,
    handle: ConnHandle,
    identity: Option<Identity>,
    rooms: HashMap<Arc<str>, RoomView>,
    bucket: Bucket,
    abuse: Abuse,
    /// Held while the connection is open: `--max-connections` counts these.
    _admission: OwnedSemaphorePermit,
}

impl Session {
    /// A session registered with the hub, holding one of the server's connection permits.
    pub fn new(state: AppState, admission: OwnedSemaphorePermit) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(state.config.outbound_queue as usize);
        let handle = ConnHandle {
            tx,
            kicked: CancellationToken::new(),
        };
        state.hub.connect(id, handle.clone());
        let burst = f64::from(state.config.send_burst);
        let bucket = Bucket {
            tokens: burst,
            rate: state.config.send_rate,
            burst,
            at: Instant::now(),
        };
        Self {
            id,
            state,
            rx,
            handle,
            identity: None,
            rooms: HashMap::new(),
            bucket,
            abuse: Abuse {
                count: 0,
                since: Instant::now(),
            },
            _admission: admission,
        }
    }

    /// Serve the connection until it closes, the client misbehaves or the server shuts down.
    pub async fn run<S, R, E>(mut self, mut sink: S, mut stream: R, shutdown: CancellationToken)
    where
        S: Sink<Message> + Unpin,
        R: Stream<Item = Result<Message, E>> + Unpin,
        E: std::error::Error + 'static,
    {
        self.state.metrics.connections.inc();
        let interval = self.state.config.ping_interval();
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut last_seen = Instant::now();
        let kicked = self.handle.kicked.clone();
        let close = loop {
            let result = tokio::select! {
                biased;
                () = shutdown.cancelled() => Err(Close(close::GOING_AWAY, "server shutting down")),
                () = kicked.cancelled() => Err(Close(close::SLOW_CONSUMER, "slow consumer")),
                Some(out) = self.rx.recv() => self.write_queued(&mut sink, out).await,
                incoming = stream.next() => match incoming {
                    None => break None,
                    Some(Err(e)) => {
                        if is_capacity_error(&e) {
                            Err(Close(close::TOO_BIG, "frame too large"))
                        } else {
                            tracing::debug!(conn = self.id, error = %e, "websocket read failed");
                            break None;
                        }
                    }
                    Some(Ok(msg)) => {
                        last_seen = Instant::now();
                        match msg {
                            Message::Text(text) => self.on_text(&mut sink, &text).await,
                            Message::Binary(_) => {
                                let err = ProtocolError::new(
                                    ErrorCode::BinaryUnsupported,
                                    "binary frames are not supported; send JSON text",
                                );
                                self.reply_error(&mut sink, err).await
                            }
                            Message::Close(_) => break None,
                            Message::Ping(_) | Message::Pong(_) => Ok(()),
                        }
                    }
                },
                _ = ping.tick() => {
                    if last_seen.elapsed() > interval * 2 {
                        Err(Close(close::NO_PONG, "no pong"))
                    } else {
                        send(&mut sink, Message::Ping(Default::default())).await
                    }
                }
            };
            if let Err(close) = result {
                break Some(close);
            }
        };
        if let Some(Close(code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            let _ = tokio::time::timeout(
                Duration::from_secs(1),
                sink.send(Message::Close(Some(frame))),
            )
            .await;
        }
        self.state
            .hub
            .disconnect(self.id, self.rooms.keys().cloned());
        self.state.metrics.connections.dec();
    }

    async fn write_queued<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        first: Outbound,
    ) -> Result<(), Close> {
        let mut next = Some(first);
        let mut written = 0;
        while let Some(out) = next.take() {
            if let Some(msg) = self.outbound_to_message(out) {
                sink.feed(msg)
                    .await
                    .map_err(|_| Close(close::GOING_AWAY, "write failed"))?;
                written += 1;
            }
            if written < WRITE_BATCH {
                next = self.rx.try_recv().ok();
            }
        }
        sink.flush()
            .await
            .map_err(|_| Close(close::GOING_AWAY, "write failed"))
    }

    fn outbound_to_message(&mut self, out: Outbound) -> Option<Message> {
        match out {
            Outbound::Message {
                room,
                offset,
                time_ms,
                frame,
            } => {
                let view = self.rooms.get_mut(&room)?;
                if offset <= view.last_sent {
                    return None; // already in the `joined` page
                }
                view.last_sent = offset;
                let m = &self.state.metrics;
                m.messages_out.inc();
                m.delivery_latency
                    .observe(now_ms().saturating_sub(time_ms) as f64 / 1000.0);
                Some(Message::Text(Utf8Bytes::from(frame.as_ref())))
            }
            Outbound::Resync { room, epoch } => {
                let view = self.rooms.get_mut(&room)?;
                view.epoch = epoch.clone();
                view.last_sent = 0;
                Some(text(
                    ServerFrame::Resync {
                        room: &room,
                        epoch: &epoch,
                    }
                    .to_json(),
                ))
            }
            Outbound::Frame(frame) => Some(Message::Text(Utf8Bytes::from(frame.as_ref()))),
        }
    }

    async fn on_text<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        raw: &str,
    ) -> Result<(), Close> {
        let msg = match ClientMessage::parse(raw, &self.state.limits) {
            Ok(msg) => msg,
            Err(err) => return self.reply_error(sink, err).await,
        };
        let reply = match msg {
            ClientMessage::Hello { name, email } => self.hello(name, email),
            ClientMessage::Rooms => Ok(self.rooms_frame()),
            ClientMessage::Ping { id } => Ok(ServerFrame::Pong { id: &id }.to_json()),
            _ if self.identity.is_none() => Err(ProtocolError::new(
                ErrorCode::NotIdentified,
                "send hello with your name first",
            )),
            ClientMessage::Join { room, since } => self.join(room, since).await,
            ClientMessage::Leave { room } => Ok(self.leave(&room)),
            ClientMessage::Send {
                room,
                topic,
                content,
                client_id,
            } => self.send(room, topic, content, client_id).await,
            ClientMessage::CreateRoom { name } => self.create_room(name).await,
        };
        match reply {
            Ok(frame) => send(sink, text(frame)).await,
            Err(err) => self.reply_error(sink, err).await,
        }
    }

    async fn reply_error<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        err: ProtocolError,
    ) -> Result<(), Close> {
        self.state
            .metrics
            .protocol_errors
            .get_or_create(&metrics::CodeLabel {
                code: err.code.as_str(),
            })
            .inc();
        send(sink, text(err.to_frame())).await?;
        if err.code.is_abuse() {
            let abuse = &mut self.abuse;
            if abuse.since.elapsed() > ABUSE_WINDOW {
                abuse.count = 0;
                abuse.since = Instant::now();
            }
            abuse.count += 1;
            if abuse.count >= ABUSE_LIMIT {
                return Err(Close(close::POLICY, "too many invalid frames"));
            }
        }
        Ok(())
    }

    fn hello(&mut self, name: String, email: Option<String>) -> Result<String, ProtocolError> {
        let welcome = ServerFrame::Welcome {
            protocol: PROTOCOL_VERSION,
            session: &self.id.to_string(),
            server: &self.state.instance,
            name: &name,
            email: email.as_deref(),
            limits: &self.state.limits,
        }
        .to_json();
        self.identity = Some(Identity { name, email });
        // What follows the welcome goes through the queue, so it arrives right after it: the
        // store's health when it is down, then the room list.
        let hub = &self.state.hub;
        if let Some(reason) = self.state.cannot_store() {
            let health = ServerFrame::Health {
                ready: false,
                reason: Some(&reason),
            };
            hub.offer(&self.handle, Outbound::Frame(health.to_json().into()));
        }
        hub.offer(&self.handle, Outbound::Frame(self.rooms_frame().into()));
        Ok(welcome)
    }

    fn rooms_frame(&self) -> String {
        let rooms = crate::presence::snapshot(&self.state);
        ServerFrame::Rooms { rooms: &rooms }.to_json()
    }

    async fn join(&mut self, room: String, since: Option<Since>) -> Result<String, ProtocolError> {
        let store = &self.state.store;
        let exists = room == DEFAULT_ROOM
            || store
                .room_exists(&room)
                .await
                .map_err(|e| unavailable(&self.state.metrics, e))?;
        if !exists {
            return Err(
                ProtocolError::new(ErrorCode::NoSuchRoom, format!("no room named {room}"))
                    .in_room(&room),
            );
        }
        let room: Arc<str> = room.into();
        // Join before reading history: anything stored after the read is then delivered live, and
        // anything in both is dropped by offset in `outbound_to_message`.
        self.state.hub.join(&room, self.id, self.handle.clone());
        let page = match store.history(&room, since.as_ref()).await {
            Ok(page) => page,
            Err(e) => {
                if !self.rooms.contains_key(&room) {
                    self.state.hub.leave(&room, self.id);
                }
                return Err(unavailable(&self.state.metrics, e).in_room(&room));
            }
        };
        let epoch: Arc<str> = page.epoch.as_str().into();
        self.state
            .hub
            .started(room.clone(), epoch.clone(), page.head)
            .await;
        self.rooms.insert(
            room.clone(),
            RoomView {
                epoch,
                last_sent: page.head,
            },
        );
        let messages = frames_array(&page.frames).map_err(|e| {
            tracing::error!(%room, error = %e, "stored history is not JSON");
            ProtocolError::new(ErrorCode::Internal, "history could not be read")
        })?;
        let online = crate::presence::snapshot(&self.state)
            .iter()
            .find(|r| *r.name == *room)
            .map_or(0, |r| r.online)
            .max(self.state.hub.local_count(&room));
        Ok(ServerFrame::Joined {
            room: &room,
            epoch: &page.epoch,
            offset: page.head,
            messages: &messages,
            recovered: page.recovered,
            online,
        }
        .to_json())
    }

    fn leave(&mut self, room: &str) -> String {
        self.rooms.remove(room);
        self.state.hub.leave(room, self.id);
        ServerFrame::Left { room }.to_json()
    }

    async fn send(
        &mut self,
        room: String,
        topic: Option<String>,
        content: String,
        client_id: String,
    ) -> Result<String, ProtocolError> {
        let fail = |e: ProtocolError| e.in_room(&room).for_client(Some(client_id.clone()));
        if !self.rooms.contains_key(room.as_str()) {
            return Err(fail(ProtocolError::new(
                ErrorCode::NotJoined,
                format!("join {room} before sending to it"),
            )));
        }
        if !self.bucket.take() {
            return Err(fail(ProtocolError::new(
                ErrorCode::RateLimited,
                format!(
                    "sending too fast: at most {} messages per second",
                    self.state.config.send_rate
                ),
            )));
        }
        let Identity { name, email } = self.identity.as_ref().expect("checked by on_text");
        let id = uuid::Uuid::new_v4().to_string();
        let time_ms = now_ms();
        let time = rfc3339_ms(time_ms);
        let draft = MessageDraft {
            room: &room,
            id: &id,
            name,
            email: email.as_deref(),
            time: &time,
            topic: topic.as_deref(),
            content: &content,
            client_id: &client_id,
        };
        let prefix = draft.frame_prefix();
        let new = NewMessage {
            room: &room,
            name,
            topic: topic.as_deref(),
            content: &content,
            client_id: &client_id,
            id: &id,
            time_ms,
            frame_prefix: &prefix,
        };
        let stored = self
            .state
            .store
            .append(&new)
            .await
            .map_err(|e| fail(unavailable(&self.state.metrics, e)))?;
        if !stored.duplicate {
            self.state.metrics.messages_in.inc();
        }
        Ok(ServerFrame::Ack {
            client_id: &client_id,
            room: &room,
            offset: stored.offset,
            id: &stored.id,
            duplicate: stored.duplicate,
        }
        .to_json())
    }

    async fn create_room(&mut self, name: String) -> Result<String, ProtocolError> {
        let created = self
            .state
            .store
            .create_room(&name, self.state.config.max_rooms)
            .await
            .map_err(|e| unavailable(&self.state.metrics, e))?;
        match created {
            Created::Created => Ok(ServerFrame::RoomCreated { room: &name }.to_json()),
            Created::Exists => Err(ProtocolError::new(
                ErrorCode::RoomExists,
                format!("a room named {name} already exists"),
            )
            .in_room(&name)),
            Created::LimitReached => Err(ProtocolError::new(
                ErrorCode::TooManyRooms,
                format!(
                    "the server's limit of {} rooms is reached",
                    self.state.config.max_rooms
                ),
            )),
        }
    }
}

/// A store failure as the client sees it (a `client_id` conflict is the client's own).
fn unavailable(metrics: &Metrics, e: Error) -> ProtocolError {
    if let Error::ClientIdConflict = e {
        return ProtocolError::new(
            ErrorCode::ClientIdConflict,
            "this client_id was used for another message in this room; use a new one",
        );
    }
    metrics.redis_errors.inc();
    tracing::warn!(error = %e, "store operation failed");
    match e {
        Error::Redis(_) | Error::Connect(_) | Error::Misconfigured(_) => ProtocolError::new(
            ErrorCode::Unavailable,
            "the message store is unavailable; nothing was stored, try again",
        ),
        Error::Corrupt(_) | Error::Listen { .. } | Error::ClientIdConflict => {
            ProtocolError::new(ErrorCode::Internal, "internal error")
        }
    }
}

/// Whether a read failed because a frame or message exceeded `--max-frame-bytes`.
fn is_capacity_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(e) = source {
        if let Some(tungstenite::Error::Capacity(_)) = e.downcast_ref::<tungstenite::Error>() {
            return true;
        }
        source = e.source();
    }
    false
}

fn text(s: String) -> Message {
    Message::Text(s.into())
}

async fn send<S: Sink<Message> + Unpin>(sink: &mut S, msg: Message) -> Result<(), Close> {
    sink.send(msg)
        .await
        .map_err(|_| Close(close::GOING_AWAY, "write failed"))
}

#[cfg(test)]
mod tests;
