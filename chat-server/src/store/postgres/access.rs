//! Rooms' access records and deletion in PostgreSQL: `rooms.creator` and `rooms.private`, the
//! participants in `room_participants` (`migrations/0003_private_rooms.sql`). A change is one
//! transaction holding the room row's lock, announced on the bus after it committed.

use sqlx::{PgPool, Row, postgres::PgRow};

use super::{Bus, PgStore};
use crate::store::{Access, Change, Changed, Created, Result, StoreEvent, new_epoch};

/// A room's access record, participants sorted, from a row of [`ACCESS_SELECT`].
const ACCESS_SELECT: &str = "SELECT r.name, r.creator, r.private, r.support, \
     COALESCE(array_agg(p.username ORDER BY p.username) FILTER (WHERE p.username IS NOT NULL), \
     '{}') AS participants \
     FROM rooms r LEFT JOIN room_participants p ON p.room = r.name";

fn access_of(row: &PgRow) -> Result<Access> {
    Ok(Access {
        creator: row.try_get("creator")?,
        private: row.try_get("private")?,
        participants: row.try_get("participants")?,
        support: row.try_get("support")?,
    })
}

impl PgStore {
    pub(in crate::store) async fn create_room(
        &self,
        name: &str,
        max_rooms: u32,
        access: Option<&Access>,
    ) -> Result<Created> {
        let default = Access::default();
        let access = access.unwrap_or(&default);
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO rooms (name, epoch, creator, private, support) SELECT $1, $2, $4, $5, $6 \
             WHERE (SELECT count(*) FROM rooms) < $3 ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(new_epoch())
        .bind(i64::from(max_rooms))
        .bind(&access.creator)
        .bind(access.private)
        .bind(access.support)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            sqlx::query(
                "INSERT INTO room_participants (room, username) SELECT $1, u FROM UNNEST($2::text[]) u",
            )
            .bind(name)
            .bind(&access.participants)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM deleted_rooms WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            self.rooms_changed().await;
            return Ok(Created::Created);
        }
        tx.rollback().await?;
        if self.room_exists(name).await? {
            Ok(Created::Exists)
        } else {
            Ok(Created::LimitReached)
        }
    }

    pub(in crate::store) async fn access(&self, room: &str) -> Result<Option<Access>> {
        let sql = format!("{ACCESS_SELECT} WHERE r.name = $1 GROUP BY r.name");
        let row = sqlx::query(&sql)
            .bind(room)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(access_of).transpose()
    }

    pub(in crate::store) async fn access_list(&self) -> Result<Vec<(String, Access)>> {
        let sql = format!(
            "{ACCESS_SELECT} WHERE r.creator IS NOT NULL OR r.private GROUP BY r.name ORDER BY r.name"
        );
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("name")?, access_of(row)?)))
            .collect()
    }

    pub(in crate::store) async fn change_participant(
        &self,
        room: &str,
        change: Change<'_>,
    ) -> Result<Changed> {
        let outcome = change_in_tx(&self.pool, room, change).await?;
        if let (Changed::Done(_), true) = &outcome {
            self.announce_access(room).await;
        }
        Ok(outcome.0)
    }

    /// Tell every replica that `room`'s participants changed.
    async fn announce_access(&self, room: &str) {
        match &self.bus {
            Bus::Redis(redis) => {
                if let Err(e) = redis.announce_access(room).await {
                    tracing::debug!(error = %e, "publish failed");
                }
            }
            Bus::Local { events, .. } => {
                let event = StoreEvent::AccessChanged { room: room.into() };
                let _ = events.send(event).await;
            }
        }
    }

    pub(in crate::store) async fn forget_user(&self, user: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let rooms: Vec<String> =
            sqlx::query_scalar("DELETE FROM room_participants WHERE username = $1 RETURNING room")
                .bind(user)
                .fetch_all(&mut *tx)
                .await?;
        sqlx::query("UPDATE rooms SET creator = NULL WHERE creator = $1")
            .bind(user)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for room in rooms {
            self.announce_access(&room).await;
        }
        Ok(())
    }

    pub(in crate::store) async fn delete_room(&self, room: &str) -> Result<bool> {
        if room == crate::protocol::DEFAULT_ROOM {
            return Ok(false);
        }
        let mut tx = self.pool.begin().await?;
        // The row's lock first, as appends take it: a send waiting for it then finds no row.
        let epoch: Option<String> =
            sqlx::query_scalar("SELECT epoch FROM rooms WHERE name = $1 FOR UPDATE")
                .bind(room)
                .fetch_optional(&mut *tx)
                .await?;
        let Some(epoch) = epoch else {
            return Ok(false);
        };
        // Votes and replies cascade with the messages; timers, read positions and mentions are
        // the room's too (and `room_timers` references the row).
        for table in ["messages", "room_timers", "read_positions", "mentions"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE room = $1"))
                .bind(room)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("DELETE FROM rooms WHERE name = $1")
            .bind(room)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO deleted_rooms (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
            .bind(room)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        match &self.bus {
            Bus::Redis(redis) => {
                if let Err(e) = redis.forget_room(room, &epoch).await {
                    tracing::debug!(error = %e, "publish failed");
                }
            }
            Bus::Local { events, .. } => {
                let _ = events
                    .send(StoreEvent::RoomDeleted { room: room.into() })
                    .await;
            }
        }
        Ok(true)
    }
}

/// The change in one transaction under the room row's lock; true when it changed anything.
async fn change_in_tx(pool: &PgPool, room: &str, change: Change<'_>) -> Result<(Changed, bool)> {
    let mut tx = pool.begin().await?;
    // A support conversation's participant is its client, for good.
    let locked = sqlx::query(
        "SELECT private AND NOT support AS private FROM rooms WHERE name = $1 FOR UPDATE",
    )
    .bind(room)
    .fetch_optional(&mut *tx)
    .await?;
    if !locked.is_some_and(|r| r.get::<bool, _>("private")) {
        return Ok((Changed::NotPrivate, false));
    }
    let sql = format!("{ACCESS_SELECT} WHERE r.name = $1 GROUP BY r.name");
    let row = sqlx::query(&sql).bind(room).fetch_one(&mut *tx).await?;
    let mut access = access_of(&row)?;
    let before = access.participants.clone();
    if let Err(refused) = access.apply(&change) {
        return Ok((Changed::Refused(refused), false));
    }
    if access.participants == before {
        return Ok((Changed::Done(access), false));
    }
    let statement = match change {
        Change::Add(_) => {
            "INSERT INTO room_participants (room, username) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        }
        Change::Remove(_) => "DELETE FROM room_participants WHERE room = $1 AND username = $2",
    };
    let (Change::Add(user) | Change::Remove(user)) = change;
    sqlx::query(statement)
        .bind(room)
        .bind(user)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((Changed::Done(access), true))
}
