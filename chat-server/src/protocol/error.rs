//! Errors on the wire: the machine-readable [`ErrorCode`]s of `error` frames and
//! [`ProtocolError`], why a client frame was refused, which the session turns into an `error`
//! frame (with the field, room, client id or query position at fault).

use serde::Serialize;

use super::to_json;
use crate::query::QueryError;

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
    /// `support_take` lost the race: another agent holds the conversation.
    Taken,
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
            Self::Taken => "taken",
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
