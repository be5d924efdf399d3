//! Settings of one chat-server process: every flag has an environment variable, documented in
//! `--help` and `docs/configuration.md`. Parsing only; the rest of the crate reads the
//! typed values and never looks at the environment itself.
//! The value parsers clap needs are in `config/parse.rs`, the tests in `config/tests.rs`.

use std::{net::SocketAddr, time::Duration};

use clap::{Parser, ValueEnum};

use parse::{parse_admin, parse_origin, parse_prefix, parse_public_url, parse_rate};

mod parse;
#[cfg(test)]
mod tests;

/// chat-server: real-time chat over WebSocket, with a browser UI, on Redis or in memory.
#[derive(Debug, Clone, Parser)]
#[command(name = "chat-server", version, about, long_about = None)]
pub struct Config {
    /// Address:port to serve the UI, /ws and the HTTP API on.
    #[arg(long, env = "CHATAPP_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Redis URL (`redis://[:password@]host:port[/db]`); unset means the in-memory backend.
    #[arg(long, env = "CHATAPP_REDIS_URL")]
    pub redis_url: Option<String>,

    /// PostgreSQL URL (`postgres://user[:password]@host[:port]/db`): the durable mode, where an ack
    /// means committed; unset means history lives in Redis or memory only.
    #[arg(long, env = "CHATAPP_DATABASE_URL", global = true)]
    pub database_url: Option<String>,

    /// Connections to PostgreSQL per replica.
    #[arg(long, env = "CHATAPP_DATABASE_MAX_CONNECTIONS", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub database_max_connections: u32,

    /// Durable mode: delete messages older than this many days (0 = keep forever).
    #[arg(long, env = "CHATAPP_RETENTION_DAYS", default_value_t = 0)]
    pub retention_days: u32,

    /// Durable mode: keep at most this many messages per room (0 = keep all).
    #[arg(long, env = "CHATAPP_RETENTION_MESSAGES", default_value_t = 0)]
    pub retention_messages: u64,

