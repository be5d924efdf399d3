//! Replies and votes in Redis (the Redis-only mode; in durable mode PostgreSQL keeps them), in
//! one hash per room (`keys::tally`). Each vote is one Lua script that checks the message is
//! still in the room's stream, replaces the user's vote, updates the counts and publishes them,
//! so counts and voters never disagree and the room hears every change in order; the scripts
//! also sweep the fields of messages trimmed from the stream, so the hash stays bounded. A page's
//! counts and the reader's own votes are one `HMGET`, whatever the page size.

use std::{collections::HashMap, sync::LazyLock};

use redis::Script;

use super::{RedisStore, Result, StoreEvent};
use crate::{protocol::Tally, store::votes::Counted, store::votes::Vote};

static VOTE: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/vote.lua")));
static REPLY: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/reply.lua")));

impl RedisStore {
    pub(in crate::store) async fn message_exists(&self, room: &str, offset: u64) -> Result<bool> {
        let id = format!("0-{offset}");
        let mut cmd = redis::cmd("XRANGE");
        cmd.arg(self.keys.stream(room)).arg(&id).arg(&id);
        let entries: Vec<redis::Value> = self.query(&cmd).await?;
        Ok(!entries.is_empty())
    }

    /// Safe to retry: setting the same vote twice is one vote.
    pub(in crate::store) async fn vote(&self, vote: &Vote<'_>) -> Result<Option<Counted>> {
        let reply: (u8, u64, u64) = self
            .run(
                VOTE.key(self.keys.stream(vote.room))
                    .key(self.keys.tally(vote.room))
                    .arg(vote.offset)
                    .arg(vote.user)
                    .arg(vote.value)
                    .arg(self.keys.room_events(vote.room))
                    .arg(vote.room)
                    .arg(self.least_sweep()),
            )
            .await?;
        Ok((reply.0 == 1).then_some(Counted {
            up: reply.1,
            down: reply.2,
        }))
    }

    /// Not retried: a retry after a lost reply would count the reply twice.
    pub(in crate::store) async fn add_reply(&self, room: &str, parent: u64) -> Result<()> {
        let mut conn = self.conn.clone();
        let _: u64 = REPLY
            .key(self.keys.stream(room))
            .key(self.keys.tally(room))
            .arg(parent)
            .arg(self.keys.room_events(room))
            .arg(room)
            .arg(self.least_sweep())
            .invoke_async(&mut conn)
            .await?;
        Ok(())
    }

    pub(in crate::store) async fn tallies(
        &self,
        room: &str,
        offsets: &[u64],
        user: Option<&str>,
    ) -> Result<HashMap<u64, Tally>> {
        let mut cmd = redis::cmd("HMGET");
        cmd.arg(self.keys.tally(room));
        for off in offsets {
            cmd.arg(format!("{off}:u"))
                .arg(format!("{off}:d"))
                .arg(format!("{off}:r"))
                .arg(format!("{off}:v:{}", user.unwrap_or("")));
        }
        let flat: Vec<Option<i64>> = self.query(&cmd).await?;
        let count = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
        Ok(offsets
            .iter()
            .zip(flat.chunks_exact(4))
            .map(|(off, c)| {
                let tally = Tally {
                    up: count(c[0]),
                    down: count(c[1]),
                    replies: count(c[2]),
                    // No user: the field `<off>:v:` is never written (usernames are not empty).
                    mine: c[3].unwrap_or(0).clamp(-1, 1) as i8,
                };
                (*off, tally)
            })
            .filter(|(_, t)| !t.is_empty())
            .collect())
    }
}

/// The pub/sub payload of a votes or replies event (what the scripts publish themselves).
pub(in crate::store) fn payload(event: &StoreEvent) -> Option<String> {
    match event {
        StoreEvent::Votes {
            room,
            offset,
            up,
            down,
        } => Some(format!("v {room} {offset} {up} {down}")),
        StoreEvent::Replies {
            room,
            offset,
            count,
        } => Some(format!("p {room} {offset} {count}")),
        _ => None,
    }
}

impl RedisStore {
    /// The tally hash size below which the scripts never sweep: three fields per kept message.
    fn least_sweep(&self) -> u64 {
        3 * u64::from(self.history_len)
    }
}

/// `v <room> <offset> <up> <down>` or `p <room> <offset> <count>`.
pub(super) fn parse_event(payload: &str) -> Option<StoreEvent> {
    let (kind, rest) = payload.split_at_checked(2)?;
    let mut parts = rest.split(' ');
    let mut next = || parts.next();
    match kind {
        "v " => Some(StoreEvent::Votes {
            room: next()?.into(),
            offset: next()?.parse().ok()?,
            up: next()?.parse().ok()?,
            down: next()?.parse().ok()?,
        }),
        "p " => Some(StoreEvent::Replies {
            room: next()?.into(),
            offset: next()?.parse().ok()?,
            count: next()?.parse().ok()?,
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vote_and_reply_events_parse() {
        let Some(StoreEvent::Votes {
            room,
            offset,
            up,
            down,
        }) = parse_event("v ops 7 3 1")
        else {
            panic!("not a votes event");
        };
        assert_eq!((&*room, offset, up, down), ("ops", 7, 3, 1));
        assert!(matches!(
            parse_event("p ops 7 2"),
            Some(StoreEvent::Replies { count: 2, .. })
        ));
        assert!(parse_event("v ops x 1 1").is_none());
        let event = parse_event("p ops 7 2").unwrap();
        assert_eq!(payload(&event).as_deref(), Some("p ops 7 2"));
        assert!(parse_event("m e 1 ops 5 {}").is_none());
    }
}
