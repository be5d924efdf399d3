//! Timed rooms in Redis-only mode: settings in the `timers` hash, due times in the `timed` sorted
//! set. The schedule is global and a room's keys are in its own slot (Redis Cluster), so each
//! timer is a global call and a room call: a clear is claimed by `claim_clear.lua` (moving the
//! due time on: once across replicas) and done by `clear.lua`, which publishes `c <through>
//! <room>`; `touch.lua` keeps the newest cleared message's time as the room's activity. An expiry
//! is checked by `expire_due.lua`, done by `expire.lua` (idle check and wipe at once in the
//! room's slot, publishing `x <room>`) and finished by `expire_finish.lua`, whose removal of the
//! schedule entry is the claim: replicas racing may both wipe (the second wipes nothing), one
//! reports it. The durable mode's cache helpers live here too: the database is its record, Redis
//! only forgets what was cleared.

use std::{collections::BTreeMap, sync::LazyLock};

use redis::Script;

use super::{RedisStore, Result};
use crate::{
    protocol::Timers,
    store::timed::{Clock, Fired},
};

/// Due entries claimed per sweep; the rest wait for the next one.
const SWEEP_BATCH: usize = 64;

static SET_TIMERS: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/set_timers.lua")));
static CLAIM_CLEAR: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/claim_clear.lua")));
static CLEAR: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/clear.lua")));
static TOUCH: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/touch.lua")));
static EXPIRE_DUE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/expire_due.lua")));
static EXPIRE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/expire.lua")));
static EXPIRE_FINISH: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/expire_finish.lua")));

/// A clear or expiry announced on the events channel.
pub(super) fn parse_payload(payload: &str) -> Option<Fired> {
    if let Some(rest) = payload.strip_prefix("c ") {
        let (through, room) = rest.split_once(' ')?;
        let through = through.parse().ok()?;
        return Some(Fired::Cleared {
            room: room.to_owned(),
            through,
        });
    }
    let room = payload.strip_prefix("x ")?;
    Some(Fired::Expired {
        room: room.to_owned(),
    })
}

impl RedisStore {
    pub(in crate::store) async fn set_timers(
        &self,
        room: &str,
        timers: Timers,
        clock: Clock,
    ) -> Result<()> {
        let () = self
            .run(
                SET_TIMERS
                    .key(self.keys.timers())
                    .key(self.keys.timed())
                    .arg(room)
                    .arg(timers.clear_every_mins)
                    .arg(timers.expire_after_mins)
                    .arg(clock.now_ms)
                    .arg(clock.minute_ms)
                    .arg(self.keys.events()),
            )
            .await
            .map(|_: i64| ())?;
        Ok(())
    }

    pub(in crate::store) async fn timers(&self) -> Result<BTreeMap<String, Timers>> {
        let all: BTreeMap<String, String> = self
            .query(redis::cmd("HGETALL").arg(self.keys.timers()))
            .await?;
        Ok(all
            .into_iter()
            .filter_map(|(room, value)| {
                let mut parts = value.split(' ').map(str::parse::<u32>);
                let clear_every_mins = parts.next()?.ok()?;
                let expire_after_mins = parts.next()?.ok()?;
                let timers = Timers {
                    clear_every_mins,
                    expire_after_mins,
                };
                Some((room, timers))
            })
            .collect())
    }

    pub(in crate::store) async fn fire_due(&self, clock: Clock) -> Result<Vec<Fired>> {
        let due: Vec<String> = self
            .query(
                redis::cmd("ZRANGEBYSCORE")
                    .arg(self.keys.timed())
                    .arg("-inf")
                    .arg(clock.now_ms)
                    .arg("LIMIT")
                    .arg(0)
                    .arg(SWEEP_BATCH),
            )
            .await?;
        let mut fired = Vec::new();
        for member in due {
            match member.split_once('|') {
                Some(("c", room)) => {
                    if let Some(through) = self.clear(room, clock).await? {
                        let room = room.to_owned();
                        fired.push(Fired::Cleared { room, through });
                    }
                }
                Some(("x", room)) => {
                    if self.expire(room, clock).await? {
                        let room = room.to_owned();
                        fired.push(Fired::Expired { room });
                    }
                }
                _ => tracing::warn!(member, "unknown timed entry"),
            }
        }
        Ok(fired)
    }

