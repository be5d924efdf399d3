//! One simulated chat client: a small state machine over one WebSocket. It connects, says `hello`,
//! joins its room, then reads every frame (timing deliveries, checking offsets) and, if it is a
//! sender, sends on its own schedule while the engine's [`Phase`] says so. The engine owns the
//! schedule of phases and the totals; a client only reports into [`Shared`]. This file has the
//! connection (handshake, phases, close); `client/session.rs` what a joined client does per frame.
//! What the frames say is the run's [`Protocol`]'s business (`crate::protocol`).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, Stream, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::{Interval, MissedTickBehavior, timeout};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::protocol::{Event, Protocol, Step};
use crate::stats::{Counters, Latencies, OffsetTracker};
use crate::target::Target;
use session::Session;

/// Frames handled per wake-up before the client's other work (its send ticker, the phase) gets
/// a look: enough to take a coalesced batch of a busy room in one go.
const DRAIN: usize = 64;
/// Longest time for TCP connect + WebSocket handshake + hello + join.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a member with signals on sends `read` (the browser UI checks once a second).
const READ_EVERY: Duration = Duration::from_secs(1);
/// Most bytes of a handshake step cut across frames.
const MAX_HANDSHAKE_CARRY: usize = 1 << 20;
/// Longest time to wait for the server's close after ours.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Read buffer per connection. tungstenite zero-fills the free part of its read buffer before
/// every read (128 KiB by default): with thousands of sockets each reading a few hundred bytes
/// at a time, that memset was a fifth of chat-bench's CPU and 128 KiB of RSS per connection.
/// Larger frames (a `joined` page) still grow the buffer on demand. 4 KiB holds a coalesced
/// batch of a busy room (25 ms at 400 messages a second); 16 KiB zero-filled per read (twice per
/// wake-up: the read and the one that finds the socket empty) was 6 % of chat-bench's CPU in the
/// 1,000-member fanout (docs/benchmarks.md, "Issue #10, round 4").
const READ_BUFFER: usize = 4 * 1024;

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Where a run is; every client watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Clients connect and join; nobody sends.
    Connecting,
    /// Senders send.
    Sending,
    /// Nobody sends; deliveries still in flight are counted.
    Draining,
    /// Every client closes its socket and returns.
    Closing,
}

/// Per-room totals, indexed like the plan's rooms.
#[derive(Debug, Default)]
pub(crate) struct RoomStats {
    /// Members that completed their join.
    pub members: AtomicU64,
    /// Sends acknowledged in this room.
    pub acked: AtomicU64,
    /// Highest acknowledged offset: every member must have seen up to here.
    pub final_offset: AtomicU64,
}

/// What all clients report into.
#[derive(Debug)]
pub(crate) struct Shared {
    pub counters: Counters,
    /// Send -> `message` received, for every recipient.
    pub delivery: Latencies,
    /// Send -> `ack`.
    pub ack: Latencies,
    /// TCP connect -> `joined`.
    pub connect: Latencies,
    pub rooms: Vec<RoomStats>,
    /// Time zero of the send stamps carried in message content.
    pub epoch: Instant,
    /// Sends allowed in the whole run; each send takes a ticket.
    pub budget: u64,
    pub tickets: AtomicU64,
}

impl Shared {
    fn micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }
}

/// How one client sends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sending {
    /// Open loop: one send per period. `None`: closed loop, `window` sends in flight.
    pub period: Option<Duration>,
    /// Delay of the first send after the phase starts (spreads senders over a period).
    pub offset: Duration,
    pub window: u32,
    pub content_bytes: usize,
}

/// One client of the plan.
#[derive(Debug, Clone)]
pub(crate) struct Spec {
    pub id: usize,
    pub protocol: Protocol,
    pub target: Target,
    /// The local address to connect from (`--source-addrs`), or the kernel's choice.
    pub source: Option<Ipv4Addr>,
    pub room_index: usize,
    pub room: Arc<str>,
    pub sending: Option<Sending>,
    /// Send `typing` (senders) and `read` (everyone, once a second) while sending.
    pub signals: bool,
    /// A `Cookie` header for the handshake.
    pub cookie: Option<Arc<str>>,
}

/// What a client hands back when it is done.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub room_index: usize,
    /// `None` when the client never joined.
    pub tracker: Option<OffsetTracker>,
}

