//! The crate's one error type. Failures of single connections are not errors here: they are
//! counted in the report (`errors`, `error_codes`); an `Error` means the run itself cannot go on.

/// Why a benchmark run could not be started or finished.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `--url` is not a `ws://host:port/path` URL.
    #[error("invalid target URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: &'static str },
    /// The URL's host did not resolve.
    #[error("cannot resolve {url:?}")]
    Resolve {
        url: String,
        #[source]
        source: std::io::Error,
    },
    /// chat-bench only loads servers on this machine.
    #[error(
        "refusing non-loopback target {url:?} (resolves to {addr}): chat-bench targets 127.0.0.0/8 or ::1 only"
    )]
    NotLoopback { url: String, addr: std::net::IpAddr },
    /// A scenario option is out of range or inconsistent.
    #[error("invalid options: {0}")]
    InvalidPlan(String),
    /// The setup connection (creating the benchmark rooms) failed.
    #[error("setup failed: {0}")]
    Setup(String),
    /// The run overran its hard deadline (`--max-secs`).
    #[error("run exceeded its hard deadline of {0} s")]
    Deadline(u64),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
