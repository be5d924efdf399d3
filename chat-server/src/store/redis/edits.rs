//! Edits, deletions and ephemeral messages in Redis. An edit reads the frame at its offset,
//! decides (`protocol::edits::rewrite`) and replaces it with `edit.lua`, which checks the frame is
//! still the one decided on (else read and decide again) and publishes the notice in the same
//! script. Notices and ephemeral messages travel on the events channel as `n <room> <frame>` and
//! are stored in no key.

use std::sync::LazyLock;

use redis::Script;

use super::{Error, RedisStore, Result, StoreEvent};
use crate::{
    protocol::edits::{Decision, Refusal, Rewrite, rewrite},
    store::{Applied, Rewritten},
};

static EDIT: LazyLock<Script> = LazyLock::new(|| Script::new(include_str!("scripts/edit.lua")));
static RECACHE: LazyLock<Script> =
    LazyLock::new(|| Script::new(include_str!("scripts/recache.lua")));

/// Reads and decisions before giving up on a message that keeps changing under us.
const ATTEMPTS: u32 = 5;

/// The pub/sub payload of a notice for `room`.
pub(super) fn notice_payload(room: &str, frame: &str) -> String {
    format!("n {room} {frame}")
}

/// The event of a `n <room> <frame>` payload (given without its `n `).
pub(super) fn parse_notice(rest: &str) -> Option<StoreEvent> {
    let (room, frame) = rest.split_once(' ')?;
    Some(StoreEvent::Notice {
        room: room.into(),
        frame: frame.into(),
    })
}

impl RedisStore {
    pub(in crate::store) async fn rewrite(&self, r: &Rewrite<'_>) -> Result<Rewritten> {
        if let Some(problem) = self.eviction_risk() {
            return Err(Error::Misconfigured(problem));
        }
        let stream = self.keys.stream(r.room);
        let id = format!("0-{}", r.offset);
        for _ in 0..ATTEMPTS {
            let found: Vec<(String, Vec<String>)> = self
                .query(redis::cmd("XRANGE").arg(&stream).arg(&id).arg(&id))
                .await?;
            let Some(stored) = found
                .into_iter()
                .next()
                .and_then(|(_, f)| f.into_iter().nth(1))
            else {
                return Ok(Err(Refusal::NoSuchMessage));
            };
            let (frame, notice) = match rewrite(r, &stored) {
                Decision::Refused(why) => return Ok(Err(why)),
                Decision::Unchanged { notice } => return Ok(Ok(Applied::unannounced(notice))),
                Decision::Write { frame, notice } => (frame, notice),
            };
            // A retry after a lost reply finds its own frame: 'changed', then `Unchanged` above.
            let reply: String = self
                .run(
                    EDIT.key(&stream)
                        .arg(r.offset)
                        .arg(&stored)
                        .arg(&frame)
                        .arg(self.keys.room_events(r.room))
                        .arg(notice_payload(r.room, &notice)),
                )
                .await?;
            match reply.as_str() {
                "ok" => return Ok(Ok(Applied::announced(notice))),
                "missing" => return Ok(Err(Refusal::NoSuchMessage)),
                "changed" => continue,
                other => return Err(Error::Corrupt(format!("edit reply {other}"))),
            }
        }
        Err(Error::Corrupt(format!(
            "message {} of {} kept changing",
            r.offset, r.room
        )))
    }

    /// Durable mode: replace a cached frame of a room's epoch with its rewritten form and publish
    /// `notice` (when given), in one script (`recache.lua`).
    pub(in crate::store) async fn recache(
        &self,
        room: &str,
        epoch: &str,
        offset: u64,
        frame: &str,
        notice: Option<&str>,
    ) -> Result<()> {
        let _removed: i64 = self
            .run(
                RECACHE
                    .key(self.keys.cache(room, epoch))
                    .arg(offset)
                    .arg(frame)
                    .arg(self.keys.room_events(room))
                    .arg(notice.map_or_else(String::new, |n| notice_payload(room, n))),
            )
            .await?;
        Ok(())
    }

    /// One `SPUBLISH`, not retried: a retry could deliver an ephemeral message twice.
    pub(in crate::store) async fn notify(&self, room: &str, frame: &str) -> Result<()> {
        let _receivers: i64 = redis::cmd("SPUBLISH")
            .arg(self.keys.room_events(room))
            .arg(notice_payload(room, frame))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_round_trip_through_their_payload() {
        let payload = notice_payload("ops", r#"{"type":"deleted","room":"ops","offset":3}"#);
        let Some(StoreEvent::Notice { room, frame }) = super::super::events::parse_event(&payload)
        else {
            panic!("not a notice: {payload}")
        };
        assert_eq!(
            (&*room, &*frame),
            ("ops", r#"{"type":"deleted","room":"ops","offset":3}"#)
        );
        assert!(super::super::events::parse_event("n ops").is_none());
    }
}
