//! The open-files limit (`RLIMIT_NOFILE`) at start. Every WebSocket is one file descriptor, so a
//! replica that may hold `--max-connections` sockets needs that many descriptors plus a reserve
//! for its listeners, Redis and PostgreSQL connections and the runtime's own. At start the soft
//! limit is raised to the hard one (what `ulimit -n` or a container runtime left us is often
//! 1024 soft); if `--max-connections` plus [`FD_RESERVE`] still does not fit, a warning says what
//! to set. The decisions are plain functions over numbers, tested here; [`raise_and_check`] does
//! the two system calls.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Descriptors kept apart from WebSockets: listeners (HTTP, gRPC), the Redis connections, the
/// PostgreSQL pool (`--database-max-connections`, at most a few hundred), the runtime's epoll and
/// event descriptors, and sockets accepted while others are still closing. With the default
/// `--max-connections` of 19,000 this is exactly a 20,000 open-files limit.
pub const FD_RESERVE: u64 = 1_000;

/// The soft limit to set, if it should change: the hard limit when the soft one is below it
/// (`None` is unlimited).
pub fn raised(limit: &Rlimit) -> Option<Rlimit> {
    let below = match (limit.current, limit.maximum) {
        (Some(soft), Some(hard)) => soft < hard,
        (Some(_), None) => true,
        (None, _) => false,
    };
    below.then_some(Rlimit {
        current: limit.maximum,
        maximum: limit.maximum,
    })
}

/// Why `max_connections` may not fit under an open-files soft limit of `soft` (`None`:
/// unlimited), with what to set instead; `None` when it fits.
pub fn shortfall(max_connections: u32, soft: Option<u64>) -> Option<String> {
    let soft = soft?;
    let needed = u64::from(max_connections) + FD_RESERVE;
    (needed > soft).then(|| {
        let fits = soft.saturating_sub(FD_RESERVE);
        format!(
            "--max-connections {max_connections} needs about {needed} open files ({FD_RESERVE} kept \
             for listeners, Redis, PostgreSQL and the runtime) but this process may open {soft}: \
             connections past about {fits} will fail to be accepted. Raise the open-files limit \
             to at least {needed} (`ulimit -n {needed}` before starting, LimitNOFILE= in a systemd \
             unit, the container runtime's default nofile ulimit for a pod), or lower \
             --max-connections to {fits}"
        )
    })
}

/// Raises the soft open-files limit to the hard one and warns when `max_connections` still does
/// not fit. Failures to read or raise the limit are logged, never fatal.
pub fn raise_and_check(max_connections: u32) {
    let mut limit = getrlimit(Resource::Nofile);
    if let Some(new) = raised(&limit) {
        match setrlimit(Resource::Nofile, new) {
            Ok(()) => {
                tracing::info!(from = ?limit.current, to = ?new.current, "raised the open-files limit to its hard limit");
                limit = new;
            }
            Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
        }
    }
    if let Some(warning) = shortfall(max_connections, limit.current) {
        tracing::warn!(open_files = ?limit.current, max_connections, "{warning}");
    }
}

#[cfg(test)]
mod tests;
