//! The embedded backend: one process, nothing to install. Same contract as Redis; the lock is a
//! tokio mutex held across the event send so events leave in offset order. Idempotency records
//! live in their room and leave with their message, so memory stays bounded by `history_len`.
//! Rooms' access records and deletion are in `memory/access.rs`, support conversations in
//! `memory/support.rs`.

mod access;
mod support;

use std::{
    collections::{BTreeMap, HashMap, HashSet, VecDeque},
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::{Mutex, mpsc};

use super::{
    Access, Appended, Created, Error, HistoryPage, IDEMPOTENCY_TTL_SECS, Listing, NewMessage, Page,
    Range, Result, RoomPresence, StoreEvent, new_epoch, page_of,
};
use crate::protocol::{Cursor, DEFAULT_ROOM, Since, complete_frame};

mod edits;
mod timed;

/// In-memory rooms, history and presence.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    /// Accounts and login sessions.
    pub(super) accounts: super::accounts::MemoryAccounts,
    /// Replies and votes.
    pub(super) votes: super::votes::MemoryVotes,
    history_len: usize,
    events: mpsc::Sender<StoreEvent>,
    /// Read positions and mentions (`store/reads.rs`).
    pub(super) reads: std::sync::Mutex<super::reads::MemoryReads>,
    /// Support conversations (`memory/support.rs`).
    support: std::sync::Mutex<support::MemorySupport>,
}

/// What was stored for a client id in a room, and when.
#[derive(Debug, Clone)]
struct StoredSend {
    offset: u64,
    id: String,
    /// Hash of (name, topic, content): a different message under the same client id conflicts.
    digest: u64,
    at: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: BTreeMap<String, RoomLog>,
    online: BTreeMap<String, RoomPresence>,
    /// Timed rooms' schedules (`timed.rs`).
    timed: BTreeMap<String, timed::Schedule>,
    /// Rooms with a creator or participants.
    access: BTreeMap<String, Access>,
    /// Deleted rooms until created again: a send or read racing the deletion does not make them
    /// anew (every other room is made by its first message or read, like in Redis).
    deleted: HashSet<String>,
}

/// One room: its epoch, last offset, the frames kept (oldest first) and the idempotency records
/// of those frames.
#[derive(Debug)]
struct RoomLog {
    epoch: Arc<str>,
    head: u64,
    log: VecDeque<Entry>,
    sends: HashMap<String, StoredSend>,
}

/// A stored message frame and its offset.
type Entry = (u64, Arc<str>);

impl RoomLog {
    fn new() -> Self {
        Self {
            epoch: new_epoch().into(),
            head: 0,
            log: VecDeque::new(),
            sends: HashMap::new(),
        }
    }

    /// The record of `client_id` when it is still within the window.
    fn recent_send(&self, client_id: &str) -> Option<&StoredSend> {
        let ttl = Duration::from_secs(IDEMPOTENCY_TTL_SECS);
        let first = self.log.front().map_or(u64::MAX, |(o, _)| *o);
        self.sends
            .get(client_id)
            .filter(|s| s.offset >= first && s.at.elapsed() < ttl)
    }
}

fn digest(msg: &NewMessage<'_>) -> u64 {
    let mut h = DefaultHasher::new();
    (msg.name, msg.topic.unwrap_or(""), msg.content).hash(&mut h);
    h.finish()
}

impl MemoryStore {
    /// A store with `general` in it, announcing on `events`.
    pub fn new(history_len: usize, events: mpsc::Sender<StoreEvent>) -> Self {
        let mut inner = Inner::default();
        inner.rooms.insert(DEFAULT_ROOM.to_owned(), RoomLog::new());
        Self {
            inner: Mutex::new(inner),
            accounts: Default::default(),
            votes: super::votes::MemoryVotes::new(events.clone(), history_len),
            history_len,
            events,
            reads: Default::default(),
            support: Default::default(),
        }
    }

