//! Online counts across replicas. This replica publishes who it has online per room (registered
//! users and guests, and the users' names) with a heartbeat (so a replica that dies stops counting
//! once its heartbeat expires), and recomputes the global room list whenever anything changed,
//! pushing a `rooms` frame to its clients only when the list differs from the last one pushed, and
//! a `members` frame to a room's local members only when who is in it changed. Private rooms are
//! listed only to who may see them: the public part of the list is one shared frame, each
//! viewer's private part is spliced in by the hub (`hub/rooms.rs`). Every refresh also compares
//! the hub's copy of the private rooms' participants with the store, so an announcement lost on
//! the way is repaired here.

use std::{
    collections::{BTreeMap, HashSet},
    sync::Arc,
    time::Duration,
};

use tokio_util::sync::CancellationToken;

use crate::{
    AppState,
    access::Viewer,
    hub::RoomsList,
    protocol::{Counts, RoomInfo, ServerFrame},
    store::{ALL_CONNECTIONS, RoomPresence},
};

/// Coalesces bursts of joins and leaves into one update.
const DEBOUNCE: Duration = Duration::from_millis(100);
/// Least time between two room-list recomputations. Each one that changed something costs a
/// frame to every connection, so while thousands join at once the counts go out twice a second,
/// not ten times (docs/benchmarks.md, "Joining at scale").
const ROOMS_EVERY: Duration = Duration::from_millis(500);
/// The most that spacing grows to with many local connections, where a push is a frame to each
/// of them: counts still reach every client within a second of a change (with [`DEBOUNCE`]).
const ROOMS_EVERY_MAX: Duration = Duration::from_millis(850);
/// Local connections at which the spacing reaches [`ROOMS_EVERY_MAX`] (growing linearly from
/// [`ROOMS_EVERY`] at none): a join storm then costs fewer whole-list pushes per connection
/// (docs/benchmarks.md, "Issue #10, round 2").
const ROOMS_EVERY_MAX_AT: u64 = 10_000;

/// Least time between two room-list recomputations with `connections` local connections.
fn rooms_every(connections: u64) -> Duration {
    let share = connections.min(ROOMS_EVERY_MAX_AT) as f64 / ROOMS_EVERY_MAX_AT as f64;
    ROOMS_EVERY + (ROOMS_EVERY_MAX - ROOMS_EVERY).mul_f64(share)
}

