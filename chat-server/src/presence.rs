//! Online counts across replicas. This replica publishes its own per-room connection counts with a
//! heartbeat (so a replica that dies stops counting once its heartbeat expires), and recomputes the
//! global room list whenever anything changed, pushing a `rooms` frame to its clients only when the
//! list differs from the last one pushed. Private rooms are listed only to who may see them: the
//! public part of the list is one shared frame, each viewer's private part is spliced in by the
//! hub (`hub/rooms.rs`). Every refresh also compares the hub's copy of the private rooms'
//! participants with the store, so an announcement lost on the way is repaired here.

use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use crate::{
    AppState,
    access::Viewer,
    hub::RoomsList,
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

/// Recompute the room list; push it to every local client when it changed. The public part of
/// the frame is built once here and shared by every connection ([`crate::hub::Hub::push_rooms`]).
pub async fn refresh_rooms(state: &AppState) {
    let failed = |e: crate::error::Error, what: &str| {
        state.metrics.redis_errors.inc();
        tracing::warn!(error = %e, "{what} failed");
    };
    let mut rooms = match state.store.rooms().await {
        Ok(rooms) => rooms,
        Err(e) => return failed(e, "listing rooms"),
    };
    // Read after the rooms: a private room is created with its record in one step, so every
    // private room listed above has its record in this list.
    let generation = state.hub.acl.generation();
    let access = match state.store.access_list().await {
        Ok(access) => access,
        Err(e) => return failed(e, "listing private rooms"),
    };
    let private: HashSet<String> = access
        .iter()
        .filter(|(_, a)| a.private)
        .map(|(room, _)| room.clone())
        .collect();
    for (room, old, new) in state.hub.acl.replace_all(access, generation) {
        state.hub.enforce(&room, old.as_ref(), new.as_ref());
    }
    for room in &mut rooms {
        room.private = private.contains(&room.name) || state.hub.acl.is_private(&room.name);
    }
    state.metrics.rooms.set(rooms.len() as i64);
    *state.rooms.lock().unwrap() = rooms;
    let (private, public): (Vec<RoomInfo>, Vec<RoomInfo>) =
        snapshot(state).into_iter().partition(|r| r.private);
    let frame = ServerFrame::Rooms { rooms: &public }.to_json();
    let array = serde_json::to_string(&public).expect("room entries serialise");
    state
        .hub
        .push_rooms(RoomsList::new(frame, &array, &private));
}

/// The rooms `viewer` may see, as [`snapshot`] has them (`/api/rooms`).
pub fn snapshot_for(state: &AppState, viewer: &Viewer<'_>) -> Vec<RoomInfo> {
    let visible = state.hub.acl.visible_to(viewer);
    let mut rooms = snapshot(state);
    rooms.retain(|r| !r.private || visible.contains(r.name.as_str()));
    rooms
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
