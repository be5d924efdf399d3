//! chat-server: the chatapp real-time chat. `main.rs` only wires; this library exposes
//! [`build_state`] (set up the store, start the background tasks) and [`serve`] (the accept
//! loop and graceful shutdown), so tests run real servers on `127.0.0.1:0`. A Redis that is not
//! there yet does not stop the start: the server serves, unready, until it is.
//!
//! The map, one module per responsibility (none imports a module that imports it back):
//! - `config` (flags and env vars) and `limits` (every limit a client meets, defined once);
//!   `open_files` (the open-files limit at start, against `--max-connections`);
//! - `protocol` (wire format and validation, no IO) and `clock` (timestamps);
//! - `query` (the filter and search language, no IO) and `search` (search pages over the store);
//! - `store` (memory, Redis, or PostgreSQL with Redis: history, rooms, presence) with
//!   `store::redis::keys`, the Redis key schema, and the Lua scripts beside it;
//! - `hub` (local fan-out and ordered delivery), `presence` (online counts across replicas);
//! - `session` (one WebSocket), `http` (routes), `origin` (which pages may open `/ws`), `ui`
//!   (the embedded browser UI), `server` (accept loop and shutdown);
//! - `accounts` (users, sessions, passwords and their HTTP endpoints; who is a guest; its
//!   `accounts::http` is a route module like `http`: it takes the [`AppState`]);
//! - `grpc` (the support desk's server-to-server gRPC API: each call an in-process `session`);
//! - `access` (who sees which private room, this replica's copy of the participants);
//! - `rate` (token buckets) and `address` (limits shared by the connections of one address);
//! - `state` ([`AppState`]), `metrics`, `error` (the crate's [`Error`]).

pub mod access;
pub mod accounts;
mod address;
pub mod clock;
pub mod config;
pub mod error;
pub mod grpc;
pub mod http;
pub mod hub;
pub mod limits;
pub mod metrics;
pub mod open_files;
pub mod origin;
pub mod presence;
pub mod protocol;
pub mod query;
mod rate;
mod search;
pub mod server;
pub mod session;
pub mod signals;
mod socket;
pub mod state;
pub mod store;
pub(crate) mod support;
mod timed;
mod ui;

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{Semaphore, mpsc};

use crate::{
    address::AddressBook,
    hub::Hub,
    limits::Limits,
    metrics::Metrics,
    protocol::ServerFrame,
    state::Lifecycle,
    store::{Health, MemoryStore, PgStore, RedisStore, Retention, Store},
};
pub use crate::{
    config::Config,
    error::{Error, Result},
    http::app,
    server::serve,
    state::AppState,
};

/// Set up the store and start the background tasks (delivery, presence, health, subscriber).
/// Fails only on a malformed Redis URL: Redis itself may come later.
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
    let feeds = Arc::new(store::RoomFeeds::new(config.redis_url.is_some()));
    if config.redis_cluster && config.redis_url.is_none() {
        return Err(Error::Settings(
            "--redis-cluster needs --redis-url (the seed nodes)".into(),
        ));
    }
    let redis = match &config.redis_url {
        None => None,
        Some(url) => {
            let redis = Arc::new(RedisStore::connect(
                url,
                &config.redis_prefix,
                &instance,
                config.history_len,
                config.presence_ttl(),
                config.redis_cluster,
            )?);
            let subscriber = redis.clone().run_subscriber(
                feeds.clone(),
                events_tx.clone(),
                metrics.clone(),
                lifecycle.background.clone(),
            );
            tokio::spawn(subscriber);
            Some(redis)
        }
    };
    let store = match (&config.database_url, redis) {
        (Some(url), redis) => {
            let pool = store::pg_pool(url, config.database_max_connections)?;
            migrate_when_reachable(pool.clone(), lifecycle.background.clone()).await;
            let retention = Retention {
                days: config.retention_days,
                messages: config.retention_messages,
            };
            Store::Postgres(PgStore::start(
                pool,
                redis,
                events_tx,
                config.history_len,
                retention,
                metrics.clone(),
                lifecycle.background.clone(),
            ))
        }
        (None, Some(redis)) => Store::Redis(redis),
        (None, None) => Store::Memory(Arc::new(MemoryStore::new(
            config.history_len as usize,
            events_tx,
        ))),
    };
    // Redis and PostgreSQL start unready until the first health check has seen them.
    let health = match store {
        Store::Memory(_) => Health::Ready,
        Store::Redis(_) | Store::Postgres(_) => Health::Down(Health::UNREACHABLE.into()),
    };
    let (hub, starts) = Hub::with_feeds(metrics.clone(), feeds);
    let state = AppState::new(state::Shared {
        origins: Arc::new(origin::OriginPolicy::from_config(&config)),
        limits: Limits::from_config(&config),
        admission: Arc::new(Semaphore::new(config.max_connections as usize)),
        addresses: Arc::new(AddressBook::new(&config)),
        accounts: Arc::default(),
        config: Arc::new(config),
        store: store.clone(),
        hub: hub.clone(),
        metrics,
        instance,
        rooms: Arc::default(),
        totals: Arc::default(),
        members_sent: Arc::default(),
        store_health: Arc::new(Mutex::new(health)),
        lifecycle,
    });
    let background = state.lifecycle.background.clone();
    tokio::spawn(hub::run_delivery(
        hub,
        store,
        events_rx,
        starts,
        background.clone(),
    ));
    tokio::spawn(signals::run(state.clone(), background.clone()));
    tokio::spawn(signals::run_reads(state.clone(), background.clone()));
    tokio::spawn(support::run(state.clone(), background.clone()));
    tokio::spawn(presence::run(state.clone(), background));
    tokio::spawn(watch_store(state.clone()));
    tokio::spawn(timed::run(
        state.clone(),
        state.lifecycle.background.clone(),
    ));
    presence::refresh_rooms(&state).await;
    Ok(state)
}

