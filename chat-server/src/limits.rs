//! Every limit a client meets, defined once. The configurable ones come from [`Config`]; the fixed
//! ones are constants here. [`Limits`] is what validation reads and, serialised as-is, the
//! `limits` of the `welcome` frame, so the browser UI and other clients never hard-code a number.
//! The operator checks its `ChatApp` defaults against [`Config`] in a drift test.

use std::time::Duration;

use serde::Serialize;

use crate::Config;

/// Longest room name, in characters of `a-z 0-9 - _`.
pub const MAX_ROOM_CHARS: usize = 32;
/// Longest client-chosen message id, in printable ASCII characters.
pub const MAX_CLIENT_ID_CHARS: usize = 64;
/// Longest email address (the RFC 5321 path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest local part of an email address, in bytes (RFC 5321).
pub const MAX_EMAIL_LOCAL_BYTES: usize = 64;
/// Shortest and longest username, in ASCII characters.
pub const MIN_USERNAME_CHARS: usize = 3;
pub const MAX_USERNAME_CHARS: usize = 32;
/// Shortest and longest password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 128;
/// Failed logins of one account (or, below, one client address) answered at once; each further
/// failure doubles the wait before the next attempt, from one second up to [`MAX_LOGIN_DELAY`].
pub const FREE_LOGIN_FAILURES_PER_ACCOUNT: u32 = 3;
pub const FREE_LOGIN_FAILURES_PER_ADDRESS: u32 = 10;
/// The longest wait a run of failed logins imposes.
pub const MAX_LOGIN_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures are forgotten after this long without another one.
pub const LOGIN_FAILURES_FORGOTTEN_AFTER: Duration = Duration::from_secs(60 * 60);
/// Registrations one client address may make per hour on each replica (hashing is expensive).
pub const REGISTRATIONS_PER_ADDRESS_PER_HOUR: u32 = 30;
/// Most registered users a `members` frame names (the counts stay exact).
pub const MAX_MEMBERS_LISTED: usize = 100;
/// Largest JSON body of an accounts endpoint.
pub const MAX_ACCOUNT_BODY_BYTES: usize = 4096;
/// Longest epoch a client may quote back in `since`.
pub const MAX_EPOCH_CHARS: usize = 64;
/// Longest search query or filter, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most terms (hashtags, keywords, phrases, `from:` …) in one query.
pub const MAX_QUERY_TERMS: usize = 32;
/// Deepest nesting of parentheses and `NOT`s in one query.
pub const MAX_QUERY_DEPTH: usize = 8;
/// Most stored messages one `search` request reads (after the database's index narrowed them):
/// a query that matches rarely answers with `more` and a cursor instead of reading on.
pub const MAX_SEARCH_SCAN: usize = 2000;
/// Most participants of one private room (its creator included).
pub const MAX_PARTICIPANTS: usize = 256;
/// Most conversations one `support_queue` lists (waiting first, then open, then closed).
pub const MAX_SUPPORT_LISTED: usize = 1000;
/// Most closed conversations one `support_queue` lists (the most recently changed).
pub const MAX_SUPPORT_CLOSED_LISTED: usize = 50;
/// Characters of a conversation's last message shown in the queue.
pub const SUPPORT_PREVIEW_CHARS: usize = 200;
/// Unanswered client messages a conversation counts as `unread` at most (their offsets are kept).
pub const MAX_SUPPORT_UNREAD: usize = 100;
/// The shortest time between two `support_queue` pushes to one connection.
pub const SUPPORT_PUSH_EVERY: Duration = Duration::from_millis(100);
/// Invalid frames tolerated within [`ABUSE_WINDOW`] before the connection is closed with 1008.
pub const ABUSE_LIMIT: u32 = 10;
/// The window of [`ABUSE_LIMIT`].
pub const ABUSE_WINDOW: Duration = Duration::from_secs(10);
/// Longest `client_id` of a platform's client on the support API (`A-Z a-z 0-9 . _ -`).
pub const MAX_EXTERNAL_ID_CHARS: usize = 64;
/// Shortest support API token (`CHATAPP_SUPPORT_API_TOKEN`).
pub const MIN_SUPPORT_API_TOKEN_CHARS: usize = 32;
/// Largest gRPC message the support API decodes or encodes: a request carries at most one
/// message's content, an event at most one history message.
pub const MAX_SUPPORT_API_MESSAGE_BYTES: usize = 256 * 1024;
/// Support API calls served at once per replica (each runs one in-process session, counted in
/// `--max-connections` too); the next one gets `RESOURCE_EXHAUSTED`.
pub const MAX_SUPPORT_API_CALLS: usize = 1000;
/// Frames a `Stream` call holds back while it reads older history before going live; a
/// conversation busier than that ends the call (`RESOURCE_EXHAUSTED`: reconnect with
/// `since_offset`).
pub const MAX_SUPPORT_STREAM_BACKLOG: usize = 1024;

/// The limits in force on this server, as validation uses them and `welcome` announces them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    /// Largest message content, in bytes of UTF-8.
    pub max_content_bytes: usize,
    /// Longest sender name, in characters.
    pub max_name_chars: usize,
    /// Longest topic, in characters.
    pub max_topic_chars: usize,
    /// Largest WebSocket message or frame, in bytes.
    pub max_frame_bytes: usize,
    /// Sends per second per connection (token bucket refill rate).
    pub send_rate_per_s: f64,
    /// Sends a connection may make at once (token bucket size).
    pub send_burst: u32,
    /// Messages kept per room.
    pub history_len: u32,
    /// Longest room name.
    pub max_room_chars: usize,
    /// Longest email address.
    pub max_email_chars: usize,
    /// Longest `client_id`.
    pub max_client_id_chars: usize,
    /// Longest search query or filter, in characters.
    pub max_query_chars: usize,
    /// Most terms in one query.
    pub max_query_terms: usize,
    /// Deepest nesting of parentheses and `NOT`s in one query.
    pub max_query_depth: usize,
}

impl Limits {
    /// The limits a server started with `config` enforces.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_content_bytes: config.max_content_bytes as usize,
            max_name_chars: config.max_name_chars as usize,
            max_topic_chars: config.max_topic_chars as usize,
            max_frame_bytes: config.max_frame_bytes as usize,
            send_rate_per_s: config.send_rate,
            send_burst: config.send_burst,
            history_len: config.history_len,
            max_room_chars: MAX_ROOM_CHARS,
            max_email_chars: MAX_EMAIL_CHARS,
            max_client_id_chars: MAX_CLIENT_ID_CHARS,
            max_query_chars: MAX_QUERY_CHARS,
            max_query_terms: MAX_QUERY_TERMS,
            max_query_depth: MAX_QUERY_DEPTH,
        }
    }
}

impl Default for Limits {
    /// The limits of a server started without flags.
    fn default() -> Self {
        Self::from_config(&Config::defaults())
    }
}
