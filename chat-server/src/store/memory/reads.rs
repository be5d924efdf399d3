//! Presence signals in memory (the contract is `store/reads.rs`): typing frames handed to the hub,
//! read positions (never past a room's head) and each user's unread counts and mentions.

use super::MemoryStore;
use crate::store::{
    Result, StoreEvent,
    reads::{Unread, unread_of},
};

impl MemoryStore {
    pub(in crate::store) async fn signal(&self, room: &str, from: u64, frame: &str) -> Result<()> {
        let event = StoreEvent::Signal {
            room: room.into(),
            except: Some(from),
            frame: frame.into(),
        };
        let _ = self.events.send(event).await;
        Ok(())
    }

    async fn head(&self, room: &str) -> u64 {
        self.inner
            .lock()
            .await
            .rooms
            .get(room)
            .map_or(0, |r| r.head)
    }

    pub(in crate::store) async fn mark_read(
        &self,
        room: &str,
        user: &str,
        display_name: &str,
        offset: u64,
    ) -> Result<bool> {
        let offset = offset.min(self.head(room).await);
        let moved = self
            .reads
            .lock()
            .unwrap()
            .mark(room, user, display_name, offset);
        if moved {
            let event = StoreEvent::ReadsChanged {
                room: room.into(),
                user: user.to_owned(),
            };
            let _ = self.events.send(event).await;
        }
        Ok(moved)
    }

    pub(in crate::store) async fn unread(&self, user: &str) -> Result<Vec<Unread>> {
        let of_user = self.reads.lock().unwrap().of_user(user);
        let mut out = Vec::with_capacity(of_user.len());
        for (room, offset, mentions) in of_user {
            let head = self.head(&room).await;
            out.push(unread_of(room, head, offset, &mentions));
        }
        Ok(out)
    }
}
