//! What the presence-signals task (`crate::signals`) has to push: rooms whose receipts and users
//! whose `unread` counts are due. The delivery task marks them when the store says a read
//! position moved, sessions when a member joins or a user connects; the signals task takes them.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

use super::ConnHandle;

/// Rooms and users whose receipts or `unread` are due, shared by the hub (which hears of moved
/// positions) and the push task.
#[derive(Debug, Default)]
pub struct Due {
    /// Rooms whose receipts are due (to the members who have not had them).
    rooms: Mutex<HashSet<Arc<str>>>,
    users: Mutex<HashSet<String>>,
    /// Connections that joined a room and get its current receipts.
    joined: Mutex<Vec<(Arc<str>, ConnHandle)>>,
    pub(crate) wake: Notify,
    /// `read`s waiting to be written, the highest offset per (room, user): a burst of reads
    /// costs one store call per (room, user), and a session never waits for the store.
    reads: Mutex<HashMap<ReadKey, (String, u64)>>,
    pub(crate) reads_wake: Notify,
}

/// A queued read's (room, user).
type ReadKey = (Arc<str>, String);

/// Most (room, user) reads waiting to be written; beyond it a `read` is dropped (the next one
/// from the page carries the same or a higher offset).
pub const MAX_PENDING_READS: usize = 10_000;

impl Due {
    /// A position moved: the room's receipts and the user's `unread` are due.
    pub fn reads_changed(&self, room: Arc<str>, user: String) {
        self.rooms.lock().unwrap().insert(room);
        self.users.lock().unwrap().insert(user);
        self.wake.notify_one();
    }

    /// A member joined: it gets the room's current receipts (the others are not sent them again).
    pub fn room_joined(&self, room: Arc<str>, conn: ConnHandle) {
        self.joined.lock().unwrap().push((room, conn));
        self.wake.notify_one();
    }

    /// A user connected: their `unread` is due.
    pub fn user_connected(&self, user: &str) {
        self.users.lock().unwrap().insert(user.to_owned());
        self.wake.notify_one();
    }

    /// Queue a `read` (the highest offset per room and user wins); false when the queue is full.
    pub fn read(&self, room: Arc<str>, user: String, display_name: String, offset: u64) -> bool {
        let mut reads = self.reads.lock().unwrap();
        let full = reads.len() >= MAX_PENDING_READS;
        match reads.entry((room, user)) {
            std::collections::hash_map::Entry::Occupied(mut e) => {
                let (name, at) = e.get_mut();
                if offset > *at {
                    (*name, *at) = (display_name, offset);
                }
            }
            std::collections::hash_map::Entry::Vacant(_) if full => return false,
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert((display_name, offset));
            }
        }
        drop(reads);
        self.reads_wake.notify_one();
        true
    }

    /// The reads waiting now: (room, user, display name, offset).
    pub(crate) fn take_reads(&self) -> Vec<(Arc<str>, String, String, u64)> {
        std::mem::take(&mut *self.reads.lock().unwrap())
            .into_iter()
            .map(|((room, user), (name, offset))| (room, user, name, offset))
            .collect()
    }

    /// The rooms, users and joiners due now; all start empty again.
    pub(crate) fn take(&self) -> Taken {
        Taken {
            rooms: std::mem::take(&mut *self.rooms.lock().unwrap()),
            users: std::mem::take(&mut *self.users.lock().unwrap()),
            joined: std::mem::take(&mut *self.joined.lock().unwrap()),
        }
    }
}

/// What [`Due::take`] hands the signals task.
#[derive(Debug)]
pub(crate) struct Taken {
    pub(crate) rooms: HashSet<Arc<str>>,
    pub(crate) users: HashSet<String>,
    pub(crate) joined: Vec<(Arc<str>, ConnHandle)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queued_reads_keep_the_highest_offset_per_room_and_user() {
        let due = Due::default();
        let ops: Arc<str> = "ops".into();
        assert!(due.read(ops.clone(), "ann".into(), "Ann".into(), 5));
        assert!(due.read(ops.clone(), "ann".into(), "Ann L.".into(), 3));
        assert!(due.read(ops.clone(), "ann".into(), "Ann L.".into(), 7));
        assert!(due.read(ops.clone(), "bob".into(), "Bob".into(), 1));
        let mut taken = due.take_reads();
        taken.sort();
        assert_eq!(
            taken,
            [
                (ops.clone(), "ann".into(), "Ann L.".into(), 7),
                (ops.clone(), "bob".into(), "Bob".into(), 1)
            ]
        );
        assert!(due.take_reads().is_empty());
    }

    #[test]
    fn a_full_queue_drops_new_pairs_but_still_moves_queued_ones() {
        let due = Due::default();
        for i in 0..MAX_PENDING_READS {
            assert!(due.read("r".into(), format!("u{i}"), "U".into(), 1));
        }
        assert!(!due.read("r".into(), "late".into(), "L".into(), 1));
        assert!(due.read("r".into(), "u0".into(), "U".into(), 9));
        assert_eq!(due.take_reads().len(), MAX_PENDING_READS);
    }
}
