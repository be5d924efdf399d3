//! Who sees which private room, on this replica: the [`Viewer`] of a connection (its account, if
//! any, and whether it is an admin) and the [`Acl`], this replica's copy of every private room's
//! participants. The stores hold the truth and announce changes; the hub keeps the copy current
//! (on each announcement, and by comparing with the store on every room-list refresh, so a lost
//! announcement is repaired) and uses it to stop deliveries, build each viewer's room list and
//! refuse sends. Joins and history reads check the store itself, then this copy again after
//! registering, so a removal racing a join cannot be missed.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use crate::{accounts::Visitor, store::Access};

/// Who is looking: a guest, or a registered user (lowercase username key), maybe an admin.
/// Borrowed from the connection's [`Visitor`], so checking costs no allocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Viewer<'a> {
    /// The username's lowercase key; `None` for a guest.
    pub user: Option<&'a str>,
    /// Admins see and manage every room.
    pub admin: bool,
    /// Support agents (admins are) see every support conversation's room.
    pub agent: bool,
}

impl<'a> Viewer<'a> {
    /// A visitor without an account.
    pub fn guest() -> Self {
        Self::default()
    }

    /// Who `visitor` is (a connection whose visitor is not set yet is a guest).
    pub fn of(visitor: Option<&'a Visitor>) -> Self {
        visitor.map_or_else(Self::guest, |v| Self {
            user: v.key(),
            admin: v.is_admin(),
            agent: v.is_agent(),
        })
    }

    /// Whether this viewer may see (list, join, read, receive) a room with `access`.
    pub fn may_see(&self, access: &Access) -> bool {
        !access.private
            || self.admin
            || (self.agent && access.support)
            || self.user.is_some_and(|u| access.has_participant(u))
    }

    /// Whether this viewer may delete the room, or change its participants.
    pub fn may_manage(&self, access: &Access) -> bool {
        self.admin || (self.user.is_some() && self.user == access.creator.as_deref())
    }
}

/// This replica's copy of the private rooms' participants.
#[derive(Debug, Default)]
pub struct Acl {
    inner: RwLock<Inner>,
    /// Bumped by every change from an announcement, so a refresh that read the store before it
    /// does not put older data back ([`Acl::replace_all`]).
    generation: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    rooms: HashMap<Arc<str>, Access>,
    /// Private rooms by participant, for building one user's room list without a scan.
    by_user: HashMap<Arc<str>, BTreeSet<Arc<str>>>,
}

impl Inner {
    fn set(&mut self, room: &Arc<str>, access: Option<Access>) -> Option<Access> {
        let new = access.filter(|a| a.private);
        let old = match &new {
            Some(a) => self.rooms.insert(room.clone(), a.clone()),
            None => self.rooms.remove(room),
        };
        for p in old.iter().flat_map(|a| &a.participants) {
            if let Some(rooms) = self.by_user.get_mut(p.as_str()) {
                rooms.remove(room);
                if rooms.is_empty() {
                    self.by_user.remove(p.as_str());
                }
            }
        }
        // Support rooms are in nobody's room list (the support frames list them).
        for p in new
            .iter()
            .filter(|a| !a.support)
            .flat_map(|a| &a.participants)
        {
            let user: Arc<str> = p.as_str().into();
            self.by_user.entry(user).or_default().insert(room.clone());
        }
        old
    }
}

/// One room whose access changed: what it was and what it is (`None`: not private, or gone).
pub type AccessChange = (Arc<str>, Option<Access>, Option<Access>);

impl Acl {
    /// The generation to pass to [`Self::replace_all`], taken before reading the store.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Record `room`'s access as announced (`None`: deleted); returns the previous private one.
    pub fn set(&self, room: &Arc<str>, access: Option<Access>) -> Option<Access> {
        let mut inner = self.inner.write().unwrap();
        self.generation.fetch_add(1, Ordering::AcqRel);
        inner.set(room, access)
    }

    /// Replace the whole copy with `list` (every room's record, read from the store) unless an
    /// announcement changed it since `generation`; returns the rooms that changed.
    pub fn replace_all(&self, list: Vec<(String, Access)>, generation: u64) -> Vec<AccessChange> {
        let mut inner = self.inner.write().unwrap();
        if self.generation.load(Ordering::Acquire) != generation {
            return Vec::new();
        }
        let mut fresh: HashMap<Arc<str>, Access> = list
            .into_iter()
            .filter(|(_, a)| a.private)
            .map(|(room, a)| (room.into(), a))
            .collect();
        let mut changes = Vec::new();
        let known: Vec<Arc<str>> = inner.rooms.keys().cloned().collect();
        for room in known {
            let new = fresh.remove(&room);
            if inner.rooms.get(&room) != new.as_ref() {
                let old = inner.set(&room, new.clone());
                changes.push((room, old, new));
            }
        }
        for (room, new) in fresh {
            inner.set(&room, Some(new.clone()));
            changes.push((room, None, Some(new)));
        }
        changes
    }

