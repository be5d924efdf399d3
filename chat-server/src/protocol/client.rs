//! Client frames: [`ClientMessage`], every frame a client may send, and its parser, which reads
//! one text frame, checks each field (with the validators of `fields`) and refuses anything else
//! with a [`ProtocolError`]. Frames of their own feature parse in `edits`, `votes` and `timed`.

use serde_json::{Map, Value};

use super::fields::{
    optional_bool, optional_str, required_str, validate_client_id, validate_content,
    validate_email, validate_name, validate_room, validate_topic,
};
use super::{
    DEFAULT_PAGE, ErrorCode, MAX_PAGE, MAX_PING_ID_BYTES, PingId, ProtocolError, Timers, edits,
    json, support, votes,
};
use crate::accounts::validate_username;
use crate::limits::{Limits, MAX_EPOCH_CHARS};
use crate::query::Query;

/// A point in a room's history a client has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    /// The room's epoch when the client saw `offset`.
    pub epoch: String,
    /// The highest offset the client has.
    pub offset: u64,
}

/// Which messages a `history` request pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// The newest messages with an offset below this one.
    Before(u64),
    /// The oldest messages with an offset above this one.
    After(u64),
}

/// A validated frame from a client.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    /// Identify (or re-identify) the connection.
    Hello { name: String, email: Option<String> },
    /// Join a room, optionally recovering from a point in its history; with a `filter`, this
    /// connection gets only the room's messages that match it (none clears it).
    Join {
        room: String,
        since: Option<Since>,
        filter: Option<Box<Query>>,
    },
    /// Leave a room.
    Leave { room: String },
    /// A page of a room's history before or after an offset (at most [`MAX_PAGE`]).
    History {
        room: String,
        cursor: Cursor,
        limit: u32,
    },
    /// Send a message to a joined room.
    Send {
        room: String,
        topic: Option<String>,
        content: String,
        client_id: String,
        /// The offset of the message this one replies to, in the same room.
        reply_to: Option<u64>,
    },
    /// List rooms.
    Rooms,
    /// Create a room, optionally timed (cleared every so often, deleted when idle); a private one
    /// (registered users only) gets a random suffix on its name.
    CreateRoom {
        name: String,
        timers: Timers,
        private: bool,
    },
    /// Add a participant to a private room (its creator or an admin).
    AddParticipant { room: String, username: String },
    /// Remove a participant from a private room (its creator or an admin).
    RemoveParticipant { room: String, username: String },
    /// Delete a room and its history (its creator or an admin).
    DeleteRoom { room: String },
    /// Application-level ping.
    Ping { id: PingId },
    /// Messages of a room matching a query, newest first, below the offset `before`.
    Search {
        room: String,
        query: Box<Query>,
        /// The query as the client wrote it (echoed in `search_results`).
        text: String,
        limit: u32,
        before: u64,
    },
    /// Replace the content of one's own stored message (`edits`).
    Edit {
        room: String,
        offset: u64,
        content: String,
    },
    /// Delete a stored message: one's own, or any for an admin (`edits`).
    Delete { room: String, offset: u64 },
    /// `send` with `ephemeral: true`: delivered live, stored nowhere (`edits`).
    Ephemeral {
        room: String,
        topic: Option<String>,
        content: String,
        client_id: String,
    },
    /// Vote a message up (1), down (-1), or withdraw the vote (0).
    Vote {
        room: String,
        offset: u64,
        value: i8,
    },
    /// The user is typing in a joined room (relayed, never stored; see `signals`).
    Typing { room: String },
    /// The user has read a room up to `offset` (registered users only).
    Read { room: String, offset: u64 },
    /// Open (or find again) this client's support conversation; a guest may quote the
    /// `resume` token it was given (`support`).
    SupportOpen { resume: Option<String> },
    /// An agent asks for the support queue now.
    SupportQueue,
    /// An agent takes a conversation.
    SupportTake { room: String },
    /// The holder (or an admin) hands a conversation to the agent `to`.
    SupportTransfer { room: String, to: String },
    /// Close a conversation.
    SupportClose { room: String },
}

impl ClientMessage {
    /// Parse and validate one text frame. A key twice in one object is `bad_json`.
    pub fn parse(text: &str, limits: &Limits) -> Result<Self, ProtocolError> {
        let value = json::from_str(text)
            .map_err(|e| ProtocolError::new(ErrorCode::BadJson, format!("not valid JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(ProtocolError::new(
                ErrorCode::BadJson,
                "a frame must be a JSON object",
            ));
        };
        let client_id = obj
            .get("client_id")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Self::from_object(&obj, text, limits).map_err(|e| e.for_client(client_id))
    }

    /// The `client_id` the frame carries, for errors about it.
    pub fn client_id(&self) -> Option<&str> {
        match self {
            Self::Send { client_id, .. } | Self::Ephemeral { client_id, .. } => Some(client_id),
            _ => None,
        }
    }

