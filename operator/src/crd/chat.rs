//! `spec.chat`: the chat-server's settings, each one of its flags (docs/configuration.md), with
//! the server's ranges and defaults (`resources/chat/tests.rs` checks them against the server).

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// CEL rule of `spec.chat.allowedOrigins`: each entry `*` or an http(s) origin. The controller
/// repeats it with the server's own URL parser ([`crate::controller::validate`]), since a bad entry
/// stops the chat-server at start.
pub const ORIGINS_RULE: &str = "self.all(o, o == '*' || o.matches('^[hH][tT][tT][pP][sS]?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?/?$'))";

/// Chat-server settings, each mapped to the CHATAPP_* variable of the same name
/// (docs/configuration.md). A change rolls the chat-server pods.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.maxFrameBytes >= self.maxContentBytes")
    .message("chat.maxFrameBytes must be at least chat.maxContentBytes")
    .field_path(".maxFrameBytes"))]
pub struct ChatSettings {
    /// Messages kept per room (CHATAPP_HISTORY_LEN).
    #[serde(default = "d_history_len")]
    #[schemars(range(min = 1, max = 100_000))]
    pub history_len: i32,

    /// Largest message content in bytes of UTF-8 (CHATAPP_MAX_CONTENT_BYTES).
    #[serde(default = "d_max_content_bytes")]
    #[schemars(range(min = 1, max = 1_048_576))]
    pub max_content_bytes: i32,

    /// Longest sender name (CHATAPP_MAX_NAME_CHARS).
    #[serde(default = "d_max_chars")]
    #[schemars(range(min = 1, max = 1024))]
    pub max_name_chars: i32,

    /// Longest topic (CHATAPP_MAX_TOPIC_CHARS).
    #[serde(default = "d_max_chars")]
    #[schemars(range(min = 1, max = 1024))]
    pub max_topic_chars: i32,

    /// Largest WebSocket message or frame accepted, in bytes (CHATAPP_MAX_FRAME_BYTES).
    #[serde(default = "d_max_frame_bytes")]
    #[schemars(range(min = 1024, max = 16_777_216))]
    pub max_frame_bytes: i32,

    /// Rooms that may exist (CHATAPP_MAX_ROOMS).
    #[serde(default = "d_max_rooms")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_rooms: i32,

    /// Open connections per replica (CHATAPP_MAX_CONNECTIONS).
    #[serde(default = "d_max_connections")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_connections: i32,

    /// Messages per second one connection may send, above 0, fractions allowed: 0.5 is one
    /// message every 2 s (CHATAPP_SEND_RATE).
    #[serde(default = "d_send_rate")]
    #[schemars(range(min = 0, max = 100_000), extend("exclusiveMinimum" = true))]
    pub send_rate: f64,

    /// Token bucket size for sends (CHATAPP_SEND_BURST).
    #[serde(default = "d_send_burst")]
    #[schemars(range(min = 1, max = 10_000_000))]
    pub send_burst: i32,

    /// Frames queued per connection before it is closed as a slow consumer
    /// (CHATAPP_OUTBOUND_QUEUE); the byte bound below is usually the one that matters.
    #[serde(default = "d_outbound_queue")]
    #[schemars(range(min = 8, max = 1_000_000))]
    pub outbound_queue: i32,

    /// Bytes of frames queued per connection before it is closed as a slow consumer
    /// (CHATAPP_OUTBOUND_QUEUE_BYTES); sized to ride out a few seconds of a busy room.
    #[serde(default = "d_outbound_queue_bytes")]
    #[schemars(range(min = 65_536, max = 1_073_741_824))]
    pub outbound_queue_bytes: i32,

    /// Longest time in seconds one write to a client's socket may take before the connection is
    /// closed as a slow consumer (CHATAPP_WRITE_TIMEOUT_SECS).
    #[serde(default = "d_ten")]
    #[schemars(range(min = 1, max = 600))]
    pub write_timeout_secs: i32,

    /// Seconds a new WebSocket has to send hello before it is closed (CHATAPP_HELLO_TIMEOUT_SECS).
    #[serde(default = "d_ten")]
    #[schemars(range(min = 1, max = 600))]
    pub hello_timeout_secs: i32,

    /// Requests other than send (join, leave, rooms, create_room, ping, hello) per second one
    /// connection may make, above 0, fractions allowed (CHATAPP_REQUEST_RATE).
    #[serde(default = "d_request_rate")]
    #[schemars(range(min = 0, max = 100_000), extend("exclusiveMinimum" = true))]
    pub request_rate: f64,

