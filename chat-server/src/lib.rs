//! chat-server: the chatapp real-time chat. `main.rs` only wires; this library exposes
//! [`build_state`] (connect the store, start the background tasks) and [`serve`] (the accept
//! loop and graceful shutdown), so tests run real servers on `127.0.0.1:0`.
//!
//! The map, one module per responsibility (none imports a module that imports it back):
//! - `config` (flags and env vars) and `limits` (every limit a client meets, defined once);
//! - `protocol` (wire format and validation, no IO) and `clock` (timestamps);
//! - `store` (Redis or memory: history, rooms, presence) with `store::redis::keys`, the Redis
//!   key schema, and the Lua scripts beside it;
//! - `hub` (local fan-out and ordered delivery), `presence` (online counts across replicas);
//! - `session` (one WebSocket), `http` (routes), `server` (accept loop and shutdown);
//! - `state` ([`AppState`]), `metrics`, `error` (the crate's [`Error`]).

pub mod clock;
pub mod config;
pub mod error;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod presence;
pub mod protocol;
pub mod server;
pub mod session;
pub mod state;
pub mod store;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::sync::{Semaphore, mpsc};

pub use crate::{
    config::Config,
    error::{Error, Result},
    http::app,
    server::serve,
    state::AppState,
};
use crate::{
    hub::Hub,
    limits::Limits,
    metrics::Metrics,
    protocol::ServerFrame,
    state::Lifecycle,
    store::{MemoryStore, RedisStore, Store},
};

/// Connect the store and start the background tasks (delivery, presence, health, subscriber).
pub async fn build_state(config: Config) -> Result<AppState> {
    let instance: Arc<str> = format!(
        "{}-{}",
        hostname(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
    .into();
    let metrics = Arc::new(Metrics::new());
    let lifecycle = Lifecycle::default();
    let (events_tx, events_rx) = mpsc::channel(4096);
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
            .await?;
            let redis = Arc::new(redis);
            let subscriber = redis.clone().run_subscriber(
                events_tx,
                metrics.clone(),
                lifecycle.background.clone(),
            );
            tokio::spawn(subscriber);
            Store::Redis(redis)
        }
    };
    let (hub, starts) = Hub::new(metrics.clone());
    let state = AppState {
        origins: Arc::new(http::OriginPolicy::from_config(&config)),
        limits: Limits::from_config(&config),
        admission: Arc::new(Semaphore::new(config.max_connections as usize)),
        config: Arc::new(config),
        store: store.clone(),
        hub: hub.clone(),
        metrics,
        instance,
        rooms: Arc::default(),
        store_ok: Arc::new(AtomicBool::new(true)),
        lifecycle,
    };
    let background = state.lifecycle.background.clone();
    tokio::spawn(hub::run_delivery(
        hub,
        store,
        events_rx,
        starts,
        background.clone(),
    ));
    tokio::spawn(presence::run(state.clone(), background));
    tokio::spawn(watch_store(state.clone()));
    presence::refresh_rooms(&state).await;
    Ok(state)
}

/// Keep `store_ok` current for `/readyz`, and tell every client when it changes.
async fn watch_store(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = state.lifecycle.background.cancelled() => return,
            _ = tick.tick() => {}
        }
        let ok = matches!(
            tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await,
            Ok(Ok(()))
        );
        let was = state.store_ok.swap(ok, Ordering::Relaxed);
        if was == ok {
            continue;
        }
        if ok {
            tracing::info!("store reachable again: ready");
        } else {
            state.metrics.redis_errors.inc();
            tracing::warn!("store unreachable: not ready");
        }
        let health = ServerFrame::Health {
            ready: ok,
            reason: (!ok).then_some("store unreachable"),
        };
        state.hub.broadcast(health.to_json().into());
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
