//! The embedded backend: one process, nothing to install. Same contract as Redis; the lock is a
//! tokio mutex held across the event send so events leave in offset order.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::{Mutex, mpsc};

use super::{
    Appended, Created, IDEMPOTENCY_TTL_SECS, NewMessage, Page, Range, Result, StoreEvent, new_epoch,
};
use crate::protocol::{DEFAULT_ROOM, RoomInfo, Since, complete_frame};

/// In-memory rooms, history and presence.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    history_len: usize,
    events: mpsc::Sender<StoreEvent>,
}

/// Idempotency keys kept before the first sweep for expired ones.
const SWEEP_MIN: usize = 100_000;

/// What makes two sends the same send: (room, sender name, client id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct IdempotencyKey {
    room: String,
    name: String,
    client_id: String,
}

/// What was stored for an [`IdempotencyKey`], and when.
#[derive(Debug, Clone)]
struct StoredSend {
    offset: u64,
    id: String,
    at: Instant,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: BTreeMap<String, RoomLog>,
    idempotency: HashMap<IdempotencyKey, StoredSend>,
    /// Size of `idempotency` above which the next append sweeps expired keys.
    sweep_above: usize,
    online: BTreeMap<String, u64>,
}

/// One room: its epoch, last offset and the frames kept, oldest first.
#[derive(Debug)]
struct RoomLog {
    epoch: Arc<str>,
    head: u64,
    log: VecDeque<Entry>,
}

/// A stored message frame and its offset.
type Entry = (u64, Arc<str>);

impl RoomLog {
    fn new() -> Self {
        Self {
            epoch: new_epoch().into(),
            head: 0,
            log: VecDeque::new(),
        }
    }
}

impl MemoryStore {
    /// A store with `general` in it, announcing on `events`.
    pub fn new(history_len: usize, events: mpsc::Sender<StoreEvent>) -> Self {
        let mut inner = Inner {
            sweep_above: SWEEP_MIN,
            ..Inner::default()
        };
        inner.rooms.insert(DEFAULT_ROOM.to_owned(), RoomLog::new());
        Self {
            inner: Mutex::new(inner),
            history_len,
            events,
        }
    }

    pub(super) async fn append(&self, msg: &NewMessage<'_>) -> Result<Appended> {
        let mut inner = self.inner.lock().await;
        let key = IdempotencyKey {
            room: msg.room.to_owned(),
            name: msg.name.to_owned(),
            client_id: msg.client_id.to_owned(),
        };
        let ttl = Duration::from_secs(IDEMPOTENCY_TTL_SECS);
        if let Some(stored) = inner.idempotency.get(&key)
            && stored.at.elapsed() < ttl
        {
            return Ok(Appended {
                offset: stored.offset,
                id: stored.id.clone(),
                duplicate: true,
            });
        }
        // Sweep only when the map has doubled since the last sweep: a full scan on every append
        // once it is large made throughput collapse (docs/benchmarks.md, "D").
        if inner.idempotency.len() > inner.sweep_above {
            inner
                .idempotency
                .retain(|_, stored| stored.at.elapsed() < ttl);
            inner.sweep_above = (inner.idempotency.len() * 2).max(SWEEP_MIN);
        }
        let log = inner
            .rooms
            .entry(msg.room.to_owned())
            .or_insert_with(RoomLog::new);
        log.head += 1;
        let offset = log.head;
        let frame: Arc<str> = complete_frame(msg.frame_prefix, offset).into();
        log.log.push_back((offset, frame.clone()));
        while log.log.len() > self.history_len {
            log.log.pop_front();
        }
        let epoch = log.epoch.clone();
        let stored = StoredSend {
            offset,
            id: msg.id.to_owned(),
            at: Instant::now(),
        };
        inner.idempotency.insert(key, stored);
        let event = StoreEvent::Message {
            epoch,
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

    pub(super) async fn history(&self, room: &str, since: Option<&Since>) -> Result<Page> {
        let mut inner = self.inner.lock().await;
        let log = inner
            .rooms
            .entry(room.to_owned())
            .or_insert_with(RoomLog::new);
        let page = |recovered| Page {
            epoch: log.epoch.to_string(),
            head: log.head,
            frames: log.log.iter().map(|(_, f)| f.clone()).collect(),
            recovered,
        };
        let Some(since) = since else {
            return Ok(page(true));
        };
        let first = log.log.front().map_or(log.head + 1, |(o, _)| *o);
        if since.epoch == *log.epoch && since.offset <= log.head && since.offset + 1 >= first {
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

    pub(super) async fn create_room(&self, name: &str, max_rooms: u32) -> Result<Created> {
        let mut inner = self.inner.lock().await;
        if inner.rooms.contains_key(name) {
            return Ok(Created::Exists);
        }
        if inner.rooms.len() >= max_rooms as usize {
            return Ok(Created::LimitReached);
        }
        inner.rooms.insert(name.to_owned(), RoomLog::new());
        let _ = self.events.send(StoreEvent::RoomsChanged).await;
        Ok(Created::Created)
    }

    pub(super) async fn room_exists(&self, name: &str) -> Result<bool> {
        Ok(self.inner.lock().await.rooms.contains_key(name))
    }

    pub(super) async fn heartbeat(
        &self,
        counts: &BTreeMap<String, u64>,
        changed: bool,
    ) -> Result<()> {
        let mut inner = self.inner.lock().await;
        inner.online = counts.clone();
        if changed {
            let _ = self.events.send(StoreEvent::RoomsChanged).await;
        }
        Ok(())
    }

    pub(super) async fn rooms(&self) -> Result<Vec<RoomInfo>> {
        let inner = self.inner.lock().await;
        Ok(inner
            .rooms
            .keys()
            .map(|name| RoomInfo {
                name: name.clone(),
                online: inner.online.get(name).copied().unwrap_or(0),
            })
            .collect())
    }

    pub(super) async fn depart(&self) -> Result<()> {
        self.inner.lock().await.online.clear();
        Ok(())
    }

    pub(super) async fn ping(&self) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<'a>(room: &'a str, client_id: &'a str, prefix: &'a str) -> NewMessage<'a> {
        NewMessage {
            room,
            name: "ann",
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
    async fn rooms_are_created_once_within_the_limit() {
        let (tx, _rx) = mpsc::channel(16);
        let store = MemoryStore::new(10, tx);
        assert_eq!(store.create_room("ops", 2).await.unwrap(), Created::Created);
        assert_eq!(store.create_room("ops", 2).await.unwrap(), Created::Exists);
        assert_eq!(
            store.create_room("dev", 2).await.unwrap(),
            Created::LimitReached
        );
        let names: Vec<_> = store
            .rooms()
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, ["general", "ops"]);
    }
}
