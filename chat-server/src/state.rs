//! [`AppState`]: what every request, session and background task shares, one `Arc` to clone.
//! It owns no behaviour beyond small accessors; `lib.rs` builds it and starts the tasks.

use std::{
    ops::Deref,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use tokio::sync::Semaphore;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::{
    Config,
    address::AddressBook,
    hub::Hub,
    limits::Limits,
    metrics::Metrics,
    origin::OriginPolicy,
    protocol::RoomInfo,
    store::{Health, Store},
};

/// Everything a request or a session needs ([`Shared`]), behind one `Arc`: every session keeps
/// a clone for its life, so its size is memory per connection (8 bytes, where the fields inline
/// were 256; docs/benchmarks.md, "Issue #10, round 3").
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub(crate) fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Debug)]
pub struct Shared {
    pub(crate) config: Arc<Config>,
    /// The limits in force, derived once from `config`.
    pub(crate) limits: Limits,
    pub(crate) store: Store,
    pub(crate) hub: Arc<Hub>,
    pub(crate) metrics: Arc<Metrics>,
    /// This replica's id in presence and `welcome`.
    pub(crate) instance: Arc<str>,
    /// Which pages may open `/ws`.
    pub(crate) origins: Arc<OriginPolicy>,
    /// The last room list computed (global counts).
    pub(crate) rooms: Arc<Mutex<Vec<RoomInfo>>>,
    /// The whole chat's online counts, as last computed.
    pub(crate) totals: Arc<Mutex<crate::protocol::Counts>>,
    /// The last `members` frame pushed per room (`presence` pushes only changes).
    pub(crate) members_sent: Arc<Mutex<std::collections::HashMap<String, Arc<str>>>>,
    /// What the store's last health check found (`lib.rs` keeps it current).
    pub(crate) store_health: Arc<Mutex<Health>>,
    /// One permit per open WebSocket (`--max-connections`).
    pub(crate) admission: Arc<Semaphore>,
    /// Usage per client address (connections, sends, room creation).
    pub(crate) addresses: Arc<AddressBook>,
    /// Password hashing and login brakes.
    pub(crate) accounts: Arc<crate::accounts::Gate>,
    pub(crate) lifecycle: Lifecycle,
}

/// The handles of the shutdown sequence (see `server.rs`), in the order they are used.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lifecycle {
    /// Shutdown has begun: not ready, no new WebSockets.
    pub(crate) draining: Arc<AtomicBool>,
    /// Cancelled to close every WebSocket with 1001.
    pub(crate) sessions: CancellationToken,
    /// Tracks WebSocket sessions so shutdown can wait for them.
    pub(crate) tracker: TaskTracker,
    /// Cancelled to stop background tasks, after the sessions.
    pub(crate) background: CancellationToken,
}

impl Shared {
    /// Whether this replica should be sent traffic; the reason when not. A store that only
    /// refuses writes still serves history, so it keeps the replica ready (see [`Self::read_only`]).
    pub(crate) fn not_ready(&self) -> Option<String> {
        if self.lifecycle.draining.load(Ordering::Relaxed) {
            return Some("draining".into());
        }
        match &*self.store_health.lock().unwrap() {
            Health::Down(reason) => Some(reason.clone()),
            Health::Ready | Health::ReadOnly(_) => None,
        }
    }

    /// Why the store refuses writes while it still reads, if it does.
    pub(crate) fn read_only(&self) -> Option<String> {
        match &*self.store_health.lock().unwrap() {
            Health::ReadOnly(reason) => Some(reason.clone()),
            Health::Ready | Health::Down(_) => None,
        }
    }

    /// Why clients cannot send right now (the `health` frame's reason), if they cannot.
    pub(crate) fn cannot_store(&self) -> Option<String> {
        self.not_ready().or_else(|| self.read_only())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_state_every_session_keeps_is_one_pointer() {
        // Each session holds a clone for its life: anything larger is memory per connection.
        assert_eq!(
            std::mem::size_of::<super::AppState>(),
            std::mem::size_of::<usize>()
        );
    }
}
