//! The message-lifecycle frames of `docs/protocol.md`: `edit`, `delete` and an ephemeral `send`
//! parsed here, the server's `edited` / `deleted` notices and the ephemeral frame and ack built
//! here, and [`rewrite`], the pure rule that turns a stored `message` frame into its edited form
//! or its tombstone. No IO: the stores apply [`rewrite`] atomically, the session decides who asks.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{
    ClientMessage, Limits, MessageDraft, ProtocolError, required_str, to_json, validate_client_id,
    validate_content, validate_room, validate_topic,
};
use crate::clock::rfc3339_ms;

/// `edit {room, offset, content}`: content is validated like `send`'s.
pub(super) fn parse_edit(
    obj: &Map<String, Value>,
    limits: &Limits,
) -> Result<ClientMessage, ProtocolError> {
    Ok(ClientMessage::Edit {
        room: validate_room(required_str(obj, "room")?, "room")?,
        offset: parse_offset(obj)?,
        content: validate_content(required_str(obj, "content")?, limits.max_content_bytes)?,
    })
}

/// `delete {room, offset}`.
pub(super) fn parse_delete(obj: &Map<String, Value>) -> Result<ClientMessage, ProtocolError> {
    Ok(ClientMessage::Delete {
        room: validate_room(required_str(obj, "room")?, "room")?,
        offset: parse_offset(obj)?,
    })
}

/// Whether a `send` asks to be ephemeral (`ephemeral` present and not `false`/null; anything but
/// `true` is then refused by [`parse_ephemeral`]).
pub(super) fn wants_ephemeral(obj: &Map<String, Value>) -> bool {
    !matches!(
        obj.get("ephemeral"),
        None | Some(Value::Null | Value::Bool(false))
    )
}

/// `send {..., ephemeral: true}`: validated exactly like a stored `send`.
pub(super) fn parse_ephemeral(
    obj: &Map<String, Value>,
    limits: &Limits,
) -> Result<ClientMessage, ProtocolError> {
    if obj.get("ephemeral") != Some(&Value::Bool(true)) {
        return Err(ProtocolError::field(
            "ephemeral",
            "ephemeral must be true or false",
        ));
    }
    Ok(ClientMessage::Ephemeral {
        room: validate_room(required_str(obj, "room")?, "room")?,
        client_id: validate_client_id(required_str(obj, "client_id")?)?,
        topic: validate_topic(super::optional_str(obj, "topic")?, limits.max_topic_chars)?,
        content: validate_content(required_str(obj, "content")?, limits.max_content_bytes)?,
    })
}

fn parse_offset(obj: &Map<String, Value>) -> Result<u64, ProtocolError> {
    obj.get("offset")
        .and_then(Value::as_u64)
        .filter(|o| *o >= 1)
        .ok_or_else(|| ProtocolError::field("offset", "offset must be an integer >= 1"))
}

/// The `message` frame of an ephemeral send: the fields of a stored one, `ephemeral: true`, and
/// no offset (it has none: nothing stores it).
pub fn ephemeral_frame(draft: &MessageDraft<'_>) -> String {
    let mut frame = draft.frame_prefix();
    let cut = frame.len() - ",\"offset\":".len();
    frame.truncate(cut);
    frame.push_str(",\"ephemeral\":true}");
    frame
}

/// The `ack` of an ephemeral send: no offset, `ephemeral: true`.
pub fn ephemeral_ack(client_id: &str, room: &str, id: &str) -> String {
    #[derive(Serialize)]
    struct Ack<'a> {
        r#type: &'static str,
        client_id: &'a str,
        room: &'a str,
        id: &'a str,
        duplicate: bool,
        ephemeral: bool,
    }
    to_json(&Ack {
        r#type: "ack",
        client_id,
        room,
        id,
        duplicate: false,
        ephemeral: true,
    })
}

/// What a client asks to do to a stored message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change<'a> {
    /// Replace its content (the sender only).
    Edit { content: &'a str },
    /// Leave a tombstone (the sender or an admin).
    Delete,
}

/// Who asks: a registered user (guests never reach the stores).
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub username: &'a str,
    pub admin: bool,
}

/// An edit or deletion of the message at `offset` in `room`, asked at `at_ms`.
#[derive(Debug, Clone, Copy)]
pub struct Rewrite<'a> {
    pub room: &'a str,
    pub offset: u64,
    pub change: Change<'a>,
    pub actor: Actor<'a>,
    pub at_ms: u64,
}

