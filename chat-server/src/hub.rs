//! Local fan-out: which connection of this replica is in which room, fed by the one task that
//! turns store events into per-connection frames (`hub/delivery.rs`: per room, offsets in order
//! exactly once, any gap filled from the store). Sessions own their sockets; the hub only ever
//! `try_send`s into their bounded queues (`hub/conn.rs`): a connection that falls behind pulls
//! its rooms from the store instead, and one whose queue fills anyway is kicked rather than let
//! memory grow. It also holds the current room list (`hub/rooms.rs`:
//! shared, with each viewer's private rooms spliced in) and this replica's copy of the private
//! rooms' participants, which it enforces (`hub/private.rs`), and the newest support queue for
//! the agents connected here (`hub/support.rs`).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, atomic::Ordering},
};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::{Notify, mpsc};

pub use self::conn::{Conn, ConnHandle, ConnId, Delivered, NewEpoch, Outbound, OutboundRx};
pub use self::delivery::run_delivery;
pub use self::rooms::RoomsList;
use crate::{
    access::Acl,
    accounts::Visitor,
    metrics::Metrics,
    store::{ALL_CONNECTIONS, RoomFeeds, RoomPresence, SessionEnd},
};

/// A map on the per-delivery path (room names, connection ids): foldhash, seeded per map, costs a
/// fraction of std's SipHash (which was 8 % of a delivery's instructions, docs/benchmarks.md).
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A joiner's view of where a room's history stood, sent so the hub can start delivering after it.
#[derive(Debug)]
pub struct RoomStart {
    pub room: Arc<str>,
    pub epoch: Arc<str>,
    pub head: u64,
}

/// Membership of this replica's connections, shared by sessions and the delivery task.
#[derive(Debug)]
pub struct Hub {
    members: Mutex<FastMap<Arc<str>, FastMap<ConnId, ConnHandle>>>,
    conns: Mutex<HashMap<ConnId, ConnHandle>>,
    /// The newest room list, built once per change and shared by every connection.
    rooms_list: Mutex<RoomsList>,
    /// This replica's copy of who is in which private room.
    pub acl: Acl,
    starts: mpsc::Sender<RoomStart>,
    metrics: Arc<Metrics>,
    /// Signalled when a local room count changes.
    pub presence_changed: Notify,
    /// Signalled when rooms or counts may have changed anywhere.
    pub rooms_changed: Notify,
    /// Receipts and `unread` pushes that are due (`signals`).
    pub signals: Due,
    /// The newest `support_queue` for this replica's agents (`hub/support.rs`).
    pub support: SupportFeed,
    /// The rooms with local members, whose events the store's subscriber follows: a room is
    /// wanted with its first member and unwanted with its last, under the members lock.
    pub feeds: Arc<RoomFeeds>,
}

impl Hub {
    /// A hub and the receiver its delivery task reads joiners' starting points from.
    pub fn new(metrics: Arc<Metrics>) -> (Arc<Self>, mpsc::Receiver<RoomStart>) {
        Self::with_feeds(metrics, Arc::new(RoomFeeds::new(false)))
    }

    /// [`Self::new`] telling `feeds` which rooms have local members (a Redis subscriber follows).
    pub fn with_feeds(
        metrics: Arc<Metrics>,
        feeds: Arc<RoomFeeds>,
    ) -> (Arc<Self>, mpsc::Receiver<RoomStart>) {
        let (starts, rx) = mpsc::channel(1024);
        let hub = Self {
            members: Mutex::default(),
            conns: Mutex::default(),
            rooms_list: Mutex::new(RoomsList::empty()),
            acl: Acl::default(),
            starts,
            metrics,
            presence_changed: Notify::new(),
            rooms_changed: Notify::new(),
            signals: Default::default(),
            support: Default::default(),
            feeds,
        };
        (Arc::new(hub), rx)
    }

    /// Track a new connection (for broadcasts).
    pub fn connect(&self, id: ConnId, handle: ConnHandle) {
        self.conns.lock().unwrap().insert(id, handle);
    }

    /// Forget a connection and its memberships.
    pub fn disconnect(&self, id: ConnId, rooms: impl IntoIterator<Item = Arc<str>>) {
        self.conns.lock().unwrap().remove(&id);
        let mut members = self.members.lock().unwrap();
        let mut changed = false;
        for room in rooms {
            changed |= remove_member(&mut members, &room, id, &self.feeds);
        }
        drop(members);
        if changed {
            self.presence_changed.notify_one();
        }
    }

