//! Timed rooms in the store: each backend keeps a room's [`Timers`] with the room, a schedule of
//! when its next clear and its expiry are due, and the offset its history was last cleared
//! through. [`Store::fire_due`] is called by every replica's sweeper (`crate::timed`); each due
//! clear or expiry is claimed atomically (a Lua script in Redis, `FOR UPDATE SKIP LOCKED` in
//! PostgreSQL, the store's lock in memory), so it happens once however many replicas sweep, and
//! by whichever replica sweeps next when the one that would have done it died. The backend
//! announces what it did ([`StoreEvent::Cleared`], [`StoreEvent::Expired`]) to every replica.
//!
//! Inactivity is "no message stored": the newest message's time (or the room's creation, or the
//! newest cleared message's) plus the expiry. A clear keeps the offsets growing and the epoch as
//! it is; a `since` at or before the clear cannot be honoured (`recovered: false`), so recovery
//! never hands back a cleared message nor leaves one on a client's screen.

use std::collections::BTreeMap;

use super::{Listing, Result, Store, StoreEvent};
use crate::protocol::Timers;

/// The time the sweeper sees, and the length of its "minute" (`--timed-minute-ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    pub now_ms: u64,
    pub minute_ms: u64,
}

impl Clock {
    /// `mins` of this clock's minutes, in milliseconds.
    pub fn mins(&self, mins: u32) -> u64 {
        u64::from(mins) * self.minute_ms
    }

    /// The clear after one due at `due`: the cadence kept, missed ones skipped.
    pub fn next_clear(&self, due: u64, every_mins: u32) -> u64 {
        let every = self.mins(every_mins).max(1);
        let next = due + every;
        if next > self.now_ms {
            next
        } else {
            self.now_ms + every
        }
    }
}

/// What a sweep did to one room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    /// Every message up to `through` was deleted.
    Cleared { room: String, through: u64 },
    /// The room was deleted.
    Expired { room: String },
}

impl Fired {
    /// The pub/sub payload announcing it (Redis bus).
    pub(super) fn payload(&self) -> String {
        match self {
            Self::Cleared { room, through } => format!("c {through} {room}"),
            Self::Expired { room } => format!("x {room}"),
        }
    }
}

impl From<Fired> for StoreEvent {
    fn from(fired: Fired) -> Self {
        match fired {
            Fired::Cleared { room, through } => StoreEvent::Cleared {
                room: room.into(),
                through,
            },
            Fired::Expired { room } => StoreEvent::Expired { room: room.into() },
        }
    }
}

impl Store {
    /// Give `room` its timers, replacing any: the first clear one interval from now, unless the
    /// interval is unchanged (a restart re-applying `--general-clear-mins` keeps the cadence).
    pub async fn set_timers(&self, room: &str, timers: Timers, clock: Clock) -> Result<()> {
        match self {
            Store::Memory(s) => s.set_timers(room, timers, clock).await,
            Store::Redis(s) => s.set_timers(room, timers, clock).await,
            Store::Postgres(s) => s.set_timers(room, timers, clock).await,
        }
    }

    /// Every timed room's timers.
    pub async fn timers(&self) -> Result<BTreeMap<String, Timers>> {
        match self {
            Store::Memory(s) => s.timers().await,
            Store::Redis(s) => s.timers().await,
            Store::Postgres(s) => s.timers().await,
        }
    }

    /// Clear and expire what is due, each once across replicas, and announce it.
    pub async fn fire_due(&self, clock: Clock) -> Result<Vec<Fired>> {
        match self {
            Store::Memory(s) => s.fire_due(clock).await,
            Store::Redis(s) => s.fire_due(clock).await,
            Store::Postgres(s) => s.fire_due(clock).await,
        }
    }

    /// Put each room's timers into a listing; a listing without them is still a listing.
    pub(super) async fn label_timers(&self, listing: &mut Listing) {
        match self.timers().await {
            Ok(timers) => {
                for room in &mut listing.rooms {
                    room.timers = timers.get(&room.name).copied().unwrap_or_default();
                }
            }
            Err(e) => tracing::debug!(error = %e, "timers unavailable"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clears_keep_their_cadence_and_skip_missed_ones() {
        let clock = Clock {
            now_ms: 10_500,
            minute_ms: 1000,
        };
        assert_eq!(clock.next_clear(10_000, 2), 12_000);
        assert_eq!(clock.next_clear(5_000, 2), 12_500, "missed ones skipped");
        assert_eq!(clock.mins(10), 10_000);
    }
}
