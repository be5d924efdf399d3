//! Timed rooms in Redis-only mode: settings in the `timers` hash, due times in the `timed` sorted
//! set, claimed by `clear.lua` / `expire.lua` (atomic, so once across replicas), which also
//! publish `c <through> <room>` / `x <room>`. The durable mode's cache helpers live here too: the
//! database is its record, Redis only forgets what was cleared.

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
static CLEAR: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/clear.lua")));
static EXPIRE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/expire.lua")));

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
                    let through: i64 = self.run(&self.clear_call(room, clock)).await?;
                    if let Ok(through) = u64::try_from(through) {
                        let room = room.to_owned();
                        fired.push(Fired::Cleared { room, through });
                    }
                }
                Some(("x", room)) => {
                    let expired: i64 = self.run(&self.expire_call(room, clock)).await?;
                    if expired == 1 {
                        let room = room.to_owned();
                        fired.push(Fired::Expired { room });
                    }
                }
                _ => tracing::warn!(member, "unknown timed entry"),
            }
        }
        Ok(fired)
    }

    fn clear_call(&self, room: &str, clock: Clock) -> redis::ScriptInvocation<'static> {
        let mut call = CLEAR.prepare_invoke();
        call.key(self.keys.timed())
            .key(self.keys.timers())
            .key(self.keys.stream(room))
            .key(self.keys.seq(room))
            .key(self.keys.idempotency(room))
            .key(self.keys.cleared(room))
            .key(self.keys.tally(room))
            .arg(room)
            .arg(clock.now_ms)
            .arg(clock.minute_ms)
            .arg(self.keys.room_events(room));
        call
    }

    fn expire_call(&self, room: &str, clock: Clock) -> redis::ScriptInvocation<'static> {
        let mut call = EXPIRE.prepare_invoke();
        call.key(self.keys.timed())
            .key(self.keys.timers())
            .key(self.keys.stream(room))
            .key(self.keys.seq(room))
            .key(self.keys.epoch(room))
            .key(self.keys.idempotency(room))
            .key(self.keys.cleared(room))
            .key(self.keys.rooms())
            .key(self.keys.expired())
            .key(self.keys.tally(room))
            .key(self.keys.access())
            .key(self.keys.room_reads(room))
            .arg(room)
            .arg(clock.now_ms)
            .arg(clock.minute_ms)
            .arg(self.keys.room_events(room))
            .arg(self.keys.events());
        call
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
