//! The wire protocol of `docs/protocol.md`: parsing and validating client frames, and building
//! server frames. Plain functions over strings, no IO, so every rule is unit-tested here; the
//! session decides what to do with a parsed frame.

use serde::Serialize;
use serde_json::{Map, Value, value::RawValue};

pub use self::json::{MAX_PING_ID_BYTES, PingId};
use self::text::Unfit;
pub use self::timed::{CLEAR_CHOICES, EXPIRE_CHOICES, Timers};
use crate::accounts::validate_username;
pub use crate::limits::Limits;
use crate::limits::{
    MAX_CLIENT_ID_CHARS, MAX_EMAIL_CHARS, MAX_EMAIL_LOCAL_BYTES, MAX_EPOCH_CHARS, MAX_ROOM_CHARS,
};
use crate::query::{Query, QueryError};

/// Protocol version sent in `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;
/// The room that always exists.
pub const DEFAULT_ROOM: &str = "general";
/// A point in a room's history a client has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Since {
    /// The room's epoch when the client saw `offset`.
    pub epoch: String,
    /// The highest offset the client has.
    pub offset: u64,
}

/// The most messages one `history` or `joined` page carries.
pub const MAX_PAGE: u32 = 200;
/// The page size of a `history` request that names none.
pub const DEFAULT_PAGE: u32 = 50;

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
}

/// Machine-readable error codes of `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    BadJson,
    UnknownType,
    InvalidField,
    NotIdentified,
    NotJoined,
    NoSuchRoom,
    RoomExists,
    TooManyRooms,
    RateLimited,
    BinaryUnsupported,
    Unavailable,
    ClientIdConflict,
    Internal,
    /// A guest tried something only signed-in users may do.
    LoginRequired,
    /// Not allowed for this user (e.g. managing a room of someone else).
    Forbidden,
    /// `add_participant`/`remove_participant` named a username without an account.
    NoSuchUser,
    /// The login session ended (logout, password change, account deletion, expiry); the socket
    /// closes with 4001 right after.
    SessionEnded,
    /// A search query or filter that does not parse; the error carries its `position`.
    BadQuery,
    /// No message at that offset in the room (a reply's parent, a vote's target, an
    /// `edit`/`delete` target), or `edit` of a deleted message.
    NoSuchMessage,
}

impl ErrorCode {
    /// The code as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadJson => "bad_json",
            Self::UnknownType => "unknown_type",
            Self::InvalidField => "invalid_field",
            Self::NotIdentified => "not_identified",
            Self::NotJoined => "not_joined",
            Self::NoSuchRoom => "no_such_room",
            Self::RoomExists => "room_exists",
            Self::TooManyRooms => "too_many_rooms",
            Self::RateLimited => "rate_limited",
            Self::BinaryUnsupported => "binary_unsupported",
            Self::Unavailable => "unavailable",
            Self::ClientIdConflict => "client_id_conflict",
            Self::Internal => "internal",
            Self::LoginRequired => "login_required",
            Self::Forbidden => "forbidden",
            Self::SessionEnded => "session_ended",
            Self::BadQuery => "bad_query",
            Self::NoSuchMessage => "no_such_message",
            Self::NoSuchUser => "no_such_user",
        }
    }

    /// Whether this error counts towards closing an abusive connection.
    pub fn is_abuse(self) -> bool {
        matches!(
            self,
            Self::BadJson | Self::UnknownType | Self::InvalidField | Self::BinaryUnsupported
        )
    }
}

/// Why a client frame was refused; becomes an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// What went wrong, for machines.
    pub code: ErrorCode,
    /// What went wrong, for people.
    pub message: String,
    /// The field at fault, if one is.
    pub field: Option<&'static str>,
    /// The `client_id` of the failing frame, when it had a readable one.
    pub client_id: Option<String>,
    /// The room at fault, if one is.
    pub room: Option<String>,
    /// For `bad_query`: the character position of the problem in the query.
    pub position: Option<usize>,
}

impl ProtocolError {
    /// An error without a field.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            client_id: None,
            room: None,
            position: None,
        }
    }

    /// A `bad_query` error for the query in `field`.
    pub fn bad_query(field: &'static str, e: QueryError) -> Self {
        Self {
            field: Some(field),
            position: Some(e.position),
            ..Self::new(ErrorCode::BadQuery, e.message)
        }
    }

    /// An `invalid_field` error naming `field`.
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field: Some(field),
            ..Self::new(ErrorCode::InvalidField, message)
        }
    }

    /// Attach the room at fault.
    pub fn in_room(mut self, room: &str) -> Self {
        self.room = Some(room.to_owned());
        self
    }

    /// Attach the client id of the failing frame.
    pub fn for_client(mut self, client_id: Option<String>) -> Self {
        self.client_id = client_id;
        self
    }

    /// The `error` frame for this error.
    pub fn to_frame(&self) -> String {
        #[derive(Serialize)]
        struct ErrorFrame<'a> {
            r#type: &'static str,
            code: &'static str,
            message: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            field: Option<&'static str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            client_id: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            room: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            position: Option<usize>,
        }
        to_json(&ErrorFrame {
            r#type: "error",
            code: self.code.as_str(),
            message: &self.message,
            field: self.field,
            client_id: self.client_id.as_deref(),
            room: self.room.as_deref(),
            position: self.position,
        })
    }
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
            other => {
                let shown: String = other.chars().take(32).collect();
                return Err(ProtocolError::new(
                    ErrorCode::UnknownType,
                    format!("unknown type \"{shown}\""),
                ));
            }
        })
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, ProtocolError> {
    match obj.get(field) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(ProtocolError::field(
            field,
            format!("{field} must be a string"),
        )),
        None => Err(ProtocolError::field(field, format!("{field} is required"))),
    }
}