/// Runs one client to the end of the run. `permit` bounds concurrent handshakes.
pub(crate) async fn run(
    spec: Spec,
    shared: Arc<Shared>,
    mut phase: watch::Receiver<Phase>,
    permit: OwnedSemaphorePermit,
) -> Outcome {
    let mut outcome = Outcome {
        room_index: spec.room_index,
        tracker: None,
    };
    let started = Instant::now();
    let joined = timeout(HANDSHAKE_TIMEOUT, handshake(&spec)).await;
    drop(permit);
    let (mut ws, joined_offset) = match joined {
        Ok(Ok(ok)) => ok,
        Ok(Err(code)) => return connect_failed(&shared, &code, outcome),
        Err(_) => return connect_failed(&shared, "connect_timeout", outcome),
    };
    shared.connect.record(started.elapsed().as_micros() as u64);
    shared.counters.connected.fetch_add(1, Relaxed);
    shared.rooms[spec.room_index].members.fetch_add(1, Relaxed);
    let mut session = Session {
        spec: &spec,
        shared: &shared,
        tracker: OffsetTracker::new(joined_offset),
        decoder: spec.protocol.decoder(),
        stamps: VecDeque::new(),
        seq: 0,
        in_flight: 0,
        sending: false,
        last_read: 0,
        received_at: None,
    };
    let mut ticker: Option<Interval> = None;
    let mut reads: Option<Interval> = None;
    'run: loop {
        tokio::select! {
            frame = ws.next() => {
                // Frames that arrived together are handled together, on one clock reading,
                // before the other branches are polled again: at 800,000 deliveries a second,
                // a `select!` (the phase's watch) and a clock read per frame were a tenth of
                // chat-bench's CPU (docs/benchmarks.md, "Issue #10, round 5").
                session.received_at = None;
                let mut ready = Ready::new(frame);
                while let Some(frame) = ready.next(&mut ws).await {
                    if !session.on_frame(&mut ws, frame, &phase).await {
                        break 'run;
                    }
                }
            }
            _ = tick(&mut ticker) => {
                if !session.send(&mut ws, &phase).await {
                    break;
                }
            }
            _ = tick(&mut reads) => {
                if !session.read(&mut ws).await {
                    break;
                }
            }
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Closing };
                match now {
                    Phase::Connecting => {}
                    Phase::Sending => {
                        if spec.signals {
                            // Spread over the second, like people's pages are.
                            let spread = Duration::from_millis((spec.id % 1000) as u64);
                            reads = Some(interval(spread, READ_EVERY));
                        }
                        if let Some(plan) = spec.sending {
                            session.sending = true;
                            match plan.period {
                                Some(period) => ticker = Some(interval(plan.offset, period)),
                                None => {
                                    for _ in 0..plan.window {
                                        if !session.send(&mut ws, &phase).await { break; }
                                    }
                                }
                            }
                        }
                    }
                    Phase::Draining => { session.sending = false; ticker = None; reads = None; }
                    Phase::Closing => { close(&mut ws).await; break; }
                }
            }
        }
    }
    // However the connection ended, sends still waiting for an answer will never get one.
    session.lose_in_flight();
    outcome.tracker = Some(session.tracker);
    outcome
}

/// What a stream gives without waiting, after what was waited for (`first`): at most [`DRAIN`]
/// of its `next()` results in all (`None` in one is the stream's end).
struct Ready<T> {
    first: Option<Option<T>>,
    left: usize,
}

impl<T> Ready<T> {
    fn new(first: Option<T>) -> Self {
        Self {
            first: Some(first),
            left: DRAIN,
        }
    }

    /// `first`, then the stream's next result while one is ready; `None` when the stream would
    /// block (this task is then registered for its readiness, as `next()` would be) or after
    /// [`DRAIN`] results.
    async fn next<S: Stream<Item = T> + Unpin>(&mut self, stream: &mut S) -> Option<Option<T>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        if let Some(first) = self.first.take() {
            return Some(first);
        }
        std::future::poll_fn(|cx| match stream.poll_next_unpin(cx) {
            Poll::Ready(item) => Poll::Ready(Some(item)),
            Poll::Pending => Poll::Ready(None),
        })
        .await
    }
}

fn connect_failed(shared: &Shared, code: &str, outcome: Outcome) -> Outcome {
    shared.counters.connect_failures.fetch_add(1, Relaxed);
    shared.counters.error(code);
    outcome
}

fn interval(offset: Duration, period: Duration) -> Interval {
    let mut t = tokio::time::interval_at(tokio::time::Instant::now() + offset, period);
    // Open loop at a fixed rate: a late tick is sent late, not skipped, so the offered load holds.
    t.set_missed_tick_behavior(MissedTickBehavior::Burst);
    t
}

async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

