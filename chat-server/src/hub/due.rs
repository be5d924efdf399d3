//! What the presence-signals task (`crate::signals`) has to push: rooms whose receipts and users
//! whose `unread` counts are due. The delivery task marks them when the store says a read
//! position moved, sessions when a member joins or a user connects; the signals task takes them.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
};

use tokio::sync::Notify;

/// Rooms and users whose receipts or `unread` are due, shared by the hub (which hears of moved
/// positions) and the push task.
#[derive(Debug, Default)]
pub struct Due {
    /// Rooms whose receipts are due; `true` when they go out even if unchanged (a new member).
    rooms: Mutex<HashMap<Arc<str>, bool>>,
    users: Mutex<HashSet<String>>,
    pub(crate) wake: Notify,
}

impl Due {
    /// A position moved: the room's receipts and the user's `unread` are due.
    pub fn reads_changed(&self, room: Arc<str>, user: String) {
        self.rooms.lock().unwrap().entry(room).or_insert(false);
        self.users.lock().unwrap().insert(user);
        self.wake.notify_one();
    }

    /// A member joined: send the room's receipts even if unchanged.
    pub fn room_joined(&self, room: Arc<str>) {
        self.rooms.lock().unwrap().insert(room, true);
        self.wake.notify_one();
    }

    /// A user connected: their `unread` is due.
    pub fn user_connected(&self, user: &str) {
        self.users.lock().unwrap().insert(user.to_owned());
        self.wake.notify_one();
    }

    /// The rooms (with their force flag) and users due now; both sets start empty again.
    pub(crate) fn take(&self) -> (HashMap<Arc<str>, bool>, HashSet<String>) {
        (
            std::mem::take(&mut *self.rooms.lock().unwrap()),
            std::mem::take(&mut *self.users.lock().unwrap()),
        )
    }
}
