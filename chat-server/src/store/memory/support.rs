//! The in-memory store's support conversations: a map by room and an index by client under one
//! lock, changes announced on the hub's channel.

use std::collections::HashMap;

use super::MemoryStore;
use crate::{
    store::{Result, StoreEvent, support::Opened},
    support::Conversation,
};

/// Conversations by room, and each client's room.
#[derive(Debug, Default)]
pub(in crate::store) struct MemorySupport {
    by_room: HashMap<String, Conversation>,
    by_client: HashMap<String, String>,
}

impl MemoryStore {
    pub(in crate::store) async fn support_open(&self, new: &Conversation) -> Result<Opened> {
        let opened = {
            let mut s = self.support.lock().unwrap();
            let existing = s.by_client.get(&new.client).and_then(|r| s.by_room.get(r));
            match existing {
                Some(c) => Opened::Existing(c.clone()),
                None => {
                    s.by_client.insert(new.client.clone(), new.room.clone());
                    s.by_room.insert(new.room.clone(), new.clone());
                    Opened::New(new.clone())
                }
            }
        };
        if let Opened::New(c) = &opened {
            self.announce_support(&c.room).await;
        }
        Ok(opened)
    }

    pub(in crate::store) async fn support_get(&self, room: &str) -> Result<Option<Conversation>> {
        Ok(self.support.lock().unwrap().by_room.get(room).cloned())
    }

    pub(in crate::store) async fn support_find(
        &self,
        client: &str,
    ) -> Result<Option<Conversation>> {
        let s = self.support.lock().unwrap();
        Ok(s.by_client
            .get(client)
            .and_then(|r| s.by_room.get(r))
            .cloned())
    }

    pub(in crate::store) async fn support_list(&self) -> Result<Vec<Conversation>> {
        Ok(self
            .support
            .lock()
            .unwrap()
            .by_room
            .values()
            .cloned()
            .collect())
    }

    pub(in crate::store) async fn support_swap(
        &self,
        old: &Conversation,
        new: &Conversation,
    ) -> Result<bool> {
        {
            let mut s = self.support.lock().unwrap();
            match s.by_room.get_mut(&old.room) {
                Some(current) if current == old => *current = new.clone(),
                _ => return Ok(false),
            }
        }
        self.announce_support(&new.room).await;
        Ok(true)
    }

    pub(in crate::store) async fn support_remove(&self, conv: &Conversation) -> Result<()> {
        {
            let mut s = self.support.lock().unwrap();
            s.by_room.remove(&conv.room);
            if s.by_client.get(&conv.client) == Some(&conv.room) {
                s.by_client.remove(&conv.client);
            }
        }
        self.announce_support(&conv.room).await;
        Ok(())
    }

    async fn announce_support(&self, room: &str) {
        let event = StoreEvent::SupportChanged { room: room.into() };
        let _ = self.events.send(event).await;
    }
}
