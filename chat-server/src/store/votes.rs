//! Replies and votes in every backend: one vote per (room, offset, user), changed or withdrawn
//! atomically, reply counts per parent, and one batched read of the counts of a page. Counts are
//! kept apart from the stored frames (which are cached verbatim) and merged into pages when they
//! are served (`protocol::with_tally`). Each change is announced to the room on every replica as
//! [`StoreEvent::Votes`] or [`StoreEvent::Replies`]. The memory backend's part lives here; Redis's
//! in `redis/votes.rs` (Lua scripts), PostgreSQL's in `postgres/votes.rs` (migration 0006).

use std::collections::HashMap;

use tokio::sync::{Mutex, mpsc};

use super::{Result, Store, StoreEvent};
use crate::protocol::Tally;

/// One user's vote on one message.
#[derive(Debug, Clone, Copy)]
pub struct Vote<'a> {
    pub room: &'a str,
    pub offset: u64,
    /// The voter's lower-case username.
    pub user: &'a str,
    /// 1 up, -1 down, 0 withdrawn.
    pub value: i8,
}

/// Counts after a vote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counted {
    pub up: u64,
    pub down: u64,
}

impl Store {
    /// Whether the room still holds a message at `offset` (what a reply or a vote may point at).
    pub async fn message_exists(&self, room: &str, offset: u64) -> Result<bool> {
        match self {
            Store::Memory(s) => Ok(s
                .kept_range(room)
                .await
                .is_some_and(|(first, head)| (first..=head).contains(&offset))),
            Store::Redis(s) => s.message_exists(room, offset).await,
            Store::Postgres(s) => s.message_exists(room, offset).await,
        }
    }

    /// Record a vote (replacing the user's earlier one; 0 withdraws it) and announce the new
    /// counts, atomically; `None` when there is no such message.
    pub async fn vote(&self, vote: &Vote<'_>) -> Result<Option<Counted>> {
        match self {
            Store::Memory(s) => {
                let kept = s.kept_range(vote.room).await;
                let Some((first, _)) = kept.filter(|(f, h)| (*f..=*h).contains(&vote.offset))
                else {
                    return Ok(None);
                };
                Ok(Some(s.votes.vote(vote, first).await))
            }
            Store::Redis(s) => s.vote(vote).await,
            Store::Postgres(s) => s.vote(vote).await,
        }
    }

    /// Count a stored reply to `parent` and announce the parent's new reply count. Called once
    /// per stored (not duplicate) reply.
    pub async fn add_reply(&self, room: &str, parent: u64, offset: u64) -> Result<()> {
        match self {
            Store::Memory(s) => {
                let first = s.kept_range(room).await.map_or(parent, |(first, _)| first);
                s.votes.add_reply(room, parent, first).await;
                Ok(())
            }
            Store::Redis(s) => s.add_reply(room, parent).await,
            Store::Postgres(s) => s.add_reply(room, parent, offset).await,
        }
    }

    /// The current counts of `offsets` in `room` and `user`'s own votes, in one read; messages
    /// with nothing to show are left out.
    pub async fn tallies(
        &self,
        room: &str,
        offsets: &[u64],
        user: Option<&str>,
    ) -> Result<HashMap<u64, Tally>> {
        if offsets.is_empty() {
            return Ok(HashMap::new());
        }
        match self {
            Store::Memory(s) => Ok(s.votes.tallies(room, offsets, user).await),
            Store::Redis(s) => s.tallies(room, offsets, user).await,
            Store::Postgres(s) => s.tallies(room, offsets, user).await,
        }
    }
}

/// The memory backend's replies and votes. The lock is held across the event send, so the room
/// sees a message's counts in the order they changed.
#[derive(Debug)]
pub struct MemoryVotes {
    rooms: Mutex<HashMap<String, HashMap<u64, Entry>>>,
    events: mpsc::Sender<StoreEvent>,
    /// Entries of messages trimmed from history are swept once a room holds this many.
    sweep_at: usize,
}

#[derive(Debug, Default)]
struct Entry {
    voters: HashMap<String, i8>,
    up: u64,
    down: u64,
    replies: u64,
}

impl MemoryVotes {
    pub(super) fn new(events: mpsc::Sender<StoreEvent>, history_len: usize) -> Self {
        Self {
            rooms: Mutex::default(),
            events,
            sweep_at: 2 * history_len.max(1),
        }
    }

