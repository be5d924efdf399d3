//! Timed rooms' sweeper: every replica runs one. Each tick it asks the store to clear and expire
//! whatever is due ([`Store::fire_due`](crate::store::Store::fire_due)); the store claims each
//! atomically, so a clear or an expiry happens once however many replicas sweep, and still
//! happens when the replica that would have done it died (the next sweep anywhere finds it due).
//! What happened reaches members through the store's events (`hub.rs`). It also gives `general`
//! its clear interval from `--general-clear-mins`. A "minute" is `--timed-minute-ms` (60000
//! except in tests).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::{
    AppState,
    clock::now_ms,
    config::Config,
    protocol::{DEFAULT_ROOM, Timers},
    store::{Clock, Result},
};

/// The shortest pause between sweeps (a test's short "minute" must not spin).
const MIN_TICK: Duration = Duration::from_millis(50);
/// The longest pause between sweeps: a clear or expiry is at most this late.
const MAX_TICK: Duration = Duration::from_secs(1);

/// Now, as the timed rooms count.
pub(crate) fn clock(config: &Config) -> Clock {
    Clock {
        now_ms: now_ms(),
        minute_ms: config.timed_minute_ms,
    }
}

/// Give a new room its timers (nothing to do for one without).
pub(crate) async fn start(state: &AppState, room: &str, timers: Timers) -> Result<()> {
    if timers.is_never() {
        return Ok(());
    }
    let clock = clock(&state.config);
    state.store.set_timers(room, timers, clock).await
}

/// Sweep until `stop`; `general`'s interval is applied first (retried until the store answers).
pub(crate) async fn run(state: AppState, stop: CancellationToken) {
    let period = Duration::from_millis(state.config.timed_minute_ms / 60).clamp(MIN_TICK, MAX_TICK);
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let general = Timers {
        clear_every_mins: state.config.general_clear_mins,
        expire_after_mins: 0,
    };
    let mut general_set = false;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let clock = clock(&state.config);
        if !general_set {
            match state.store.set_timers(DEFAULT_ROOM, general, clock).await {
                Ok(()) => general_set = true,
                Err(e) => {
                    tracing::debug!(error = %e, "general's clear interval not set yet");
                    continue;
                }
            }
        }
        match state.store.fire_due(clock).await {
            Ok(fired) => {
                for f in fired {
                    tracing::info!(?f, "timed room");
                }
            }
            Err(e) => tracing::debug!(error = %e, "timed rooms sweep failed"),
        }
    }
}
