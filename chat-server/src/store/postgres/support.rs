//! Support conversations in PostgreSQL (`migrations/0009_support.sql`): one row per conversation,
//! the client key unique; a change is `UPDATE ... WHERE record = <the record read>`, so a
//! concurrent change makes it touch no row and the caller reads again. Announced on the bus after
//! the statement.

use sqlx::Row;

use super::{Bus, PgStore};
use crate::{
    store::{Error, Result, StoreEvent, support::Opened},
    support::Conversation,
};

fn decode(raw: &str) -> Result<Conversation> {
    Conversation::decode(raw).ok_or_else(|| Error::Corrupt(format!("support record {raw}")))
}

impl PgStore {
    pub(in crate::store) async fn support_open(&self, new: &Conversation) -> Result<Opened> {
        let inserted = sqlx::query(
            "INSERT INTO support_conversations (room, client, state, taken_by, updated_ms, record) \
             VALUES ($1, $2, $3, NULL, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(&new.room)
        .bind(&new.client)
        .bind(new.state.as_str())
        .bind(new.updated_ms as i64)
        .bind(new.encode())
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            self.announce_support(&new.room).await;
            return Ok(Opened::New(new.clone()));
        }
        match self.support_find(&new.client).await? {
            Some(existing) => Ok(Opened::Existing(existing)),
            // The room's name was taken (a 40-bit collision): the caller tries another.
            None => Err(Error::Contended(new.room.clone())),
        }
    }

    pub(in crate::store) async fn support_get(&self, room: &str) -> Result<Option<Conversation>> {
        let raw: Option<String> =
            sqlx::query_scalar("SELECT record FROM support_conversations WHERE room = $1")
                .bind(room)
                .fetch_optional(&self.pool)
                .await?;
        raw.as_deref().map(decode).transpose()
    }

    pub(in crate::store) async fn support_find(
        &self,
        client: &str,
    ) -> Result<Option<Conversation>> {
        let raw: Option<String> =
            sqlx::query_scalar("SELECT record FROM support_conversations WHERE client = $1")
                .bind(client)
                .fetch_optional(&self.pool)
                .await?;
        raw.as_deref().map(decode).transpose()
    }

    pub(in crate::store) async fn support_list(&self) -> Result<Vec<Conversation>> {
        let rows = sqlx::query("SELECT record FROM support_conversations")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| decode(row.try_get::<&str, _>("record")?))
            .collect()
    }

    pub(in crate::store) async fn support_swap(
        &self,
        old: &Conversation,
        new: &Conversation,
    ) -> Result<bool> {
        let swapped = sqlx::query(
            "UPDATE support_conversations SET record = $3, state = $4, taken_by = $5, \
             updated_ms = $6 WHERE room = $1 AND record = $2",
        )
        .bind(&old.room)
        .bind(old.encode())
        .bind(new.encode())
        .bind(new.state.as_str())
        .bind(&new.taken_by)
        .bind(new.updated_ms as i64)
        .execute(&self.pool)
        .await?
        .rows_affected();
        if swapped == 1 {
            self.announce_support(&new.room).await;
        }
        Ok(swapped == 1)
    }

    pub(in crate::store) async fn support_remove(&self, conv: &Conversation) -> Result<()> {
        sqlx::query("DELETE FROM support_conversations WHERE room = $1")
            .bind(&conv.room)
            .execute(&self.pool)
            .await?;
        self.announce_support(&conv.room).await;
        Ok(())
    }

    /// Tell every replica that `room`'s conversation changed.
    async fn announce_support(&self, room: &str) {
        match &self.bus {
            Bus::Redis(redis) => {
                if let Err(e) = redis.announce_support(room).await {
                    tracing::debug!(error = %e, "publish failed");
                }
            }
            Bus::Local { events, .. } => {
                let event = StoreEvent::SupportChanged { room: room.into() };
                let _ = events.send(event).await;
            }
        }
    }
}
