//! Edits, deletions and ephemeral messages in the durable mode. An edit is one transaction: the
//! message row is locked (`SELECT … FOR UPDATE`), the rule decides (`protocol::edits::rewrite`),
//! the row's `frame` is `UPDATE`d, and only after `COMMIT` is the asker answered; then the Redis
//! cache's copy is replaced and the notice published in one script (`recache.lua`). Edits do not
//! go through the group committer: they are rare, touch one existing row and take no room lock,
//! so appends never wait for them. A refill racing the edit (a read of the row before the commit,
//! written to the cache after it) could put the old frame back; a second pass a moment later
//! removes it.

use std::time::Duration;

use sqlx::Row;

use super::{Bus, PgStore};
use crate::{
    protocol::edits::{Decision, Refusal, Rewrite, rewrite},
    store::{Applied, Result, Rewritten, StoreEvent},
};

/// When the cache is scrubbed a second time after an edit (longer than a refill's timeout).
const SECOND_PASS: Duration = Duration::from_secs(1);

impl PgStore {
    pub(in crate::store) async fn rewrite(&self, r: &Rewrite<'_>) -> Result<Rewritten> {
        let Ok(offset) = i64::try_from(r.offset) else {
            return Ok(Err(Refusal::NoSuchMessage));
        };
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT m.frame, r.epoch FROM messages m JOIN rooms r ON r.name = m.room \
             WHERE m.room = $1 AND m.off = $2 FOR UPDATE OF m",
        )
        .bind(r.room)
        .bind(offset)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Err(Refusal::NoSuchMessage));
        };
        let stored: String = row.try_get("frame")?;
        let epoch: String = row.try_get("epoch")?;
        let (frame, notice) = match rewrite(r, &stored) {
            Decision::Refused(why) => return Ok(Err(why)),
            Decision::Unchanged { notice } => return Ok(Ok(Applied::unannounced(notice))),
            Decision::Write { frame, notice } => (frame, notice),
        };
        sqlx::query("UPDATE messages SET frame = $3 WHERE room = $1 AND off = $2")
            .bind(r.room)
            .bind(offset)
            .bind(&frame)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        let announced = self
            .announce_rewrite(r.room, &epoch, r.offset, frame, &notice)
            .await;
        Ok(Ok(Applied { notice, announced }))
    }

    /// After the commit: the cache's copy replaced and the notice published (Redis), or the notice
    /// handed to the hub (one replica); false when Redis failed (the asker is then answered
    /// directly; a stale cached copy is what the second pass is for).
    async fn announce_rewrite(
        &self,
        room: &str,
        epoch: &str,
        offset: u64,
        frame: String,
        notice: &str,
    ) -> bool {
        match &self.bus {
            Bus::Local { events, .. } => {
                let event = StoreEvent::Notice {
                    room: room.into(),
                    frame: notice.into(),
                };
                events.send(event).await.is_ok()
            }
            Bus::Redis(redis) => {
                let done = redis
                    .recache(room, epoch, offset, &frame, Some(notice))
                    .await;
                if let Err(e) = &done {
                    tracing::warn!(%room, offset, error = %e, "edited message not recached");
                }
                let (redis, room, epoch) = (redis.clone(), room.to_owned(), epoch.to_owned());
                tokio::spawn(async move {
                    tokio::time::sleep(SECOND_PASS).await;
                    let _ = redis.recache(&room, &epoch, offset, &frame, None).await;
                });
                done.is_ok()
            }
        }
    }

    pub(in crate::store) async fn notify(&self, room: &str, frame: &str) -> Result<()> {
        match &self.bus {
            Bus::Redis(redis) => redis.notify(room, frame).await,
            Bus::Local { events, .. } => {
                let event = StoreEvent::Notice {
                    room: room.into(),
                    frame: frame.into(),
                };
                let _ = events.send(event).await;
                Ok(())
            }
        }
    }
}
