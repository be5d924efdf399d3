//! The crate's one error type. Store calls, startup and serving fail with an [`Error`]; the session
//! turns it into an error frame (`unavailable` or `internal`) and `main.rs` into an exit status.
//! Each variant keeps its cause as the `source`, and its text does not repeat it.

use std::net::SocketAddr;

/// What can fail inside chat-server.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Redis refused a command or could not be reached.
    #[error(transparent)]
    Redis(#[from] redis::RedisError),
    /// PostgreSQL refused a statement or could not be reached.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// The schema migrations could not be applied.
    #[error("cannot migrate the database schema")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The transaction carrying a send failed: nothing of it was stored.
    #[error("commit failed: {0}")]
    CommitFailed(String),
    /// The group committer is gone (shutdown).
    #[error("the committer has stopped")]
    CommitterGone,
    /// Redis answered something this server did not write.
    #[error("unexpected data in the store: {0}")]
    Corrupt(String),
    /// The Redis URL is malformed.
    #[error("cannot connect to redis")]
    Connect(#[source] redis::RedisError),
    /// Redis is configured so it may drop our data (an evicting `maxmemory-policy`): no writes.
    #[error("the store may lose data: {0}")]
    Misconfigured(String),
    /// Settings that cannot work together; the server does not start.
    #[error("invalid settings: {0}")]
    Settings(String),
    /// A send reused a `client_id` of the room for another message (other sender or content).
    #[error("client_id already used for another message")]
    ClientIdConflict,
    /// A compare-and-set kept losing to concurrent changes (a support conversation changed by
    /// many at once); nothing was changed by this call.
    #[error("too many concurrent changes of {0}")]
    Contended(String),
    /// The room was deleted (a send or read that raced its deletion).
    #[error("the room was deleted")]
    RoomGone,
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