/// Why a rewrite was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No message at this offset is kept (never stored, or trimmed / past retention).
    NoSuchMessage,
    /// The message was deleted: a tombstone cannot be edited.
    Deleted,
    /// Not the asker's message (and, for a deletion, the asker is no admin).
    NotYours,
}

impl Refusal {
    /// The error frame a client gets.
    pub fn to_error(self, rewrite: &Rewrite<'_>) -> ProtocolError {
        use super::ErrorCode::{Forbidden, NoSuchMessage};
        let (room, offset) = (rewrite.room, rewrite.offset);
        let (code, message) = match (self, rewrite.change) {
            (Self::NoSuchMessage, _) => (
                NoSuchMessage,
                format!("{room} keeps no message at offset {offset}"),
            ),
            (Self::Deleted, _) => (
                NoSuchMessage,
                format!("the message at offset {offset} in {room} was deleted"),
            ),
            (Self::NotYours, Change::Edit { .. }) => {
                (Forbidden, "you can edit only your own messages".to_owned())
            }
            (Self::NotYours, Change::Delete) => (
                Forbidden,
                "you can delete only your own messages (admins: any)".to_owned(),
            ),
        };
        ProtocolError::new(code, message).in_room(room)
    }
}

/// What a store does with the frame it holds at the offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Store `frame` in place of the old one and announce `notice` to the room.
    Write {
        frame: String,
        notice: String,
    },
    /// Already so (a retry): nothing to store; `notice` answers the asker.
    Unchanged {
        notice: String,
    },
    Refused(Refusal),
}

/// The `edited` / `deleted` notices sent to a room.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Notice<'a> {
    Edited {
        room: &'a str,
        offset: u64,
        content: &'a str,
        edited_at: &'a str,
    },
    Deleted {
        room: &'a str,
        offset: u64,
    },
}

/// The rule, applied to the frame stored at the offset: an edit sets `content` and `edited` (RFC
/// 3339) and is the sender's only; a deletion keeps who sent it and when (`name`, `user`,
/// `guest`, `time`, `id`, `client_id`, `offset`) and drops what was said (`content`, `topic`,
/// `email`, `edited`), adding `deleted: true`, and is the sender's or an admin's. The sender is
/// the stored `user` (compared ignoring case, as usernames are unique ignoring case), never the
/// display name: a guest's message (`user` null) is nobody's to edit.
pub fn rewrite(r: &Rewrite<'_>, stored: &str) -> Decision {
    let Ok(mut frame) = serde_json::from_str::<Map<String, Value>>(stored) else {
        tracing::error!(
            room = r.room,
            offset = r.offset,
            "stored message is not JSON"
        );
        return Decision::Refused(Refusal::NoSuchMessage);
    };
    let mine = frame
        .get("user")
        .and_then(Value::as_str)
        .is_some_and(|u| u.eq_ignore_ascii_case(r.actor.username));
    let deleted = frame.get("deleted") == Some(&Value::Bool(true));
    let (room, offset) = (r.room, r.offset);
    match r.change {
        Change::Edit { .. } if deleted => Decision::Refused(Refusal::Deleted),
        Change::Edit { .. } if !mine => Decision::Refused(Refusal::NotYours),
        Change::Delete if !mine && !r.actor.admin => Decision::Refused(Refusal::NotYours),
        Change::Delete => {
            let notice = to_json(&Notice::Deleted { room, offset });
            if deleted {
                return Decision::Unchanged { notice };
            }
            for gone in ["content", "topic", "email", "edited"] {
                frame.remove(gone);
            }
            frame.insert("deleted".into(), Value::Bool(true));
            Decision::Write {
                frame: to_json(&frame),
                notice,
            }
        }
        Change::Edit { content } => {
            let edited_at = match frame.get("edited").and_then(Value::as_str) {
                Some(at) if frame.get("content").and_then(Value::as_str) == Some(content) => {
                    let notice = edited_notice(room, offset, content, at);
                    return Decision::Unchanged { notice };
                }
                _ => rfc3339_ms(r.at_ms),
            };
            frame.insert("content".into(), Value::String(content.to_owned()));
            frame.insert("edited".into(), Value::String(edited_at.clone()));
            Decision::Write {
                frame: to_json(&frame),
                notice: edited_notice(room, offset, content, &edited_at),
            }
        }
    }
}

fn edited_notice(room: &str, offset: u64, content: &str, edited_at: &str) -> String {
    to_json(&Notice::Edited {
        room,
        offset,
        content,
        edited_at,
    })
}

#[cfg(test)]
mod tests;
