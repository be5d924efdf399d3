//! Private rooms on this replica's side: when a room's participants change or the room goes,
//! the connections that may no longer see it stop receiving it at once (they are taken out of
//! the room here, before any later message of the room is delivered, since the delivery task
//! handles announcements in order) and are told (`removed`, `room_deleted`); the others get the
//! new `participants`. Every connection's room list is refreshed.

use std::sync::Arc;

use super::{Hub, Outbound, delivery::Cursors};
use crate::{
    protocol::ServerFrame,
    store::{Access, Store},
};

/// The delivery task's handling of `p <room>`: read the room's record again and enforce it.
/// Handled in order with the messages, so a removed member is out before the next one.
pub(super) async fn access_changed(
    hub: &Hub,
    store: &Store,
    room: &Arc<str>,
    cursors: &mut Cursors,
) {
    match store.access(room).await {
        Ok(Some(access)) => hub.apply_access(room, Some(access)),
        Ok(None) => deleted(hub, room, cursors),
        // The next room-list refresh compares every record with the store.
        Err(e) => tracing::warn!(%room, error = %e, "reading a room's access failed"),
    }
}

/// The delivery task's handling of `d <room>`: the members leave, delivery forgets the room.
pub(super) fn deleted(hub: &Hub, room: &Arc<str>, cursors: &mut Cursors) {
    cursors.remove(room);
    hub.room_deleted(room);
    hub.rooms_changed.notify_one();
}

impl Hub {
    /// `room`'s access is now `new`, as the store says (`None`: the room is gone).
    pub fn apply_access(&self, room: &Arc<str>, new: Option<Access>) {
        let old = self.acl.set(room, new.clone());
        self.enforce(room, old.as_ref(), new.as_ref());
        self.private_rooms_changed();
    }

    /// Act on a change of `room`'s access from `old` to `new` (the [`crate::access::Acl`] holds
    /// `new` already); the caller then calls [`Hub::private_rooms_changed`] once for all.
    pub fn enforce(&self, room: &Arc<str>, old: Option<&Access>, new: Option<&Access>) {
        match new.filter(|a| a.private) {
            // It was private and is no more: deleted (or lost with the store's data).
            None if old.is_some_and(|a| a.private) => self.evict_all(room),
            None => {}
            Some(new) => self.enforce_participants(room, old, new),
        }
    }

    /// `room` was deleted: its members leave it and are told.
    pub fn room_deleted(&self, room: &Arc<str>) {
        self.acl.set(room, None);
        self.evict_all(room);
        self.private_rooms_changed();
    }

    fn evict_all(&self, room: &Arc<str>) {
        let Some(gone) = self.take_room(room) else {
            return;
        };
        for conn in gone.values() {
            self.offer(conn, Outbound::Deleted { room: room.clone() });
        }
        self.presence_changed.notify_one();
    }

