//! The Redis backend, shared by every replica. Per room: a stream whose entry ids are `0-<offset>`
//! (so offsets are the stream's own order and trimming keeps the last `history_len`), a counter, an
//! epoch and a hash of idempotency records trimmed with the stream. Appends are one Lua script that
//! stores, trims and publishes, so a message is announced if and only if it is stored; reads are
//! `no-writes` scripts, so they keep working while Redis refuses writes. Pub/sub only wakes
//! replicas up: the stream is the source of truth and the hub backfills from it whenever it sees a
//! gap. The connection is made lazily and remade in the background, so a Redis that is not there
//! yet only makes the store unhealthy; [`RedisStore::health`] also refuses a Redis configured to
//! evict keys.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::StreamExt;
use redis::{
    Cmd, FromRedisValue, RedisError, RedisResult, Script, ScriptInvocation, aio::ConnectionManager,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use self::keys::Keys;
use super::{
    Appended, Error, HistoryPage, IDEMPOTENCY_TTL_SECS, Listing, NewMessage, Page, Range, Result,
    RoomPresence, StoreEvent, new_epoch,
};
use crate::{
    metrics::Metrics,
    protocol::{Cursor, DEFAULT_ROOM, Since},
};

mod access;
mod accounts;
mod edits;
mod health;
mod keys;
mod reads;
mod strikes;
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
    client: redis::Client,
    conn: ConnectionManager,
    keys: Keys,
    instance: String,
    history_len: u32,
    presence_ttl: Duration,
    scripts: Scripts,
    strikes: strikes::StrikeScripts,
    reads: reads::ReadScripts,
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
    history: Script,
    range: Script,
    create_room: Script,
    participant: Script,
    delete_room: Script,
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
            history: Script::new(include_str!("scripts/history.lua")),
            range: Script::new(include_str!("scripts/range.lua")),
            create_room: Script::new(include_str!("scripts/create_room.lua")),
            participant: Script::new(include_str!("scripts/participant.lua")),
            delete_room: Script::new(include_str!("scripts/delete_room.lua")),
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
    /// A store for `url`; the connection is made on first use and remade after every loss, so
    /// this fails only for a malformed URL.
    pub fn connect(
        url: &str,
        prefix: &str,
        instance: &str,
        history_len: u32,
        presence_ttl: Duration,
    ) -> Result<Self> {
        let client = redis::Client::open(url).map_err(Error::Connect)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(3)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .map_err(Error::Connect)?;
        Ok(Self {
            client,
            conn,
            keys: Keys::new(prefix),
            instance: instance.to_owned(),
            history_len,
            presence_ttl,
            scripts: Scripts::load(),
            strikes: strikes::StrikeScripts::load(),
            reads: reads::ReadScripts::load(),
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

    pub(super) async fn append(&self, msg: &NewMessage<'_>) -> Result<Appended> {
        // Writing into a Redis that evicts could leave a room with a stream but no sequence.
        if let Some(problem) = self.eviction_risk() {
            return Err(Error::Misconfigured(problem));
        }
        let room = msg.room;
        let reply: Vec<String> = self
            .run(
                self.scripts
                    .append
                    .key(self.keys.stream(room))
                    .key(self.keys.seq(room))
                    .key(self.keys.epoch(room))
                    .key(self.keys.idempotency(room))
                    .key(self.keys.rooms())
                    .key(self.keys.incarnation())
                    .key(self.keys.deleted())
                    .arg(msg.frame_prefix)
                    .arg(self.history_len)
                    .arg(IDEMPOTENCY_TTL_SECS)
                    .arg(new_epoch())
                    .arg(self.keys.events())
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
        let [dup, stored] = reply.as_slice() else {
            return Err(corrupt());
        };
        match dup.as_str() {
            "conflict" => return Err(Error::ClientIdConflict),
            "deleted" => return Err(Error::RoomGone),
            _ => {}
        }
        let (offset, id) = stored.split_once(' ').ok_or_else(corrupt)?;
        Ok(Appended {
            offset: offset.parse().map_err(|_| corrupt())?,
            id: id.to_owned(),
            duplicate: dup == "1",
        })
    }

    pub(super) async fn history(&self, room: &str, since: Option<&Since>) -> Result<Page> {
        let reply: Vec<String> = self
            .run(
                self.scripts
                    .history
                    .key(self.keys.stream(room))
                    .key(self.keys.seq(room))
                    .key(self.keys.epoch(room))
                    .key(self.keys.incarnation())
                    .key(self.keys.cleared(room))
                    .arg(room)
                    .arg(self.history_len)
                    .arg(since.map_or("", |s| s.epoch.as_str()))
                    .arg(since.map_or(0, |s| s.offset)),
            )
            .await?;
        let mut it = reply.into_iter();
        let (Some(epoch), Some(head), Some(recovered)) = (it.next(), it.next(), it.next()) else {
            return Err(Error::Corrupt("short history reply".into()));
        };
        Ok(Page {
            epoch,
            head: head
                .parse()
                .map_err(|_| Error::Corrupt(format!("head {head}")))?,
            recovered: recovered == "1",
            frames: it.map(Arc::from).collect(),
            more: false,
        })
    }

    /// One `XRANGE`/`XREVRANGE` of `limit + 1` entries: the extra one only says `more`. Plain
    /// reads, so paging works while Redis refuses writes.
    pub(super) async fn page(&self, room: &str, cursor: Cursor, limit: u32) -> Result<HistoryPage> {
        let epoch: Option<String> = self
            .query(redis::cmd("GET").arg(self.keys.epoch(room)))
            .await?;
        let epoch = epoch.unwrap_or_default();
        let stream = self.keys.stream(room);
        let cmd = match cursor {
            Cursor::Before(b) if b <= 1 => None,
            Cursor::After(u64::MAX) => None,
            Cursor::Before(u64::MAX) => Some(
                redis::cmd("XREVRANGE")
                    .arg(&stream)
                    .arg("+")
                    .arg("-")
                    .clone(),
            ),
            Cursor::Before(b) => Some(
                redis::cmd("XREVRANGE")
                    .arg(&stream)
                    .arg(format!("(0-{b}"))
                    .arg("-")
                    .clone(),
            ),
            Cursor::After(a) => Some(
                redis::cmd("XRANGE")
                    .arg(&stream)
                    .arg(format!("(0-{a}"))
                    .arg("+")
                    .clone(),
            ),
        };
        let Some(mut cmd) = cmd else {
            return Ok(HistoryPage {
                epoch,
                frames: Vec::new(),
                more: false,
            });
        };
        cmd.arg("COUNT").arg(limit + 1);
        let entries: Vec<(String, Vec<String>)> = self.query(&cmd).await?;
        let more = entries.len() > limit as usize;
        let mut frames: Vec<Arc<str>> = entries
            .into_iter()
            .take(limit as usize)
            .filter_map(|(_, fields)| fields.into_iter().nth(1).map(Arc::from))
            .collect();
        if matches!(cursor, Cursor::Before(_)) {
            frames.reverse();
        }
        Ok(HistoryPage {
            epoch,
            frames,
            more,
        })
    }

    pub(super) async fn range(&self, room: &str, after: u64) -> Result<Range> {
        let reply: Vec<String> = self
            .run(
                self.scripts
                    .range
                    .key(self.keys.stream(room))
                    .key(self.keys.epoch(room))
                    .arg(after)
                    .arg(self.history_len),
            )
            .await?;
        let mut it = reply.into_iter();
        let epoch = it.next().unwrap_or_default();
        let mut entries = Vec::new();
        while let (Some(id), Some(frame)) = (it.next(), it.next()) {
            let offset = id
                .strip_prefix("0-")
                .and_then(|o| o.parse().ok())
                .ok_or_else(|| Error::Corrupt(format!("stream id {id}")))?;
            entries.push((offset, Arc::from(frame)));
        }
        Ok(Range { epoch, entries })
    }

    /// Publish payloads on the events channel in one round trip (the durable mode's bus).
    pub(super) async fn publish(&self, payloads: Vec<String>) -> Result<()> {
        self.cache_and_publish(&[], 0, payloads).await
    }

    /// The durable mode's write to Redis, one round trip: put `entries` (room, epoch, offset,
    /// frame) into each room's cache (a sorted set by offset, so replicas may add out of order),
    /// trim each to its newest `window`, then publish `payloads`.
    pub(super) async fn cache_and_publish(
        &self,
        entries: &[CacheEntry<'_>],
        window: u32,
        payloads: Vec<String>,
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
        let channel = self.keys.events();
        for p in &payloads {
            pipe.cmd("PUBLISH").arg(&channel).arg(p).ignore();
        }
        let () = pipe.query_async(&mut self.conn.clone()).await?;
        Ok(())
    }

    /// Up to `limit` cached (offset, frame) of a room's epoch with `low < offset <= high`, the
    /// lowest first (or the highest first when `newest_first`). One try, no retry: a cache that
    /// does not answer is a miss.
    pub(super) async fn cached(
        &self,
        room: &str,
        epoch: &str,
        (low, high): (u64, u64),
        limit: u32,
        newest_first: bool,
    ) -> Result<Vec<(u64, String)>> {
        let key = self.keys.cache(room, epoch);
        let mut cmd = if newest_first {
            let mut c = redis::cmd("ZREVRANGEBYSCORE");
            c.arg(&key).arg(high).arg(format!("({low}"));
            c
        } else {
            let mut c = redis::cmd("ZRANGEBYSCORE");
            c.arg(&key).arg(format!("({low}")).arg(high);
            c
        };
        cmd.arg("WITHSCORES").arg("LIMIT").arg(0).arg(limit);
        let reply: Vec<(String, u64)> = cmd.query_async(&mut self.conn.clone()).await?;
        Ok(reply.into_iter().map(|(f, o)| (o, f)).collect())
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

    /// Forward pub/sub notifications as [`StoreEvent`]s until `stop`, resubscribing with backoff
    /// after every connection loss and announcing each (re)subscription so the hub backfills.
    pub async fn run_subscriber(
        self: Arc<Self>,
        events: mpsc::Sender<StoreEvent>,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) {
        let channel = self.keys.events();
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        tracing::info!(%channel, "subscribed to redis");
                        if events.send(StoreEvent::Resubscribed).await.is_err() {
                            return;
                        }
                        let mut stream = pubsub.on_message();
                        loop {
                            let msg = tokio::select! {
                                () = stop.cancelled() => return,
                                msg = stream.next() => msg,
                            };
                            let Some(msg) = msg else { break };
                            let Ok(payload) = msg.get_payload::<String>() else {
                                continue;
                            };
                            let event = reads::parse_signal(&payload, &self.instance)
                                .or_else(|| parse_event(&payload));
                            let Some(event) = event else {
                                tracing::warn!("ignoring unexpected pub/sub payload");
                                continue;
                            };
                            if events.send(event).await.is_err() {
                                return;
                            }
                        }
                        tracing::warn!("redis pub/sub connection lost; resubscribing");
                    }
                    Err(e) => tracing::warn!(error = %e, "redis subscribe failed"),
                },
                Err(e) => tracing::warn!(error = %e, "redis pub/sub connect failed"),
            }
            metrics.redis_errors.inc();
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
}

/// `m <epoch> <offset> <room> <time_ms> <frame>`, `r`, a session end (`s1 …`, `sa …`), a notice
/// `n <room> <frame>` (`edits.rs`), a timed room's clear (`c <through> <room>`) or expiry
/// (`x <room>`), a private room's participants changed (`a <room>`) or a room deleted
/// (`d <room>`); votes and replies (`v …`, `p …`) are `votes.rs`'.
fn parse_event(payload: &str) -> Option<StoreEvent> {
    if payload == "r" {
        return Some(StoreEvent::RoomsChanged);
    }
    if let Some(rest) = payload.strip_prefix("n ") {
        return edits::parse_notice(rest);
    }
    if let Some(room) = payload.strip_prefix("a ") {
        return Some(StoreEvent::AccessChanged { room: room.into() });
    }
    if let Some(room) = payload.strip_prefix("d ") {
        return Some(StoreEvent::RoomDeleted { room: room.into() });
    }
    if payload.starts_with('s') {
        return super::SessionEnd::from_payload(payload).map(StoreEvent::SessionsEnded);
    }
    if let Some(fired) = timed::parse_payload(payload) {
        return Some(fired.into());
    }
    if let Some(event) = votes::parse_event(payload) {
        return Some(event);
    }
    let rest = payload.strip_prefix("m ")?;
    let mut parts = rest.splitn(5, ' ');
    let epoch = parts.next()?;
    let offset = parts.next()?.parse().ok()?;
    let room = parts.next()?;
    let time_ms = parts.next()?.parse().ok()?;
    let frame = parts.next()?;
    Some(StoreEvent::Message {
        epoch: epoch.into(),
        room: room.into(),
        offset,
        time_ms,
        frame: frame.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pubsub_payloads_parse() {
        let Some(StoreEvent::Message {
            epoch,
            room,
            offset,
            time_ms,
            frame,
        }) = parse_event(r#"m e1 42 general 1700 {"type":"message","content":"a b"}"#)
        else {
            panic!("not a message event")
        };
        assert_eq!(
            (&*epoch, &*room, offset, time_ms),
            ("e1", "general", 42, 1700)
        );
        assert_eq!(&*frame, r#"{"type":"message","content":"a b"}"#);
        assert!(matches!(parse_event("r"), Some(StoreEvent::RoomsChanged)));
        assert!(matches!(
            parse_event("a plans"),
            Some(StoreEvent::AccessChanged { room }) if &*room == "plans"
        ));
        assert!(matches!(
            parse_event("d plans"),
            Some(StoreEvent::RoomDeleted { room }) if &*room == "plans"
        ));
        // `p` is a reply count (votes.rs), not a private room's participants (`a`).
        assert!(matches!(
            parse_event("p ops 7 2"),
            Some(StoreEvent::Replies { room, offset: 7, count: 2 }) if &*room == "ops"
        ));
        assert!(parse_event("m e1 x general 1 {}").is_none());
        assert!(parse_event("garbage").is_none());
        assert!(matches!(
            parse_event("sa ann -"),
            Some(StoreEvent::SessionsEnded(
                super::super::SessionEnd::AllOf { .. }
            ))
        ));
    }
}
