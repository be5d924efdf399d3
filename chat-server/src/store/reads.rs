//! Presence signals as the stores keep them: read positions per user per room (monotonic, never
//! above the room's head), the offsets of messages that mention a user, and the bus for typing
//! frames, which are stored nowhere. Redis keeps positions in one hash per room plus one per user
//! (`store/redis/reads.rs`), PostgreSQL in `read_positions` and `mentions` (migration 0007,
//! `store/postgres/reads.rs`), memory in [`MemoryReads`]. Every backend announces a moved
//! position as [`super::StoreEvent::ReadsChanged`]; what to push to clients is `crate::signals`'.

use std::collections::{BTreeMap, HashMap};

use super::{Result, Store};

/// Most mention offsets kept per user per room (the newest); a mention count is at most this.
pub const MAX_MENTIONS_KEPT: usize = 100;

/// Where one registered user has read a room up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadPosition {
    /// The username in lower case (the account key).
    pub user: String,
    pub display_name: String,
    pub offset: u64,
}

/// One room's unread state for one user (an entry of the `unread` frame).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unread {
    pub room: String,
    /// The user's read position.
    pub offset: u64,
    /// Messages after the read position.
    pub unread: u64,
    /// Messages after the read position that mention the user.
    pub mentions: u64,
}

impl Store {
    /// Relay a ready frame to the room's members on every replica but connection `from` of this
    /// one. One publish; nothing is written.
    pub async fn signal(&self, room: &str, from: u64, frame: &str) -> Result<()> {
        match self {
            Store::Memory(s) => s.signal(room, from, frame).await,
            Store::Redis(s) => s.signal(room, from, frame).await,
            Store::Postgres(s) => s.signal(room, from, frame).await,
        }
    }

    /// Move `user`'s read position in `room` up to `offset` (capped at the room's head; a lower
    /// one changes nothing). True when it moved (and was announced).
    pub async fn mark_read(
        &self,
        room: &str,
        user: &str,
        display_name: &str,
        offset: u64,
    ) -> Result<bool> {
        match self {
            Store::Memory(s) => s.mark_read(room, user, display_name, offset).await,
            Store::Redis(s) => s.mark_read(room, user, display_name, offset).await,
            Store::Postgres(s) => s.mark_read(room, user, display_name, offset).await,
        }
    }

    /// Every read position in a room.
    pub async fn room_reads(&self, room: &str) -> Result<Vec<ReadPosition>> {
        match self {
            Store::Memory(s) => Ok(s.reads.lock().unwrap().room_reads(room)),
            Store::Redis(s) => s.room_reads(room).await,
            Store::Postgres(s) => s.room_reads(room).await,
        }
    }

    /// Record that the message at `offset` mentions each of `users`.
    pub async fn add_mentions(&self, room: &str, offset: u64, users: &[String]) -> Result<()> {
        if users.is_empty() {
            return Ok(());
        }
        match self {
            Store::Memory(s) => {
                s.reads.lock().unwrap().add_mentions(room, offset, users);
                Ok(())
            }
            Store::Redis(s) => s.add_mentions(room, offset, users).await,
            Store::Postgres(s) => s.add_mentions(room, offset, users).await,
        }
    }

    /// The user's unread state in every room where they have a read position or a mention.
    pub async fn unread(&self, user: &str) -> Result<Vec<Unread>> {
        match self {
            Store::Memory(s) => s.unread(user).await,
            Store::Redis(s) => s.unread(user).await,
            Store::Postgres(s) => s.unread(user).await,
        }
    }
}

/// The memory mode's positions and mentions.
#[derive(Debug, Default)]
pub struct MemoryReads {
    /// room → user → (display name, offset)
    rooms: HashMap<String, BTreeMap<String, (String, u64)>>,
    /// user → room → mention offsets, ascending
    mentions: HashMap<String, BTreeMap<String, Vec<u64>>>,
}

impl MemoryReads {
    /// Move a position up to `offset` (already capped at the head); true when it moved.
    pub(super) fn mark(&mut self, room: &str, user: &str, display_name: &str, offset: u64) -> bool {
        let entry = self
            .rooms
            .entry(room.to_owned())
            .or_default()
            .entry(user.to_owned())
            .or_insert_with(|| (display_name.to_owned(), 0));
        if offset <= entry.1 {
            return false;
        }
        *entry = (display_name.to_owned(), offset);
        if let Some(kept) = self.mentions.get_mut(user).and_then(|m| m.get_mut(room)) {
            kept.retain(|o| *o > offset);
        }
        true
    }

    /// Drop everything about a deleted room: its read positions and the mentions in it.
    pub(super) fn forget_room(&mut self, room: &str) {
        self.rooms.remove(room);
        for of_user in self.mentions.values_mut() {
            of_user.remove(room);
        }
    }

    fn room_reads(&self, room: &str) -> Vec<ReadPosition> {
        self.rooms.get(room).map_or_else(Vec::new, |users| {
            users
                .iter()
                .map(|(user, (display_name, offset))| ReadPosition {
                    user: user.clone(),
                    display_name: display_name.clone(),
                    offset: *offset,
                })
                .collect()
        })
    }

    fn add_mentions(&mut self, room: &str, offset: u64, users: &[String]) {
        for user in users {
            let kept = self
                .mentions
                .entry(user.clone())
                .or_default()
                .entry(room.to_owned())
                .or_default();
            kept.push(offset);
            if kept.len() > MAX_MENTIONS_KEPT {
                kept.remove(0);
            }
        }
    }

    /// (room, position, mention offsets) of every room the user has either in.
    pub(super) fn of_user(&self, user: &str) -> Vec<(String, u64, Vec<u64>)> {
        let mut out: BTreeMap<String, (u64, Vec<u64>)> = BTreeMap::new();
        for (room, users) in &self.rooms {
            if let Some((_, offset)) = users.get(user) {
                out.entry(room.clone()).or_default().0 = *offset;
            }
        }
        for (room, offsets) in self.mentions.get(user).into_iter().flatten() {
            out.entry(room.clone()).or_default().1 = offsets.clone();
        }
        out.into_iter().map(|(r, (o, m))| (r, o, m)).collect()
    }
}

/// The unread entry of a room from its head, the user's position and their mention offsets.
pub(super) fn unread_of(room: String, head: u64, offset: u64, mentions: &[u64]) -> Unread {
    Unread {
        room,
        offset,
        unread: head.saturating_sub(offset),
        mentions: mentions.iter().filter(|o| **o > offset).count() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_only_move_up_and_reading_clears_older_mentions() {
        let mut r = MemoryReads::default();
        assert!(r.mark("ops", "ann", "Ann", 5));
        assert!(!r.mark("ops", "ann", "Ann", 3), "never backwards");
        assert!(!r.mark("ops", "ann", "Ann", 5));
        r.add_mentions("ops", 7, &["ann".into()]);
        r.add_mentions("ops", 9, &["ann".into()]);
        assert_eq!(r.of_user("ann"), vec![("ops".into(), 5, vec![7, 9])]);
        assert!(r.mark("ops", "ann", "Ann", 8));
        assert_eq!(r.of_user("ann"), vec![("ops".into(), 8, vec![9])]);
        let u = unread_of("ops".into(), 12, 8, &[9]);
        assert_eq!((u.unread, u.mentions), (4, 1));
        assert_eq!(r.room_reads("ops")[0].offset, 8);
    }
}
