//! Replies and votes in PostgreSQL (migration 0006), the durable mode's record of them: a vote
//! is one transaction that locks its message's row (so concurrent votes on one message count in
//! turn), replaces the user's row and reads the counts; a page's counts and the reader's own
//! votes are one query. A vote's counts are announced on the bus under the row lock, a reply's
//! count after it is stored.

use std::collections::HashMap;

use sqlx::Row;

use super::{Bus, PgStore};

/// The longest a vote holds its message's row lock to announce the new counts.
const ANNOUNCE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);
use crate::{
    protocol::Tally,
    store::{Result, StoreEvent, redis::votes::payload, votes::Counted, votes::Vote},
};

impl PgStore {
    pub(in crate::store) async fn message_exists(&self, room: &str, offset: u64) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM messages WHERE room = $1 AND off = $2")
            .bind(room)
            .bind(offset as i64)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    pub(in crate::store) async fn vote(&self, vote: &Vote<'_>) -> Result<Option<Counted>> {
        let offset = vote.offset as i64;
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT 1 FROM messages WHERE room = $1 AND off = $2 FOR UPDATE")
            .bind(vote.room)
            .bind(offset)
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_none() {
            return Ok(None);
        }
        let before: Option<i16> = sqlx::query_scalar(
            "SELECT value FROM votes WHERE room = $1 AND off = $2 AND username = $3",
        )
        .bind(vote.room)
        .bind(offset)
        .bind(vote.user)
        .fetch_optional(&mut *tx)
        .await?;
        if vote.value == 0 {
            sqlx::query("DELETE FROM votes WHERE room = $1 AND off = $2 AND username = $3")
                .bind(vote.room)
                .bind(offset)
                .bind(vote.user)
                .execute(&mut *tx)
                .await?;
        } else {
            sqlx::query(
                "INSERT INTO votes (room, off, username, value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (room, off, username) DO UPDATE SET value = EXCLUDED.value",
            )
            .bind(vote.room)
            .bind(offset)
            .bind(vote.user)
            .bind(i16::from(vote.value))
            .execute(&mut *tx)
            .await?;
        }
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE value = 1) AS up, \
             count(*) FILTER (WHERE value = -1) AS down \
             FROM votes WHERE room = $1 AND off = $2",
        )
        .bind(vote.room)
        .bind(offset)
        .fetch_one(&mut *tx)
        .await?;
        let counted = Counted {
            up: row.try_get::<i64, _>("up")? as u64,
            down: row.try_get::<i64, _>("down")? as u64,
        };
        // Announced while the row lock is held, so the room hears a message's counts in the
        // order the votes were counted (after the commit, two votes could announce out of
        // order and leave stale counts on screen); the announcement is bounded in time.
        if before.unwrap_or(0) != i16::from(vote.value) {
            let event = StoreEvent::Votes {
                room: vote.room.into(),
                offset: vote.offset,
                up: counted.up,
                down: counted.down,
            };
            let announce = self.announce_counts(event);
            if tokio::time::timeout(ANNOUNCE_TIMEOUT, announce)
                .await
                .is_err()
            {
                tracing::debug!("vote announcement timed out");
            }
        }
        tx.commit().await?;
        Ok(Some(counted))
    }

    /// Idempotent per reply: a retried call counts it once.
    pub(in crate::store) async fn add_reply(
        &self,
        room: &str,
        parent: u64,
        offset: u64,
    ) -> Result<()> {
        let row = sqlx::query(
            "WITH added AS (INSERT INTO replies (room, off, parent) VALUES ($1, $2, $3) \
             ON CONFLICT (room, off) DO NOTHING RETURNING 1) \
             SELECT (SELECT count(*) FROM added) AS added, \
             (SELECT count(*) FROM replies WHERE room = $1 AND parent = $3) AS count",
        )
        .bind(room)
        .bind(offset as i64)
        .bind(parent as i64)
        .fetch_one(&self.pool)
        .await?;
        // The CTE's row is not visible to the second count: add it.
        let added: i64 = row.try_get("added")?;
        let count: i64 = row.try_get("count")?;
        if added > 0 {
            self.announce_counts(StoreEvent::Replies {
                room: room.into(),
                offset: parent,
                count: (count + added) as u64,
            })
            .await;
        }
        Ok(())
    }

    pub(in crate::store) async fn tallies(
        &self,
        room: &str,
        offsets: &[u64],
        user: Option<&str>,
    ) -> Result<HashMap<u64, Tally>> {
        let offsets: Vec<i64> = offsets.iter().map(|o| *o as i64).collect();
        let rows = sqlx::query(
            "SELECT o.off, \
             (SELECT count(*) FROM votes v WHERE v.room = $1 AND v.off = o.off AND v.value = 1) AS up, \
             (SELECT count(*) FROM votes v WHERE v.room = $1 AND v.off = o.off AND v.value = -1) AS down, \
             (SELECT count(*) FROM replies r WHERE r.room = $1 AND r.parent = o.off) AS replies, \
             COALESCE((SELECT v.value FROM votes v \
                       WHERE v.room = $1 AND v.off = o.off AND v.username = $3), 0::smallint) AS mine \
             FROM unnest($2::bigint[]) AS o(off)",
        )
        .bind(room)
        .bind(&offsets)
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        let mut out = HashMap::new();
        for row in rows {
            let tally = Tally {
                up: row.try_get::<i64, _>("up")? as u64,
                down: row.try_get::<i64, _>("down")? as u64,
                replies: row.try_get::<i64, _>("replies")? as u64,
                mine: row.try_get::<i16, _>("mine")?.clamp(-1, 1) as i8,
            };
            if !tally.is_empty() {
                out.insert(row.try_get::<i64, _>("off")? as u64, tally);
            }
        }
        Ok(out)
    }

    /// Tell every replica (a failed announcement loses only the live update: the next page has
    /// the counts).
    async fn announce_counts(&self, event: StoreEvent) {
        match &self.bus {
            Bus::Redis(redis) => {
                let Some(payload) = payload(&event) else {
                    return;
                };
                if let Err(e) = redis.publish(vec![payload]).await {
                    tracing::debug!(error = %e, "publish failed");
                }
            }
            Bus::Local { events, .. } => {
                let _ = events.send(event).await;
            }
        }
    }
}
