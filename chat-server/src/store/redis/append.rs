//! Appending a message in Redis-only mode, every call within one slot so it runs on a Redis
//! Cluster as on a standalone Redis: `append.lua` stores, trims and announces in the room's slot
//! (refusing a room whose tombstone says it was deleted); the dataset's incarnation (a global
//! key) is read only when a room's first message needs it for the epoch; after a room's first
//! message `enlist.lua` lists it in the room set unless it was deleted meanwhile, and then the
//! deletion is completed (`RedisStore::seal`) and the send refused. A crash between the two
//! calls leaves a stored message in an unlisted room: the next heartbeat of a replica with
//! members in it lists it (heartbeat.lua), as after a Redis that lost its room set.

use super::{Appended, Error, IDEMPOTENCY_TTL_SECS, NewMessage, RedisStore, Result, new_epoch};

/// Calls of `append.lua` per append: with no incarnation, then with it, then after a tombstone
/// left by a creation cut short was lifted.
const ATTEMPTS: usize = 3;

impl RedisStore {
    pub(in crate::store) async fn append(&self, msg: &NewMessage<'_>) -> Result<Appended> {
        // Writing into a Redis that evicts could leave a room with a stream but no sequence.
        if let Some(problem) = self.eviction_risk() {
            return Err(Error::Misconfigured(problem));
        }
        let room = msg.room;
        let mut incarnation = String::new();
        for _ in 0..ATTEMPTS {
            let reply: Vec<String> = self
                .run(
                    self.scripts
                        .append
                        .key(self.keys.stream(room))
                        .key(self.keys.seq(room))
                        .key(self.keys.epoch(room))
                        .key(self.keys.idempotency(room))
                        .key(self.keys.gone(room))
                        .arg(msg.frame_prefix)
                        .arg(self.history_len)
                        .arg(IDEMPOTENCY_TTL_SECS)
                        .arg(&incarnation)
                        .arg(self.keys.room_events(room))
                        .arg(room)
                        .arg(msg.id)
                        .arg(msg.time_ms)
                        .arg(msg.client_id)
                        .arg(msg.name)
                        .arg(msg.topic.unwrap_or(""))
                        .arg(msg.content),
                )
                .await?;
            let corrupt = || Error::Corrupt(format!("append reply {reply:?}"));
            match reply.first().map(String::as_str) {
                Some("conflict") => return Err(Error::ClientIdConflict),
                Some("incarnation") => {
                    incarnation = self.incarnation().await?;
                    continue;
                }
                // Deleted, unless the tombstone outlived a creation anew cut short.
                Some("deleted") if self.lift_stale_tombstone(room).await? => continue,
                Some("deleted") => return Err(Error::RoomGone),
                _ => {}
            }
            let [dup, stored, epoch] = reply.as_slice() else {
                return Err(corrupt());
            };
            let (offset, id) = stored.split_once(' ').ok_or_else(corrupt)?;
            let offset: u64 = offset.parse().map_err(|_| corrupt())?;
            if offset == 1 && !self.enlist(room).await? {
                // The room was deleted between its deletion's two calls: finish it, refuse this.
                self.seal_from(room, Some(epoch)).await?;
                return Err(Error::RoomGone);
            }
            return Ok(Appended {
                offset,
                id: id.to_owned(),
                duplicate: dup == "1",
            });
        }
        Err(Error::Corrupt(format!("append of {room}: no answer")))
    }

    /// This dataset's incarnation, made now if it has none (the health check makes it too).
    pub(super) async fn incarnation(&self) -> Result<String> {
        let key = self.keys.incarnation();
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&key)
            .arg(new_epoch())
            .arg("NX")
            .ignore()
            .cmd("GET")
            .arg(&key);
        let (current,): (String,) = super::retrying(|| {
            let (mut conn, pipe) = (self.conn.clone(), &pipe);
            async move { pipe.query_async(&mut conn).await }
        })
        .await?;
        Ok(current)
    }

    /// Lists `room` after its first message; false when it was deleted meanwhile.
    async fn enlist(&self, room: &str) -> Result<bool> {
        let listed: i64 = self
            .run(
                self.scripts
                    .enlist
                    .key(self.keys.rooms())
                    .key(self.keys.deleted())
                    .arg(room),
            )
            .await?;
        Ok(listed == 1)
    }
}
