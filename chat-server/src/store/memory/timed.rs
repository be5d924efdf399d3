//! Timed rooms in memory: the schedule lives next to the rooms under the store's one lock, so a
//! sweep is a single critical section (one process: once is trivially once). Activity is seen
//! by the sweep: a room whose head moved since the last sweep was active then, which is exact to
//! one sweep period (a second at most).

use std::collections::BTreeMap;

use super::{MemoryStore, Result, StoreEvent};
use crate::{
    protocol::{DEFAULT_ROOM, Timers},
    store::timed::{Clock, Fired},
};

/// One timed room's schedule.
#[derive(Debug, Clone, Default)]
pub(super) struct Schedule {
    timers: Timers,
    /// When the next clear is due (ms); 0 without one.
    next_clear: u64,
    /// The last time the room was seen active (ms).
    active_ms: u64,
    /// The head when `active_ms` was taken.
    seen_head: u64,
    /// The offset the history was last cleared through.
    pub(super) cleared: u64,
}

impl MemoryStore {
    pub(in crate::store) async fn set_timers(
        &self,
        room: &str,
        timers: Timers,
        clock: Clock,
    ) -> Result<()> {
        let mut inner = self.inner.lock().await;
        let head = inner.rooms.get(room).map_or(0, |l| l.head);
        let old = inner.timed.remove(room).unwrap_or_default();
        let next_clear = match timers.clear_every_mins {
            0 => 0,
            same if same == old.timers.clear_every_mins && old.next_clear > 0 => old.next_clear,
            every => clock.now_ms + clock.mins(every),
        };
        let schedule = Schedule {
            timers,
            next_clear,
            active_ms: clock.now_ms,
            seen_head: head,
            cleared: old.cleared,
        };
        inner.timed.insert(room.to_owned(), schedule);
        let _ = self.events.send(StoreEvent::RoomsChanged).await;
        Ok(())
    }

    pub(in crate::store) async fn timers(&self) -> Result<BTreeMap<String, Timers>> {
        let inner = self.inner.lock().await;
        Ok(inner
            .timed
            .iter()
            .filter(|(_, s)| !s.timers.is_never())
            .map(|(room, s)| (room.clone(), s.timers))
            .collect())
    }

    pub(in crate::store) async fn fire_due(&self, clock: Clock) -> Result<Vec<Fired>> {
        let mut inner = self.inner.lock().await;
        let inner = &mut *inner;
        let now = clock.now_ms;
        let mut fired = Vec::new();
        for (room, s) in &mut inner.timed {
            let Some(log) = inner.rooms.get_mut(room) else {
                continue;
            };
            if log.head != s.seen_head {
                (s.seen_head, s.active_ms) = (log.head, now);
            }
            let expire = s.timers.expire_after_mins;
            if expire > 0 && room != DEFAULT_ROOM && s.active_ms + clock.mins(expire) <= now {
                fired.push(Fired::Expired { room: room.clone() });
                continue;
            }
            if s.next_clear > 0 && s.next_clear <= now {
                s.next_clear = clock.next_clear(s.next_clear, s.timers.clear_every_mins);
                // Nothing new since the last clear: nothing to clear, nothing to announce.
                if log.head > s.cleared {
                    log.log.clear();
                    log.sends.clear();
                    s.cleared = log.head;
                    let (room, through) = (room.clone(), log.head);
                    fired.push(Fired::Cleared { room, through });
                }
            }
        }
        for f in &fired {
            if let Fired::Expired { room } = f {
                inner.rooms.remove(room);
                inner.timed.remove(room);
                // A private room's record and the room's read positions go with it, as with a
                // deletion: its participants no longer list it.
                inner.access.remove(room);
                self.reads.lock().unwrap().forget_room(room);
            }
            // Every count of the room was of a message now gone (a clear takes all up to the head).
            let (Fired::Expired { room } | Fired::Cleared { room, .. }) = f;
            self.votes.forget(room).await;
        }
        // Sent under the lock, like appends, so a clear is ordered with the messages around it.
        for f in &fired {
            let _ = self.events.send(f.clone().into()).await;
        }
        if fired.iter().any(|f| matches!(f, Fired::Expired { .. })) {
            let _ = self.events.send(StoreEvent::RoomsChanged).await;
        }
        Ok(fired)
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::store::NewMessage;

    fn send<'a>(room: &'a str, client_id: &'a str) -> NewMessage<'a> {
        NewMessage {
            room,
            name: "ann",
            topic: None,
            content: "hi",
            client_id,
            id: client_id,
            time_ms: 0,
            frame_prefix: r#"{"type":"message","offset":"#,
        }
    }

    #[tokio::test]
    async fn a_clear_empties_once_and_an_idle_room_expires() {
        let (tx, _rx) = mpsc::channel(64);
        let store = MemoryStore::new(10, tx);
        let at = |now_ms| Clock {
            now_ms,
            minute_ms: 1000,
        };
        store.create_room("ops", 10, None).await.unwrap();
        let timers = Timers {
            clear_every_mins: 1,
            expire_after_mins: 2,
        };
        store.set_timers("ops", timers, at(0)).await.unwrap();
        store.append(&send("ops", "a")).await.unwrap();
        store.append(&send("ops", "b")).await.unwrap();
        assert_eq!(store.fire_due(at(500)).await.unwrap(), []);
        let cleared = Fired::Cleared {
            room: "ops".into(),
            through: 2,
        };
        assert_eq!(store.fire_due(at(1000)).await.unwrap(), [cleared]);
        assert_eq!(store.fire_due(at(1001)).await.unwrap(), [], "once");
        let page = store.history("ops", None).await.unwrap();
        assert_eq!((page.head, page.frames.len()), (2, 0));
        let since = crate::protocol::Since {
            epoch: page.epoch.clone(),
            offset: 2,
        };
        let again = store.history("ops", Some(&since)).await.unwrap();
        assert!(!again.recovered, "a since at the clear is not honoured");
        store.append(&send("ops", "c")).await.unwrap();
        assert_eq!(store.fire_due(at(1500)).await.unwrap(), [], "seen active");
        let expired = Fired::Expired { room: "ops".into() };
        assert_eq!(store.fire_due(at(3500)).await.unwrap(), [expired]);
        assert!(!store.room_exists("ops").await.unwrap());
        assert!(store.timers().await.unwrap().is_empty());
    }
}