    /// A room's entries, those of messages before `first` (trimmed) swept once there are many.
    fn room<'a>(
        &self,
        rooms: &'a mut HashMap<String, HashMap<u64, Entry>>,
        room: &str,
        first: u64,
    ) -> &'a mut HashMap<u64, Entry> {
        let entries = rooms.entry(room.to_owned()).or_default();
        if entries.len() >= self.sweep_at {
            entries.retain(|off, _| *off >= first);
        }
        entries
    }

    async fn vote(&self, vote: &Vote<'_>, first: u64) -> Counted {
        let mut rooms = self.rooms.lock().await;
        let entry = self
            .room(&mut rooms, vote.room, first)
            .entry(vote.offset)
            .or_default();
        let old = match vote.value {
            0 => entry.voters.remove(vote.user),
            v => entry.voters.insert(vote.user.to_owned(), v),
        };
        let counted_before = Counted {
            up: entry.up,
            down: entry.down,
        };
        match old {
            Some(1) => entry.up -= 1,
            Some(-1) => entry.down -= 1,
            _ => {}
        }
        match vote.value {
            1 => entry.up += 1,
            -1 => entry.down += 1,
            _ => {}
        }
        let counted = Counted {
            up: entry.up,
            down: entry.down,
        };
        if counted != counted_before {
            let event = StoreEvent::Votes {
                room: vote.room.into(),
                offset: vote.offset,
                up: counted.up,
                down: counted.down,
            };
            let _ = self.events.send(event).await;
        }
        counted
    }

    /// Drop a room's counts: its messages were cleared, or it expired.
    pub(super) async fn forget(&self, room: &str) {
        self.rooms.lock().await.remove(room);
    }

    async fn add_reply(&self, room: &str, parent: u64, first: u64) {
        let mut rooms = self.rooms.lock().await;
        let entry = self
            .room(&mut rooms, room, first)
            .entry(parent)
            .or_default();
        entry.replies += 1;
        let event = StoreEvent::Replies {
            room: room.into(),
            offset: parent,
            count: entry.replies,
        };
        let _ = self.events.send(event).await;
    }

    async fn tallies(
        &self,
        room: &str,
        offsets: &[u64],
        user: Option<&str>,
    ) -> HashMap<u64, Tally> {
        let rooms = self.rooms.lock().await;
        let Some(room) = rooms.get(room) else {
            return HashMap::new();
        };
        offsets
            .iter()
            .filter_map(|off| {
                let e = room.get(off)?;
                let mine = user.and_then(|u| e.voters.get(u)).copied().unwrap_or(0);
                let tally = Tally {
                    up: e.up,
                    down: e.down,
                    replies: e.replies,
                    mine,
                };
                (!tally.is_empty()).then_some((*off, tally))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::{MemoryStore, NewMessage};

    #[tokio::test]
    async fn memory_votes_count_once_per_user_and_forget_trimmed_messages() {
        let (tx, mut rx) = mpsc::channel(1024);
        let store = Store::Memory(Arc::new(MemoryStore::new(2, tx)));
        let prefix = r#"{"type":"message","offset":"#;
        let mut last = 0;
        for i in 0..20 {
            let client_id = format!("c{i}");
            let msg = NewMessage {
                room: "general",
                name: "ann",
                topic: None,
                content: "hi",
                client_id: &client_id,
                id: &client_id,
                time_ms: 0,
                frame_prefix: prefix,
            };
            last = store.append(&msg).await.unwrap().offset;
            for (user, value) in [("ann", 1), ("bob", 1), ("bob", -1)] {
                let vote = Vote {
                    room: "general",
                    offset: last,
                    user,
                    value,
                };
                store.vote(&vote).await.unwrap().unwrap();
            }
            store.add_reply("general", last, last + 100).await.unwrap();
        }
        let Store::Memory(memory) = &store else {
            unreachable!()
        };
        let kept = memory.votes.rooms.lock().await["general"].len();
        assert!(kept <= 4, "{kept} entries for a history of 2");
        let tallies = store
            .tallies("general", &[last, 1], Some("bob"))
            .await
            .unwrap();
        let want = Tally {
            up: 1,
            down: 1,
            replies: 1,
            mine: -1,
        };
        assert_eq!(tallies.get(&last), Some(&want));
        assert_eq!(tallies.get(&1), None, "trimmed");
        let gone = Vote {
            room: "general",
            offset: 1,
            user: "ann",
            value: 1,
        };
        assert_eq!(store.vote(&gone).await.unwrap(), None, "no such message");
        // bob's change from up to down announced once each: counts in order.
        let mut seen = Vec::new();
        while let Ok(event) = rx.try_recv() {
            if let StoreEvent::Votes {
                offset, up, down, ..
            } = event
                && offset == last
            {
                seen.push((up, down));
            }
        }
        assert_eq!(seen, [(1, 0), (2, 0), (1, 1)]);
    }
}
