//! One WebSocket connection as a small state machine: identify, join rooms, send, receive. The
//! loop owns the socket; the hub feeds it through a bounded queue. Everything a client sends is
//! validated by `protocol`; failures become error frames, repeated abuse closes with 1008, and
//! nothing a client sends can make this panic.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::Poll,
    time::{Duration, Instant},
};

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::{sync::OwnedSemaphorePermit, time::Sleep};

use crate::{address::AddressSlot, rate::TokenBucket};
use tokio_util::sync::CancellationToken;

use crate::{
    AppState,
    accounts::Visitor,
    clock::{now_ms, rfc3339_ms},
    error::Error,
    hub::{Conn, ConnHandle, ConnId, Delivered, FastMap, NewEpoch, Outbound, OutboundRx},
    limits::{ABUSE_LIMIT, ABUSE_WINDOW},
    metrics::{self, Metrics},
    protocol::{
        ClientMessage, Cursor, DEFAULT_ROOM, ErrorCode, MessageDraft, PROTOCOL_VERSION,
        ProtocolError, ServerFrame, Since, Timers, edits::Change, frames_array,
    },
    query::Query,
    store::{Created, NewMessage, Page},
};

/// Queued frames written per flush, so a busy room is batched into few syscalls.
const WRITE_BATCH: usize = 64;
/// Bytes after which a batch is flushed early. tungstenite's write buffer grows to the largest
/// batch and never shrinks, so this bounds it for the connection's life (64 frames of 4 KiB
/// content would leave 256 KiB in every member of a busy room).
const WRITE_BATCH_BYTES: usize = 16 * 1024;
/// One delivery in this many is timed into `chat_delivery_latency_seconds`: a clock read and a
/// histogram update per message per recipient cost more than the histogram is worth.
const LATENCY_SAMPLE_EVERY: u32 = 16;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug)]
struct RoomView {
    epoch: Arc<str>,
    last_sent: u64,
    /// Only messages matching this are sent (`join {filter}`).
    filter: Option<Box<Query>>,
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
    rx: OutboundRx,
    handle: ConnHandle,
    identity: Option<Identity>,
    /// Signed in (from the handshake's cookie) or a guest.
    visitor: Visitor,
    rooms: FastMap<Arc<str>, RoomView>,
    /// Messages written since the last latency sample.
    unsampled: u32,
    /// When queued room messages were last flushed to the socket (`write::COALESCE`).
    last_flush: Option<tokio::time::Instant>,
    /// Messages came fast enough at the last flush for a window to batch them
    /// (`write::COALESCE_MIN_BATCH`): the connection is in a busy room, and its next messages
    /// are coalesced.
    busy: bool,
    budgets: Budgets,
    abuse: Abuse,
    admission: Admission,
    /// Cloned for every write: an `Arc`, so that is one reference count, not two token clones
    /// (each takes its token's lock).
    guard: Arc<WriteGuard>,
    signals: SignalState,
    /// A guest's support conversation, once opened (`--guest-support`).
    support_guest: Option<SupportGuest>,
    /// Acks waiting for the sender's own copy of their message (`acks.rs`), oldest first.
    acks: Vec<PendingAck>,
}