    /// Add a connection to a room; deliveries start now, before its history is read (which
    /// waits for [`RoomFeeds::ready`] when this is the room's first local member).
    pub fn join(&self, room: &Arc<str>, id: ConnId, handle: ConnHandle) {
        let mut members = self.members.lock().unwrap();
        let inserted = members
            .entry(room.clone())
            .or_insert_with(|| {
                self.feeds.want(room);
                FastMap::default()
            })
            .insert(id, handle)
            .is_none();
        drop(members);
        if inserted {
            self.presence_changed.notify_one();
        }
    }

    /// Tell the delivery task where a joiner's history page ended.
    pub async fn started(&self, room: Arc<str>, epoch: Arc<str>, head: u64) {
        let _ = self.starts.send(RoomStart { room, epoch, head }).await;
    }

    /// Remove a connection from a room.
    pub fn leave(&self, room: &str, id: ConnId) {
        let removed = remove_member(&mut self.members.lock().unwrap(), room, id, &self.feeds);
        if removed {
            self.presence_changed.notify_one();
        }
    }

    /// Who is online on this replica, per room, and in all ([`ALL_CONNECTIONS`]).
    pub fn local_presence(&self) -> BTreeMap<String, RoomPresence> {
        let mut out: BTreeMap<String, RoomPresence> = {
            let members = self.members.lock().unwrap();
            members
                .iter()
                .map(|(room, m)| {
                    let who = m.values().map(|c| c.member());
                    (room.to_string(), RoomPresence::of(who))
                })
                .collect()
        };
        let conns = self.conns.lock().unwrap();
        let all = RoomPresence::of(conns.values().map(|c| c.member()));
        out.insert(ALL_CONNECTIONS.to_owned(), all);
        out
    }

    /// Who is online on this replica in one room: what [`Self::local_presence`] has for it, at
    /// the cost of that room's members rather than every connection's (each `join` asks).
    pub fn room_presence(&self, room: &str) -> RoomPresence {
        let members = self.members.lock().unwrap();
        let who = members.get(room).into_iter().flat_map(|m| m.values());
        RoomPresence::of(who.map(|c| c.member()))
    }

    /// Queue a ready frame for every local member of a room.
    pub fn to_room(&self, room: &str, frame: Arc<str>) {
        self.deliver(&Outbound::Frame(frame), room);
    }

    /// Local members of a room.
    pub fn local_count(&self, room: &str) -> u64 {
        self.members
            .lock()
            .unwrap()
            .get(room)
            .map_or(0, |m| m.len() as u64)
    }

    /// Queue a frame for one connection without waiting. Past `--outbound-queue-bytes` a room
    /// message is not queued: the connection pulls the room from the store instead
    /// (`Conn::lag`), so a healthy reader on a busy machine is never kicked. A connection is
    /// kicked (close 4008) when its queue holds `--outbound-queue` entries, or twice its bytes.
    pub fn offer(&self, conn: &Conn, out: Outbound) {
        let bytes = out.queued_bytes();
        if let Outbound::Message(message) = &out {
            let queued = conn.queued_bytes.load(Ordering::Relaxed);
            if queued + bytes > conn.max_bytes || conn.is_lagging(&message.room) {
                if conn.lag(&message.room) {
                    self.metrics.outbound_lagged.inc();
                    let room = message.room.clone();
                    self.enqueue(conn, Outbound::Lagged { room });
                }
                return;
            }
        }
        self.enqueue(conn, out);
    }

    fn enqueue(&self, conn: &Conn, out: Outbound) {
        let bytes = out.queued_bytes();
        let entries = conn.queued_entries.fetch_add(1, Ordering::Relaxed) + 1;
        let queued = conn.queued_bytes.fetch_add(bytes, Ordering::Relaxed) + bytes;
        let full = entries > conn.max_entries || queued > conn.max_bytes.saturating_mul(2);
        if !full {
            // Refused only when the session is gone (it leaves the hub as it ends). Past half
            // its bytes a coalescing session is woken at once: its window must not be what
            // pushes a member of a room of large messages into pulling them from the store.
            conn.queue.push(out, queued > conn.max_bytes / 2);
            return;
        }
        conn.taken(&out);
        if conn.kick() {
            self.metrics.slow_consumer_drops.inc();
        }
    }

