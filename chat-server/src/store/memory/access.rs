//! The in-memory store's access records and room deletion, under the same lock as the rooms, so
//! a change and its announcement are one step like everywhere else in this store.

use super::{Inner, MemoryStore};
use crate::{
    protocol::DEFAULT_ROOM,
    store::{Access, Change, Changed, Result, StoreEvent},
};

impl MemoryStore {
    pub(in crate::store) async fn access(&self, room: &str) -> Result<Option<Access>> {
        let inner = self.inner.lock().await;
        Ok(exists(&inner, room).then(|| inner.access.get(room).cloned().unwrap_or_default()))
    }

    pub(in crate::store) async fn access_list(&self) -> Result<Vec<(String, Access)>> {
        let inner = self.inner.lock().await;
        Ok(inner
            .access
            .iter()
            .map(|(room, a)| (room.clone(), a.clone()))
            .collect())
    }

    pub(in crate::store) async fn change_participant(
        &self,
        room: &str,
        change: Change<'_>,
    ) -> Result<Changed> {
        let mut inner = self.inner.lock().await;
        let Some(access) = inner
            .access
            .get_mut(room)
            .filter(|a| a.private && !a.support)
        else {
            return Ok(Changed::NotPrivate);
        };
        let before = access.participants.len();
        if let Err(refused) = access.apply(&change) {
            return Ok(Changed::Refused(refused));
        }
        let now = access.clone();
        if now.participants.len() != before {
            let event = StoreEvent::AccessChanged { room: room.into() };
            let _ = self.events.send(event).await;
        }
        Ok(Changed::Done(now))
    }

    pub(in crate::store) async fn forget_user(&self, user: &str) -> Result<()> {
        let mut inner = self.inner.lock().await;
        let mut changed = Vec::new();
        for (room, access) in &mut inner.access {
            if access.creator.as_deref() == Some(user) {
                access.creator = None;
            }
            let before = access.participants.len();
            access.participants.retain(|p| p != user);
            if access.participants.len() != before {
                changed.push(room.clone());
            }
        }
        for room in changed {
            let event = StoreEvent::AccessChanged { room: room.into() };
            let _ = self.events.send(event).await;
        }
        Ok(())
    }

    pub(in crate::store) async fn delete_room(&self, room: &str) -> Result<bool> {
        let mut inner = self.inner.lock().await;
        if room == DEFAULT_ROOM || inner.rooms.remove(room).is_none() {
            return Ok(false);
        }
        inner.access.remove(room);
        inner.online.remove(room);
        inner.timed.remove(room);
        inner.deleted.insert(room.to_owned());
        // Its votes, reply counts, read positions and mentions go with it, as with an expiry.
        self.votes.forget(room).await;
        self.reads.lock().unwrap().forget_room(room);
        let _ = self
            .events
            .send(StoreEvent::RoomDeleted { room: room.into() })
            .await;
        Ok(true)
    }
}

fn exists(inner: &Inner, room: &str) -> bool {
    room == DEFAULT_ROOM || inner.rooms.contains_key(room)
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::store::{ChangeRefused, Created, Error, NewMessage};

    #[tokio::test]
    async fn private_rooms_keep_their_participants_and_deleted_rooms_stay_deleted() {
        let (tx, mut rx) = mpsc::channel(64);
        let store = MemoryStore::new(10, tx);
        let access = Access::private_of("ann");
        let created = store.create_room("plans", 10, Some(&access)).await.unwrap();
        assert_eq!(created, Created::Created);
        assert_eq!(store.access("plans").await.unwrap(), Some(access));
        assert_eq!(
            store.access("general").await.unwrap(),
            Some(Access::default())
        );
        assert_eq!(store.access("nowhere").await.unwrap(), None);
        let Changed::Done(now) = store
            .change_participant("plans", Change::Add("bob"))
            .await
            .unwrap()
        else {
            panic!("not changed")
        };
        assert_eq!(now.participants, ["ann", "bob"]);
        assert_eq!(
            store
                .change_participant("plans", Change::Remove("ann"))
                .await
                .unwrap(),
            Changed::Refused(ChangeRefused::Creator)
        );
        assert_eq!(
            store
                .change_participant("general", Change::Add("bob"))
                .await
                .unwrap(),
            Changed::NotPrivate
        );
        assert_eq!(store.access_list().await.unwrap().len(), 1);

        assert!(store.delete_room("plans").await.unwrap());
        assert!(!store.delete_room("plans").await.unwrap());
        assert!(!store.delete_room("general").await.unwrap());
        assert_eq!(store.access("plans").await.unwrap(), None);
        assert!(store.access_list().await.unwrap().is_empty());
        let late = NewMessage {
            room: "plans",
            name: "ann",
            topic: None,
            content: "hi",
            client_id: "c1",
            id: "c1",
            time_ms: 0,
            frame_prefix: r#"{"type":"message","offset":"#,
        };
        assert!(matches!(store.append(&late).await, Err(Error::RoomGone)));
        assert_eq!(store.access("plans").await.unwrap(), None, "not made anew");
        let events: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).collect();
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StoreEvent::AccessChanged { room } if &**room == "plans"))
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, StoreEvent::RoomDeleted { room } if &**room == "plans"))
        );
        let again = store.create_room("plans", 10, None).await.unwrap();
        assert_eq!(again, Created::Created, "a deleted name can be used again");
        assert_eq!(
            store.access("plans").await.unwrap(),
            Some(Access::default())
        );
    }
}