impl Session {
    /// A session registered with the hub, holding its admission until it ends; `visitor` is who
    /// the handshake's cookie says it is.
    pub fn new(state: AppState, admission: Admission, visitor: Visitor) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let c = &state.config;
        let (handle, rx) = Conn::new(
            c.outbound_queue as usize,
            c.outbound_queue_bytes as usize,
            &state.lifecycle.sessions,
        );
        let _ = handle.visitor.set(visitor.clone());
        state.hub.connect(id, handle.clone());
        let guard = Arc::new(WriteGuard {
            timeout: c.write_timeout(),
            conn: handle.clone(),
            shutdown: state.lifecycle.sessions.clone(),
        });
        let reply_rate = f64::from(c.reply_bytes_per_sec);
        let budgets = Budgets {
            sends: TokenBucket::new(c.send_rate, f64::from(c.send_burst)),
            requests: TokenBucket::new(c.request_rate, f64::from(c.request_burst)),
            // A burst of four seconds' worth lets a client join a few full rooms at once.
            reply_bytes: TokenBucket::new(reply_rate, reply_rate * 4.0),
        };
        Self {
            id,
            state,
            rx,
            handle,
            identity: None,
            visitor,
            rooms: FastMap::default(),
            unsampled: 0,
            last_flush: None,
            busy: false,
            budgets,
            abuse: Abuse {
                count: 0,
                since: Instant::now(),
            },
            admission,
            guard,
            signals: SignalState::default(),
            support_guest: None,
            acks: Vec::new(),
        }
    }

    /// Serve the connection until it closes, the client misbehaves or the server shuts down (the
    /// state's `lifecycle.sessions`). `socket` is both ends of the connection (see [`Duplex`] for
    /// ends that are separate).
    pub async fn run<T, E>(mut self, mut socket: T)
    where
        T: Sink<Message> + Stream<Item = Result<Message, E>> + Unpin,
        E: std::error::Error + 'static,
    {
        self.state.metrics.connections.inc();
        // Both timers are boxed and dropped once past (the hello's at `hello`; a guest's login
        // never expires): inline they were memory of every idle connection.
        let mut hello_deadline = Some(Box::pin(tokio::time::sleep(
            self.state.config.hello_timeout(),
        )));
        let interval = self.state.config.ping_interval();
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        let mut last_seen = Instant::now();
        // Made once, not once per wake-up: a `cancelled()` future registers with its token (a
        // lock) and unregisters when dropped (docs/benchmarks.md, "Issue #10, round 2"). One
        // token for every reason to stop, so each wake-up polls one (round 5).
        let stop = self.handle.stop.clone();
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        // A login session ends at its expiry even when nobody logs out.
        let expiry = self
            .visitor
            .signed_in()
            .map(|s| Duration::from_millis(s.expires_ms.saturating_sub(now_ms())));
        let mut expires = expiry.map(|expiry| {
            Box::pin(tokio::time::sleep(
                expiry.min(Duration::from_secs(10 * 366 * 86_400)),
            ))
        });
        // The session's one timer, for the end of the coalescing window or the oldest ack's wait:
        // kept while it is needed (reset, not remade, as the deadline moves), boxed so an idle
        // connection's state holds only a pointer.
        let mut wake: Option<Pin<Box<Sleep>>> = None;
        let close = loop {
            // While coalescing, queued room messages wait for the window's end (or a full batch).
            let window = self.coalescing_until();
            let batch = window.map_or(1, |_| self.coalesce_batch());
            match window.into_iter().chain(self.next_ack_due()).min() {
                None => wake = None,
                Some(at) => match wake.as_mut() {
                    Some(t) if t.deadline() == at => {}
                    Some(t) => t.as_mut().reset(at),
                    None => wake = Some(Box::pin(tokio::time::sleep_until(at))),
                },
            }
            let result = tokio::select! {
                biased;
                () = &mut stopped => match self.guard.stopped() {
                    Close(close::SESSION_ENDED, _) => Box::pin(self.session_ended(&mut socket)).await,
                    close => Err(close),
                },
                () = timer(&mut expires), if expires.is_some() => {
                    Box::pin(self.session_ended(&mut socket)).await
                }
                () = timer(&mut hello_deadline), if hello_deadline.is_some() => {
                    Err(Close(close::POLICY, "no hello in time"))
                }
                // Each handler below is boxed: this loop's state is kept for the connection's
                // whole life, so unboxed, the largest handler (a request's store calls, a write
                // with its guard's timer) would be memory of every idle connection
                // (docs/benchmarks.md, "Memory per connection"). A box per wake-up costs far
                // less than the socket write it goes with.
                Some(out) = self.rx.recv_batch(batch) => {
                    Box::pin(self.write_queued(&mut socket, out)).await
                }
                () = timer(&mut wake), if wake.is_some() => {
                    Box::pin(self.write_overdue_acks(&mut socket)).await
                }
                incoming = socket.next() => match incoming {
                    None => break None,
                    Some(Err(e)) => match read_error_close(&e) {
                        Some(close) => Err(close),
                        None => {
                            tracing::debug!(conn = self.id, error = %e, "websocket read failed");
                            break None;
                        }
                    },
                    Some(Ok(msg)) => {
                        last_seen = Instant::now();
                        match msg {
                            Message::Text(text) => Box::pin(self.on_text(&mut socket, &text)).await,
                            Message::Binary(_) => {
                                let err = ProtocolError::new(
                                    ErrorCode::BinaryUnsupported,
                                    "binary frames are not supported; send JSON text",
                                );
                                Box::pin(self.reply_error(&mut socket, err)).await
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
                        let ping = Message::Ping(Default::default());
                        Box::pin(self.guard.run(socket.send(ping))).await
                    }
                }
            };
            if let Err(close) = result {
                break Some(close);
            }
            if self.identity.is_some() {
                hello_deadline = None;
            }
        };
        if let Some(Close(code, reason)) = close {
            let frame = CloseFrame {
                code,
                reason: Utf8Bytes::from_static(reason),
            };
            // Best effort: a reader that stopped reading never gets it, and returning drops the
            // socket, which closes the TCP connection either way. Acks still waiting for their
            // echo go first: what was stored is acknowledged.
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                self.feed_all_acks(&mut socket).await?;
                socket.send(Message::Close(Some(frame))).await
            })
            .await;
        }
        self.state
            .hub
            .disconnect(self.id, self.rooms.keys().cloned());
        self.state.metrics.connections.dec();
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
        if let Err(err) = self.admit_request(&msg) {
            return self.reply_error(sink, err).await;
        }
        let reply = match msg {
            ClientMessage::Hello { name, email } => self.hello(name, email),
            ClientMessage::Rooms => Ok(self.state.hub.rooms_frame(&self.handle).to_string()),
            ClientMessage::Ping { id } => Ok(ServerFrame::Pong { id: &id }.to_json()),
            _ if self.identity.is_none() => Err(ProtocolError::new(
                ErrorCode::NotIdentified,
                "send hello with your name first",
            )
            .for_client(msg.client_id().map(str::to_owned))),
            ClientMessage::Join {
                room,
                since,
                filter,
            } => self.join(room, since, filter).await,
            ClientMessage::Leave { room } => Ok(self.leave(&room)),
            ClientMessage::History {
                room,
                cursor,
                limit,
            } => self.history(room, cursor, limit).await,
            ClientMessage::Send {
                room,
                topic,
                content,
                client_id,
                reply_to,
            } => self.send(room, topic, content, client_id, reply_to).await,
            ClientMessage::CreateRoom {
                name,
                timers,
                private,
            } => self.create_room(name, timers, private).await,
            ClientMessage::AddParticipant { room, username } => {
                self.change_participant(room, username, true).await
            }
            ClientMessage::RemoveParticipant { room, username } => {
                self.change_participant(room, username, false).await
            }
            ClientMessage::DeleteRoom { room } => self.delete_room(room).await,
            ClientMessage::Search {
                room,
                query,
                text,
                limit,
                before,
            } => self.search(room, &query, &text, limit, before).await,
            ClientMessage::Edit {
                room,
                offset,
                content,
            } => {
                self.rewrite(room, offset, Change::Edit { content: &content })
                    .await
            }
            ClientMessage::Delete { room, offset } => {
                self.rewrite(room, offset, Change::Delete).await
            }
            ClientMessage::Ephemeral {
                room,
                topic,
                content,
                client_id,
            } => self.send_ephemeral(room, topic, content, client_id).await,
            ClientMessage::Vote {
                room,
                offset,
                value,
            } => self.vote(room, offset, value).await,
            ClientMessage::Typing { room } => self.typing(room).await,
            ClientMessage::Read { room, offset } => self.read(room, offset).await,
            ClientMessage::SupportOpen { resume } => self.support_open(resume).await,
            ClientMessage::SupportQueue => self.support_queue().await,
            ClientMessage::SupportTake { room } => self.support_act(room, Act::Take).await,
            ClientMessage::SupportTransfer { room, to } => {
                self.support_act(room, Act::Transfer(to)).await
            }
            ClientMessage::SupportClose { room } => self.support_act(room, Act::Close).await,
        };
        match reply {
            // Answered already (an edit's notice comes with the room's frames).
            Ok(frame) if frame.is_empty() => Ok(()),
            Ok(frame) => {
                self.budgets.reply_bytes.charge(frame.len() as f64);
                let guard = self.guard.clone();
                guard.run(sink.send(text(frame))).await
            }
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
        let guard = self.guard.clone();
        guard.run(sink.send(text(err.to_frame()))).await?;
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

    /// Tell the client its login session ended, then close with 4001.
    async fn session_ended<S: Sink<Message> + Unpin>(&mut self, sink: &mut S) -> Result<(), Close> {
        let err = ProtocolError::new(
            ErrorCode::SessionEnded,
            "your login session ended (logged out, password changed, account deleted or expired)",
        );
        self.reply_error(sink, err).await?;
        Err(Close(close::SESSION_ENDED, "session ended"))
    }
}

fn text(s: String) -> Message {
    Message::Text(s.into())
}

/// A timer that may not be set (`None`: never fires).
async fn timer(sleep: &mut Option<Pin<Box<Sleep>>>) {
    match sleep {
        Some(sleep) => sleep.as_mut().await,
        None => std::future::pending().await,
    }
}

mod acks;
mod budget;
pub mod close;
mod duplex;
mod edits;
mod identity;
mod membership;
mod rooms;
mod search;
mod send;
mod signals;
mod support;
mod votes;
mod write;

use self::{
    acks::PendingAck,
    budget::Budgets,
    close::{Close, read_error_close},
    send::unavailable,
    signals::SignalState,
    support::{Act, SupportGuest},
    write::WriteGuard,
};
pub use self::{budget::Admission, duplex::Duplex};

#[cfg(test)]
mod tests;
