//! Where messages, rooms and presence live: Redis (shared by every replica) or memory (one
//! process). Both give the same guarantees to the rest of the crate: per-room offsets that grow by
//! one, an epoch per room, idempotent appends that store and announce atomically, and a stream of
//! [`StoreEvent`]s. Delivery to sockets is the hub's job, not the store's. A store also reports its
//! [`Health`]; what to do about it (readiness, telling clients) is `lib.rs`'s.

mod access;
mod accounts;
mod feeds;
mod memory;
mod postgres;
mod presence;
mod reads;
mod redis;
mod search;
pub(crate) mod support;
mod timed;
mod votes;

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
};

pub use self::{
    access::{Access, Change, ChangeRefused, Changed, MAX_PARTICIPANTS},
    accounts::{Account, MemoryAccounts, SessionEnd},
    feeds::RoomFeeds,
    memory::MemoryStore,
    postgres::{PgStore, Retention, migrator, pool as pg_pool},
    presence::{ALL_CONNECTIONS, Listing, RoomPresence},
    reads::{MAX_MENTIONS_KEPT, ReadPosition, Unread},
    redis::RedisStore,
    timed::{Clock, Fired},
    votes::{Counted, MemoryVotes, Vote},
};
pub(crate) use crate::error::{Error, Result};
use crate::protocol::{
    Cursor, Since,
    edits::{Refusal, Rewrite},
};

/// What became of an edit or deletion: the notice, or why it was refused.
pub(crate) type Rewritten = std::result::Result<Applied, Refusal>;

/// An edit or deletion that holds now (made by this call, or already so).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    /// The `edited` / `deleted` frame.
    pub(crate) notice: String,
    /// Whether the notice went to the room (whose members include the asker); when not (a
    /// retry of what was already done, or a bus that failed), the asker is answered directly.
    pub(crate) announced: bool,
}

impl Applied {
    pub(crate) fn announced(notice: String) -> Self {
        Self {
            notice,
            announced: true,
        }
    }

    pub(crate) fn unannounced(notice: String) -> Self {
        Self {
            notice,
            announced: false,
        }
    }
}

/// The longest an idempotency record (room, client_id) is remembered. Records also leave with
/// their message when it is trimmed from the room's history, so a room holds at most
/// `history_len` of them.
pub const IDEMPOTENCY_TTL_SECS: u64 = 24 * 60 * 60;

/// A message to append; the frame is complete but for its offset.
#[derive(Debug)]
pub struct NewMessage<'a> {
    pub room: &'a str,
    pub name: &'a str,
    /// The topic and content are compared with those of an earlier send with the same
    /// `client_id`: only the same message from the same sender is a duplicate.
    pub topic: Option<&'a str>,
    pub content: &'a str,
    pub client_id: &'a str,
    /// The id of this message; a record with this id was stored by this very send (a retry of
    /// the store call after a lost reply), which is not a duplicate.
    pub id: &'a str,
    pub time_ms: u64,
    pub frame_prefix: &'a str,
}

/// The outcome of an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// The stored offset (the original one for a duplicate).
    pub offset: u64,
    /// The stored message id (the original one for a duplicate).
    pub id: String,
    /// True when an earlier send stored this message: nothing new was stored.
    pub duplicate: bool,
}

/// What a joining client gets.
#[derive(Debug, Clone)]
pub struct Page {
    pub epoch: String,
    /// The room's latest offset when the page was read.
    pub head: u64,
    /// Message frames, oldest first.
    pub frames: Vec<Arc<str>>,
    /// False when the client's `since` could not be honoured.
    pub recovered: bool,
    /// True when `frames` stops short of `head`: the client continues with `history {after}`.
    pub more: bool,
}

/// A page of a room's history asked for with `history`.
#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub epoch: String,
    /// Message frames, oldest first.
    pub frames: Vec<Arc<str>>,
    /// True when the store holds more messages beyond this page in the direction asked for.
    pub more: bool,
}

/// Messages after an offset, for the hub to fill a gap.
#[derive(Debug, Clone)]
pub struct Range {
    pub epoch: String,
    pub entries: Vec<(u64, Arc<str>)>,
}

/// The outcome of creating a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    Exists,
    LimitReached,
}

