//! The embedded backend: one process, nothing to install. Same contract as Redis; the lock is a
//! tokio mutex held across the event send so events leave in offset order. Idempotency records
//! live in their room and leave with their message, so memory stays bounded by `history_len`.
//! Here the store, its rooms and presence; each room's message log (appends, idempotency, reads
//! of history) in `memory/messages.rs`, read positions and signals in `memory/reads.rs`, rooms'
//! access records and deletion in `memory/access.rs`, support conversations in
//! `memory/support.rs`.

mod access;
mod edits;
mod messages;
mod reads;
mod support;
#[cfg(test)]
mod tests;
mod timed;

use std::collections::{BTreeMap, HashSet};

use tokio::sync::{Mutex, mpsc};

use super::{Access, Created, Listing, Result, RoomPresence, StoreEvent};
use crate::protocol::DEFAULT_ROOM;
use messages::RoomLog;

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