    /// Prefix of every Redis key and channel, so several chats can share one Redis.
    #[arg(long, env = "CHATAPP_REDIS_PREFIX", default_value = "chatapp",
          value_parser = parse_prefix)]
    pub redis_prefix: String,

    /// `--redis-url` is a comma-separated list of seed node URLs of a Redis Cluster (Redis 7 or
    /// later): a room's keys share a hash slot, its events travel on sharded pub/sub. In both
    /// modes: every call to Redis stays within one slot.
    #[arg(long, env = "CHATAPP_REDIS_CLUSTER", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub redis_cluster: bool,

    /// Messages kept per room.
    #[arg(long, env = "CHATAPP_HISTORY_LEN", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub history_len: u32,

    /// Largest message content, in bytes of UTF-8.
    #[arg(long, env = "CHATAPP_MAX_CONTENT_BYTES", default_value_t = 4096,
          value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub max_content_bytes: u32,

    /// Longest sender name, in characters.
    #[arg(long, env = "CHATAPP_MAX_NAME_CHARS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_name_chars: u32,

    /// Longest topic, in characters.
    #[arg(long, env = "CHATAPP_MAX_TOPIC_CHARS", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_topic_chars: u32,

    /// Largest WebSocket message or frame accepted, in bytes.
    #[arg(long, env = "CHATAPP_MAX_FRAME_BYTES", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(1024..=16_777_216))]
    pub max_frame_bytes: u32,

    /// Rooms that may exist.
    #[arg(long, env = "CHATAPP_MAX_ROOMS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_rooms: u32,

    /// Open WebSocket connections per replica (one open file each: see `open_files`).
    #[arg(long, env = "CHATAPP_MAX_CONNECTIONS", default_value_t = 19_000,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// Messages per second one connection may send (token bucket refill rate; fractions allowed).
    #[arg(long, env = "CHATAPP_SEND_RATE", default_value_t = 10.0, value_parser = parse_rate)]
    pub send_rate: f64,

    /// Token bucket size for sends.
    #[arg(long, env = "CHATAPP_SEND_BURST", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub send_burst: u32,

    /// Frames queued per connection before it is closed as a slow consumer (close code 4008).
    #[arg(long, env = "CHATAPP_OUTBOUND_QUEUE", default_value_t = 65_536,
          value_parser = clap::value_parser!(u32).range(8..=1_000_000))]
    pub outbound_queue: u32,

    /// Bytes of frames queued per connection: past this a room's messages are no longer queued
    /// but pulled from the store by the session, paced by its socket (the client still gets
    /// every message once, in order); past twice this the connection is closed as a slow
    /// consumer (close code 4008).
    #[arg(long, env = "CHATAPP_OUTBOUND_QUEUE_BYTES", default_value_t = 4_194_304,
          value_parser = clap::value_parser!(u32).range(65_536..=1_073_741_824))]
    pub outbound_queue_bytes: u32,

    /// Longest time one write to a client's socket may take before the connection is closed as a
    /// slow consumer (close code 4008, then the TCP connection is dropped).
    #[arg(long, env = "CHATAPP_WRITE_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub write_timeout_secs: u64,

    /// Time a new WebSocket has to send `hello` before it is closed (close code 1008).
    #[arg(long, env = "CHATAPP_HELLO_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub hello_timeout_secs: u64,

    /// Requests other than `send` (join, leave, rooms, create_room, ping, hello) per second one
    /// connection may make (token bucket refill rate; fractions allowed).
    #[arg(long, env = "CHATAPP_REQUEST_RATE", default_value_t = 20.0, value_parser = parse_rate)]
    pub request_rate: f64,

    /// Token bucket size for requests other than `send`.
    #[arg(long, env = "CHATAPP_REQUEST_BURST", default_value_t = 40,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub request_burst: u32,

    /// Bytes per second of replies a connection may ask for (joined pages, room lists, pongs);
    /// past it, requests are answered `rate_limited` until the budget refills.
    #[arg(long, env = "CHATAPP_REPLY_BYTES_PER_SEC", default_value_t = 1_048_576,
          value_parser = clap::value_parser!(u32).range(65_536..=1_073_741_824))]
    pub reply_bytes_per_sec: u32,

    /// Open WebSocket connections from one client address, on each replica.
    #[arg(long, env = "CHATAPP_MAX_CONNECTIONS_PER_ADDRESS", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections_per_address: u32,

    /// Messages per second all connections of one client address may send together, on each
    /// replica (token bucket refill rate; fractions allowed).
    #[arg(long, env = "CHATAPP_ADDRESS_SEND_RATE", default_value_t = 50.0, value_parser = parse_rate)]
    pub address_send_rate: f64,

    /// Token bucket size of the per-address send limit.
    #[arg(long, env = "CHATAPP_ADDRESS_SEND_BURST", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub address_send_burst: u32,

    /// Rooms one client address may create per hour, on each replica.
    #[arg(long, env = "CHATAPP_ROOMS_PER_ADDRESS_PER_HOUR", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub rooms_per_address_per_hour: u32,

    /// Request header holding the client's address, set by a trusted reverse proxy (e.g.
    /// `X-Forwarded-For`; its last entry is used). Unset: the TCP peer address.
    #[arg(long, env = "CHATAPP_CLIENT_ADDRESS_HEADER")]
    pub client_address_header: Option<String>,

    /// The URL people open to chat (`http://node:30222`): its origin may open /ws from a browser.
    #[arg(long, env = "CHATAPP_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<url::Url>,

    /// Comma-separated further Origins allowed to open /ws (`https://chat.example.com`); `*` any.
    #[arg(
        long,
        env = "CHATAPP_ALLOWED_ORIGINS",
        value_delimiter = ',',
        default_value = "",
        value_parser = parse_origin
    )]
    pub allowed_origins: Vec<String>,

    /// Address:port of the support desk's gRPC API (docs/support-api.md); unset = off. Needs
    /// `CHATAPP_SUPPORT_API_TOKEN` (env only).
    #[arg(long, env = "CHATAPP_GRPC_LISTEN")]
    pub grpc_listen: Option<SocketAddr>,

    /// Comma-separated usernames of the admins (they may delete any message and any room).
    #[arg(long, env = "CHATAPP_ADMINS", value_delimiter = ',', default_value = "",
          value_parser = parse_admin)]
    pub admins: Vec<String>,

    /// Comma-separated usernames of the support agents (admins are agents too): they see the
    /// support queue and answer clients' support conversations.
    #[arg(long, env = "CHATAPP_SUPPORT_AGENTS", value_delimiter = ',', default_value = "",
          value_parser = parse_admin)]
    pub support_agents: Vec<String>,

    /// Whether guests (no account) may open support conversations.
    #[arg(long, env = "CHATAPP_GUEST_SUPPORT", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub guest_support: bool,

    /// Whether guests (no account) may send messages and create rooms, marked as guests.
    #[arg(long, env = "CHATAPP_GUEST_POSTING", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub guest_posting: bool,

    /// Clear `general`'s history every this many minutes (0 = never); other rooms pick their own.
    #[arg(long, env = "CHATAPP_GENERAL_CLEAR_MINS", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=1440))]
    pub general_clear_mins: u32,

    /// Test only: the length in milliseconds of the "minute" timed rooms count in (clear
    /// intervals and expiry), so tests need not wait minutes. Leave it at 60000.
    #[arg(long, env = "CHATAPP_TIMED_MINUTE_MS", default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(100..=60_000))]
    pub timed_minute_ms: u64,

    /// When the session cookie gets `Secure`: `auto` (when --public-url is https), `always`, `never`.
    #[arg(long, env = "CHATAPP_COOKIE_SECURE", value_enum, default_value_t = CookieSecure::Auto)]
    pub cookie_secure: CookieSecure,

    /// Lifetime of a login session, in hours.
    #[arg(long, env = "CHATAPP_SESSION_TTL_HOURS", default_value_t = 720,
          value_parser = clap::value_parser!(u32).range(1..=8760))]
    pub session_ttl_hours: u32,

    /// WebSocket ping period; no frame for two periods closes the socket (close code 4000).
    #[arg(long, env = "CHATAPP_PING_INTERVAL_SECS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub ping_interval_secs: u64,

    /// Time a client has to send its HTTP request headers.
    #[arg(long, env = "CHATAPP_HEADER_TIMEOUT_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub header_timeout_secs: u64,

    /// How long a replica's presence survives without a heartbeat.
    #[arg(long, env = "CHATAPP_PRESENCE_TTL_SECS", default_value_t = 15,
          value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub presence_ttl_secs: u64,

    /// On shutdown, time /readyz reports draining before sockets are closed.
    #[arg(long, env = "CHATAPP_DRAIN_DELAY_SECS", default_value_t = 0,
          value_parser = clap::value_parser!(u64).range(0..=600))]
    pub drain_delay_secs: u64,

    /// Longest time from closing sockets to exit.
    #[arg(long, env = "CHATAPP_SHUTDOWN_GRACE_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_secs: u64,

    /// Log format.
    #[arg(long, env = "CHATAPP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// What to do; nothing means serve.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands; without one, chat-server serves.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum Command {
    /// Apply the database schema migrations (needs --database-url) and exit.
    Migrate,
}

