//! chat-server: the chatapp real-time chat. `main.rs` only wires; this library exposes
//! [`build_state`] (connect the store, start the background tasks) and [`serve`] (the accept
//! loop and graceful shutdown), so tests run real servers on `127.0.0.1:0`.
//!
//! Modules: `protocol` (wire format and validation), `store` (Redis or memory), `hub` (local
//! fan-out and ordered delivery), `presence` (online counts across replicas), `session` (one
//! WebSocket), `http` (routes), `server` (accept loop), `metrics`, `config`.

pub mod config;
pub mod http;
pub mod hub;
pub mod metrics;
pub mod presence;
pub mod protocol;
pub mod server;
pub mod session;
pub mod store;
mod ui;

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::mpsc;
use tokio_util::{sync::CancellationToken, task::TaskTracker};

pub use crate::{config::Config, http::app, server::serve};
use crate::{
    hub::Hub,
    protocol::{Limits, RoomInfo},
    store::{MemoryStore, RedisStore, Store, StoreError},
};

/// Everything a request or a session needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub hub: Arc<Hub>,
    /// This replica's id in presence and `welcome`.
    pub instance: Arc<str>,
    /// Normalised Origin allowlist.
    pub origins: Arc<[String]>,
    /// The last room list computed (global counts).
    pub rooms: Arc<Mutex<Vec<RoomInfo>>>,
    /// The store answered its last health check.
    pub store_ok: Arc<AtomicBool>,
    /// Shutdown has begun: not ready, no new WebSockets.
    pub draining: Arc<AtomicBool>,
    /// Cancelled to close every WebSocket with 1001.
    pub sessions: CancellationToken,
    /// Tracks WebSocket sessions so shutdown can wait for them.
    pub tracker: TaskTracker,
    /// Cancelled to stop background tasks, after the sessions.
    pub background: CancellationToken,
}

impl AppState {
    /// Field limits in force.
    pub fn limits(&self) -> Limits {
        Limits {
            max_content_bytes: self.config.max_content_bytes as usize,
            max_name_chars: self.config.max_name_chars as usize,
            max_topic_chars: self.config.max_topic_chars as usize,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The Redis URL is malformed or Redis refused the first connection.
    #[error("cannot connect to redis: {0}")]
    Redis(#[source] StoreError),
}

/// Connect the store and start the background tasks (delivery, presence, health, subscriber).
pub async fn build_state(config: Config) -> Result<AppState, StartError> {
    let instance: Arc<str> = format!(
        "{}-{}",
        hostname(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
    .into();
    let (events_tx, events_rx) = mpsc::channel(4096);
    let background = CancellationToken::new();
    let store = match &config.redis_url {
        None => Store::Memory(Arc::new(MemoryStore::new(
            config.history_len as usize,
            events_tx,
        ))),
        Some(url) => {
            let redis = RedisStore::connect(
                url,
                &config.redis_prefix,
                &instance,
                config.history_len,
                config.presence_ttl(),
            )
            .await
            .map_err(StartError::Redis)?;
            let redis = Arc::new(redis);
            tokio::spawn(redis.clone().run_subscriber(events_tx, background.clone()));
            Store::Redis(redis)
        }
    };
    let (hub, starts) = Hub::new();
    let state = AppState {
        origins: config.origin_allowlist().into(),
        config: Arc::new(config),
        store: store.clone(),
        hub: hub.clone(),
        instance,
        rooms: Arc::default(),
        store_ok: Arc::new(AtomicBool::new(true)),
        draining: Arc::default(),
        sessions: CancellationToken::new(),
        tracker: TaskTracker::new(),
        background: background.clone(),
    };
    tokio::spawn(hub::run_delivery(
        hub,
        store,
        events_rx,
        starts,
        background.clone(),
    ));
    tokio::spawn(presence::run(state.clone(), background.clone()));
    tokio::spawn(watch_store(state.clone()));
    presence::refresh_rooms(&state).await;
    Ok(state)
}

/// Keep `store_ok` current for `/readyz`.
async fn watch_store(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = state.background.cancelled() => return,
            _ = tick.tick() => {}
        }
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await,
            Ok(Ok(()))
        );
        let was = state.store_ok.swap(ok, Ordering::Relaxed);
        if was != ok {
            if ok {
                tracing::info!("store reachable again: ready");
            } else {
                metrics::global().redis_errors.inc();
                tracing::warn!("store unreachable: not ready");
            }
        }
    }
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "chat".to_owned())
}
