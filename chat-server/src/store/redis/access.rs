//! Rooms' access records, creation and deletion in Redis: one hash holds every record (`access`,
//! so a replica reads them all with one `HGETALL`), changes are Lua scripts that write and
//! announce in one step (`create_room.lua`, `participant.lua`, `forget_user.lua`); a room's
//! existence and record are read together (`access.lua`).
//!
//! Creating and deleting a room touch global keys (the room and deleted sets) and the room's own
//! keys, which a Redis Cluster keeps in another slot, so each is two calls: a deletion unlists
//! the room (`delete_room.lua`), then wipes its keys and leaves a tombstone in its slot
//! (`wipe_room.lua`: `append.lua` refuses the room from then on); a creation first completes any
//! deletion of the name that was cut short ([`RedisStore::seal`]), lists the room
//! (`create_room.lua`), then lifts the tombstone (`revive.lua`). What a crash between two calls
//! leaves heals itself: a deleted room whose wipe did not happen is wiped by its next first
//! message (refused) or its next creation; a created room whose tombstone stayed is revived by
//! its next send, which finds it no longer in the deleted set. Wiping and reviving both change
//! the room's epoch, and a wipe happens only if the epoch is still the one read before the
//! deleted set said "deleted", so a late wipe never touches a room created again meanwhile.

use super::RedisStore;
use crate::{
    protocol::DEFAULT_ROOM,
    store::{
        Access, Change, ChangeRefused, Changed, Created, Error, MAX_PARTICIPANTS, Result, new_epoch,
    },
};

/// Rounds of [`RedisStore::seal_from`] before it gives up (each lost a race with a writer).
const SEAL_ATTEMPTS: usize = 4;

impl RedisStore {
    /// Not retried: a retry after a lost reply would turn "created" into "exists".
    pub(in crate::store) async fn create_room(
        &self,
        name: &str,
        max_rooms: u32,
        access: Option<&Access>,
    ) -> Result<Created> {
        self.seal(name).await?;
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
            "created" => {
                self.revive(name).await?;
                Ok(Created::Created)
            }
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

    /// Safe to retry: a second run finds the room deleted, wipes again (nothing left) and
    /// answers false.
    pub(in crate::store) async fn delete_room(&self, room: &str) -> Result<bool> {
        // Read before the room leaves the set: the wipe below is for this epoch only.
        let epoch = self.epoch_of(room).await?;
        let outcome: i64 = self
            .run(
                self.scripts
                    .delete_room
                    .key(self.keys.rooms())
                    .key(self.keys.access())
                    .key(self.keys.deleted())
                    .key(self.keys.timers())
                    .key(self.keys.timed())
                    .arg(room)
                    .arg(DEFAULT_ROOM)
                    .arg(self.keys.events()),
            )
            .await?;
        if outcome != 0 {
            self.seal_from(room, epoch.as_deref()).await?;
        }
        Ok(outcome == 1)
    }

    /// A room's epoch key (a plain read in the room's slot).
    async fn epoch_of(&self, room: &str) -> Result<Option<String>> {
        Ok(self
            .query(redis::cmd("GET").arg(self.keys.epoch(room)))
            .await?)
    }

    /// Completes the deletion of `room` if the deleted set names it: its keys wiped, its
    /// tombstone written.
    pub(super) async fn seal(&self, room: &str) -> Result<()> {
        let epoch = self.epoch_of(room).await?;
        self.seal_from(room, epoch.as_deref()).await
    }

    /// [`Self::seal`] with the room's epoch as read before the caller learnt it was deleted.
    /// The wipe happens only while the epoch is still that one; when it moved (a message made
    /// the room's first epoch, another wipe, a creation anew) the epoch is read again, and the
    /// deleted set asked again, a few times.
    pub(super) async fn seal_from(&self, room: &str, mut epoch: Option<&str>) -> Result<()> {
        let mut read;
        for _ in 0..SEAL_ATTEMPTS {
            let deleted: bool = self
                .query(redis::cmd("SISMEMBER").arg(self.keys.deleted()).arg(room))
                .await?;
            if !deleted {
                return Ok(());
            }
            let wiped: i64 = self
                .run(
                    self.scripts
                        .wipe_room
                        .key(self.keys.epoch(room))
                        .key(self.keys.gone(room))
                        .key(self.keys.stream(room))
                        .key(self.keys.seq(room))
                        .key(self.keys.idempotency(room))
                        .key(self.keys.tally(room))
                        .key(self.keys.room_reads(room))
                        .key(self.keys.cleared(room))
                        .arg(epoch.unwrap_or(""))
                        .arg(new_epoch()),
                )
                .await?;
            if wiped == 1 {
                return Ok(());
            }
            read = self.epoch_of(room).await?;
            epoch = read.as_deref();
        }
        Err(Error::Corrupt(format!(
            "{room}: its epoch kept moving while it was deleted"
        )))
    }

    /// Lifts a created room's tombstone (a retry finds none and changes nothing).
    async fn revive(&self, room: &str) -> Result<()> {
        let _: i64 = self
            .run(
                self.scripts
                    .revive
                    .key(self.keys.gone(room))
                    .key(self.keys.epoch(room))
                    .arg(new_epoch()),
            )
            .await?;
        Ok(())
    }

    /// A send found `room`'s tombstone: when the deleted set no longer names the room, it was
    /// created again and that creation stopped before lifting the tombstone; lift it now (true:
    /// send again).
    pub(super) async fn lift_stale_tombstone(&self, room: &str) -> Result<bool> {
        let deleted: bool = self
            .query(redis::cmd("SISMEMBER").arg(self.keys.deleted()).arg(room))
            .await?;
        if deleted {
            return Ok(false);
        }
        self.revive(room).await?;
        Ok(true)
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
    /// hears `d <room>`. Two commands: the cache is in the room's slot, the channel in the
    /// global one (a Redis Cluster refuses a pipeline across slots).
    pub(in crate::store) async fn forget_room(&self, room: &str, epoch: &str) -> Result<()> {
        let () = redis::cmd("DEL")
            .arg(self.keys.cache(room, epoch))
            .query_async(&mut self.conn.clone())
            .await
            .map(|_: u64| ())?;
        self.publish(vec![format!("d {room}")]).await
    }

    /// The durable mode's announcement that a room's participants changed.
    pub(in crate::store) async fn announce_access(&self, room: &str) -> Result<()> {
        self.publish(vec![format!("a {room}")]).await
    }
}

fn decode(room: &str, raw: &str) -> Result<Access> {
    Access::decode(raw).ok_or_else(|| Error::Corrupt(format!("access record of {room}: {raw}")))
}