pub(crate) async fn close(ws: &mut Ws) {
    let _ = ws.close(None).await;
    let _ = timeout(CLOSE_TIMEOUT, async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}

/// Connect and join (for chat-server `hello` then `join`): returns the socket and the room's
/// offset at the join (0 on protocols without offsets), or an error code. The socket is [`open`]'s;
/// what is said on it is the run's [`Protocol`]'s.
async fn handshake(spec: &Spec) -> Result<(Ws, u64), String> {
    let mut ws = open(&spec.target, spec.source, spec.cookie.as_deref()).await?;
    if let Some(opening) = spec.protocol.opening(spec.id) {
        send_frame(&mut ws, spec.protocol, opening).await?;
    }
    // The start of a handshake step cut across frames (NATS), read again with the next frame.
    let mut carry = String::new();
    loop {
        let message = match ws.next().await {
            Some(Ok(Message::Close(f))) => {
                return Err(format!("closed_{}", f.map_or(1005, |f| u16::from(f.code))));
            }
            Some(Ok(message)) => message,
            Some(Err(_)) | None => return Err("socket_error".to_owned()),
        };
        let text = match &message {
            Message::Text(text) => Cow::Borrowed(text.as_str()),
            Message::Binary(data) => String::from_utf8_lossy(data),
            _ => continue,
        };
        if !carry.is_empty() {
            carry.push_str(&text);
        }
        let frame: &str = if carry.is_empty() { &text } else { &carry };
        match spec.protocol.handshake(frame, &spec.room) {
            Step::More if carry.len() + text.len() > MAX_HANDSHAKE_CARRY => {
                return Err("bad_frame".to_owned());
            }
            Step::More if carry.is_empty() => carry.push_str(&text),
            Step::More => {}
            Step::Wait => carry.clear(),
            Step::Send(reply) => {
                carry.clear();
                send_frame(&mut ws, spec.protocol, reply).await?;
            }
            Step::Joined(offset) => return Ok((ws, offset)),
            Step::Fail(code) => return Err(code),
        }
    }
}

/// Opens a WebSocket to `target` from `source` (TCP without Nagle, the small read buffer),
/// sending `cookie` as the handshake's `Cookie` header; on failure, the error code the report
/// counts.
pub(crate) async fn open(
    target: &Target,
    source: Option<Ipv4Addr>,
    cookie: Option<&str>,
) -> Result<Ws, String> {
    let tcp = crate::source::connect(source, target.addr)
        .await
        .map_err(|_| "tcp_connect".to_owned())?;
    tcp.set_nodelay(true)
        .map_err(|_| "tcp_connect".to_owned())?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(1 << 20))
        .read_buffer_size(READ_BUFFER);
    let mut request =
        tungstenite::client::IntoClientRequest::into_client_request(target.url.as_str())
            .map_err(|_| "ws_handshake".to_owned())?;
    if let Some(cookie) = cookie {
        let value = cookie.parse().map_err(|_| "bad_cookie".to_owned())?;
        request.headers_mut().insert("Cookie", value);
    }
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        request,
        MaybeTlsStream::Plain(tcp),
        Some(config),
    )
    .await
    .map_err(|e| match e {
        tungstenite::Error::Http(r) => format!("http_{}", r.status().as_u16()),
        _ => "ws_handshake".to_owned(),
    })?;
    Ok(ws)
}

/// Sends one frame as `protocol`'s message type (text, or binary for NATS); on failure, the
/// error code the report counts.
async fn send_frame(ws: &mut Ws, protocol: Protocol, frame: String) -> Result<(), String> {
    ws.send(protocol.message(frame))
        .await
        .map_err(|_| "socket_error".to_owned())
}

/// Sends one chat-server frame (the `support` scenario speaks only chat-server's protocol).
pub(crate) async fn send_text(ws: &mut Ws, text: String) -> Result<(), String> {
    send_frame(ws, Protocol::Chatapp, text).await
}

mod session;

#[cfg(test)]
mod tests {
    use futures_util::stream;

    use super::*;

    /// What `Ready` hands out in rounds until the stream ends.
    async fn rounds_of<S: Stream<Item = u32> + Unpin>(items: &mut S) -> Vec<Vec<u32>> {
        let mut rounds = Vec::new();
        loop {
            let mut ready = Ready::new(items.next().await);
            let mut round = Vec::new();
            let mut ended = false;
            while let Some(item) = ready.next(items).await {
                match item {
                    Some(n) => round.push(n),
                    None => ended = true,
                }
            }
            rounds.push(round);
            if ended {
                return rounds;
            }
        }
    }

    /// A burst longer than one round: every frame is handled once and in order, `DRAIN` at most
    /// per round. (The first version fetched one more frame at a round's end and dropped it: a
    /// member of a busy room lost every 65th frame that came in one burst.)
    #[tokio::test]
    async fn every_ready_frame_is_handed_out_once_in_order() {
        let total = 3 * DRAIN as u32 + 5;
        let rounds = rounds_of(&mut stream::iter(1..=total)).await;
        let all: Vec<u32> = rounds.iter().flatten().copied().collect();
        assert_eq!(all, (1..=total).collect::<Vec<_>>());
        assert!(rounds.iter().all(|r| r.len() <= DRAIN), "{rounds:?}");
        assert_eq!(
            rounds[0].len(),
            DRAIN,
            "a round takes all that is ready, up to DRAIN"
        );
    }

    /// A round ends where the stream would block, without taking anything from it.
    #[tokio::test]
    async fn a_round_ends_where_the_stream_would_block() {
        let mut items = stream::iter(1..=3).chain(stream::pending());
        let mut ready = Ready::new(items.next().await);
        let mut got = Vec::new();
        while let Some(item) = ready.next(&mut items).await {
            got.push(item);
        }
        assert_eq!(got, [Some(1), Some(2), Some(3)]);
    }
}
