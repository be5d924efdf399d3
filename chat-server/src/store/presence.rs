//! Who is online, as the stores keep it: one replica's [`RoomPresence`] per room (counts by kind
//! and the registered users' names), its text form in Redis, and the [`Listing`] that sums every
//! live replica's presence into the room list and the whole chat's totals. What to push to
//! clients is `crate::presence`'s business.

use std::collections::BTreeMap;

use crate::{
    limits::MAX_MEMBERS_LISTED,
    protocol::{Counts, Member, RoomInfo},
};

/// The pseudo-room of presence that counts every connection of a replica (room names cannot
/// hold `*`): the `totals` of `rooms`.
pub const ALL_CONNECTIONS: &str = "*";

/// Who one replica has online in one room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomPresence {
    pub registered: u64,
    pub guests: u64,
    /// The registered users, each once, sorted, at most [`MAX_MEMBERS_LISTED`].
    pub users: Vec<Member>,
}

impl RoomPresence {
    /// The presence of these connections: each a registered user, or `None` for a guest.
    pub fn of(connections: impl Iterator<Item = Option<Member>>) -> Self {
        let mut out = Self::default();
        for connection in connections {
            match connection {
                Some(member) => {
                    out.registered += 1;
                    out.users.push(member);
                }
                None => out.guests += 1,
            }
        }
        out.users.sort();
        out.users
            .dedup_by(|a, b| a.username.eq_ignore_ascii_case(&b.username));
        out.users.truncate(MAX_MEMBERS_LISTED);
        out
    }

    /// Nobody online.
    pub fn is_empty(&self) -> bool {
        self.registered == 0 && self.guests == 0
    }

    /// Add another replica's presence (users merged, each once, still bounded).
    pub fn add(&mut self, other: &Self) {
        self.registered += other.registered;
        self.guests += other.guests;
        self.users.extend(other.users.iter().cloned());
        self.users.sort();
        self.users
            .dedup_by(|a, b| a.username.eq_ignore_ascii_case(&b.username));
        self.users.truncate(MAX_MEMBERS_LISTED);
    }

    /// The value kept in Redis: `"<registered> <guests> <users JSON>"`, `"0"` for nobody.
    pub(crate) fn encode(&self) -> String {
        if self.is_empty() {
            return "0".into();
        }
        let users = serde_json::to_string(&self.users).expect("members serialise");
        format!("{} {} {users}", self.registered, self.guests)
    }

    /// The inverse of [`Self::encode`]; a bare number (an older replica) counts as guests.
    pub(crate) fn decode(raw: &str) -> Self {
        let mut parts = raw.splitn(3, ' ');
        let first = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        match (parts.next().and_then(|n| n.parse().ok()), parts.next()) {
            (Some(guests), users) => Self {
                registered: first,
                guests,
                users: users
                    .and_then(|u| serde_json::from_str(u).ok())
                    .unwrap_or_default(),
            },
            (None, _) => Self {
                guests: first,
                ..Self::default()
            },
        }
    }
}

/// The room list with online counts, and the whole chat's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    pub rooms: Vec<RoomInfo>,
    pub totals: Counts,
}

impl Listing {
    /// Rooms `names` (sorted here) with the summed presence `entries` of every live replica.
    pub fn of(names: Vec<String>, entries: impl Iterator<Item = (String, RoomPresence)>) -> Self {
        let mut sums: BTreeMap<String, RoomPresence> = BTreeMap::new();
        for (room, p) in entries {
            sums.entry(room).or_default().add(&p);
        }
        let all = sums.remove(ALL_CONNECTIONS).unwrap_or_default();
        let mut rooms: Vec<RoomInfo> = names
            .into_iter()
            .map(|name| {
                let p = sums.remove(&name).unwrap_or_default();
                RoomInfo {
                    name,
                    online: p.registered + p.guests,
                    registered: p.registered,
                    guests: p.guests,
                    users: p.users,
                    ..RoomInfo::default()
                }
            })
            .collect();
        rooms.sort_by(|a, b| a.name.cmp(&b.name));
        Self {
            rooms,
            totals: Counts {
                online: all.registered + all.guests,
                registered: all.registered,
                guests: all.guests,
            },
        }
    }
}
