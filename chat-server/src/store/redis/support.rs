//! Support conversations in Redis: one hash of records by room (`support`, so a replica reads
//! every one with one `HGETALL`) and an index by client (`support:clients`); opening is
//! `scripts/support_open.lua` (one conversation per client, whoever races), every change is the
//! compare-and-set `scripts/support_swap.lua`, forgetting one (an account deletion)
//! `scripts/support_forget.lua`; each announces `q <room>`.

use redis::Script;

use super::RedisStore;
use crate::{
    store::{Error, Result, StoreEvent, support::Opened},
    support::Conversation,
};

/// The support desk's scripts.
pub(super) struct SupportScripts {
    open: Script,
    swap: Script,
    forget: Script,
}

impl SupportScripts {
    pub(super) fn load() -> Self {
        Self {
            open: Script::new(include_str!("scripts/support_open.lua")),
            swap: Script::new(include_str!("scripts/support_swap.lua")),
            forget: Script::new(include_str!("scripts/support_forget.lua")),
        }
    }
}

fn decode(raw: &str) -> Result<Conversation> {
    Conversation::decode(raw).ok_or_else(|| Error::Corrupt(format!("support record {raw}")))
}

impl RedisStore {
    /// Safe to retry: a second run finds the record the first stored.
    pub(in crate::store) async fn support_open(&self, new: &Conversation) -> Result<Opened> {
        let reply: String = self
            .run(
                self.support
                    .open
                    .key(self.keys.support())
                    .key(self.keys.support_clients())
                    .arg(&new.client)
                    .arg(&new.room)
                    .arg(new.encode())
                    .arg(self.keys.events()),
            )
            .await?;
        if reply.is_empty() {
            return Ok(Opened::New(new.clone()));
        }
        let existing = decode(&reply)?;
        // A retry after a lost reply finds the record its first run stored.
        Ok(if &existing == new {
            Opened::New(existing)
        } else {
            Opened::Existing(existing)
        })
    }

    pub(in crate::store) async fn support_get(&self, room: &str) -> Result<Option<Conversation>> {
        let raw: Option<String> = self
            .query(redis::cmd("HGET").arg(self.keys.support()).arg(room))
            .await?;
        raw.as_deref().map(decode).transpose()
    }

    pub(in crate::store) async fn support_find(
        &self,
        client: &str,
    ) -> Result<Option<Conversation>> {
        let room: Option<String> = self
            .query(
                redis::cmd("HGET")
                    .arg(self.keys.support_clients())
                    .arg(client),
            )
            .await?;
        match room {
            Some(room) => self.support_get(&room).await,
            None => Ok(None),
        }
    }

    pub(in crate::store) async fn support_list(&self) -> Result<Vec<Conversation>> {
        let all: Vec<(String, String)> = self
            .query(redis::cmd("HGETALL").arg(self.keys.support()))
            .await?;
        all.iter().map(|(_, raw)| decode(raw)).collect()
    }

    /// Not retried blindly: a retry after a lost reply would find its own record and say
    /// "changed meanwhile", which only costs the caller another read.
    pub(in crate::store) async fn support_swap(
        &self,
        old: &Conversation,
        new: &Conversation,
    ) -> Result<bool> {
        let swapped: i64 = self
            .run(
                self.support
                    .swap
                    .key(self.keys.support())
                    .arg(&old.room)
                    .arg(old.encode())
                    .arg(new.encode())
                    .arg(self.keys.events()),
            )
            .await?;
        Ok(swapped == 1)
    }

    /// Safe to retry: a second run finds nothing to remove.
    pub(in crate::store) async fn support_remove(&self, conv: &Conversation) -> Result<()> {
        let _: i64 = self
            .run(
                self.support
                    .forget
                    .key(self.keys.support())
                    .key(self.keys.support_clients())
                    .arg(&conv.room)
                    .arg(&conv.client)
                    .arg(self.keys.events()),
            )
            .await?;
        Ok(())
    }

    /// Tell every replica that `room`'s conversation changed (the durable mode's bus).
    pub(in crate::store) async fn announce_support(&self, room: &str) -> Result<()> {
        self.publish(vec![format!("q {room}")]).await
    }
}

/// `q <room>`: a support conversation was opened or changed.
pub(super) fn parse_event(payload: &str) -> Option<StoreEvent> {
    let room = payload.strip_prefix("q ")?;
    Some(StoreEvent::SupportChanged { room: room.into() })
}