fn optional_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, ProtocolError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ProtocolError::field(
            field,
            format!("{field} must be a string or null"),
        )),
    }
}

fn optional_bool(obj: &Map<String, Value>, field: &'static str) -> Result<bool, ProtocolError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ProtocolError::field(
            field,
            format!("{field} must be true or false"),
        )),
    }
}

fn has_control(s: &str) -> bool {
    s.chars().any(char::is_control)
}

/// A sender name in its canonical spelling (see `text`), 1..=max characters of it.
pub fn validate_name(raw: &str, max: usize) -> Result<String, ProtocolError> {
    let out_of_range =
        || ProtocolError::field("name", format!("name must be 1 to {max} characters"));
    let name = match text::canonical(raw) {
        Ok(name) => name,
        Err(Unfit::Blank) => return Err(out_of_range()),
        Err(why) => {
            return Err(ProtocolError::field(
                "name",
                format!("name {}", why.explain()),
            ));
        }
    };
    if name.chars().count() > max {
        return Err(out_of_range());
    }
    Ok(name)
}

/// An optional email: empty means none; otherwise a plausible `local@domain.tld`.
pub fn validate_email(raw: Option<&str>) -> Result<Option<String>, ProtocolError> {
    let Some(email) = raw.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let bad = || ProtocolError::field("email", "email must look like name@example.com");
    if email.chars().count() > MAX_EMAIL_CHARS
        || has_control(email)
        || text::has_invisible(email)
        || email.chars().any(char::is_whitespace)
    {
        return Err(bad());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if local.is_empty() || local.len() > MAX_EMAIL_LOCAL_BYTES || local.contains('@') || !domain_ok
    {
        return Err(bad());
    }
    Ok(Some(email.to_owned()))
}

/// An optional topic in its canonical spelling (see `text`); blank means none.
pub fn validate_topic(raw: Option<&str>, max: usize) -> Result<Option<String>, ProtocolError> {
    let topic = match raw.map(text::canonical) {
        None | Some(Err(Unfit::Blank)) => return Ok(None),
        Some(Err(why)) => {
            return Err(ProtocolError::field(
                "topic",
                format!("topic {}", why.explain()),
            ));
        }
        Some(Ok(topic)) => topic,
    };
    if topic.chars().count() > max {
        return Err(ProtocolError::field(
            "topic",
            format!("topic must be at most {max} characters"),
        ));
    }
    Ok(Some(topic))
}

/// Message content: 1..=max bytes, not blank, no control characters but newline and tab.
pub fn validate_content(raw: &str, max: usize) -> Result<String, ProtocolError> {
    if raw.is_empty() || raw.len() > max {
        return Err(ProtocolError::field(
            "content",
            format!("content must be 1 to {max} bytes"),
        ));
    }
    if raw.trim().is_empty() {
        return Err(ProtocolError::field("content", "content must not be blank"));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(ProtocolError::field(
            "content",
            "content must not contain control characters other than newline and tab",
        ));
    }
    Ok(raw.to_owned())
}

/// A room name: 1..=32 of `a-z 0-9 - _`, starting with a letter or digit.
pub fn validate_room(raw: &str, field: &'static str) -> Result<String, ProtocolError> {
    let ok = !raw.is_empty()
        && raw.len() <= MAX_ROOM_CHARS
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && raw.as_bytes()[0].is_ascii_alphanumeric();
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ProtocolError::field(
            field,
            format!(
                "{field} must be 1 to {MAX_ROOM_CHARS} characters of a-z, 0-9, '-' or '_', \
                 starting with a letter or digit"
            ),
        ))
    }
}

/// A client-chosen id: 1..=64 printable ASCII characters.
pub fn validate_client_id(raw: &str) -> Result<String, ProtocolError> {
    if raw.is_empty()
        || raw.len() > MAX_CLIENT_ID_CHARS
        || !raw.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(ProtocolError::field(
            "client_id",
            format!("client_id must be 1 to {MAX_CLIENT_ID_CHARS} printable ASCII characters"),
        ));
    }
    Ok(raw.to_owned())
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

fn to_json<T: Serialize>(value: &T) -> String {
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

pub(crate) mod edits;
mod json;
#[cfg(test)]
mod tests;
mod text;
mod timed;
mod votes;
pub use self::votes::{Tally, frame_offset, is_tombstone, with_tally};
