//! Online counts across replicas. This replica publishes its own per-room connection counts with a
//! heartbeat (so a replica that dies stops counting once its heartbeat expires), and recomputes the
//! global room list whenever anything changed, pushing a `rooms` frame to its clients only when the
//! list differs from the last one pushed.

use std::{collections::BTreeMap, time::Duration};

use tokio_util::sync::CancellationToken;

use crate::{
    AppState,
    protocol::{RoomInfo, ServerFrame},
};

/// Coalesces bursts of joins and leaves into one update.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Least time between two room-list recomputations. Each one that changed something costs a
/// frame to every connection, so while thousands join at once the counts go out twice a second,
/// not ten times (docs/benchmarks.md, "Joining at scale").
const ROOMS_EVERY: Duration = Duration::from_millis(500);

/// Runs until `stop`: heartbeats, count publication and `rooms` pushes.
pub async fn run(state: AppState, stop: CancellationToken) {
    let hub = state.hub.clone();
    let mut tick = tokio::time::interval(state.config.presence_ttl() / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published: BTreeMap<String, u64> = BTreeMap::new();
    let mut next_rooms = tokio::time::Instant::now();
    loop {
        let (heartbeat_changed, recompute) = tokio::select! {
            () = stop.cancelled() => return,
            () = hub.presence_changed.notified() => (true, false),
            () = hub.rooms_changed.notified() => (false, true),
            _ = tick.tick() => (false, true),
        };
        tokio::time::sleep(DEBOUNCE).await;
        let counts = hub.local_counts();
        // Rooms that dropped to zero are sent as 0 once so the store forgets this replica there.
        let mut payload = counts.clone();
        for room in published.keys() {
            payload.entry(room.clone()).or_insert(0);
        }
        let changed = heartbeat_changed && counts != published;
        match state.store.heartbeat(&payload, changed).await {
            Ok(()) => published = counts,
            Err(e) => {
                state.metrics.redis_errors.inc();
                tracing::warn!(error = %e, "presence heartbeat failed");
            }
        }
        if recompute || changed {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep_until(next_rooms) => {}
            }
            next_rooms = tokio::time::Instant::now() + ROOMS_EVERY;
            refresh_rooms(&state).await;
        }
    }
}

/// Forget this replica's members in the shared counts (graceful shutdown), so the users it
/// served stop counting online now rather than after the presence TTL.
pub async fn depart(state: &AppState) {
    if let Err(e) = state.store.depart().await {
        state.metrics.redis_errors.inc();
        tracing::warn!(error = %e, "clearing presence on shutdown failed");
    }
}

/// Recompute the room list; push it to every local client when it changed. The frame is built
/// once here and shared by every connection ([`crate::hub::Hub::push_rooms`]).
pub async fn refresh_rooms(state: &AppState) {
    let rooms = match state.store.rooms().await {
        Ok(rooms) => rooms,
        Err(e) => {
            state.metrics.redis_errors.inc();
            tracing::warn!(error = %e, "listing rooms failed");
            return;
        }
    };
    state.metrics.rooms.set(rooms.len() as i64);
    *state.rooms.lock().unwrap() = rooms;
    let frame = ServerFrame::Rooms {
        rooms: &snapshot(state),
    }
    .to_json();
    state.hub.push_rooms(frame.into());
}

/// The last known room list, with this replica's own counts as a floor (they are fresher).
pub fn snapshot(state: &AppState) -> Vec<RoomInfo> {
    let mut rooms = state.rooms.lock().unwrap().clone();
    let local = state.hub.local_counts();
    for room in &mut rooms {
        room.online = room.online.max(local.get(&room.name).copied().unwrap_or(0));
    }
    rooms
}

/// One room's online count, as [`snapshot`] has it, without copying the whole list.
pub fn online(state: &AppState, room: &str) -> u64 {
    let known = state
        .rooms
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.name == room)
        .map_or(0, |r| r.online);
    known.max(state.hub.local_count(room))
}