/// When the session cookie is marked `Secure` (sent over HTTPS only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CookieSecure {
    /// When `--public-url` is an https URL.
    Auto,
    Always,
    Never,
}

/// How logs are written to stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// The defaults, as if no flag or variable were given (for tests and embedding).
    pub fn defaults() -> Self {
        Self::parse_from(["chat-server"])
    }

    /// WebSocket ping period.
    pub fn ping_interval(&self) -> Duration {
        Duration::from_secs(self.ping_interval_secs)
    }

    /// Longest time one socket write may take.
    pub fn write_timeout(&self) -> Duration {
        Duration::from_secs(self.write_timeout_secs)
    }

    /// Time a new connection has to identify itself.
    pub fn hello_timeout(&self) -> Duration {
        Duration::from_secs(self.hello_timeout_secs)
    }

    /// Presence time-to-live.
    pub fn presence_ttl(&self) -> Duration {
        Duration::from_secs(self.presence_ttl_secs)
    }

    /// Lifetime of a login session.
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.session_ttl_hours) * 3600)
    }

    /// Whether the session cookie is `Secure`.
    pub fn cookie_is_secure(&self) -> bool {
        match self.cookie_secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => self
                .public_url
                .as_ref()
                .is_some_and(|u| u.scheme() == "https"),
        }
    }

    /// Origins from the allowlist, serialised as browsers send them, empties dropped.
    pub fn origin_allowlist(&self) -> Vec<String> {
        self.allowed_origins
            .iter()
            .filter(|o| !o.is_empty())
            .cloned()
            .collect()
    }
}
