//! Who may see a room: the record every backend keeps for a room with a creator or a participant
//! list (a public room created by a guest, and `general`, have none). Usernames are the accounts'
//! lowercase keys. The stores only keep and change this record; what a viewer may do with it is
//! decided by `crate::access`, and the creator/admin checks by the session. A support
//! conversation's room is private with the client as its only participant and no creator, and
//! marked `support`: agents may see it too.

use serde::Serialize;

pub use crate::limits::MAX_PARTICIPANTS;

/// A room's creator and, when it is private, its participants.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Access {
    /// The username (lowercase key) of the registered user who created it, if one did.
    pub creator: Option<String>,
    /// Only participants (and admins) see a private room.
    pub private: bool,
    /// Sorted, without duplicates; the creator is always one. Empty for a public room.
    pub participants: Vec<String>,
    /// A support conversation's room (private, the client its participant): agents see it.
    pub support: bool,
}

impl Access {
    /// A private room of `creator`, its only participant so far.
    pub fn private_of(creator: &str) -> Self {
        Self {
            creator: Some(creator.to_owned()),
            private: true,
            participants: vec![creator.to_owned()],
            support: false,
        }
    }

    /// A public room created by `creator`.
    pub fn public_of(creator: &str) -> Self {
        Self {
            creator: Some(creator.to_owned()),
            private: false,
            participants: Vec::new(),
            support: false,
        }
    }

    /// The room of `client`'s support conversation (a client key: a username, `ext:<id>` or
    /// `guest:<hex>`): private, nobody's, the client its only participant.
    pub fn support_of(client: &str) -> Self {
        Self {
            creator: None,
            private: true,
            participants: vec![client.to_owned()],
            support: true,
        }
    }

    /// Whether `username` (a lowercase key) is a participant.
    pub fn has_participant(&self, username: &str) -> bool {
        self.participants
            .binary_search_by(|p| p.as_str().cmp(username))
            .is_ok()
    }

    /// Add or remove one participant; the creator is never removed.
    pub(crate) fn apply(&mut self, change: &Change<'_>) -> Result<(), ChangeRefused> {
        match *change {
            Change::Add(user) => {
                if let Err(at) = self.participants.binary_search_by(|p| p.as_str().cmp(user)) {
                    if self.participants.len() >= MAX_PARTICIPANTS {
                        return Err(ChangeRefused::Full);
                    }
                    self.participants.insert(at, user.to_owned());
                }
            }
            Change::Remove(user) => {
                if self.creator.as_deref() == Some(user) {
                    return Err(ChangeRefused::Creator);
                }
                self.participants.retain(|p| p != user);
            }
        }
        Ok(())
    }

    /// The one-line form Redis keeps: `private <creator> <participant>...`,
    /// `support - <client>` or `public <creator>` (`-` for no creator). Usernames never contain
    /// a space.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::from(match (self.support, self.private) {
            (true, _) => "support ",
            (false, true) => "private ",
            (false, false) => "public ",
        });
        out.push_str(self.creator.as_deref().unwrap_or("-"));
        for p in &self.participants {
            out.push(' ');
            out.push_str(p);
        }
        out
    }

    /// The inverse of [`Self::encode`]; `None` for anything it did not write.
    pub(crate) fn decode(raw: &str) -> Option<Self> {
        let mut words = raw.split(' ');
        let (private, support) = match words.next()? {
            "private" => (true, false),
            "support" => (true, true),
            "public" => (false, false),
            _ => return None,
        };
        let creator = match words.next()? {
            "-" => None,
            c => Some(c.to_owned()),
        };
        let mut participants: Vec<String> = words.map(str::to_owned).collect();
        participants.sort_unstable();
        participants.dedup();
        Some(Self {
            creator,
            private,
            participants,
            support,
        })
    }
}

/// One change to a private room's participants (usernames as lowercase keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    Add(&'a str),
    Remove(&'a str),
}

/// Why a participant change was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeRefused {
    /// The room has [`MAX_PARTICIPANTS`] already.
    Full,
    /// The creator stays a participant (delete the room instead).
    Creator,
}

/// The outcome of a participant change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Done (or nothing to do): the participants now.
    Done(Access),
    /// No such room, or it is not private.
    NotPrivate,
    Refused(ChangeRefused),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_round_trips_and_changes_keep_the_list_sorted() {
        let mut a = Access::private_of("carol");
        a.apply(&Change::Add("alice")).unwrap();
        a.apply(&Change::Add("bob")).unwrap();
        a.apply(&Change::Add("alice")).unwrap();
        assert_eq!(a.participants, ["alice", "bob", "carol"]);
        assert_eq!(
            a.apply(&Change::Remove("carol")),
            Err(ChangeRefused::Creator)
        );
        a.apply(&Change::Remove("bob")).unwrap();
        assert_eq!(a.encode(), "private carol alice carol");
        assert_eq!(Access::decode(&a.encode()), Some(a));
        let p = Access::public_of("dan");
        assert_eq!(Access::decode(&p.encode()), Some(p));
        assert_eq!(Access::decode("public -"), Some(Access::default()));
        assert_eq!(Access::decode("secret x"), None);
        let s = Access::support_of("guest:0a1b");
        assert_eq!(s.encode(), "support - guest:0a1b");
        assert_eq!(Access::decode(&s.encode()), Some(s));
    }

    #[test]
    fn a_room_holds_at_most_max_participants() {
        let mut a = Access::private_of("owner");
        for i in 1..MAX_PARTICIPANTS {
            a.apply(&Change::Add(&format!("u{i:03}"))).unwrap();
        }
        assert_eq!(a.apply(&Change::Add("late")), Err(ChangeRefused::Full));
        a.apply(&Change::Add("u001")).unwrap();
    }
}
