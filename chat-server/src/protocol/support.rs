//! The support desk on the wire: parsing `support_open`, `support_queue`, `support_take`,
//! `support_transfer` and `support_close`, and the entries of a `support_queue` frame
//! ([`SupportEntry`]). The frames `support_opened`, `support_state` and `support_queue` are
//! [`ServerFrame`](super::ServerFrame) variants; who may do what is `crate::support`'s.

use serde::Serialize;
use serde_json::{Map, Value};

use super::{ClientMessage, ProtocolError, fields::optional_str, required_str, validate_room};
use crate::accounts::validate_username;

/// Hex digits of a guest's resume token (128 bits).
pub const RESUME_TOKEN_CHARS: usize = 32;

/// A frame whose type starts with `support_`, parsed; `None` for any other type.
pub(super) fn parse(
    kind: &str,
    obj: &Map<String, Value>,
) -> Option<Result<ClientMessage, ProtocolError>> {
    let room = || validate_room(required_str(obj, "room")?, "room");
    Some(match kind {
        "support_open" => parse_resume(obj).map(|resume| ClientMessage::SupportOpen { resume }),
        "support_queue" => Ok(ClientMessage::SupportQueue),
        "support_take" => room().map(|room| ClientMessage::SupportTake { room }),
        "support_transfer" => room().and_then(|room| {
            let to = validate_username(required_str(obj, "to")?).map_err(|e| ProtocolError {
                field: Some("to"),
                message: e.message.replacen("username", "to", 1),
                ..e
            })?;
            Ok(ClientMessage::SupportTransfer { room, to })
        }),
        "support_close" => room().map(|room| ClientMessage::SupportClose { room }),
        _ => return None,
    })
}

/// `resume`: absent, null, empty, or the 32 lower-case hex digits `support_opened` gave a guest.
fn parse_resume(obj: &Map<String, Value>) -> Result<Option<String>, ProtocolError> {
    match optional_str(obj, "resume")? {
        None | Some("") => Ok(None),
        Some(r)
            if r.len() == RESUME_TOKEN_CHARS
                && r.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(Some(r.to_owned()))
        }
        Some(_) => Err(ProtocolError::field(
            "resume",
            format!("resume must be the {RESUME_TOKEN_CHARS} hex digits support_opened gave"),
        )),
    }
}

/// A conversation's newest message in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupportLast {
    pub name: String,
    /// Its first characters (`SUPPORT_PREVIEW_CHARS`).
    pub content: String,
    /// RFC 3339.
    pub time: String,
    pub offset: u64,
}

/// One conversation of a `support_queue` frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SupportEntry {
    pub room: String,
    /// The client key: a username (lower case), `ext:<id>` or `guest:<hex>`.
    pub client: String,
    pub client_name: String,
    pub guest: bool,
    pub last: Option<SupportLast>,
    /// RFC 3339 time of the oldest client message no agent answered; null when answered.
    pub waiting_since: Option<String>,
    /// Client messages after the newest offset any agent read.
    pub unread: u64,
    pub taken_by: Option<String>,
    pub taken_by_name: Option<String>,
    /// `waiting`, `open` or `closed`.
    pub state: &'static str,
    pub opened_at: String,
    pub updated_at: String,
}