    pub(super) async fn append(&self, msg: &NewMessage<'_>) -> Result<Appended> {
        let mut inner = self.inner.lock().await;
        if inner.deleted.contains(msg.room) {
            return Err(Error::RoomGone);
        }
        let digest = digest(msg);
        let log = inner
            .rooms
            .entry(msg.room.to_owned())
            .or_insert_with(RoomLog::new);
        if let Some(stored) = log.recent_send(msg.client_id) {
            if stored.digest != digest {
                return Err(Error::ClientIdConflict);
            }
            return Ok(Appended {
                offset: stored.offset,
                id: stored.id.clone(),
                duplicate: true,
            });
        }
        log.head += 1;
        let offset = log.head;
        let frame: Arc<str> = complete_frame(msg.frame_prefix, offset).into();
        log.log.push_back((offset, frame.clone()));
        while log.log.len() > self.history_len {
            log.log.pop_front();
        }
        // Records of trimmed messages go with them; sweeping only when the map has doubled
        // keeps this amortised O(1) per append.
        if log.sends.len() >= 2 * self.history_len.max(1) {
            let first = log.log.front().map_or(offset, |(o, _)| *o);
            log.sends.retain(|_, s| s.offset >= first);
        }
        let stored = StoredSend {
            offset,
            id: msg.id.to_owned(),
            digest,
            at: Instant::now(),
        };
        log.sends.insert(msg.client_id.to_owned(), stored);
        let event = StoreEvent::Message {
            epoch: log.epoch.clone(),
            room: msg.room.into(),
            offset,
            time_ms: msg.time_ms,
            frame,
        };
        // Sent under the lock so the hub sees offsets in order; the hub never takes this lock.
        let _ = self.events.send(event).await;
        Ok(Appended {
            offset,
            id: msg.id.to_owned(),
            duplicate: false,
        })
    }

    /// The first and last offsets a room still keeps, if it keeps any.
    pub(super) async fn kept_range(&self, room: &str) -> Option<(u64, u64)> {
        let inner = self.inner.lock().await;
        let log = &inner.rooms.get(room)?.log;
        Some((log.front()?.0, log.back()?.0))
    }

    pub(super) async fn history(&self, room: &str, since: Option<&Since>) -> Result<Page> {
        let mut inner = self.inner.lock().await;
        if inner.deleted.contains(room) {
            return Err(Error::RoomGone);
        }
        let cleared = inner.timed.get(room).map_or(0, |s| s.cleared);
        let log = inner
            .rooms
            .entry(room.to_owned())
            .or_insert_with(RoomLog::new);
        let page = |recovered| Page {
            epoch: log.epoch.to_string(),
            head: log.head,
            frames: log.log.iter().map(|(_, f)| f.clone()).collect(),
            recovered,
            more: false,
        };
        let Some(since) = since else {
            return Ok(page(true));
        };
        let first = log.log.front().map_or(log.head + 1, |(o, _)| *o);
        // A client at or before a clear may still show cleared messages: it starts over.
        let after_clear = cleared == 0 || since.offset > cleared;
        if since.epoch == *log.epoch
            && since.offset <= log.head
            && since.offset + 1 >= first
            && after_clear
        {
            let frames = log
                .log
                .iter()
                .filter(|(o, _)| *o > since.offset)
                .map(|(_, f)| f.clone())
                .collect();
            return Ok(Page {
                frames,
                ..page(true)
            });
        }
        Ok(page(false))
    }

    pub(super) async fn page(&self, room: &str, cursor: Cursor, limit: u32) -> Result<HistoryPage> {
        let mut inner = self.inner.lock().await;
        let Some(log) = inner.rooms.get_mut(room) else {
            return Ok(HistoryPage {
                epoch: String::new(),
                frames: Vec::new(),
                more: false,
            });
        };
        let (frames, more) = page_of(log.log.make_contiguous(), cursor, limit);
        Ok(HistoryPage {
            epoch: log.epoch.to_string(),
            frames,
            more,
        })
    }

