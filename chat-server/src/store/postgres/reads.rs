//! Presence signals in the durable mode (the contract is `store/reads.rs`): read positions and
//! mentions are rows of `read_positions` and `mentions` (migration 0007); a read is one upsert
//! that only moves a position up (capped at the room's `head`) and one delete of the mentions it
//! passed; typing frames and "a position moved" go on the bus (Redis pub/sub, or this process's
//! event channel without Redis) and are stored nowhere.

use sqlx::Row;

use super::{Bus, PgStore, Result, StoreEvent};
use crate::store::{ReadPosition, Unread};

impl PgStore {
    pub(crate) async fn signal(&self, room: &str, from: u64, frame: &str) -> Result<()> {
        match &self.bus {
            Bus::Redis(redis) => redis.signal(room, from, frame).await,
            Bus::Local { events, .. } => {
                let event = StoreEvent::Signal {
                    room: room.into(),
                    except: Some(from),
                    frame: frame.into(),
                };
                let _ = events.send(event).await;
                Ok(())
            }
        }
    }

    pub(crate) async fn mark_read(
        &self,
        room: &str,
        user: &str,
        display_name: &str,
        offset: u64,
    ) -> Result<bool> {
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        let moved: Option<i64> = sqlx::query_scalar(
            "INSERT INTO read_positions (room, user_key, display_name, off) \
             SELECT name, $2, $3, LEAST($4, head) FROM rooms WHERE name = $1 AND head > 0 \
             ON CONFLICT (room, user_key) DO UPDATE \
               SET off = EXCLUDED.off, display_name = EXCLUDED.display_name \
               WHERE read_positions.off < EXCLUDED.off \
             RETURNING off",
        )
        .bind(room)
        .bind(user)
        .bind(display_name)
        .bind(offset)
        .fetch_optional(&self.pool)
        .await?;
        let Some(at) = moved else { return Ok(false) };
        sqlx::query("DELETE FROM mentions WHERE user_key = $1 AND room = $2 AND off <= $3")
            .bind(user)
            .bind(room)
            .bind(at)
            .execute(&self.pool)
            .await?;
        match &self.bus {
            Bus::Redis(redis) => {
                if let Err(e) = redis.announce_read(room, user).await {
                    tracing::debug!(error = %e, "publish failed");
                }
            }
            Bus::Local { events, .. } => {
                let event = StoreEvent::ReadsChanged {
                    room: room.into(),
                    user: user.to_owned(),
                };
                let _ = events.send(event).await;
            }
        }
        Ok(true)
    }

    pub(crate) async fn room_reads(&self, room: &str) -> Result<Vec<ReadPosition>> {
        let rows = sqlx::query(
            "SELECT user_key, display_name, off FROM read_positions WHERE room = $1 AND off > 0",
        )
        .bind(room)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ReadPosition {
                user: r.get(0),
                display_name: r.get(1),
                offset: r.get::<i64, _>(2).max(0) as u64,
            })
            .collect())
    }

    pub(crate) async fn add_mentions(
        &self,
        room: &str,
        offset: u64,
        users: &[String],
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO mentions (user_key, room, off) SELECT u, $2, $3 FROM UNNEST($1::text[]) u \
             ON CONFLICT DO NOTHING",
        )
        .bind(users)
        .bind(room)
        .bind(i64::try_from(offset).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(crate) async fn unread(&self, user: &str) -> Result<Vec<Unread>> {
        let rows = sqlx::query(
            "SELECT r.name, COALESCE(p.off, 0), r.head, \
               (SELECT count(*) FROM mentions m \
                 WHERE m.user_key = $1 AND m.room = r.name AND m.off > COALESCE(p.off, 0)) \
             FROM rooms r LEFT JOIN read_positions p ON p.room = r.name AND p.user_key = $1 \
             WHERE p.user_key IS NOT NULL \
                OR EXISTS (SELECT 1 FROM mentions m WHERE m.user_key = $1 AND m.room = r.name) \
             ORDER BY r.name",
        )
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| {
                let offset = r.get::<i64, _>(1).max(0) as u64;
                let head = r.get::<i64, _>(2).max(0) as u64;
                Unread {
                    room: r.get(0),
                    offset,
                    unread: head.saturating_sub(offset),
                    mentions: r.get::<i64, _>(3).max(0) as u64,
                }
            })
            .collect())
    }
}