    /// Token bucket size for requests other than send (CHATAPP_REQUEST_BURST).
    #[serde(default = "d_request_burst")]
    #[schemars(range(min = 1, max = 10_000_000))]
    pub request_burst: i32,

    /// Bytes per second of replies one connection may ask for: history pages, room lists, pongs
    /// (CHATAPP_REPLY_BYTES_PER_SEC).
    #[serde(default = "d_reply_bytes_per_sec")]
    #[schemars(range(min = 65_536, max = 1_073_741_824))]
    pub reply_bytes_per_sec: i32,

    /// Open WebSockets from one client address, on each replica
    /// (CHATAPP_MAX_CONNECTIONS_PER_ADDRESS). Locust's users all come from its pods' addresses:
    /// raise this for load tests.
    #[serde(default = "d_max_connections_per_address")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub max_connections_per_address: i32,

    /// Messages per second all connections of one client address may send together, on each
    /// replica, above 0, fractions allowed (CHATAPP_ADDRESS_SEND_RATE).
    #[serde(default = "d_address_send_rate")]
    #[schemars(range(min = 0, max = 100_000), extend("exclusiveMinimum" = true))]
    pub address_send_rate: f64,

    /// Token bucket size of the per-address send limit (CHATAPP_ADDRESS_SEND_BURST).
    #[serde(default = "d_address_send_burst")]
    #[schemars(range(min = 1, max = 10_000_000))]
    pub address_send_burst: i32,

    /// Rooms one client address may create per hour, on each replica
    /// (CHATAPP_ROOMS_PER_ADDRESS_PER_HOUR).
    #[serde(default = "d_ten")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub rooms_per_address_per_hour: i32,

    /// Clear the history of the `general` room every this many minutes, 0 = never
    /// (CHATAPP_GENERAL_CLEAR_MINS). Other rooms pick their own interval when created.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1440))]
    pub general_clear_minutes: i32,

    /// Request header carrying the client's address from a trusted reverse proxy, e.g.
    /// X-Forwarded-For, last entry used (CHATAPP_CLIENT_ADDRESS_HEADER). Unset: the TCP peer, which
    /// the NodePort Service keeps (externalTrafficPolicy Local). Set it only when every request
    /// comes through such a proxy (an Ingress), or clients can pick their own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"))]
    pub client_address_header: Option<String>,

