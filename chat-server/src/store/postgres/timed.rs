//! Timed rooms in the durable mode: `room_timers` (migration 0008) holds each room's timers and
//! schedule. A sweep claims one due room per transaction with `FOR UPDATE SKIP LOCKED`, so
//! replicas sweeping together take different rooms and a room is cleared or expired once; the
//! room row is then locked like an append locks it, so the head read is the last offset cleared
//! and no message slips in between. The rows are deleted; the Redis cache forgets them after
//! the commit, and the bus announces what happened.

use std::{collections::BTreeMap, time::Duration};

use sqlx::{Postgres, Row, Transaction};

use super::{Bus, PgStore};
use crate::{
    protocol::{DEFAULT_ROOM, Timers},
    store::{
        Result, StoreEvent,
        timed::{Clock, Fired},
    },
};

/// Longer than a cache refill may take after the read it follows (`read.rs`, 200 ms).
const REFILL_SETTLED: Duration = Duration::from_secs(1);

/// Clears and expiries one sweep does at most; the rest wait for the next one.
const SWEEP_BATCH: usize = 64;

/// The newest message's time in a room, else the recorded activity.
const ACTIVE: &str = "greatest(t.active_ms, coalesce((SELECT m.time_ms FROM messages m \
                      WHERE m.room = t.room ORDER BY m.off DESC LIMIT 1), 0))";

impl PgStore {
    pub(in crate::store) async fn set_timers(
        &self,
        room: &str,
        timers: Timers,
        clock: Clock,
    ) -> Result<()> {
        let next_clear = match timers.clear_every_mins {
            0 => None,
            every => Some((clock.now_ms + clock.mins(every)) as i64),
        };
        sqlx::query(
            "INSERT INTO room_timers (room, clear_every_mins, expire_after_mins, next_clear_ms, \
             active_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (room) DO UPDATE SET \
             clear_every_mins = EXCLUDED.clear_every_mins, \
             expire_after_mins = EXCLUDED.expire_after_mins, \
             next_clear_ms = CASE WHEN room_timers.clear_every_mins = EXCLUDED.clear_every_mins \
               AND room_timers.next_clear_ms IS NOT NULL \
               THEN room_timers.next_clear_ms ELSE EXCLUDED.next_clear_ms END, \
             active_ms = EXCLUDED.active_ms",
        )
        .bind(room)
        .bind(timers.clear_every_mins as i32)
        .bind(timers.expire_after_mins as i32)
        .bind(next_clear)
        .bind(clock.now_ms as i64)
        .execute(&self.pool)
        .await?;
        self.rooms_changed().await;
        Ok(())
    }