/// Apply the schema migrations before serving; a database that is not there yet is waited for in
/// the background (the server serves, unready, meanwhile), so a replica never crash-loops on it.
async fn migrate_when_reachable(pool: sqlx::PgPool, stop: tokio_util::sync::CancellationToken) {
    let attempt = {
        let pool = pool.clone();
        async move { PgStore::migrate(&pool).await }
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(())) => return,
        Ok(Err(e)) => tracing::warn!(error = %e, "migrations failed; retrying in the background"),
        Err(_) => tracing::warn!("database not reachable; migrating in the background"),
    }
    tokio::spawn(async move {
        let mut delay = Duration::from_millis(500);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(delay) => {}
            }
            match PgStore::migrate(&pool).await {
                Ok(()) => return tracing::info!("database schema migrated"),
                Err(e) => tracing::warn!(error = %e, "migrations failed; retrying"),
            }
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    });
}

/// How long one health check of the store may take before it counts as slow.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// Slow health checks in a row that still leave the store's health as it was: one slow answer
/// (a Redis stalled by a long command, a replica busy with a storm of joins) is not an outage,
/// and calling it one told every client the store was down and took the replica out of its
/// Service. Two in a row (about 4 s without an answer) are; an error is at once.
const SLOW_HEALTH_CHECKS_TOLERATED: u32 = 1;

/// Keep `store_health` current for `/readyz` and `chat_store_writable`, and tell every client
/// when it changes.
async fn watch_store(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut slow_checks = 0;
    loop {
        tokio::select! {
            () = state.lifecycle.background.cancelled() => return,
            _ = tick.tick() => {}
        }
        let health = match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, state.store.health()).await {
            Ok(health) => {
                slow_checks = 0;
                health
            }
            Err(_) => {
                slow_checks += 1;
                if slow_checks <= SLOW_HEALTH_CHECKS_TOLERATED {
                    tracing::info!("store health check slow: checking again");
                    continue;
                }
                Health::Down(Health::UNREACHABLE.into())
            }
        };
        let writable = matches!(health, Health::Ready);
        state.metrics.store_writable.set(i64::from(writable));
        let was = std::mem::replace(&mut *state.store_health.lock().unwrap(), health.clone());
        if was == health {
            continue;
        }
        let reason = match &health {
            Health::Ready => {
                tracing::info!("store healthy: ready");
                None
            }
            Health::ReadOnly(reason) => {
                tracing::warn!(%reason, "store refuses writes: ready for reading only");
                Some(reason.as_str())
            }
            Health::Down(reason) => {
                state.metrics.redis_errors.inc();
                tracing::warn!(%reason, "store unusable: not ready");
                Some(reason.as_str())
            }
        };
        let frame = ServerFrame::Health {
            ready: writable,
            reason,
        };
        state.hub.broadcast(frame.to_json().into());
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