/// What the store announces; the hub consumes these in order.
#[derive(Debug, Clone)]
pub enum StoreEvent {
    /// A message was stored.
    Message {
        epoch: Arc<str>,
        room: Arc<str>,
        offset: u64,
        time_ms: u64,
        frame: Arc<str>,
    },
    /// Rooms or online counts changed somewhere.
    RoomsChanged,
    /// A room's participants changed: read its [`Access`] again.
    AccessChanged { room: Arc<str> },
    /// A room was deleted, with its history.
    RoomDeleted { room: Arc<str> },
    /// The event feed was (re)established: anything may have been missed before.
    Resubscribed,
    /// Login sessions ended (logout, password change, account deletion): close their sockets.
    SessionsEnded(SessionEnd),
    /// A frame for a room's members that is no message of its history: an `edited` / `deleted`
    /// notice, or an ephemeral message. Delivered as it comes (at most once), never stored.
    Notice { room: Arc<str>, frame: Arc<str> },
    /// A timed room's messages up to `through` were deleted.
    Cleared { room: Arc<str>, through: u64 },
    /// A timed room expired and is gone.
    Expired { room: Arc<str> },
    /// A message's vote counts changed.
    Votes {
        room: Arc<str>,
        offset: u64,
        up: u64,
        down: u64,
    },
    /// A message got a reply; `count` is its number of replies now.
    Replies {
        room: Arc<str>,
        offset: u64,
        count: u64,
    },
    /// A ready frame for a room's members (typing), stored nowhere; `except` is the sending
    /// connection when it is on this replica.
    Signal {
        room: Arc<str>,
        except: Option<u64>,
        frame: Arc<str>,
    },
    /// A user's read position in a room moved (receipts and that user's `unread` are due).
    ReadsChanged { room: Arc<str>, user: String },
    /// A support conversation was opened or changed: agents' queues are due.
    SupportChanged { room: Arc<str> },
}

/// What a health check of the store found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Reads and writes work.
    Ready,
    /// Reads work but writes are refused (e.g. Redis reached `maxmemory`); why, for people.
    ReadOnly(String),
    /// Not usable, or not safe to use; why, for people (`/readyz` says it with a 503).
    Down(String),
}

impl Health {
    /// The reason for the store being unreachable.
    pub const UNREACHABLE: &str = "store unreachable";
    /// The reason for PostgreSQL being unreachable (durable mode).
    pub const DATABASE_UNREACHABLE: &str = "database unreachable";
}

/// The backend in use.
#[derive(Debug, Clone)]
pub enum Store {
    Memory(Arc<MemoryStore>),
    Redis(Arc<RedisStore>),
    /// PostgreSQL as the system of record, Redis (if any) as the bus.
    Postgres(Arc<PgStore>),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $e:expr) => {
        match $self {
            Store::Memory($s) => $e,
            Store::Redis($s) => $e,
            Store::Postgres($s) => $e,
        }
    };
}

impl Store {
    /// Store a message once per (room, client_id) and announce it, atomically; the same
    /// client_id with another sender, topic or content is [`Error::ClientIdConflict`].
    pub async fn append(&self, msg: &NewMessage<'_>) -> Result<Appended> {
        dispatch!(self, s => s.append(msg).await)
    }

    /// Edit or delete a stored message in place (same offset, the old text gone from every copy
    /// the store keeps) and announce the notice to the room, atomically per backend
    /// (`protocol::edits::rewrite` decides; a decision already applied is answered, not redone).
    pub(crate) async fn rewrite(&self, r: &Rewrite<'_>) -> Result<Rewritten> {
        dispatch!(self, s => s.rewrite(r).await)
    }

    /// Hand `frame` to the room's members on every replica, storing it nowhere (ephemeral
    /// messages: pub/sub only, or the hub's channel in one process).
    pub(crate) async fn notify(&self, room: &str, frame: &str) -> Result<()> {
        dispatch!(self, s => s.notify(room, frame).await)
    }

    /// The recent page of a room, or what came after `since`.
    pub async fn history(&self, room: &str, since: Option<&Since>) -> Result<Page> {
        dispatch!(self, s => s.history(room, since).await)
    }

    /// At most `limit` messages before or after an offset, oldest first, from what the store
    /// keeps.
    pub async fn page(&self, room: &str, cursor: Cursor, limit: u32) -> Result<HistoryPage> {
        dispatch!(self, s => s.page(room, cursor, limit).await)
    }

    /// Messages with offset > `after`, oldest first (at most `history_len`).
    pub async fn range(&self, room: &str, after: u64) -> Result<Range> {
        dispatch!(self, s => s.range(room, after).await)
    }