    pub(in crate::store) async fn timers(&self) -> Result<BTreeMap<String, Timers>> {
        let rows = sqlx::query(
            "SELECT room, clear_every_mins, expire_after_mins FROM room_timers \
             WHERE clear_every_mins > 0 OR expire_after_mins > 0",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let clear: i32 = r.try_get("clear_every_mins")?;
                let expire: i32 = r.try_get("expire_after_mins")?;
                let timers = Timers {
                    clear_every_mins: clear as u32,
                    expire_after_mins: expire as u32,
                };
                Ok((r.try_get("room")?, timers))
            })
            .collect()
    }

    pub(in crate::store) async fn fire_due(&self, clock: Clock) -> Result<Vec<Fired>> {
        let mut fired = Vec::new();
        while fired.len() < SWEEP_BATCH {
            let Some((f, epoch)) = self.clear_one(clock).await? else {
                break;
            };
            if let (Fired::Cleared { room, through }, Bus::Redis(redis)) = (&f, &self.bus)
                && *through > 0
            {
                // A cache that kept them would hand them back until its entries expire. A read
                // that began before the delete may still refill them (within its timeout): they
                // are forgotten once more after that.
                if let Err(e) = redis.forget_cached(room, &epoch, *through).await {
                    tracing::warn!(error = %e, room, "cleared messages left in the cache");
                }
                let (redis, room, through) = (redis.clone(), room.clone(), *through);
                tokio::spawn(async move {
                    tokio::time::sleep(REFILL_SETTLED).await;
                    let _ = redis.forget_cached(&room, &epoch, through).await;
                });
            }
            fired.extend(f.is_some_clear().then_some(f));
        }
        while fired.len() < SWEEP_BATCH {
            let Some((f, epoch)) = self.expire_one(clock).await? else {
                break;
            };
            if let (Fired::Expired { room }, Bus::Redis(redis)) = (&f, &self.bus) {
                let _ = redis.forget_cached(room, &epoch, u64::MAX).await;
            }
            fired.push(f);
        }
        self.announce_fired(&fired).await;
        Ok(fired)
    }

    /// Claim one due clear: move its due time on and, when messages came since the last one,
    /// delete them. `Fired::Cleared` with `through` 0 when there was nothing to clear.
    async fn clear_one(&self, clock: Clock) -> Result<Option<(Fired, String)>> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(
            "SELECT room, clear_every_mins, next_clear_ms, cleared_through FROM room_timers \
             WHERE next_clear_ms <= $1 ORDER BY next_clear_ms LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .bind(clock.now_ms as i64)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let room: String = row.try_get("room")?;
        let every: i32 = row.try_get("clear_every_mins")?;
        let due: i64 = row.try_get("next_clear_ms")?;
        let cleared: i64 = row.try_get("cleared_through")?;
        let next = clock.next_clear(due as u64, every as u32) as i64;
        let (epoch, head) = lock_room(&mut tx, &room).await?;
        let through = if head > cleared {
            sqlx::query(&format!(
                "UPDATE room_timers t SET active_ms = {ACTIVE}, cleared_through = $2 \
                 WHERE t.room = $1"
            ))
            .bind(&room)
            .bind(head)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM messages WHERE room = $1 AND off <= $2")
                .bind(&room)
                .bind(head)
                .execute(&mut *tx)
                .await?;
            head as u64
        } else {
            0
        };
        sqlx::query("UPDATE room_timers SET next_clear_ms = $2 WHERE room = $1")
            .bind(&room)
            .bind(next)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some((Fired::Cleared { room, through }, epoch)))
    }

    /// Claim one room idle past its expiry and delete it with its messages.
    async fn expire_one(&self, clock: Clock) -> Result<Option<(Fired, String)>> {
        let mut tx = self.pool.begin().await?;
        let idle = |then: &str| {
            format!(
                "SELECT t.room FROM room_timers t WHERE t.expire_after_mins > 0 AND t.room <> $3 \
                 AND {ACTIVE} + t.expire_after_mins * $2 <= $1 {then}"
            )
        };
        let Some(room) =
            sqlx::query_scalar::<_, String>(&idle("LIMIT 1 FOR UPDATE OF t SKIP LOCKED"))
                .bind(clock.now_ms as i64)
                .bind(clock.minute_ms as i64)
                .bind(DEFAULT_ROOM)
                .fetch_optional(&mut *tx)
                .await?
        else {
            return Ok(None);
        };
        let (epoch, _) = lock_room(&mut tx, &room).await?;
        // A message committed before the room's lock was taken counts: look again under it.
        let still_idle = sqlx::query_scalar::<_, String>(&idle("AND t.room = $4"))
            .bind(clock.now_ms as i64)
            .bind(clock.minute_ms as i64)
            .bind(DEFAULT_ROOM)
            .bind(&room)
            .fetch_optional(&mut *tx)
            .await?;
        if still_idle.is_none() {
            return Ok(None);
        }
        for sql in [
            "DELETE FROM messages WHERE room = $1",
            "DELETE FROM room_timers WHERE room = $1",
            "DELETE FROM read_positions WHERE room = $1",
            "DELETE FROM mentions WHERE room = $1",
            "DELETE FROM rooms WHERE name = $1",
        ] {
            sqlx::query(sql).bind(&room).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Some((Fired::Expired { room }, epoch)))
    }

    /// Tell every replica (or this one's hub) what the sweep did.
    async fn announce_fired(&self, fired: &[Fired]) {
        if fired.is_empty() {
            return;
        }
        let expired = fired.iter().any(|f| matches!(f, Fired::Expired { .. }));
        match &self.bus {
            Bus::Redis(redis) => {
                let mut payloads: Vec<String> = fired.iter().map(Fired::payload).collect();
                if expired {
                    payloads.push("r".to_owned());
                }
                if let Err(e) = redis.publish(payloads).await {
                    tracing::warn!(error = %e, "timed rooms: announcement lost");
                }
            }
            Bus::Local { events, .. } => {
                for f in fired {
                    let _ = events.send(f.clone().into()).await;
                }
                if expired {
                    let _ = events.send(StoreEvent::RoomsChanged).await;
                }
            }
        }
    }

    /// The offset a room's history was last cleared through (0: never).
    pub(super) async fn cleared_through(&self, room: &str) -> Result<u64> {
        let cleared: Option<i64> =
            sqlx::query_scalar("SELECT cleared_through FROM room_timers WHERE room = $1")
                .bind(room)
                .fetch_optional(&self.pool)
                .await?;
        Ok(cleared.unwrap_or(0) as u64)
    }
}

impl Fired {
    /// A clear that deleted something (one with nothing new to delete is not announced).
    fn is_some_clear(&self) -> bool {
        !matches!(self, Fired::Cleared { through: 0, .. })
    }
}

/// Lock a room's row as an append does; its epoch and head.
async fn lock_room(tx: &mut Transaction<'_, Postgres>, room: &str) -> Result<(String, i64)> {
    let row = sqlx::query("SELECT epoch, head FROM rooms WHERE name = $1 FOR UPDATE")
        .bind(room)
        .fetch_one(&mut **tx)
        .await?;
    Ok((row.try_get("epoch")?, row.try_get("head")?))
}
