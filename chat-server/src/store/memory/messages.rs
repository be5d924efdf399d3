//! One room's message log in the embedded backend: appending under the store's lock (offsets,
//! trimming to `history_len`, the idempotency records of the kept messages) and reading it back
//! (`join` pages, `history` pages, backfill ranges).

use std::{
    collections::{HashMap, VecDeque},
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::{Duration, Instant},
};

use super::MemoryStore;
use crate::{
    protocol::{Cursor, Since, complete_frame},
    store::{
        Appended, Error, HistoryPage, IDEMPOTENCY_TTL_SECS, NewMessage, Page, Range, Result,
        StoreEvent, new_epoch, page_of,
    },
};

/// What was stored for a client id in a room, and when.
#[derive(Debug, Clone)]
pub(super) struct StoredSend {
    offset: u64,
    id: String,
    /// Hash of (name, topic, content): a different message under the same client id conflicts.
    digest: u64,
    at: Instant,
}

/// One room: its epoch, last offset, the frames kept (oldest first) and the idempotency records
/// of those frames.
#[derive(Debug)]
pub(super) struct RoomLog {
    pub(super) epoch: Arc<str>,
    pub(super) head: u64,
    pub(super) log: VecDeque<Entry>,
    pub(super) sends: HashMap<String, StoredSend>,
}

/// A stored message frame and its offset.
pub(super) type Entry = (u64, Arc<str>);

impl RoomLog {
    pub(super) fn new() -> Self {
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
    pub(in crate::store) async fn append(&self, msg: &NewMessage<'_>) -> Result<Appended> {
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
    pub(in crate::store) async fn kept_range(&self, room: &str) -> Option<(u64, u64)> {
        let inner = self.inner.lock().await;
        let log = &inner.rooms.get(room)?.log;
        Some((log.front()?.0, log.back()?.0))
    }

    pub(in crate::store) async fn history(
        &self,
        room: &str,
        since: Option<&Since>,
    ) -> Result<Page> {
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

    pub(in crate::store) async fn page(
        &self,
        room: &str,
        cursor: Cursor,
        limit: u32,
    ) -> Result<HistoryPage> {
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

    pub(in crate::store) async fn range(&self, room: &str, after: u64) -> Result<Range> {
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
}