    /// The URL people open to chat, `http(s)://host[:port][/path]` (CHATAPP_PUBLIC_URL): browser
    /// pages on its origin may open /ws. Unset: `https://INGRESS_HOST` (http without TLS) when
    /// spec.ingress is set; otherwise none, and browsers are accepted only on localhost pages
    /// (kubectl port-forward, kind port mappings). Set it to http://NODE_IP:NODEPORT to use the
    /// chat from a browser through a node's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[hH][tT][tT][pP][sS]?://[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?(:[0-9]{1,5})?(/[^\s]*)?$"
    ))]
    pub public_url: Option<String>,

    /// Further browser origins allowed to open /ws (CHATAPP_ALLOWED_ORIGINS), each "*" (any page,
    /// no cross-site protection) or `http(s)://host[:port]`; scheme, host and port must match the
    /// page's.
    #[serde(default)]
    #[schemars(length(max = 64), inner(length(max = 253)))]
    #[x_kube(validation = kube::core::Rule::new(ORIGINS_RULE)
        .message("chat.allowedOrigins entries must be \"*\" or http(s)://host[:port]"))]
    pub allowed_origins: Vec<String>,

    /// Usernames of the chat's admins, who may delete any message and any room (CHATAPP_ADMINS);
    /// each 3 to 32 of ASCII letters, digits, `-`, `_`.
    #[serde(default)]
    #[schemars(
        length(max = 256),
        inner(length(min = 3, max = 32), regex(pattern = r"^[A-Za-z0-9_-]+$"))
    )]
    pub admins: Vec<String>,

    /// Let guests (visitors without an account) post under a chosen name, marked as guests
    /// (CHATAPP_GUEST_POSTING). false (the default): guests read, and posting needs an account.
    #[serde(default)]
    pub guest_posting: bool,

    /// Usernames of the support desk's agents, who see the support queue and answer clients
    /// (CHATAPP_SUPPORT_AGENTS); admins are agents too. Each 3 to 32 of ASCII letters, digits,
    /// `-`, `_`, as for admins.
    #[serde(default)]
    #[schemars(
        length(max = 256),
        inner(length(min = 3, max = 32), regex(pattern = r"^[A-Za-z0-9_-]+$"))
    )]
    pub support_agents: Vec<String>,

    /// Let guests (visitors without an account) open support conversations
    /// (CHATAPP_GUEST_SUPPORT). false (the default): contacting support needs an account.
    #[serde(default)]
    pub guest_support: bool,

    /// When the session cookie is marked Secure (CHATAPP_COOKIE_SECURE): auto (when the public
    /// URL is https), always (TLS ends at a proxy the server cannot see), never.
    #[serde(default)]
    pub cookie_secure: CookieSecure,

    /// Hours a session lasts after logging in or registering (CHATAPP_SESSION_TTL_HOURS).
    #[serde(default = "d_session_ttl_hours")]
    #[schemars(range(min = 1, max = 8760))]
    pub session_ttl_hours: i32,

    /// WebSocket ping period in seconds (CHATAPP_PING_INTERVAL_SECS).
    #[serde(default = "d_ping_interval")]
    #[schemars(range(min = 1, max = 3600))]
    pub ping_interval_secs: i32,

    /// Seconds a client has to send its HTTP request headers (CHATAPP_HEADER_TIMEOUT_SECS).
    #[serde(default = "d_header_timeout")]
    #[schemars(range(min = 1, max = 600))]
    pub header_timeout_secs: i32,

    /// Seconds a replica's presence survives without a heartbeat (CHATAPP_PRESENCE_TTL_SECS).
    #[serde(default = "d_presence_ttl")]
    #[schemars(range(min = 3, max = 3600))]
    pub presence_ttl_secs: i32,

    /// Seconds a stopping pod keeps serving before closing sockets: used both as the preStop sleep
    /// and as CHATAPP_DRAIN_DELAY_SECS.
    #[serde(default = "d_drain_delay")]
    #[schemars(range(min = 0, max = 600))]
    pub drain_delay_secs: i32,

    /// Longest time in seconds from closing sockets to exit (CHATAPP_SHUTDOWN_GRACE_SECS).
    #[serde(default = "d_shutdown_grace")]
    #[schemars(range(min = 0, max = 3600))]
    pub shutdown_grace_secs: i32,

    /// Prefix of every Redis key and channel (CHATAPP_REDIS_PREFIX), so chats can share a Redis.
    #[serde(default = "d_redis_prefix")]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9._:-]+$"))]
    pub redis_prefix: String,

    /// Log filter of the chat server (RUST_LOG), e.g. info or chat_server=debug.
    #[serde(default = "d_log_level")]
    #[schemars(length(min = 1, max = 256))]
    pub log_level: String,
}

/// When the chat-server marks its session cookie Secure.
#[derive(
    schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
#[serde(rename_all = "lowercase")]
pub enum CookieSecure {
    /// When the chat's public URL is https.
    #[default]
    Auto,
    /// Always: TLS ends at a proxy in front of the chat.
    Always,
    /// Never: the chat is served over plain http.
    Never,
}

impl CookieSecure {
    /// The chat-server's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Always => "always",
            Self::Never => "never",
        }
    }
}

impl Default for ChatSettings {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every chat setting has a default")
    }
}

fn d_history_len() -> i32 {
    200
}
fn d_max_content_bytes() -> i32 {
    4096
}
fn d_max_chars() -> i32 {
    64
}
fn d_max_frame_bytes() -> i32 {
    65_536
}
fn d_max_rooms() -> i32 {
    1000
}
fn d_max_connections() -> i32 {
    19_000
}
fn d_send_rate() -> f64 {
    10.0
}
fn d_send_burst() -> i32 {
    20
}
fn d_outbound_queue() -> i32 {
    65_536
}
fn d_outbound_queue_bytes() -> i32 {
    4_194_304
}
fn d_ping_interval() -> i32 {
    20
}
fn d_header_timeout() -> i32 {
    10
}
fn d_presence_ttl() -> i32 {
    15
}
fn d_drain_delay() -> i32 {
    3
}
fn d_shutdown_grace() -> i32 {
    10
}
fn d_redis_prefix() -> String {
    "chatapp".into()
}
fn d_log_level() -> String {
    "info".into()
}
fn d_ten() -> i32 {
    10
}
fn d_request_rate() -> f64 {
    20.0
}
fn d_request_burst() -> i32 {
    40
}
fn d_reply_bytes_per_sec() -> i32 {
    1_048_576
}
fn d_max_connections_per_address() -> i32 {
    200
}
fn d_address_send_rate() -> f64 {
    50.0
}
fn d_address_send_burst() -> i32 {
    100
}
fn d_session_ttl_hours() -> i32 {
    720
}