    pub(super) async fn range(&self, room: &str, after: u64) -> Result<Range> {
        let inner = self.inner.lock().await;
        let Some(log) = inner.rooms.get(room) else {
            return Ok(Range {
                epoch: String::new(),
                entries: Vec::new(),
            });
        };
        let entries = log
            .log
            .iter()
            .filter(|(o, _)| *o > after)
            .cloned()
            .collect();
        Ok(Range {
            epoch: log.epoch.to_string(),
            entries,
        })
    }

    pub(super) async fn create_room(
        &self,
        name: &str,
        max_rooms: u32,
        access: Option<&Access>,
    ) -> Result<Created> {
        let mut inner = self.inner.lock().await;
        if inner.rooms.contains_key(name) {
            return Ok(Created::Exists);
        }
        if inner.rooms.len() >= max_rooms as usize {
            return Ok(Created::LimitReached);
        }
        inner.rooms.insert(name.to_owned(), RoomLog::new());
        inner.deleted.remove(name);
        if let Some(access) = access {
            inner.access.insert(name.to_owned(), access.clone());
        }
        let _ = self.events.send(StoreEvent::RoomsChanged).await;
        Ok(Created::Created)
    }

    pub(super) async fn room_exists(&self, name: &str) -> Result<bool> {
        Ok(self.inner.lock().await.rooms.contains_key(name))
    }

    pub(super) async fn heartbeat(
        &self,
        counts: &BTreeMap<String, RoomPresence>,
        changed: bool,
    ) -> Result<()> {
        let mut inner = self.inner.lock().await;
        inner.online = counts.clone();
        inner.online.retain(|_, p| !p.is_empty());
        if changed {
            let _ = self.events.send(StoreEvent::RoomsChanged).await;
        }
        Ok(())
    }

    pub(super) async fn rooms(&self) -> Result<Listing> {
        let inner = self.inner.lock().await;
        let names = inner.rooms.keys().cloned().collect();
        Ok(Listing::of(names, inner.online.clone().into_iter()))
    }

    /// Hand an event to the hub (there is no other replica).
    pub(super) async fn announce(&self, event: StoreEvent) {
        let _ = self.events.send(event).await;
    }

    pub(super) async fn depart(&self) -> Result<()> {
        self.inner.lock().await.online.clear();
        Ok(())
    }
}

/// Presence signals in memory (the contract is `store/reads.rs`).
impl MemoryStore {
    pub(super) async fn signal(&self, room: &str, from: u64, frame: &str) -> Result<()> {
        let event = StoreEvent::Signal {
            room: room.into(),
            except: Some(from),
            frame: frame.into(),
        };
        let _ = self.events.send(event).await;
        Ok(())
    }

    async fn head(&self, room: &str) -> u64 {
        self.inner
            .lock()
            .await
            .rooms
            .get(room)
            .map_or(0, |r| r.head)
    }

    pub(super) async fn mark_read(
        &self,
        room: &str,
        user: &str,
        display_name: &str,
        offset: u64,
    ) -> Result<bool> {
        let offset = offset.min(self.head(room).await);
        let moved = self
            .reads
            .lock()
            .unwrap()
            .mark(room, user, display_name, offset);
        if moved {
            let event = StoreEvent::ReadsChanged {
                room: room.into(),
                user: user.to_owned(),
            };
            let _ = self.events.send(event).await;
        }
        Ok(moved)
    }

