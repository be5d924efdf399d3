//! The Redis backend, shared by every replica. Per room: a stream whose entry ids are `0-<offset>`
//! (so offsets are the stream's own order and trimming keeps the last `history_len`), a counter, an
//! epoch and a hash of idempotency records trimmed with the stream. Appends are one Lua script that
//! stores, trims and publishes (`append.rs`), so a message is announced if and only if it is
//! stored. Every script and pipeline stays within one slot of a Redis Cluster (a room's, a
//! user's, or the global keys'): an operation needing more is split into calls ordered so that a
//! crash between them is harmless or healed (`append.rs`, `access.rs`, `timed.rs`, `reads.rs`;
//! docs/architecture.md "Redis Cluster"), and a standalone Redis runs the same calls; reads are
//! `no-writes` scripts, so they keep working while Redis refuses writes. A room's events are
//! published on its own sharded channel (`SPUBLISH`), heard only by the replicas with members in
//! it (`subscriber.rs`); the rare global ones on one channel every replica hears (`events.rs`
//! routes them). Pub/sub only wakes replicas up: the stream is the source of truth and the hub
//! backfills from it whenever it sees a gap. The connection is made lazily and remade in the background, so a Redis that is not there
//! yet only makes the store unhealthy; [`RedisStore::health`] also refuses a Redis configured to
//! evict keys.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use redis::{Cmd, FromRedisValue, RedisError, RedisResult, Script, ScriptInvocation};

use self::{conn::Conn, events::Route, keys::Keys};
use super::{
    Appended, Error, IDEMPOTENCY_TTL_SECS, Listing, NewMessage, Result, RoomPresence, StoreEvent,
    new_epoch,
};
use crate::protocol::DEFAULT_ROOM;

mod access;
mod accounts;
mod append;
mod conn;
mod edits;
mod events;
mod health;
mod keys;
mod reading;
mod reads;
mod strikes;
mod subscriber;
mod support;
mod timed;
pub(super) mod votes;

/// A message for the durable mode's cache.
#[derive(Debug, Clone, Copy)]
pub(super) struct CacheEntry<'a> {
    pub(super) room: &'a str,
    pub(super) epoch: &'a str,
    pub(super) offset: u64,
    pub(super) frame: &'a str,
}

/// Rooms, history and presence in Redis.
pub struct RedisStore {
    /// The same Redis over RESP3, for the subscriber (sharded pub/sub arrives as push messages).
    pubsub: conn::PubSubClient,
    conn: Conn,
    keys: Keys,
    instance: String,
    history_len: u32,
    presence_ttl: Duration,
    scripts: Scripts,
    strikes: strikes::StrikeScripts,
    reads: reads::ReadScripts,
    support: support::SupportScripts,
    policy: Mutex<health::PolicyCheck>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .finish_non_exhaustive()
    }
}

struct Scripts {
    append: Script,
    enlist: Script,
    history: Script,
    range: Script,
    create_room: Script,
    participant: Script,
    delete_room: Script,
    wipe_room: Script,
    revive: Script,
    forget_user: Script,
    access: Script,
    heartbeat: Script,
    rooms: Script,
    depart: Script,
}

impl Scripts {
    fn load() -> Self {
        Self {
            append: Script::new(include_str!("scripts/append.lua")),
            enlist: Script::new(include_str!("scripts/enlist.lua")),
            history: Script::new(include_str!("scripts/history.lua")),
            range: Script::new(include_str!("scripts/range.lua")),
            create_room: Script::new(include_str!("scripts/create_room.lua")),
            participant: Script::new(include_str!("scripts/participant.lua")),
            delete_room: Script::new(include_str!("scripts/delete_room.lua")),
            wipe_room: Script::new(include_str!("scripts/wipe_room.lua")),
            revive: Script::new(include_str!("scripts/revive.lua")),
            forget_user: Script::new(include_str!("scripts/forget_user.lua")),
            access: Script::new(include_str!("scripts/access.lua")),
            heartbeat: Script::new(include_str!("scripts/heartbeat.lua")),
            rooms: Script::new(include_str!("scripts/rooms.lua")),
            depart: Script::new(include_str!("scripts/depart.lua")),
        }
    }
}