    /// Create a room unless it exists or the limit is reached, with its creator and privacy
    /// (`None`: a public room nobody owns).
    pub async fn create_room(
        &self,
        name: &str,
        max_rooms: u32,
        access: Option<&Access>,
    ) -> Result<Created> {
        dispatch!(self, s => s.create_room(name, max_rooms, access).await)
    }

    /// A room's creator and participants: `None` when it does not exist, the default (public,
    /// nobody's) when it has no record.
    pub async fn access(&self, room: &str) -> Result<Option<Access>> {
        dispatch!(self, s => s.access(room).await)
    }

    /// Every room that has an access record (a creator or participants), by name.
    pub async fn access_list(&self) -> Result<Vec<(String, Access)>> {
        dispatch!(self, s => s.access_list().await)
    }

    /// Add or remove a participant of a private room, atomically, and announce it.
    pub async fn change_participant(&self, room: &str, change: Change<'_>) -> Result<Changed> {
        dispatch!(self, s => s.change_participant(room, change).await)
    }

    /// Take a user (lowercase key) out of every participant list and creator field, announcing
    /// each private room that changed (an account deletion).
    pub async fn forget_user(&self, user: &str) -> Result<()> {
        dispatch!(self, s => s.forget_user(user).await)
    }

    /// Delete a room (never `general`) with its history and access record, and announce it;
    /// false when there was no such room. A send racing the deletion does not bring it back.
    pub async fn delete_room(&self, room: &str) -> Result<bool> {
        dispatch!(self, s => s.delete_room(room).await)
    }

    /// Whether a room exists.
    pub async fn room_exists(&self, name: &str) -> Result<bool> {
        dispatch!(self, s => s.room_exists(name).await)
    }

    /// Record this replica as alive with who it has online per room ([`ALL_CONNECTIONS`]: in
    /// all); an empty presence removes the room. `private` rooms are never registered again by
    /// a heartbeat (after Redis lost its data they would come back public).
    pub async fn heartbeat(
        &self,
        counts: &BTreeMap<String, RoomPresence>,
        changed: bool,
        private: &BTreeSet<Arc<str>>,
    ) -> Result<()> {
        match self {
            Store::Memory(s) => s.heartbeat(counts, changed).await,
            Store::Redis(s) => s.heartbeat(counts, changed, private).await,
            Store::Postgres(s) => s.heartbeat(counts, changed, private).await,
        }
    }

    /// Every room with its online counts across live replicas, sorted by name, and the totals.
    pub async fn rooms(&self) -> Result<Listing> {
        let mut listing = dispatch!(self, s => s.rooms().await)?;
        self.label_timers(&mut listing).await;
        Ok(listing)
    }

    /// Forget this replica's members at once (graceful shutdown).
    pub async fn depart(&self) -> Result<()> {
        dispatch!(self, s => s.depart().await)
    }

    /// The Redis every replica shares, when there is one (for state that must hold across
    /// replicas but is no store's record, like failed-login strikes).
    pub fn shared_redis(&self) -> Option<&Arc<RedisStore>> {
        match self {
            Store::Memory(_) => None,
            Store::Redis(s) => Some(s),
            Store::Postgres(s) => s.redis(),
        }
    }

    /// Whether the backend answers, accepts writes and is configured so it keeps our data.
    pub async fn health(&self) -> Health {
        match self {
            Store::Memory(_) => Health::Ready,
            Store::Redis(s) => s.health().await,
            Store::Postgres(s) => s.health().await,
        }
    }
}

/// The `limit` entries of `kept` (sorted by offset) nearest to `cursor` on its side, oldest first,
/// and whether more lie beyond them: the paging rule every backend follows.
pub(crate) fn page_of(
    kept: &[(u64, Arc<str>)],
    cursor: Cursor,
    limit: u32,
) -> (Vec<Arc<str>>, bool) {
    let limit = limit as usize;
    let (slice, more) = match cursor {
        Cursor::Before(before) => {
            let end = kept.partition_point(|(o, _)| *o < before);
            let start = end.saturating_sub(limit);
            (&kept[start..end], start > 0)
        }
        Cursor::After(after) => {
            let start = kept.partition_point(|(o, _)| *o <= after);
            let end = (start + limit).min(kept.len());
            (&kept[start..end], end < kept.len())
        }
    };
    (slice.iter().map(|(_, f)| f.clone()).collect(), more)
}

/// A fresh epoch: short, random, opaque.
pub(crate) fn new_epoch() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}
