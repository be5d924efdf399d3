//! What the presence-signals task (`crate::signals`) has to push: rooms whose receipts and users
//! whose `unread` counts are due. The delivery task marks them when the store says a read
//! position moved, sessions when a member joins or a user connects; the signals task takes them.

use std::{
    collections::HashSet,
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
}

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