    /// Whether `room` is private (as far as this replica knows).
    pub fn is_private(&self, room: &str) -> bool {
        self.inner.read().unwrap().rooms.contains_key(room)
    }

    /// Whether `viewer` may see `room`: any room but a private one it is not in.
    pub fn allows(&self, room: &str, viewer: &Viewer<'_>) -> bool {
        let inner = self.inner.read().unwrap();
        inner.rooms.get(room).is_none_or(|a| viewer.may_see(a))
    }

    /// The participants of a private room.
    pub fn participants(&self, room: &str) -> Option<Vec<String>> {
        let inner = self.inner.read().unwrap();
        inner.rooms.get(room).map(|a| a.participants.clone())
    }

    /// Every private room this replica knows of.
    pub fn private_rooms(&self) -> BTreeSet<Arc<str>> {
        self.inner.read().unwrap().rooms.keys().cloned().collect()
    }

    /// The private rooms `viewer` sees in room lists, by name (every one for an admin); support
    /// conversations' rooms are listed by the support frames instead, never here.
    pub fn visible_to(&self, viewer: &Viewer<'_>) -> BTreeSet<Arc<str>> {
        let inner = self.inner.read().unwrap();
        if viewer.admin {
            let listed = inner.rooms.iter().filter(|(_, a)| !a.support);
            return listed.map(|(room, _)| room.clone()).collect();
        }
        viewer
            .user
            .and_then(|u| inner.by_user.get(u))
            .cloned()
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Change;

    fn user(name: &str) -> Viewer<'_> {
        Viewer {
            user: Some(name),
            admin: false,
            agent: false,
        }
    }

    #[test]
    fn only_participants_and_admins_see_a_private_room() {
        let acl = Acl::default();
        let room: Arc<str> = "plans-1".into();
        let mut access = Access::private_of("ann");
        access.apply(&Change::Add("bob")).unwrap();
        acl.set(&room, Some(access.clone()));
        assert!(acl.allows("plans-1", &user("bob")));
        assert!(!acl.allows("plans-1", &user("eve")));
        assert!(!acl.allows("plans-1", &Viewer::guest()));
        let admin = Viewer {
            user: Some("root"),
            admin: true,
            agent: true,
        };
        assert!(acl.allows("plans-1", &admin));
        assert!(acl.allows("general", &Viewer::guest()), "public");
        assert_eq!(acl.visible_to(&user("bob")).len(), 1);
        assert!(acl.visible_to(&user("eve")).is_empty());
        assert_eq!(acl.visible_to(&admin).len(), 1);
        assert!(user("ann").may_manage(&access));
        assert!(!user("bob").may_manage(&access));
        assert!(!Viewer::guest().may_manage(&Access::default()));

        let old = acl.set(&room, None);
        assert_eq!(old, Some(access));
        assert!(acl.visible_to(&user("bob")).is_empty());
        assert!(!acl.is_private("plans-1"));
    }

    #[test]
    fn agents_and_the_client_see_a_support_room_which_no_room_list_shows() {
        let acl = Acl::default();
        let room: Arc<str> = "support-0123456789".into();
        acl.set(&room, Some(Access::support_of("carol")));
        let agent = Viewer {
            user: Some("ann"),
            admin: false,
            agent: true,
        };
        let admin = Viewer {
            user: Some("root"),
            admin: true,
            agent: true,
        };
        assert!(acl.allows(&room, &user("carol")), "the client");
        assert!(acl.allows(&room, &agent) && acl.allows(&room, &admin));
        assert!(!acl.allows(&room, &user("eve")) && !acl.allows(&room, &Viewer::guest()));
        let guest_client = Viewer {
            user: Some("guest:00ff"),
            ..Viewer::guest()
        };
        assert!(!acl.allows(&room, &guest_client), "another client key");
        for viewer in [user("carol"), agent, admin] {
            assert!(acl.visible_to(&viewer).is_empty(), "{viewer:?}");
        }
        // An agent sees no other private room for being an agent.
        acl.set(&"plans-1".into(), Some(Access::private_of("bob")));
        assert!(!acl.allows("plans-1", &agent));
    }

    #[test]
    fn a_refresh_reports_changes_and_yields_to_newer_announcements() {
        let acl = Acl::default();
        let a = Access::private_of("ann");
        let generation = acl.generation();
        let changes = acl.replace_all(vec![("r1".into(), a.clone())], generation);
        assert_eq!(changes.len(), 1);
        let unchanged = acl.replace_all(vec![("r1".into(), a.clone())], acl.generation());
        assert!(unchanged.is_empty());
        let stale = acl.generation();
        acl.set(&"r2".into(), Some(Access::private_of("bob")));
        assert!(acl.replace_all(Vec::new(), stale).is_empty(), "older read");
        let gone = acl.replace_all(Vec::new(), acl.generation());
        assert_eq!(gone.len(), 2);
        assert!(
            gone.iter()
                .all(|(_, old, new)| old.is_some() && new.is_none())
        );
    }
}