    /// Close the connections of ended login sessions (they see `session_ended`, then 4001).
    pub fn end_sessions(&self, end: &SessionEnd) {
        for conn in self.conns.lock().unwrap().values() {
            let Some(Visitor::Registered(s)) = conn.visitor.get() else {
                continue;
            };
            if end.covers(&s.key, &s.token_hash) {
                conn.end_session();
            }
        }
    }

    /// Queue a frame for every connection.
    pub fn broadcast(&self, frame: Arc<str>) {
        for conn in self.conns.lock().unwrap().values() {
            self.offer(conn, Outbound::Frame(frame.clone()));
        }
    }

    /// Queue a `rooms` push for one connection unless one is pending already or it has not said
    /// `hello` yet.
    pub fn offer_rooms(&self, conn: &Conn) {
        if !conn.rooms_pending.swap(true, Ordering::AcqRel) {
            self.offer(conn, Outbound::Rooms);
        }
    }

    /// The connection said `hello`: queue its first room list. From now on it gets pushes.
    pub fn greeted(&self, conn: &Conn) {
        conn.rooms_pending.store(true, Ordering::Release);
        self.offer(conn, Outbound::Rooms);
    }

    /// The newest room list, for a connection writing its [`Outbound::Rooms`]. The flag is
    /// cleared before the read, so a change that lands meanwhile queues another push.
    pub fn take_rooms(&self, conn: &Conn) -> Utf8Bytes {
        conn.rooms_pending.store(false, Ordering::Release);
        self.rooms_frame(conn)
    }

    /// A timed room expired: tell its local members, who are members no more.
    pub fn expire(&self, room: &Arc<str>) {
        let gone = self.take_room(room);
        for handle in gone.iter().flat_map(|m| m.values()) {
            self.offer(handle, Outbound::Expired(room.clone()));
        }
        if gone.is_some() {
            self.presence_changed.notify_one();
        }
    }

    /// Queue a ready frame for every local member of a room but `except`.
    pub fn to_room_except(&self, room: &str, frame: Arc<str>, except: Option<ConnId>) {
        if let Some(members) = self.members.lock().unwrap().get(room) {
            for (id, handle) in members {
                if Some(*id) != except {
                    self.offer(handle, Outbound::Frame(frame.clone()));
                }
            }
        }
    }

    /// Whether a signed-in user (account key) has a connection on this replica.
    pub fn has_user(&self, key: &str) -> bool {
        self.conns
            .lock()
            .unwrap()
            .values()
            .any(|c| c.visitor.get().and_then(Visitor::key) == Some(key))
    }

    /// Queue a ready frame for every local connection of a signed-in user (account key).
    pub fn to_user(&self, key: &str, frame: Arc<str>) {
        for conn in self.conns.lock().unwrap().values() {
            if conn.visitor.get().and_then(Visitor::key) == Some(key) {
                self.offer(conn, Outbound::Frame(frame.clone()));
            }
        }
    }

    /// Every local member of a room leaves it at once (the room expired or was deleted).
    fn take_room(&self, room: &str) -> Option<FastMap<ConnId, ConnHandle>> {
        let mut members = self.members.lock().unwrap();
        let gone = members.remove(room);
        if gone.is_some() {
            self.feeds.unwant(room);
        }
        gone
    }

    fn has_members(&self, room: &str) -> bool {
        self.members
            .lock()
            .unwrap()
            .get(room)
            .is_some_and(|m| !m.is_empty())
    }

    fn deliver(&self, out: &Outbound, room: &str) {
        // The lock is held only for `try_send`s, never across an await.
        if let Some(members) = self.members.lock().unwrap().get(room) {
            for handle in members.values() {
                self.offer(handle, out.clone());
            }
        }
    }
}

fn remove_member(
    members: &mut FastMap<Arc<str>, FastMap<ConnId, ConnHandle>>,
    room: &str,
    id: ConnId,
    feeds: &RoomFeeds,
) -> bool {
    let Some(m) = members.get_mut(room) else {
        return false;
    };
    let removed = m.remove(&id).is_some();
    if m.is_empty() {
        members.remove(room);
        feeds.unwant(room);
    }
    removed
}

mod conn;
mod delivery;
mod due;
mod private;
mod queue;
mod rooms;
mod support;
pub use self::due::Due;
pub use self::support::SupportFeed;

#[cfg(test)]
mod tests;
