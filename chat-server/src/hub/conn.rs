//! One connection as the hub sees it: [`Conn`], its bounded queue of [`Outbound`] entries (counted
//! in entries and in bytes, so memory never grows with a slow reader: past the byte bound its
//! rooms' messages are no longer queued but pulled from the store by the session, see
//! [`Conn::lag`]) and the one token its session watches to end (kicked, session ended, server
//! shutting down); and what is
//! queued: a [`Delivered`] message (one per message, shared by every recipient), a
//! [`NewEpoch`], a ready frame, notices.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering},
};

use axum::extract::ws::Utf8Bytes;
use tokio_util::sync::CancellationToken;

pub use super::queue::OutboundRx;
use super::queue::Queue;
use crate::{access::Viewer, accounts::Visitor, protocol::Member};

/// Identifies one WebSocket connection within this process.
pub type ConnId = u64;

/// A stored message on its way to a room's local members: one per message, shared by all of
/// them. The frame is `Utf8Bytes`, reference-counted: every recipient writes the same buffer.
#[derive(Debug)]
pub struct Delivered {
    pub room: Arc<str>,
    pub offset: u64,
    /// The message's server timestamp (or, when backfilled, the time it was read back).
    pub time_ms: u64,
    pub frame: Utf8Bytes,
}

/// A room whose history was lost, and the epoch its offsets restart in.
#[derive(Debug)]
pub struct NewEpoch {
    pub room: Arc<str>,
    pub epoch: Arc<str>,
}

/// What the hub queues for a connection. Every variant is at most a fat pointer: a connection's
/// queue keeps up to 32 slots while idle, so this size is memory per connection.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// A stored message of a room the connection is in.
    Message(Arc<Delivered>),
    /// The room's history was lost; offsets restart in a new epoch.
    Resync(Arc<NewEpoch>),
    /// A ready frame (a `health` notice: rare, so plain `Arc<str>` keeps this enum small).
    Frame(Arc<str>),
    /// The room list changed: write the newest one ([`Hub::take_rooms`](super::Hub::take_rooms)). At most one is queued
    /// per connection, so a burst of changes costs a slow reader one frame, not one per change.
    Rooms,
    /// This replica could not deliver the room's messages contiguously (a burst too large to
    /// queue, messages trimmed before it could read them, or this connection's queue past its
    /// byte bound): the session pulls what its client is missing from the store, paced by its
    /// own socket.
    Lagged { room: Arc<str> },
    /// The timed room expired: the connection is no longer in it (`expired` is written).
    Expired(Arc<str>),
    /// The connection's user was removed from this private room: it no longer receives it.
    Removed { room: Arc<str> },
    /// The room was deleted: the connection no longer receives it.
    Deleted { room: Arc<str> },
    /// The support queue changed: write the newest one (an agent's connection; at most one is
    /// queued, like [`Outbound::Rooms`]).
    SupportQueue,
}

impl Outbound {
    /// What this entry counts against the connection's `--outbound-queue-bytes`.
    pub(crate) fn queued_bytes(&self) -> usize {
        match self {
            Self::Message(message) => message.frame.len(),
            Self::Frame(frame) => frame.len(),
            // Small, or (rooms) one at a time: counted as a token amount.
            Self::Resync(_)
            | Self::Rooms
            | Self::SupportQueue
            | Self::Lagged { .. }
            | Self::Expired(_)
            | Self::Removed { .. }
            | Self::Deleted { .. } => 64,
        }
    }
}

/// The hub's side of one connection, shared (one `Arc`) by every room it is a member of.
#[derive(Debug)]
pub struct Conn {
    /// Bounded here in entries and bytes, not by the queue itself (a bounded channel's semaphore
    /// took a lock on every entry the session took off, docs/benchmarks.md).
    pub(super) queue: Queue,
    /// Entries offered and not yet taken off the queue by the session.
    pub(super) queued_entries: AtomicUsize,
    /// `--outbound-queue`: more entries than this close the connection as a slow consumer.
    pub(super) max_entries: usize,
    /// Cancelled when the session must end: kicked as a slow consumer (`Conn::kick`), its
    /// login session ended (`Conn::end_session`), or the server shutting down (a child of the
    /// sessions' token). One token, so a session polls one cancellation future at each wake-up,
    /// not three (each took two locks: docs/benchmarks.md, "Issue #10, round 5").
    pub stop: CancellationToken,
    /// Why the hub cancelled `stop`: [`KICKED`] and [`ENDED`] bits.
    stopped_by: AtomicU8,
    /// Who the connection is (set once, by its session).
    pub visitor: std::sync::OnceLock<Visitor>,
    /// A guest's support client key (`guest:<hex>`), once it opened its conversation (set once:
    /// a connection is one client).
    pub support_guest: std::sync::OnceLock<String>,
    /// Bytes offered and not yet taken off the queue by the session.
    pub(super) queued_bytes: AtomicUsize,
    /// `--outbound-queue-bytes`: above this the connection's room messages are pulled instead
    /// of queued ([`Conn::lag`]); above twice this anything else closes it as a slow consumer.
    pub(super) max_bytes: usize,
    /// Rooms whose messages are not queued (the session pulls them from the store when it
    /// reaches their [`Outbound::Lagged`]); `lagging` says whether there is any, so the hub and
    /// the session look at the list only then.
    lagged_rooms: Mutex<Vec<Arc<str>>>,
    lagging: AtomicBool,
    /// An [`Outbound::Rooms`] is queued and not yet taken, or the connection has not said
    /// `hello` yet (it gets its first list with `welcome`; a push before is wasted work).
    pub(super) rooms_pending: AtomicBool,
    /// An [`Outbound::SupportQueue`] is queued and not yet taken.
    pub(super) support_pending: AtomicBool,
}