    fn enforce_participants(&self, room: &Arc<str>, old: Option<&Access>, new: &Access) {
        let participants: Arc<str> = ServerFrame::Participants {
            room,
            participants: &new.participants,
        }
        .to_json()
        .into();
        let mut evicted = Vec::new();
        {
            let mut members = self.members.lock().unwrap();
            if let Some(m) = members.get_mut(room) {
                m.retain(|id, conn| {
                    let allowed = conn.viewer().may_see(new);
                    if allowed {
                        self.offer(conn, Outbound::Frame(participants.clone()));
                    } else {
                        self.offer(conn, Outbound::Removed { room: room.clone() });
                        evicted.push(*id);
                    }
                    allowed
                });
                if m.is_empty() {
                    members.remove(room);
                    self.feeds.unwant(room);
                }
            }
        }
        // The removed users' other connections here, which had not joined the room, are told
        // too (and the room leaves their list with the next `rooms`).
        let removed: Vec<&str> = old
            .iter()
            .flat_map(|a| &a.participants)
            .filter(|p| !new.has_participant(p))
            .map(String::as_str)
            .collect();
        if !removed.is_empty() {
            for (id, conn) in self.conns.lock().unwrap().iter() {
                let viewer = conn.viewer();
                let is_removed = viewer.user.is_some_and(|u| removed.contains(&u));
                if is_removed && !viewer.admin && !evicted.contains(id) {
                    self.offer(conn, Outbound::Removed { room: room.clone() });
                }
            }
        }
        if !evicted.is_empty() {
            self.presence_changed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio_util::sync::CancellationToken;

    use crate::hub::OutboundRx;

    use super::*;
    use crate::{
        accounts::{SignedIn, User, Visitor},
        hub::Conn,
        store::Change,
    };

    fn signed_in(name: &str) -> Visitor {
        let user = User {
            username: name.into(),
            display_name: name.into(),
            email: None,
            admin: false,
            agent: false,
        };
        Visitor::Registered(Arc::new(SignedIn {
            user,
            key: name.into(),
            token_hash: String::new(),
            expires_ms: u64::MAX,
        }))
    }

    /// What is queued, `rooms` pushes left out, as text for the assertions.
    fn drain(rx: &mut OutboundRx) -> Vec<String> {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter_map(|out| match out {
                Outbound::Frame(f) => Some(f.to_string()),
                Outbound::Removed { room } => Some(format!("removed {room}")),
                Outbound::Deleted { room } => Some(format!("deleted {room}")),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_removed_member_is_out_of_the_room_before_the_next_delivery_and_told_everywhere() {
        let (hub, _starts) = Hub::new(Arc::default());
        let room: Arc<str> = "plans-1".into();
        let mut queues = Vec::new();
        for (id, name) in [(1, "ann"), (2, "bob")] {
            let (conn, rx) = Conn::new(16, 1 << 20, &CancellationToken::new());
            conn.visitor.set(signed_in(name)).unwrap();
            hub.connect(id, conn.clone());
            hub.join(&room, id, conn);
            queues.push(rx);
        }
        // Bob's second tab, which has not joined the room.
        let (tab, mut tab_rx) = Conn::new(16, 1 << 20, &CancellationToken::new());
        tab.visitor.set(signed_in("bob")).unwrap();
        hub.connect(3, tab);

        let mut access = Access::private_of("ann");
        access.apply(&Change::Add("bob")).unwrap();
        hub.apply_access(&room, Some(access.clone()));
        access.apply(&Change::Remove("bob")).unwrap();
        hub.apply_access(&room, Some(access));
        hub.deliver(&Outbound::Frame("after".into()), &room);

        let ann = drain(&mut queues[0]);
        let bob = drain(&mut queues[1]);
        assert_eq!(ann.last().map(String::as_str), Some("after"), "{ann:?}");
        assert!(
            ann.iter().any(|f| f.contains(r#""participants":["ann"]"#)),
            "{ann:?}"
        );
        assert_eq!(
            bob.last().map(String::as_str),
            Some("removed plans-1"),
            "{bob:?}"
        );
        assert!(!bob.iter().any(|f| f == "after"), "{bob:?}");
        assert_eq!(drain(&mut tab_rx), ["removed plans-1"]);
        assert_eq!(hub.local_count("plans-1"), 1);

        hub.room_deleted(&room);
        assert_eq!(drain(&mut queues[0]), ["deleted plans-1"]);
        assert_eq!(hub.local_count("plans-1"), 0);
    }

    #[test]
    fn a_guest_in_its_support_room_stays_when_this_replica_learns_of_the_room() {
        let (hub, _starts) = Hub::new(Arc::default());
        let room: Arc<str> = "support-0123456789".into();
        let (gus, mut gus_rx) = Conn::new(16, 1 << 20, &CancellationToken::new());
        gus.visitor.set(Visitor::Guest).unwrap();
        gus.support_guest.set("guest:00ff".into()).unwrap();
        let (other, mut other_rx) = Conn::new(16, 1 << 20, &CancellationToken::new());
        other.visitor.set(Visitor::Guest).unwrap();
        for (id, conn) in [(1, gus), (2, other)] {
            hub.connect(id, conn.clone());
            hub.join(&room, id, conn);
        }
        // Joined on this replica before its copy of the access records had the room.
        hub.apply_access(&room, Some(Access::support_of("guest:00ff")));
        assert!(!drain(&mut gus_rx).iter().any(|f| f.starts_with("removed")));
        assert_eq!(drain(&mut other_rx), ["removed support-0123456789"]);
        assert_eq!(hub.local_count(&room), 1);
    }
}
