//! Rooms' access records and deletion in Redis: one hash holds every record (`access`, so a
//! replica reads them all with one `HGETALL`), changes are Lua scripts that write and announce
//! in one step (`create_room.lua`, `participant.lua`, `delete_room.lua`, `forget_user.lua`); a
//! room's existence and record are read together (`access.lua`).

use super::RedisStore;
use crate::{
    protocol::DEFAULT_ROOM,
    store::{
        Access, Change, ChangeRefused, Changed, Created, Error, MAX_PARTICIPANTS, Result, new_epoch,
    },
};

impl RedisStore {
    /// Not retried: a retry after a lost reply would turn "created" into "exists".
    pub(in crate::store) async fn create_room(
        &self,
        name: &str,
        max_rooms: u32,
        access: Option<&Access>,
    ) -> Result<Created> {
        let reply: String = self
            .scripts
            .create_room
            .key(self.keys.rooms())
            .key(self.keys.access())
            .key(self.keys.deleted())
            .arg(name)
            .arg(max_rooms)
            .arg(self.keys.events())
            .arg(DEFAULT_ROOM)
            .arg(access.map(Access::encode).unwrap_or_default())
            .invoke_async(&mut self.conn.clone())
            .await?;
        match reply.as_str() {
            "created" => Ok(Created::Created),
            "exists" => Ok(Created::Exists),
            "full" => Ok(Created::LimitReached),
            other => Err(Error::Corrupt(format!("create_room reply {other}"))),
        }
    }

    pub(in crate::store) async fn access(&self, room: &str) -> Result<Option<Access>> {
        let reply: Vec<String> = self
            .run(
                self.scripts
                    .access
                    .key(self.keys.rooms())
                    .key(self.keys.access())
                    .arg(room)
                    .arg(DEFAULT_ROOM),
            )
            .await?;
        match reply.as_slice() {
            [exists] if exists == "0" => Ok(None),
            [_] => Ok(Some(Access::default())),
            [_, raw] => decode(room, raw).map(Some),
            _ => Err(Error::Corrupt(format!("access reply {reply:?}"))),
        }
    }

    pub(in crate::store) async fn access_list(&self) -> Result<Vec<(String, Access)>> {
        let all: Vec<(String, String)> = self
            .query(redis::cmd("HGETALL").arg(self.keys.access()))
            .await?;
        all.into_iter()
            .map(|(room, raw)| decode(&room, &raw).map(|a| (room, a)))
            .collect()
    }

    /// Safe to retry: adding a participant twice, or removing one twice, changes nothing.
    pub(in crate::store) async fn change_participant(
        &self,
        room: &str,
        change: Change<'_>,
    ) -> Result<Changed> {
        let (verb, user) = match change {
            Change::Add(user) => ("add", user),
            Change::Remove(user) => ("remove", user),
        };
        let reply: Vec<String> = self
            .run(
                self.scripts
                    .participant
                    .key(self.keys.access())
                    .arg(room)
                    .arg(verb)
                    .arg(user)
                    .arg(MAX_PARTICIPANTS)
                    .arg(self.keys.events()),
            )
            .await?;
        let [outcome, raw] = reply.as_slice() else {
            return Err(Error::Corrupt(format!("participant reply {reply:?}")));
        };
        Ok(match outcome.as_str() {
            "done" => Changed::Done(decode(room, raw)?),
            "not_private" => Changed::NotPrivate,
            "full" => Changed::Refused(ChangeRefused::Full),
            "creator" => Changed::Refused(ChangeRefused::Creator),
            other => return Err(Error::Corrupt(format!("participant reply {other}"))),
        })
    }

    /// Safe to retry: a second run finds no room and answers false (the first did the work).
    pub(in crate::store) async fn delete_room(&self, room: &str) -> Result<bool> {
        let deleted: i64 = self
            .run(
                self.scripts
                    .delete_room
                    .key(self.keys.rooms())
                    .key(self.keys.access())
                    .key(self.keys.deleted())
                    .key(self.keys.stream(room))
                    .key(self.keys.seq(room))
                    .key(self.keys.epoch(room))
                    .key(self.keys.idempotency(room))
                    .key(self.keys.tally(room))
                    .key(self.keys.room_reads(room))
                    .key(self.keys.cleared(room))
                    .key(self.keys.timers())
                    .key(self.keys.timed())
                    .arg(room)
                    .arg(DEFAULT_ROOM)
                    .arg(new_epoch())
                    .arg(self.keys.events()),
            )
            .await?;
        Ok(deleted == 1)
    }

    /// Safe to retry: a second run finds nothing left to change.
    pub(in crate::store) async fn forget_user(&self, user: &str) -> Result<()> {
        let _: i64 = self
            .run(
                self.scripts
                    .forget_user
                    .key(self.keys.access())
                    .arg(user)
                    .arg(self.keys.events()),
            )
            .await?;
        Ok(())
    }

    /// The durable mode's deletion in Redis: the room's cached window goes, and every replica
    /// hears `d <room>`.
    pub(in crate::store) async fn forget_room(&self, room: &str, epoch: &str) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.cmd("DEL").arg(self.keys.cache(room, epoch)).ignore();
        pipe.cmd("PUBLISH")
            .arg(self.keys.events())
            .arg(format!("d {room}"))
            .ignore();
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// The durable mode's announcement that a room's participants changed.
    pub(in crate::store) async fn announce_access(&self, room: &str) -> Result<()> {
        self.publish(vec![format!("a {room}")]).await
    }
}

fn decode(room: &str, raw: &str) -> Result<Access> {
    Access::decode(raw).ok_or_else(|| Error::Corrupt(format!("access record of {room}: {raw}")))
}