/// [`Conn::stopped_by`]: kicked as a slow consumer (close 4008).
const KICKED: u8 = 1;
/// [`Conn::stopped_by`]: the login session the connection was opened with ended (close 4001).
const ENDED: u8 = 2;

/// How the hub and the rooms refer to a connection.
pub type ConnHandle = Arc<Conn>;

impl Conn {
    /// A connection's queue: at most `frames` entries and about `max_bytes` bytes of frames; its
    /// session is stopped with `shutdown` too.
    pub fn new(
        frames: usize,
        max_bytes: usize,
        shutdown: &CancellationToken,
    ) -> (ConnHandle, OutboundRx) {
        let conn = Self {
            queue: Queue::default(),
            queued_entries: AtomicUsize::new(0),
            max_entries: frames,
            stop: shutdown.child_token(),
            stopped_by: AtomicU8::new(0),
            visitor: std::sync::OnceLock::new(),
            support_guest: std::sync::OnceLock::new(),
            queued_bytes: AtomicUsize::new(0),
            max_bytes,
            lagged_rooms: Mutex::default(),
            lagging: AtomicBool::new(false),
            rooms_pending: AtomicBool::new(true),
            support_pending: AtomicBool::new(false),
        };
        let conn = Arc::new(conn);
        (conn.clone(), OutboundRx::new(conn))
    }

    /// Who the connection is to access checks: its account, or a guest's support client key.
    pub fn viewer(&self) -> Viewer<'_> {
        let mut viewer = Viewer::of(self.visitor.get());
        if viewer.user.is_none() {
            viewer.user = self.support_guest.get().map(String::as_str);
        }
        viewer
    }

    /// Who the connection is in presence: its user, or `None` for a guest.
    pub(super) fn member(&self) -> Option<Member> {
        let user = self.visitor.get()?.user()?;
        Some(Member {
            username: user.username.clone(),
            display_name: user.display_name.clone(),
        })
    }

    /// Stop the session as a slow consumer; true the first time.
    pub(super) fn kick(&self) -> bool {
        let before = self.stopped_by.fetch_or(KICKED, Ordering::AcqRel);
        self.stop.cancel();
        before & KICKED == 0
    }

    /// Kicked as a slow consumer.
    pub fn is_kicked(&self) -> bool {
        self.stopped_by.load(Ordering::Acquire) & KICKED != 0
    }

    /// Stop the session because its login session ended.
    pub(super) fn end_session(&self) {
        self.stopped_by.fetch_or(ENDED, Ordering::AcqRel);
        self.stop.cancel();
    }

    /// Its login session ended.
    pub fn session_ended(&self) -> bool {
        self.stopped_by.load(Ordering::Acquire) & ENDED != 0
    }

    /// The session took `out` off its queue (to write it now, or to drop it).
    pub fn taken(&self, out: &Outbound) {
        self.release(1, out.queued_bytes());
    }

    /// The session took `entries` entries of `bytes` off its queue (a batch it wrote: one update
    /// per batch, not two atomic operations per delivery).
    pub fn release(&self, entries: usize, bytes: usize) {
        self.queued_entries.fetch_sub(entries, Ordering::Relaxed);
        self.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Whether `room`'s messages are being dropped from this connection's queue, to be pulled
    /// from the store by the session instead.
    pub fn is_lagging(&self, room: &str) -> bool {
        self.lagging.load(Ordering::Acquire)
            && self
                .lagged_rooms
                .lock()
                .unwrap()
                .iter()
                .any(|r| &**r == room)
    }

    /// Stop queueing `room`'s messages; true when it was not lagging yet, so the caller queues
    /// its one [`Outbound::Lagged`]. Every message of the room from here until the session takes
    /// that entry is pulled from the store (it was stored before the hub saw it), so nothing is
    /// lost and, the session skipping offsets it has written, nothing is written twice.
    pub(super) fn lag(&self, room: &Arc<str>) -> bool {
        let mut rooms = self.lagged_rooms.lock().unwrap();
        if rooms.iter().any(|r| r == room) {
            return false;
        }
        rooms.push(room.clone());
        self.lagging.store(true, Ordering::Release);
        true
    }

    /// The session reached `room`'s [`Outbound::Lagged`] and is about to pull it: queue the
    /// room's messages again from now on.
    pub fn caught_up(&self, room: &str) {
        if !self.lagging.load(Ordering::Acquire) {
            return;
        }
        let mut rooms = self.lagged_rooms.lock().unwrap();
        rooms.retain(|r| &**r != room);
        self.lagging.store(!rooms.is_empty(), Ordering::Release);
    }
}