    fn from_object(
        obj: &Map<String, Value>,
        text: &str,
        limits: &Limits,
    ) -> Result<Self, ProtocolError> {
        let kind = match obj.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(_) => return Err(ProtocolError::field("type", "type must be a string")),
            None => {
                return Err(ProtocolError::new(
                    ErrorCode::UnknownType,
                    "missing \"type\"",
                ));
            }
        };
        Ok(match kind {
            "hello" => Self::Hello {
                name: validate_name(required_str(obj, "name")?, limits.max_name_chars)?,
                email: validate_email(optional_str(obj, "email")?)?,
            },
            "join" => Self::Join {
                room: validate_room(required_str(obj, "room")?, "room")?,
                since: parse_since(obj.get("since"))?,
                filter: parse_query(obj, "filter")?.map(|(query, _)| query),
            },
            "history" => Self::History {
                room: validate_room(required_str(obj, "room")?, "room")?,
                cursor: parse_cursor(obj)?,
                limit: parse_limit(obj.get("limit"))?,
            },
            "leave" => Self::Leave {
                room: validate_room(required_str(obj, "room")?, "room")?,
            },
            "send" if edits::wants_ephemeral(obj) => edits::parse_ephemeral(obj, limits)?,
            "edit" => edits::parse_edit(obj, limits)?,
            "delete" => edits::parse_delete(obj)?,
            "send" => Self::Send {
                room: validate_room(required_str(obj, "room")?, "room")?,
                client_id: validate_client_id(required_str(obj, "client_id")?)?,
                topic: validate_topic(optional_str(obj, "topic")?, limits.max_topic_chars)?,
                content: validate_content(required_str(obj, "content")?, limits.max_content_bytes)?,
                reply_to: votes::parse_reply_to(obj)?,
            },
            "search" => {
                let room = validate_room(required_str(obj, "room")?, "room")?;
                let Some((query, text)) = parse_query(obj, "query")? else {
                    return Err(ProtocolError::field("query", "query is required"));
                };
                let Cursor::Before(before) = parse_cursor(obj)? else {
                    return Err(ProtocolError::field(
                        "after",
                        "search pages with before only",
                    ));
                };
                Self::Search {
                    room,
                    query,
                    text,
                    limit: parse_limit(obj.get("limit"))?,
                    before,
                }
            }
            "rooms" => Self::Rooms,
            "create_room" => Self::CreateRoom {
                name: validate_room(required_str(obj, "name")?, "name")?,
                timers: Timers::parse(obj)?,
                private: optional_bool(obj, "private")?,
            },
            "add_participant" => Self::AddParticipant {
                room: validate_room(required_str(obj, "room")?, "room")?,
                username: validate_username(required_str(obj, "username")?)?,
            },
            "remove_participant" => Self::RemoveParticipant {
                room: validate_room(required_str(obj, "room")?, "room")?,
                username: validate_username(required_str(obj, "username")?)?,
            },
            "delete_room" => Self::DeleteRoom {
                room: validate_room(required_str(obj, "room")?, "room")?,
            },
            "ping" => Self::Ping {
                id: PingId::from_frame(text).ok_or_else(|| {
                    ProtocolError::field(
                        "id",
                        format!("id must be at most {MAX_PING_ID_BYTES} bytes of JSON"),
                    )
                })?,
            },
            "vote" => votes::parse_vote(obj)?,
            "typing" => Self::Typing {
                room: validate_room(required_str(obj, "room")?, "room")?,
            },
            "read" => Self::Read {
                room: validate_room(required_str(obj, "room")?, "room")?,
                offset: obj.get("offset").and_then(Value::as_u64).ok_or_else(|| {
                    ProtocolError::field("offset", "offset must be an integer >= 0")
                })?,
            },
            other if other.starts_with("support_") => match support::parse(other, obj) {
                Some(parsed) => parsed?,
                None => return Err(unknown_type(other)),
            },
            other => return Err(unknown_type(other)),
        })
    }
}

fn unknown_type(kind: &str) -> ProtocolError {
    let shown: String = kind.chars().take(32).collect();
    ProtocolError::new(ErrorCode::UnknownType, format!("unknown type \"{shown}\""))
}

fn parse_since(raw: Option<&Value>) -> Result<Option<Since>, ProtocolError> {
    let obj = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(obj)) => obj,
        Some(_) => {
            return Err(ProtocolError::field(
                "since",
                "since must be {epoch, offset}",
            ));
        }
    };
    let epoch = match obj.get("epoch") {
        Some(Value::String(e)) if !e.is_empty() && e.len() <= MAX_EPOCH_CHARS => e.clone(),
        _ => {
            return Err(ProtocolError::field(
                "since",
                "since.epoch must be a non-empty string",
            ));
        }
    };
    let offset = obj
        .get("offset")
        .and_then(Value::as_u64)
        .ok_or_else(|| ProtocolError::field("since", "since.offset must be an integer >= 0"))?;
    Ok(Some(Since { epoch, offset }))
}

/// An optional query (absent, null or blank: none), parsed, with its text.
fn parse_query(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<(Box<Query>, String)>, ProtocolError> {
    let Some(text) = optional_str(obj, field)?.filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let query = Query::parse(text).map_err(|e| ProtocolError::bad_query(field, e))?;
    Ok(Some((Box::new(query), text.to_owned())))
}

/// Exactly one of `before` (default: the newest page) and `after`.
fn parse_cursor(obj: &Map<String, Value>) -> Result<Cursor, ProtocolError> {
    let offset = |field: &'static str| match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ProtocolError::field(field, format!("{field} must be an integer >= 0"))),
    };
    match (offset("before")?, offset("after")?) {
        (Some(_), Some(_)) => Err(ProtocolError::field(
            "after",
            "give either before or after, not both",
        )),
        (Some(before), None) => Ok(Cursor::Before(before)),
        (None, Some(after)) => Ok(Cursor::After(after)),
        (None, None) => Ok(Cursor::Before(u64::MAX)),
    }
}

/// A page size of 1 or more, at most [`MAX_PAGE`] (a larger one is capped, not refused).
fn parse_limit(raw: Option<&Value>) -> Result<u32, ProtocolError> {
    match raw {
        None | Some(Value::Null) => Ok(DEFAULT_PAGE),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => Ok(n.min(u64::from(MAX_PAGE)) as u32),
            _ => Err(ProtocolError::field(
                "limit",
                format!("limit must be an integer from 1 to {MAX_PAGE}"),
            )),
        },
    }
}