/// Extra attempts of a command that failed on a dead connection, and the first pause.
const RETRIES: u32 = 2;
const RETRY_DELAY: Duration = Duration::from_millis(25);

/// `op`, tried again up to [`RETRIES`] times after a transient error, with growing pauses.
async fn retrying<T, F, Fut>(mut op: F) -> RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = RedisResult<T>>,
{
    let mut delay = RETRY_DELAY;
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if attempt < RETRIES && is_transient(&e) => {
                attempt += 1;
                tokio::time::sleep(delay).await;
                delay *= 4;
            }
            other => return other,
        }
    }
}

fn is_transient(e: &RedisError) -> bool {
    e.is_connection_dropped() || e.is_io_error() || e.is_connection_refusal()
}

impl RedisStore {
    /// A store for `url` (with `cluster`, comma-separated seed URLs of a Redis Cluster); the
    /// connection is made on first use and remade after every loss, so this fails only for a
    /// malformed URL.
    pub fn connect(
        url: &str,
        prefix: &str,
        instance: &str,
        history_len: u32,
        presence_ttl: Duration,
        cluster: bool,
    ) -> Result<Self> {
        Ok(Self {
            pubsub: conn::PubSubClient::open(url, cluster).map_err(Error::Connect)?,
            conn: Conn::open(url, cluster).map_err(Error::Connect)?,
            keys: Keys::new(prefix, cluster),
            instance: instance.to_owned(),
            history_len,
            presence_ttl,
            scripts: Scripts::load(),
            strikes: strikes::StrikeScripts::load(),
            reads: reads::ReadScripts::load(),
            support: support::SupportScripts::load(),
            policy: Mutex::default(),
        })
    }

    /// Runs a script, again when the connection turned out to be dead (the manager reconnects
    /// in the background, so the first command after a Redis restart fails). Every script
    /// retried here is safe to run twice: an append is idempotent per client id (and knows its
    /// own message id, so a retry is not reported as a duplicate), the others only read,
    /// refresh or set-if-absent. `create_room` is not retried (it would turn
    /// "created" into "exists").
    async fn run<T: FromRedisValue>(&self, inv: &ScriptInvocation<'_>) -> RedisResult<T> {
        retrying(|| {
            let mut conn = self.conn.clone();
            async move { inv.invoke_async(&mut conn).await }
        })
        .await
    }

    /// Runs a read-only command, retrying like [`Self::run`].
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> RedisResult<T> {
        retrying(|| {
            let mut conn = self.conn.clone();
            async move { cmd.query_async(&mut conn).await }
        })
        .await
    }

    /// Publish payloads in one round trip, each on its channel ([`events::route`]; the durable
    /// mode's bus).
    pub(super) async fn publish(&self, payloads: Vec<String>) -> Result<()> {
        self.cache_and_publish(&[], 0, payloads).await
    }

