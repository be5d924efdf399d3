//! A support conversation as the stores keep it ([`Conversation`], serialised as JSON) and the one
//! rule of how it changes ([`Conversation::apply`]): a pure function of the record and an
//! [`Action`], so every backend applies it the same way (under the memory store's lock, or as a
//! compare-and-set in Redis and PostgreSQL) and it is tested here without IO.

use serde::{Deserialize, Serialize};

use crate::limits::{MAX_SUPPORT_UNREAD, SUPPORT_PREVIEW_CHARS};

/// Where a conversation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum State {
    /// Nobody has taken it.
    Waiting,
    /// An agent holds it.
    Open,
    /// Closed by an agent; the client's next message reopens it.
    Closed,
}

impl State {
    /// The state as written on the wire.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// The newest message of a conversation, as the queue shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Last {
    pub(crate) name: String,
    /// The first [`SUPPORT_PREVIEW_CHARS`] characters.
    pub(crate) content: String,
    pub(crate) time_ms: u64,
    pub(crate) offset: u64,
}

/// One client's support conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Conversation {
    /// Its room, `support-<10 hex>`.
    pub(crate) room: String,
    /// The client key: a lowercase username, `ext:<id>` or `guest:<20 hex>`.
    pub(crate) client: String,
    /// The client's name when the conversation was opened, or their latest message's.
    pub(crate) client_name: String,
    pub(crate) guest: bool,
    pub(crate) state: State,
    /// The holding agent's username (lowercase key) and display name.
    pub(crate) taken_by: Option<String>,
    pub(crate) taken_by_name: Option<String>,
    pub(crate) last: Option<Last>,
    /// When the oldest client message no agent answered was sent (ms); `None` when answered or
    /// closed.
    pub(crate) waiting_since_ms: Option<u64>,
    /// The newest offset an agent wrote at: client messages before it are answered.
    #[serde(default)]
    pub(crate) answered: u64,
    /// The newest offset any agent has read.
    pub(crate) agent_read: u64,
    /// Offsets of client messages after `agent_read`, oldest first, the newest
    /// [`MAX_SUPPORT_UNREAD`] kept: the `unread` count.
    pub(crate) unread: Vec<u64>,
    pub(crate) opened_ms: u64,
    pub(crate) updated_ms: u64,
    /// A guest's conversation: the SHA-256 (hex) of the resume token they were given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) resume_hash: Option<String>,
}

/// Who asks for a change: an account key (or a guest's client key) and its roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Actor<'a> {
    pub(crate) key: &'a str,
    pub(crate) name: &'a str,
    pub(crate) agent: bool,
    pub(crate) admin: bool,
}