/// Runs until `stop`: heartbeats, presence publication, `rooms` and `members` pushes.
pub async fn run(state: AppState, stop: CancellationToken) {
    let hub = state.hub.clone();
    let mut tick = tokio::time::interval(state.config.presence_ttl() / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut published: BTreeMap<String, RoomPresence> = BTreeMap::new();
    let mut next_rooms = tokio::time::Instant::now();
    loop {
        let (heartbeat_changed, recompute) = tokio::select! {
            () = stop.cancelled() => return,
            () = hub.presence_changed.notified() => (true, false),
            () = hub.rooms_changed.notified() => (false, true),
            _ = tick.tick() => (false, true),
        };
        tokio::time::sleep(DEBOUNCE).await;
        let mut counts = hub.local_presence();
        counts.retain(|room, p| room == ALL_CONNECTIONS || !p.is_empty());
        // Rooms that emptied are sent as empty once so the store forgets this replica there.
        let mut payload = counts.clone();
        for room in published.keys() {
            payload.entry(room.clone()).or_default();
        }
        let changed = heartbeat_changed && counts != published;
        let connections = counts
            .get(ALL_CONNECTIONS)
            .map_or(0, |all| all.registered + all.guests);
        let private = state.hub.acl.private_rooms();
        match state.store.heartbeat(&payload, changed, &private).await {
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
            next_rooms = tokio::time::Instant::now() + rooms_every(connections);
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

/// Recompute the room list; push it to every local client when it changed, and `members` to
/// the rooms whose members changed. The public part of the frame is built once here and shared
/// by every connection ([`crate::hub::Hub::push_rooms`]).
pub async fn refresh_rooms(state: &AppState) {
    let failed = |e: crate::error::Error, what: &str| {
        state.metrics.redis_errors.inc();
        tracing::warn!(error = %e, "{what} failed");
    };
    let listing = match state.store.rooms().await {
        Ok(listing) => listing,
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
    let changes = state.hub.acl.replace_all(access, generation);
    for (room, old, new) in &changes {
        state.hub.enforce(room, old.as_ref(), new.as_ref());
    }
    if !changes.is_empty() {
        state.hub.private_rooms_changed();
    }
    let mut rooms = listing.rooms;
    for room in &mut rooms {
        room.private = private.contains(&room.name) || state.hub.acl.is_private(&room.name);
    }
    state.metrics.rooms.set(rooms.len() as i64);
    *state.rooms.lock().unwrap() = rooms;
    *state.totals.lock().unwrap() = listing.totals;
    let (rooms, totals) = snapshot(state);
    push_members(state, &rooms);
    let (private, public): (Vec<RoomInfo>, Vec<RoomInfo>) =
        rooms.into_iter().partition(|r| r.private);
    let frame = ServerFrame::Rooms {
        rooms: &public,
        totals,
    }
    .to_json();
    let array = serde_json::to_string(&public).expect("room entries serialise");
    state
        .hub
        .push_rooms(RoomsList::new(frame, &array, &private));
}

/// The rooms `viewer` may see and the totals, as [`snapshot`] has them (`/api/rooms`).
pub fn snapshot_for(state: &AppState, viewer: &Viewer<'_>) -> (Vec<RoomInfo>, Counts) {
    let visible = state.hub.acl.visible_to(viewer);
    let (mut rooms, totals) = snapshot(state);
    rooms.retain(|r| !r.private || visible.contains(r.name.as_str()));
    (rooms, totals)
}

/// Send `members` to each room with local members whose frame changed since the last one sent.
fn push_members(state: &AppState, rooms: &[RoomInfo]) {
    let local = state.hub.local_presence();
    let mut sent = state.members_sent.lock().unwrap();
    sent.retain(|room, _| local.contains_key(room));
    for room in rooms.iter().filter(|r| local.contains_key(&r.name)) {
        let frame = members_of(room);
        if sent.get(&room.name).is_some_and(|f| **f == *frame) {
            continue;
        }
        sent.insert(room.name.clone(), frame.clone());
        state.hub.to_room(&room.name, frame);
    }
}

fn members_of(room: &RoomInfo) -> Arc<str> {
    ServerFrame::Members {
        room: &room.name,
        users: &room.users,
        guests: room.guests,
    }
    .to_json()
    .into()
}

/// The last known room list and totals, with this replica's own presence as a floor of each
/// kind (it is fresher); `online` is always `registered + guests`.
pub fn snapshot(state: &AppState) -> (Vec<RoomInfo>, Counts) {
    let mut rooms = state.rooms.lock().unwrap().clone();
    let mut totals = *state.totals.lock().unwrap();
    let mut local = state.hub.local_presence();
    for room in &mut rooms {
        if let Some(mine) = local.remove(&room.name) {
            floor(room, &mine);
        }
    }
    if let Some(all) = local.remove(ALL_CONNECTIONS) {
        totals.registered = totals.registered.max(all.registered);
        totals.guests = totals.guests.max(all.guests);
        totals.online = totals.registered + totals.guests;
    }
    (rooms, totals)
}

fn floor(room: &mut RoomInfo, mine: &RoomPresence) {
    room.registered = room.registered.max(mine.registered);
    room.guests = room.guests.max(mine.guests);
    // Each kind floored on its own, so the total is their sum (never less than either part).
    room.online = room.registered + room.guests;
    let mut merged = RoomPresence {
        users: std::mem::take(&mut room.users),
        ..RoomPresence::default()
    };
    merged.add(mine);
    room.users = merged.users;
}

/// The `members` frame of one room as [`snapshot`] has it (for a client that just joined).
pub fn members_frame(state: &AppState, room: &str) -> Arc<str> {
    let known = state
        .rooms
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.name == room)
        .cloned();
    let mut info = known.unwrap_or_else(|| RoomInfo {
        name: room.to_owned(),
        ..RoomInfo::default()
    });
    floor(&mut info, &state.hub.room_presence(room));
    members_of(&info)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_room_list_spacing_grows_with_connections_and_stays_under_a_second() {
        assert_eq!(rooms_every(0), ROOMS_EVERY);
        assert!(rooms_every(5_000) > ROOMS_EVERY);
        assert!(rooms_every(5_000) < ROOMS_EVERY_MAX);
        assert_eq!(rooms_every(ROOMS_EVERY_MAX_AT), ROOMS_EVERY_MAX);
        assert_eq!(rooms_every(1_000_000), ROOMS_EVERY_MAX);
        assert!(ROOMS_EVERY_MAX + DEBOUNCE < Duration::from_secs(1));
    }
}