    /// The durable mode's write to Redis, one round trip: put `entries` (room, epoch, offset,
    /// frame) into each room's cache (a sorted set by offset, so replicas may add out of order),
    /// trim each to its newest `window`, then publish `payloads`. A Redis Cluster takes a pipeline
    /// only within one slot: there it is one pipeline per room (its cache and its channel share a
    /// slot) and one for the global events, sent together.
    pub(super) async fn cache_and_publish(
        &self,
        entries: &[CacheEntry<'_>],
        window: u32,
        payloads: Vec<String>,
    ) -> Result<()> {
        if !self.conn.is_cluster() {
            let payloads: Vec<&str> = payloads.iter().map(String::as_str).collect();
            return self.cache_pipeline(entries, window, &payloads).await;
        }
        type Slot<'a> = (Vec<CacheEntry<'a>>, Vec<&'a str>);
        let mut rooms: BTreeMap<&str, Slot<'_>> = BTreeMap::new();
        let mut everyone = Vec::new();
        for e in entries {
            rooms.entry(e.room).or_default().0.push(*e);
        }
        for p in &payloads {
            match events::route(p) {
                Route::Room(room) => rooms.entry(room).or_default().1.push(p),
                Route::Everyone => everyone.push(p.as_str()),
            }
        }
        let mut calls: Vec<_> = rooms
            .values()
            .map(|(entries, payloads)| self.cache_pipeline(entries, window, payloads))
            .collect();
        if !everyone.is_empty() {
            calls.push(self.cache_pipeline(&[], window, &everyone));
        }
        futures_util::future::try_join_all(calls).await?;
        Ok(())
    }

    /// One pipeline of [`Self::cache_and_publish`].
    async fn cache_pipeline(
        &self,
        entries: &[CacheEntry<'_>],
        window: u32,
        payloads: &[&str],
    ) -> Result<()> {
        let mut pipe = redis::pipe();
        let mut keys: Vec<String> = Vec::new();
        for e in entries {
            let key = self.keys.cache(e.room, e.epoch);
            pipe.cmd("ZADD")
                .arg(&key)
                .arg(e.offset)
                .arg(e.frame)
                .ignore();
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
        for key in &keys {
            pipe.cmd("ZREMRANGEBYRANK")
                .arg(key)
                .arg(0)
                .arg(-i64::from(window) - 1)
                .ignore();
            pipe.cmd("EXPIRE")
                .arg(key)
                .arg(IDEMPOTENCY_TTL_SECS)
                .ignore();
        }
        let everyone = self.keys.events();
        for p in payloads {
            match events::route(p) {
                Route::Room(room) => pipe.cmd("SPUBLISH").arg(self.keys.room_events(room)),
                Route::Everyone => pipe.cmd("PUBLISH").arg(&everyone),
            }
            .arg(*p)
            .ignore();
        }
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    pub(super) async fn room_exists(&self, name: &str) -> Result<bool> {
        if name == DEFAULT_ROOM {
            return Ok(true);
        }
        let found: bool = self
            .query(redis::cmd("SISMEMBER").arg(self.keys.rooms()).arg(name))
            .await?;
        Ok(found)
    }

    pub(super) async fn heartbeat(
        &self,
        counts: &BTreeMap<String, RoomPresence>,
        changed: bool,
        private: &std::collections::BTreeSet<Arc<str>>,
    ) -> Result<()> {
        let mut inv = self.scripts.heartbeat.key(self.keys.instances());
        // Only the private rooms with members here matter: the others are not re-registered.
        let hidden: Vec<&str> = counts
            .keys()
            .filter(|room| private.contains(room.as_str()))
            .map(String::as_str)
            .collect();
        inv.key(self.keys.presence())
            .key(self.keys.rooms())
            .key(self.keys.deleted())
            .key(self.keys.expired())
            .arg(&self.instance)
            .arg(self.keys.events())
            .arg(if changed { "1" } else { "0" })
            .arg(hidden.len());
        for room in hidden {
            inv.arg(room);
        }
        for (room, presence) in counts {
            inv.arg(room).arg(presence.encode());
        }
        let _: i64 = self.run(&inv).await?;
        Ok(())
    }

    /// The room names, and the presence of every live replica summed per room.
    pub(super) async fn rooms(&self) -> Result<Listing> {
        let reply: Vec<String> = self
            .run(
                self.scripts
                    .rooms
                    .key(self.keys.instances())
                    .key(self.keys.rooms())
                    .key(self.keys.presence())
                    .arg(self.presence_ttl.as_millis() as u64)
                    .arg(DEFAULT_ROOM),
            )
            .await?;
        let mut it = reply.into_iter();
        let count: usize = it.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        let names: Vec<String> = it.by_ref().take(count).collect();
        let mut entries = Vec::new();
        while let (Some(room), Some(value)) = (it.next(), it.next()) {
            entries.push((room, RoomPresence::decode(&value)));
        }
        Ok(Listing::of(names, entries.into_iter()))
    }

    pub(super) async fn depart(&self) -> Result<()> {
        let _: i64 = self
            .run(
                self.scripts
                    .depart
                    .key(self.keys.instances())
                    .key(self.keys.presence())
                    .arg(&self.instance)
                    .arg(self.keys.events()),
            )
            .await?;
        Ok(())
    }
}