/// A change asked of a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action<'a> {
    /// A message was stored in the conversation's room.
    Message {
        by: Actor<'a>,
        content: &'a str,
        time_ms: u64,
        offset: u64,
    },
    /// A user read the room up to `offset` (only agents' reads count).
    Read { by: Actor<'a>, offset: u64 },
    /// An agent takes it.
    Take { by: Actor<'a> },
    /// The holder (or an admin) hands it to the agent `to` (key) named `to_name`.
    Transfer {
        by: Actor<'a>,
        to: &'a str,
        to_name: &'a str,
    },
    /// The holder, any agent while nobody holds it, or an admin closes it.
    Close { by: Actor<'a> },
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Another agent holds it (a take that lost the race).
    Taken,
    /// This user may not do that (the reason, for people).
    Forbidden(&'static str),
}

impl Conversation {
    /// A new waiting conversation of `client` in `room`.
    pub(crate) fn new(room: &str, client: &str, client_name: &str, guest: bool, now: u64) -> Self {
        Self {
            room: room.to_owned(),
            client: client.to_owned(),
            client_name: client_name.to_owned(),
            guest,
            state: State::Waiting,
            taken_by: None,
            taken_by_name: None,
            last: None,
            waiting_since_ms: None,
            answered: 0,
            agent_read: 0,
            unread: Vec::new(),
            opened_ms: now,
            updated_ms: now,
            resume_hash: None,
        }
    }

    /// The record after `action` at `now` (ms): `Ok(None)` when nothing changes.
    pub(crate) fn apply(&self, action: &Action<'_>, now: u64) -> Result<Option<Self>, Refusal> {
        let mut next = self.clone();
        match *action {
            Action::Message {
                by,
                content,
                time_ms,
                offset,
            } => {
                let from_client = by.key == self.client;
                if !from_client && !by.agent {
                    return Ok(None);
                }
                // Updates of two messages may land in either order: each field keeps the newest.
                if self.last.as_ref().is_none_or(|l| l.offset < offset) {
                    next.last = Some(Last {
                        name: by.name.to_owned(),
                        content: content.chars().take(SUPPORT_PREVIEW_CHARS).collect(),
                        time_ms,
                        offset,
                    });
                }
                if from_client {
                    if self.last.as_ref().is_none_or(|l| l.offset < offset) {
                        next.client_name = by.name.to_owned();
                    }
                    if offset > self.answered {
                        let since = next.waiting_since_ms.get_or_insert(time_ms);
                        *since = (*since).min(time_ms);
                    }
                    if offset > next.agent_read && !next.unread.contains(&offset) {
                        let at = next.unread.partition_point(|&o| o < offset);
                        next.unread.insert(at, offset);
                        let extra = next.unread.len().saturating_sub(MAX_SUPPORT_UNREAD);
                        next.unread.drain(..extra);
                    }
                    if next.state == State::Closed {
                        next.state = State::Waiting;
                        next.taken_by = None;
                        next.taken_by_name = None;
                    }
                } else if offset > self.answered {
                    next.answered = offset;
                    next.waiting_since_ms = None;
                }
            }
            Action::Read { by, offset } => {
                if !by.agent || by.key == self.client || offset <= self.agent_read {
                    return Ok(None);
                }
                next.agent_read = offset;
                next.unread.retain(|&o| o > offset);
            }
            Action::Take { by } => {
                if !by.agent {
                    return Err(Refusal::Forbidden("only support agents take conversations"));
                }
                match self.taken_by.as_deref() {
                    Some(holder) if holder == by.key => return Ok(None),
                    Some(_) => return Err(Refusal::Taken),
                    None => {}
                }
                next.state = State::Open;
                next.taken_by = Some(by.key.to_owned());
                next.taken_by_name = Some(by.name.to_owned());
            }
            Action::Transfer { by, to, to_name } => {
                let holds = self.taken_by.as_deref() == Some(by.key);
                if !(by.admin || (by.agent && holds)) {
                    return Err(Refusal::Forbidden(
                        "only the agent holding a conversation (or an admin) hands it over",
                    ));
                }
                if self.taken_by.as_deref() == Some(to) {
                    return Ok(None);
                }
                next.state = State::Open;
                next.taken_by = Some(to.to_owned());
                next.taken_by_name = Some(to_name.to_owned());
            }
            Action::Close { by } => {
                let holder = self.taken_by.as_deref();
                let allowed = by.admin || (by.agent && holder.is_none_or(|h| h == by.key));
                if !allowed {
                    return Err(Refusal::Forbidden(
                        "only the agent holding a conversation (or an admin) closes it",
                    ));
                }
                if self.state == State::Closed {
                    return Ok(None);
                }
                next.state = State::Closed;
                next.taken_by = None;
                next.taken_by_name = None;
                next.waiting_since_ms = None;
            }
        }
        next.updated_ms = now.max(self.updated_ms);
        Ok(Some(next))
    }

    /// Whether the state, the holder or the state's frame changed from `self` to `next` (what
    /// the room hears as `support_state`).
    pub(crate) fn state_changed(&self, next: &Self) -> bool {
        self.state != next.state || self.taken_by != next.taken_by
    }

    /// The record as stored (JSON).
    pub(crate) fn encode(&self) -> String {
        serde_json::to_string(self).expect("a conversation serialises")
    }

    /// The inverse of [`Self::encode`]; `None` for anything else.
    pub(crate) fn decode(raw: &str) -> Option<Self> {
        serde_json::from_str(raw).ok()
    }
}

#[cfg(test)]
mod tests;
