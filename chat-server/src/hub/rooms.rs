//! The `rooms` frames. The public part of the list is serialised once per change and shared by
//! every connection (most viewers see nothing else, and get exactly that buffer). A viewer who
//! sees private rooms gets the shared frame with its private entries spliced in after the public
//! ones: each private entry is serialised once per change too, so a viewer's frame costs one copy
//! of bytes, never a serialisation of the list, and is made at most once per user per change
//! (their tabs share it) and only when a connection of theirs writes it. A join storm therefore
//! costs what it cost before for everyone but the users with private rooms, and those a copy.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::Arc,
};

use axum::extract::ws::Utf8Bytes;

use super::{Conn, Hub};
use crate::protocol::RoomInfo;

/// The `rooms` frame until the presence task computed the first list.
const NO_ROOMS: &str = r#"{"type":"rooms","rooms":[]}"#;
/// How every `rooms` frame begins: its array follows.
const FRAME_HEAD: &str = r#"{"type":"rooms","rooms":"#;

/// One computed room list.
#[derive(Debug)]
pub struct RoomsList {
    /// The frame listing the public rooms.
    shared: Utf8Bytes,
    /// Where the `rooms` array of `shared` closes (its `]`); `None` when it could not be found,
    /// and then private rooms are listed to nobody (closed, not open, on a surprise).
    close: Option<usize>,
    /// Each private room's entry, serialised, by name.
    private: BTreeMap<Arc<str>, String>,
    /// Frames made for a user since this list was computed.
    per_user: HashMap<Arc<str>, Utf8Bytes>,
}

impl RoomsList {
    /// The list before the first computation.
    pub fn empty() -> Self {
        Self::shared_only(Utf8Bytes::from_static(NO_ROOMS))
    }

    /// A list without private rooms.
    pub fn shared_only(frame: Utf8Bytes) -> Self {
        Self {
            shared: frame,
            close: None,
            private: BTreeMap::new(),
            per_user: HashMap::new(),
        }
    }

    /// `frame` is the `rooms` frame of the public rooms, `array` its `rooms` array serialised on
    /// its own (the same bytes), `private` the private rooms.
    pub fn new(frame: String, array: &str, private: &[RoomInfo]) -> Self {
        let close = (frame.starts_with(FRAME_HEAD)
            && frame[FRAME_HEAD.len()..].starts_with(array)
            && array.ends_with(']'))
        .then(|| FRAME_HEAD.len() + array.len() - 1);
        if close.is_none() {
            tracing::error!("the rooms frame is not laid out as expected; private rooms unlisted");
        }
        let private = private
            .iter()
            .map(|r| {
                let entry = serde_json::to_string(r).expect("room entries serialise");
                (Arc::from(r.name.as_str()), entry)
            })
            .collect();
        Self {
            shared: frame.into(),
            close,
            private,
            per_user: HashMap::new(),
        }
    }

    fn same_as(&self, other: &Self) -> bool {
        self.shared == other.shared && self.private == other.private
    }

    /// The frame for a user who sees `visible` (at least one private room).
    fn for_user(&mut self, user: &str, visible: &BTreeSet<Arc<str>>) -> Utf8Bytes {
        let Some(close) = self.close else {
            return self.shared.clone();
        };
        let entries: Vec<&str> = visible
            .iter()
            .filter_map(|room| self.private.get(room).map(String::as_str))
            .collect();
        if entries.is_empty() {
            return self.shared.clone();
        }
        let shared = self.shared.as_str();
        let extra: usize = entries.iter().map(|e| e.len() + 1).sum();
        let mut frame = String::with_capacity(shared.len() + extra);
        frame.push_str(&shared[..close]);
        for (i, entry) in entries.iter().enumerate() {
            if i > 0 || !shared[..close].ends_with('[') {
                frame.push(',');
            }
            frame.push_str(entry);
        }
        frame.push_str(&shared[close..]);
        let frame = Utf8Bytes::from(frame);
        self.per_user.insert(user.into(), frame.clone());
        frame
    }
}

impl Hub {
    /// Make `list` the room list and tell every connection, unless it is the one they have.
    /// Costs one flag per connection: a connection with a push still queued gets no second one.
    pub fn push_rooms(&self, list: RoomsList) {
        {
            let mut current = self.rooms_list.lock().unwrap();
            if current.same_as(&list) {
                return;
            }
            *current = list;
        }
        self.offer_rooms_to_all();
    }

    /// Who sees which private room changed: the frames made per user are stale, and every
    /// connection gets the list again (a rare event: a participant change or a deletion).
    pub fn private_rooms_changed(&self) {
        self.rooms_list.lock().unwrap().per_user.clear();
        self.offer_rooms_to_all();
    }

    fn offer_rooms_to_all(&self) {
        for conn in self.conns.lock().unwrap().values() {
            self.offer_rooms(conn);
        }
    }

    /// The newest room list as `conn` may see it.
    pub fn rooms_frame(&self, conn: &Conn) -> Utf8Bytes {
        let viewer = conn.viewer();
        let mut list = self.rooms_list.lock().unwrap();
        let Some(user) = viewer.user else {
            return list.shared.clone();
        };
        // A user's other connections made it already (the `Acl` never takes this lock, so
        // reading it while holding the list cannot deadlock).
        if let Some(frame) = list.per_user.get(user) {
            return frame.clone();
        }
        let visible = self.acl.visible_to(&viewer);
        if visible.is_empty() {
            return list.shared.clone();
        }
        list.for_user(user, &visible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ServerFrame;

    fn room(name: &str, private: bool) -> RoomInfo {
        RoomInfo {
            name: name.into(),
            online: 1,
            private,
            ..RoomInfo::default()
        }
    }

    fn list(public: &[RoomInfo], private: &[RoomInfo]) -> RoomsList {
        let totals = crate::protocol::Counts::default();
        let frame = ServerFrame::Rooms {
            rooms: public,
            totals,
        }
        .to_json();
        RoomsList::new(frame, &serde_json::to_string(public).unwrap(), private)
    }

    #[test]
    fn private_entries_are_spliced_after_the_public_ones_for_who_sees_them() {
        let public = [room("general", false), room("ops", false)];
        let private = [room("plans-1", true), room("x-2", true)];
        let mut l = list(&public, &private);
        assert!(l.close.is_some());
        let seen: BTreeSet<Arc<str>> = ["plans-1".into()].into();
        let frame = l.for_user("ann", &seen);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["totals"]["online"], 0, "the rest of the frame is kept");
        let names: Vec<&str> = v["rooms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["general", "ops", "plans-1"]);
        assert_eq!(v["rooms"][2]["private"], true);
        assert!(
            !l.shared.as_str().contains("plans"),
            "{}",
            l.shared.as_str()
        );

        let mut only_private = list(&[], &private);
        let seen: BTreeSet<Arc<str>> = ["plans-1".into(), "x-2".into()].into();
        let frame = only_private.for_user("root", &seen);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(
            v["rooms"].as_array().unwrap().len(),
            2,
            "{}",
            frame.as_str()
        );
    }
}
