//! The session's room requests beyond joining: creating a room (public, or private with a random
//! suffix on its name), a private room's participants, deleting a room, and the one check every
//! request about a room goes through, [`Session::visible_access`]: a room this user may not see
//! is answered exactly like a room that does not exist.

use super::*;
use crate::{
    access::Viewer,
    accounts::username_key,
    limits::{MAX_PARTICIPANTS, MAX_ROOM_CHARS},
    store::{Access, Change, ChangeRefused, Changed},
};

/// Hex digits of randomness added to a private room's name: guessing one takes 2^40 tries.
const PRIVATE_SUFFIX_CHARS: usize = 10;

/// The answer for a room that does not exist, or that this user may not see: the same bytes.
pub(super) fn no_such_room(room: &str) -> ProtocolError {
    ProtocolError::new(ErrorCode::NoSuchRoom, format!("no room named {room}")).in_room(room)
}

impl Session {
    /// Who this connection is, for access checks (a guest with a support conversation is its
    /// client key).
    pub(super) fn viewer(&self) -> Viewer<'_> {
        self.handle.viewer()
    }

    /// `room`'s access record, read from the store, if this user may see the room; otherwise
    /// (and when it does not exist) `no_such_room`.
    pub(super) async fn visible_access(&self, room: &str) -> Result<Access, ProtocolError> {
        let access = self
            .state
            .store
            .access(room)
            .await
            .map_err(|e| unavailable(&self.state.metrics, e).in_room(room))?;
        access
            .filter(|a| self.viewer().may_see(a))
            .ok_or_else(|| no_such_room(room))
    }

    /// Refuse a guest whatever `--guest-posting` says: private rooms and their management need an
    /// account (participants are usernames).
    fn require_account(&self, what: &str, room: &str) -> Result<&str, ProtocolError> {
        self.visitor.key().ok_or_else(|| {
            ProtocolError::new(
                ErrorCode::LoginRequired,
                format!("guests cannot {what}; register or log in"),
            )
            .in_room(room)
        })
    }

    pub(super) async fn create_room(
        &mut self,
        name: String,
        timers: Timers,
        private: bool,
    ) -> Result<String, ProtocolError> {
        if crate::support::is_reserved_name(&name) {
            return Err(ProtocolError::field(
                "name",
                "names starting with support- are kept for support conversations",
            )
            .in_room(&name));
        }
        if !private {
            self.require_login("create rooms")
                .map_err(|e| e.in_room(&name))?;
            let access = self.visitor.key().map(Access::public_of);
            return match self.create(&name, access.as_ref(), timers).await? {
                true => Ok(ServerFrame::RoomCreated {
                    room: &name,
                    timers,
                    private: false,
                }
                .to_json()),
                false => Err(ProtocolError::new(
                    ErrorCode::RoomExists,
                    format!("a room named {name} already exists"),
                )
                .in_room(&name)),
            };
        }
        let user = self.require_account("create private rooms", &name)?;
        let max = MAX_ROOM_CHARS - PRIVATE_SUFFIX_CHARS - 1;
        if name.len() > max {
            return Err(ProtocolError::field(
                "name",
                format!(
                    "a private room's name must be at most {max} characters (a suffix is added)"
                ),
            )
            .in_room(&name));
        }
        let access = Access::private_of(user);
        // A new random suffix on the rare collision; twice in a row means something else is wrong.
        for _ in 0..2 {
            let suffix = uuid::Uuid::new_v4().simple().to_string();
            let room: Arc<str> = format!("{name}-{}", &suffix[..PRIVATE_SUFFIX_CHARS]).into();
            if self.create(&room, Some(&access), timers).await? {
                // Known here at once, so the creator's list shows it before any refresh.
                self.state.hub.apply_access(&room, Some(access));
                self.state.hub.rooms_changed.notify_one();
                return Ok(ServerFrame::RoomCreated {
                    room: &room,
                    timers,
                    private: true,
                }
                .to_json());
            }
        }
        Err(ProtocolError::new(
            ErrorCode::Internal,
            "could not name the room; try again",
        ))
    }

    /// Create a room (timed when `timers` say so); false when the name is taken.
    pub(super) async fn create(
        &self,
        name: &str,
        access: Option<&Access>,
        timers: Timers,
    ) -> Result<bool, ProtocolError> {
        let max_rooms = self.state.config.max_rooms;
        let created = self
            .state
            .store
            .create_room(name, max_rooms, access)
            .await
            .map_err(|e| unavailable(&self.state.metrics, e))?;
        match created {
            Created::Created => {
                crate::timed::start(&self.state, name, timers)
                    .await
                    .map_err(|e| unavailable(&self.state.metrics, e).in_room(name))?;
                Ok(true)
            }
            Created::Exists => Ok(false),
            Created::LimitReached => Err(ProtocolError::new(
                ErrorCode::TooManyRooms,
                format!("the server's limit of {max_rooms} rooms is reached"),
            )),
        }
    }

    /// `add_participant` / `remove_participant`: the creator or an admin; the reply is the new
    /// `participants`.
    pub(super) async fn change_participant(
        &mut self,
        room: String,
        username: String,
        add: bool,
    ) -> Result<String, ProtocolError> {
        self.require_account("manage participants", &room)?;
        let access = self.visible_access(&room).await?;
        if !access.private {
            return Err(
                ProtocolError::field("room", "only a private room has participants").in_room(&room),
            );
        }
        if !self.viewer().may_manage(&access) {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                "only the room's creator or an admin manages its participants",
            )
            .in_room(&room));
        }
        let key = username_key(&username);
        let fail = |e| unavailable(&self.state.metrics, e).in_room(&room);
        if add
            && self
                .state
                .store
                .account(&key)
                .await
                .map_err(fail)?
                .is_none()
        {
            return Err(ProtocolError {
                field: Some("username"),
                ..ProtocolError::new(ErrorCode::NoSuchUser, format!("no user named {username}"))
            }
            .in_room(&room));
        }
        let change = if add {
            Change::Add(&key)
        } else {
            Change::Remove(&key)
        };
        let changed = self
            .state
            .store
            .change_participant(&room, change)
            .await
            .map_err(fail)?;
        let access = match changed {
            Changed::Done(access) => access,
            // Deleted meanwhile.
            Changed::NotPrivate => return Err(no_such_room(&room)),
            Changed::Refused(ChangeRefused::Full) => {
                return Err(ProtocolError::field(
                    "username",
                    format!("a private room has at most {MAX_PARTICIPANTS} participants"),
                )
                .in_room(&room));
            }
            Changed::Refused(ChangeRefused::Creator) => {
                return Err(ProtocolError::field(
                    "username",
                    "the room's creator stays a participant; delete the room instead",
                )
                .in_room(&room));
            }
        };
        Ok(ServerFrame::Participants {
            room: &room,
            participants: &access.participants,
        }
        .to_json())
    }

    /// `delete_room`: the creator or an admin; never `general` (`forbidden`).
    pub(super) async fn delete_room(&mut self, room: String) -> Result<String, ProtocolError> {
        self.require_account("delete rooms", &room)?;
        let access = self.visible_access(&room).await?;
        if room == DEFAULT_ROOM {
            return Err(
                ProtocolError::new(ErrorCode::Forbidden, "general cannot be deleted")
                    .in_room(&room),
            );
        }
        if !self.viewer().may_manage(&access) {
            return Err(ProtocolError::new(
                ErrorCode::Forbidden,
                "only the room's creator or an admin deletes it",
            )
            .in_room(&room));
        }
        let deleted = self
            .state
            .store
            .delete_room(&room)
            .await
            .map_err(|e| unavailable(&self.state.metrics, e).in_room(&room))?;
        if !deleted {
            return Err(no_such_room(&room));
        }
        // This connection hears it from this reply, not again from the announcement.
        self.leave(&room);
        Ok(ServerFrame::RoomDeleted { room: &room }.to_json())
    }
}