    pub(super) async fn unread(&self, user: &str) -> Result<Vec<super::reads::Unread>> {
        let of_user = self.reads.lock().unwrap().of_user(user);
        let mut out = Vec::with_capacity(of_user.len());
        for (room, offset, mentions) in of_user {
            let head = self.head(&room).await;
            out.push(super::reads::unread_of(room, head, offset, &mentions));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(room: &'a str, client_id: &'a str, prefix: &'a str) -> NewMessage<'a> {
        NewMessage {
            room,
            name: "ann",
            topic: None,
            content: "hi",
            client_id,
            id: client_id,
            time_ms: 0,
            frame_prefix: prefix,
        }
    }

    #[tokio::test]
    async fn appends_are_idempotent_ordered_and_trimmed() {
        let (tx, mut rx) = mpsc::channel(16);
        let store = MemoryStore::new(2, tx);
        let prefix = r#"{"type":"message","offset":"#;
        let a = store.append(&msg("general", "c1", prefix)).await.unwrap();
        let again = store.append(&msg("general", "c1", prefix)).await.unwrap();
        assert_eq!((a.offset, a.duplicate), (1, false));
        assert_eq!((again.offset, again.duplicate), (1, true));
        for c in ["c2", "c3"] {
            store.append(&msg("general", c, prefix)).await.unwrap();
        }
        let offsets: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|e| match e {
                StoreEvent::Message { offset, .. } => Some(offset),
                _ => None,
            })
            .collect();
        assert_eq!(offsets, [1, 2, 3], "one event per stored message, in order");

        let page = store.history("general", None).await.unwrap();
        assert_eq!((page.head, page.frames.len(), page.recovered), (3, 2, true));
        let epoch = page.epoch.clone();
        let since = |offset| Since {
            epoch: epoch.clone(),
            offset,
        };
        let ok = store.history("general", Some(&since(2))).await.unwrap();
        assert_eq!((ok.frames.len(), ok.recovered), (1, true));
        let trimmed = store.history("general", Some(&since(0))).await.unwrap();
        assert!(!trimmed.recovered, "offset 1 was trimmed: no silent gap");
        let other = Since {
            epoch: "elsewhere".into(),
            offset: 3,
        };
        assert!(
            !store
                .history("general", Some(&other))
                .await
                .unwrap()
                .recovered
        );
        assert_eq!(store.range("general", 2).await.unwrap().entries.len(), 1);
    }

    #[tokio::test]
    async fn idempotency_is_per_message_and_bounded_by_the_history() {
        let (tx, _rx) = mpsc::channel(1024);
        let store = MemoryStore::new(3, tx);
        let prefix = r#"{"type":"message","offset":"#;
        store.append(&msg("general", "c1", prefix)).await.unwrap();
        let other = NewMessage {
            content: "something else",
            ..msg("general", "c1", prefix)
        };
        assert!(matches!(
            store.append(&other).await,
            Err(Error::ClientIdConflict)
        ));
        let stranger = NewMessage {
            name: "bob",
            ..msg("general", "c1", prefix)
        };
        assert!(matches!(
            store.append(&stranger).await,
            Err(Error::ClientIdConflict)
        ));
        for i in 2..=100 {
            let id = format!("c{i}");
            store.append(&msg("general", &id, prefix)).await.unwrap();
        }
        let inner = store.inner.lock().await;
        let sends = inner.rooms["general"].sends.len();
        assert!(sends <= 6, "{sends} records for a history of 3");
        drop(inner);
        let again = store.append(&msg("general", "c1", prefix)).await.unwrap();
        assert_eq!(
            (again.offset, again.duplicate),
            (101, false),
            "trimmed: new again"
        );
    }

    #[tokio::test]
    async fn rooms_are_created_once_within_the_limit() {
        let (tx, _rx) = mpsc::channel(16);
        let store = MemoryStore::new(10, tx);
        assert_eq!(
            store.create_room("ops", 2, None).await.unwrap(),
            Created::Created
        );
        assert_eq!(
            store.create_room("ops", 2, None).await.unwrap(),
            Created::Exists
        );
        assert_eq!(
            store.create_room("dev", 2, None).await.unwrap(),
            Created::LimitReached
        );
        let names: Vec<_> = store
            .rooms()
            .await
            .unwrap()
            .rooms
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["general", "ops"]);
    }
}
