//! Server frames: [`MessageDraft`] (a `message` frame serialised once, completed with its offset
//! by the store), [`ServerFrame`] (every other frame but `error`) and the room listings they
//! carry ([`RoomInfo`], [`Member`], [`Counts`]).

use serde::Serialize;
use serde_json::value::RawValue;

use super::{Limits, PingId, Timers};

pub(super) fn to_json<T: Serialize>(value: &T) -> String {
    // Serialising our own plain structs cannot fail: no maps with non-string keys, no floats.
    serde_json::to_string(value).expect("server frames always serialise")
}

/// Everything of a `message` frame but its offset, which the store assigns.
#[derive(Debug, Serialize)]
pub struct MessageDraft<'a> {
    /// The room it is sent to.
    pub room: &'a str,
    /// Server-assigned unique id.
    pub id: &'a str,
    /// Sender name (a registered user's display name).
    pub name: &'a str,
    /// The sender's username; `None` for a guest.
    pub user: Option<&'a str>,
    /// True when a guest sent it (guest posting on).
    pub guest: bool,
    /// Sender email.
    pub email: Option<&'a str>,
    /// Server time, RFC 3339 UTC.
    pub time: &'a str,
    /// Optional topic.
    pub topic: Option<&'a str>,
    /// The text.
    pub content: &'a str,
    /// The sender's idempotency key.
    pub client_id: &'a str,
    /// The offset of the message this one replies to (absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<u64>,
}

impl MessageDraft<'_> {
    /// The frame up to its offset: the store appends `<offset>}` to complete it, so the frame is
    /// serialised once, inside the atomic append, and forwarded verbatim to every recipient.
    pub fn frame_prefix(&self) -> String {
        #[derive(Serialize)]
        struct Tagged<'a, 'b> {
            r#type: &'static str,
            #[serde(flatten)]
            draft: &'a MessageDraft<'b>,
        }
        let mut json = to_json(&Tagged {
            r#type: "message",
            draft: self,
        });
        json.pop(); // the closing brace
        json.push_str(",\"offset\":");
        json
    }
}

/// Complete a frame prefix with its offset (what the stores do).
pub fn complete_frame(prefix: &str, offset: u64) -> String {
    format!("{prefix}{offset}}}")
}

/// Server frames other than `message` and `error`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame<'a> {
    Welcome {
        protocol: u32,
        session: &'a str,
        server: &'a str,
        name: &'a str,
        email: Option<&'a str>,
        limits: &'a Limits,
        /// The signed-in user, or null for a guest.
        user: Option<&'a crate::accounts::User>,
        /// Whether guests may send (`--guest-posting`).
        guest_posting: bool,
    },
    Joined {
        room: &'a str,
        epoch: &'a str,
        offset: u64,
        messages: &'a RawValue,
        recovered: bool,
        online: u64,
        /// True when the client must continue with `history {after}`: the recovery did not fit.
        more: bool,
    },
    History {
        room: &'a str,
        epoch: &'a str,
        messages: &'a RawValue,
        more: bool,
    },
    Left {
        room: &'a str,
    },
    Ack {
        client_id: &'a str,
        room: &'a str,
        offset: u64,
        id: &'a str,
        duplicate: bool,
    },
    Rooms {
        rooms: &'a [RoomInfo],
        /// The whole chat's online connections by kind.
        totals: Counts,
    },
    /// Who is online in a room: its registered users (at most `MAX_MEMBERS_LISTED`) and the
    /// number of guest connections.
    Members {
        room: &'a str,
        users: &'a [Member],
        guests: u64,
    },
    RoomCreated {
        room: &'a str,
        #[serde(flatten)]
        timers: Timers,
        /// Only on a private room's creation (whose name got a suffix).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        private: bool,
    },
    /// A private room's participants (lowercase usernames), to its members on join and on
    /// every change, and in reply to `add_participant`/`remove_participant`.
    Participants {
        room: &'a str,
        participants: &'a [String],
    },
    /// This user was removed from a private room: it is left, and leaves the room list.
    Removed {
        room: &'a str,
    },
    /// The room was deleted with its history: it is left, and leaves the room list.
    RoomDeleted {
        room: &'a str,
    },
    Resync {
        room: &'a str,
        epoch: &'a str,
    },
    Pong {
        id: &'a PingId,
    },
    /// The answer to `search`: matching messages, newest first; with `more`, the next page is
    /// `search {before: next_before}`.
    SearchResults {
        room: &'a str,
        query: &'a str,
        messages: &'a RawValue,
        more: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        next_before: Option<u64>,
    },
    /// Whether this replica can store messages; sent after `welcome` when it cannot, and to every
    /// client whenever it changes.
    Health {
        ready: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'a str>,
    },
    /// A timed room's history was cleared: every message up to `through` is gone.
    Cleared {
        room: &'a str,
        through: u64,
    },
    /// A timed room was idle too long and is deleted; the client is no longer in it.
    Expired {
        room: &'a str,
    },
    /// A message's current vote counts, to the room on every change; the answer to a `vote`
    /// also carries the voter's own vote as `mine`.
    Votes {
        room: &'a str,
        offset: u64,
        up: u64,
        down: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        mine: Option<i8>,
    },
    /// A message's current number of replies, to the room whenever a reply is stored.
    ReplyCount {
        room: &'a str,
        offset: u64,
        count: u64,
    },
    /// The answer to `support_open`: the client's conversation (a guest's carries `resume`).
    SupportOpened {
        room: &'a str,
        state: &'a str,
        taken_by: Option<&'a str>,
        taken_by_name: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        resume: Option<&'a str>,
    },
    /// A conversation was taken, handed over, closed or reopened: to its room's members.
    SupportState {
        room: &'a str,
        state: &'a str,
        taken_by: Option<&'a str>,
        taken_by_name: Option<&'a str>,
    },
    /// Every agent's view of the support desk, on connect and after every change.
    SupportQueue {
        conversations: &'a [super::SupportEntry],
    },
}

impl ServerFrame<'_> {
    /// The frame as JSON text.
    pub fn to_json(&self) -> String {
        to_json(self)
    }
}

/// A room and its online counts, as listed in `rooms` and `/api/rooms`: `online` connections,
/// of which `registered` are signed in and `guests` are not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RoomInfo {
    pub name: String,
    pub online: u64,
    pub registered: u64,
    pub guests: u64,
    /// The room's timers (0 = never).
    #[serde(flatten)]
    pub timers: Timers,
    /// Listed only to its participants (and admins).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub private: bool,
    /// The registered users online (for `members`; not part of the listing).
    #[serde(skip)]
    pub users: Vec<Member>,
}

/// A registered user online in a room, as `members` lists them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
pub struct Member {
    pub username: String,
    pub display_name: String,
}

/// Online connections by kind (the `totals` of `rooms`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub online: u64,
    pub registered: u64,
    pub guests: u64,
}

/// A JSON array made of already-serialised message frames, checked but not re-parsed into values.
pub fn frames_array(frames: &[std::sync::Arc<str>]) -> Result<Box<RawValue>, serde_json::Error> {
    let mut out = String::with_capacity(2 + frames.iter().map(|f| f.len() + 1).sum::<usize>());
    out.push('[');
    for (i, f) in frames.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(f);
    }
    out.push(']');
    RawValue::from_string(out)
}
