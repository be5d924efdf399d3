//! Presence signals in Redis (the contract is `store/reads.rs`): typing frames are one `SPUBLISH`
//! on the room's channel (`t <replica> <conn> <room> <frame>`), a read is two scripts, the room's part in its slot
//! (`room_read.lua`: clamp to the head, move the receipt up) and the user's in theirs
//! (`read.lua`: move the user's position, drop the mentions it passes, `PUBLISH u <room>
//! <user>`), two small writes whatever the room's size; mentions are one script per mentioned
//! user (`mention.lua`, each user's keys in their own slot on a Redis Cluster). Reads of positions are plain `HGETALL`/`GET`s.

use redis::Script;

use super::{Error, RedisStore, Result, StoreEvent};
use crate::store::{MAX_MENTIONS_KEPT, ReadPosition, Unread, reads::unread_of};

pub(super) struct ReadScripts {
    room_read: Script,
    read: Script,
    mention: Script,
}

impl ReadScripts {
    pub(super) fn load() -> Self {
        Self {
            room_read: Script::new(include_str!("scripts/room_read.lua")),
            read: Script::new(include_str!("scripts/read.lua")),
            mention: Script::new(include_str!("scripts/mention.lua")),
        }
    }
}

/// `t <replica> <conn> <room> <frame>` or `u <room> <user>` (`p` is a reply count, `votes.rs`); the sending connection is excluded
/// only on its own replica.
pub(super) fn parse_signal(payload: &str, instance: &str) -> Option<StoreEvent> {
    if let Some(rest) = payload.strip_prefix("t ") {
        let mut parts = rest.splitn(4, ' ');
        let (replica, conn, room, frame) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let conn: u64 = conn.parse().ok()?;
        return Some(StoreEvent::Signal {
            room: room.into(),
            except: (replica == instance).then_some(conn),
            frame: frame.into(),
        });
    }
    let rest = payload.strip_prefix("u ")?;
    let (room, user) = rest.split_once(' ')?;
    Some(StoreEvent::ReadsChanged {
        room: room.into(),
        user: user.to_owned(),
    })
}

impl RedisStore {
    /// Tell every replica that a user's position in a room moved (the durable mode's bus).
    pub(crate) async fn announce_read(&self, room: &str, user: &str) -> Result<()> {
        self.publish(vec![format!("u {room} {user}")]).await
    }

    pub(crate) async fn signal(&self, room: &str, from: u64, frame: &str) -> Result<()> {
        let payload = format!("t {} {from} {room} {frame}", self.instance);
        let cmd = redis::cmd("SPUBLISH")
            .arg(self.keys.room_events(room))
            .arg(payload)
            .clone();
        let _: i64 = cmd.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    pub(crate) async fn mark_read(
        &self,
        room: &str,
        user: &str,
        display_name: &str,
        offset: u64,
    ) -> Result<bool> {
        // The receipt first: a crash between the two leaves the user's unread count behind
        // (the next read moves it), never a position past what the room shows.
        let position: u64 = self
            .run(
                self.scripts_reads()
                    .room_read
                    .key(self.keys.room_reads(room))
                    .key(self.keys.seq(room))
                    .arg(user)
                    .arg(display_name)
                    .arg(offset),
            )
            .await?;
        let moved: i64 = self
            .run(
                self.scripts_reads()
                    .read
                    .key(self.keys.user_reads(user))
                    .key(self.keys.user_mentions(user))
                    .arg(room)
                    .arg(position)
                    .arg(self.keys.events())
                    .arg(user),
            )
            .await?;
        Ok(moved == 1)
    }

    pub(crate) async fn room_reads(&self, room: &str) -> Result<Vec<ReadPosition>> {
        let all: Vec<(String, String)> = self
            .query(redis::cmd("HGETALL").arg(self.keys.room_reads(room)))
            .await?;
        all.into_iter()
            .map(|(user, value)| {
                let (offset, display_name) = value
                    .split_once(' ')
                    .ok_or_else(|| Error::Corrupt(format!("read position {value}")))?;
                Ok(ReadPosition {
                    user,
                    display_name: display_name.to_owned(),
                    offset: offset
                        .parse()
                        .map_err(|_| Error::Corrupt(format!("read offset {offset}")))?,
                })
            })
            .collect()
    }

    pub(crate) async fn add_mentions(
        &self,
        room: &str,
        offset: u64,
        users: &[String],
    ) -> Result<()> {
        let calls = users.iter().map(|user| async move {
            let mut inv = self.scripts_reads().mention.prepare_invoke();
            inv.key(self.keys.user_mentions(user))
                .arg(room)
                .arg(offset)
                .arg(MAX_MENTIONS_KEPT);
            self.run::<i64>(&inv).await
        });
        futures_util::future::try_join_all(calls).await?;
        Ok(())
    }

    pub(crate) async fn unread(&self, user: &str) -> Result<Vec<Unread>> {
        type Both = (Vec<(String, u64)>, Vec<(String, String)>);
        let (reads, mentions): Both = redis::pipe()
            .cmd("HGETALL")
            .arg(self.keys.user_reads(user))
            .cmd("HGETALL")
            .arg(self.keys.user_mentions(user))
            .query_async(&mut self.conn.clone())
            .await?;
        let mut rooms: std::collections::BTreeMap<String, (u64, Vec<u64>)> = Default::default();
        for (room, offset) in reads {
            rooms.entry(room).or_default().0 = offset;
        }
        for (room, kept) in mentions {
            let offsets = kept.split(' ').filter_map(|o| o.parse().ok()).collect();
            rooms.entry(room).or_default().1 = offsets;
        }
        if rooms.is_empty() {
            return Ok(Vec::new());
        }
        let mut get = redis::cmd("MGET");
        for room in rooms.keys() {
            get.arg(self.keys.seq(room));
        }
        let heads: Vec<Option<u64>> = self.query(&get).await?;
        Ok(rooms
            .into_iter()
            .zip(heads)
            .map(|((room, (offset, mentions)), head)| {
                unread_of(room, head.unwrap_or(0), offset, &mentions)
            })
            .collect())
    }

    fn scripts_reads(&self) -> &ReadScripts {
        &self.reads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_is_u_and_a_reply_count_is_no_read() {
        let Some(StoreEvent::ReadsChanged { room, user }) = parse_signal("u ops ann", "r1") else {
            panic!("not a read event")
        };
        assert_eq!((&*room, user.as_str()), ("ops", "ann"));
        // `p <room> <offset> <count>` is a reply count (votes.rs), left to the other parsers.
        assert!(parse_signal("p ops 7 2", "r1").is_none());
    }
}