    /// A due clear of `room`, claimed and done: the offset cleared through, if this replica
    /// cleared it.
    async fn clear(&self, room: &str, clock: Clock) -> Result<Option<u64>> {
        let claimed: Option<u64> = self
            .run(
                CLAIM_CLEAR
                    .key(self.keys.timed())
                    .key(self.keys.timers())
                    .arg(room)
                    .arg(clock.now_ms)
                    .arg(clock.minute_ms),
            )
            .await?;
        let Some(active) = claimed else {
            return Ok(None);
        };
        let (through, at): (i64, u64) = self
            .run(
                CLEAR
                    .key(self.keys.stream(room))
                    .key(self.keys.seq(room))
                    .key(self.keys.idempotency(room))
                    .key(self.keys.cleared(room))
                    .key(self.keys.tally(room))
                    .arg(self.keys.room_events(room))
                    .arg(room),
            )
            .await?;
        if at > active {
            let _: i64 = self
                .run(TOUCH.key(self.keys.timers()).arg(room).arg(at))
                .await?;
        }
        Ok(u64::try_from(through).ok())
    }

    /// A due expiry check of `room`: true when this replica expired the room.
    async fn expire(&self, room: &str, clock: Clock) -> Result<bool> {
        let due: Option<(u32, u64)> = self
            .run(
                EXPIRE_DUE
                    .key(self.keys.timed())
                    .key(self.keys.timers())
                    .arg(room)
                    .arg(clock.now_ms),
            )
            .await?;
        let Some((expire_mins, active)) = due else {
            return Ok(false);
        };
        let deadline: u64 = self
            .run(
                EXPIRE
                    .key(self.keys.stream(room))
                    .key(self.keys.seq(room))
                    .key(self.keys.epoch(room))
                    .key(self.keys.idempotency(room))
                    .key(self.keys.cleared(room))
                    .key(self.keys.tally(room))
                    .key(self.keys.room_reads(room))
                    .arg(clock.now_ms)
                    .arg(clock.minute_ms)
                    .arg(expire_mins)
                    .arg(active)
                    .arg(self.keys.room_events(room))
                    .arg(room),
            )
            .await?;
        if deadline > 0 {
            // Only if the check is still scheduled (a racing replica may have finished it).
            let _: i64 = self
                .query(
                    redis::cmd("ZADD")
                        .arg(self.keys.timed())
                        .arg("XX")
                        .arg(deadline)
                        .arg(format!("x|{room}")),
                )
                .await?;
            return Ok(false);
        }
        let expired: i64 = self
            .run(
                EXPIRE_FINISH
                    .key(self.keys.timed())
                    .key(self.keys.timers())
                    .key(self.keys.rooms())
                    .key(self.keys.expired())
                    .key(self.keys.access())
                    .arg(room)
                    .arg(clock.now_ms)
                    .arg(self.keys.events()),
            )
            .await?;
        Ok(expired == 1)
    }

    /// Durable mode: forget a room's cached messages up to `through` (they were cleared).
    pub(in crate::store) async fn forget_cached(
        &self,
        room: &str,
        epoch: &str,
        through: u64,
    ) -> Result<()> {
        let key = self.keys.cache(room, epoch);
        let mut cmd = redis::cmd("ZREMRANGEBYSCORE");
        cmd.arg(key).arg("-inf").arg(through);
        let () = cmd
            .query_async(&mut self.conn.clone())
            .await
            .map(|_: i64| ())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_parse() {
        let cleared = Fired::Cleared {
            room: "a b".into(),
            through: 7,
        };
        assert_eq!(parse_payload(&cleared.payload()), Some(cleared));
        let expired = Fired::Expired { room: "ops".into() };
        assert_eq!(parse_payload(&expired.payload()), Some(expired));
        assert_eq!(parse_payload("c x ops"), None);
        assert_eq!(parse_payload("m 1 2"), None);
    }
}
