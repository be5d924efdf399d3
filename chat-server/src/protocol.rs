//! The wire protocol of `docs/protocol.md`: parsing and validating client frames, and building
//! server frames. Plain functions over strings, no IO, so every rule is unit-tested here; the
//! session decides what to do with a parsed frame. `client` holds the client frames and their
//! parser, `fields` the field rules, `server` the server frames, `error` the error codes; the
//! features with frames of their own have theirs in `edits`, `votes`, `timed` and `support`.

pub use self::client::{ClientMessage, Cursor, Since};
pub use self::error::{ErrorCode, ProtocolError};
use self::fields::{optional_str, required_str};
pub use self::fields::{
    validate_client_id, validate_content, validate_email, validate_name, validate_room,
    validate_topic,
};
pub use self::json::{MAX_PING_ID_BYTES, PingId};
use self::server::to_json;
pub use self::server::{
    Counts, Member, MessageDraft, RoomInfo, ServerFrame, complete_frame, frames_array,
};
pub use self::support::{RESUME_TOKEN_CHARS, SupportEntry, SupportLast};
pub use self::timed::{CLEAR_CHOICES, EXPIRE_CHOICES, Timers};
pub use self::votes::{Tally, frame_offset, is_tombstone, with_tally};
pub use crate::limits::Limits;

/// Protocol version sent in `welcome`.
pub const PROTOCOL_VERSION: u32 = 1;
/// The room that always exists.
pub const DEFAULT_ROOM: &str = "general";

/// The most messages one `history` or `joined` page carries.
pub const MAX_PAGE: u32 = 200;
/// The page size of a `history` request that names none.
pub const DEFAULT_PAGE: u32 = 50;

mod client;
pub(crate) mod edits;
mod error;
mod fields;
mod json;
mod server;
mod support;
#[cfg(test)]
mod tests;
mod text;
mod timed;
mod votes;
