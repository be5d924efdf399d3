//! The durable backend: PostgreSQL is the system of record (rooms, every message, idempotency
//! keys), Redis, when given, is the bus between replicas and holds presence. A send is acked only
//! after the transaction that stored it committed (group commit, `commit.rs`); offsets are
//! assigned in that transaction under the room row's lock, so they are dense per room whatever the
//! number of replicas. Reads (joins, pages, the hub's gap fills) come from Redis's cache of each
//! room's recent window when it holds every message asked for, else from the database, which
//! refills the cache. Without Redis the bus is this process's own event channel: one replica only.

mod commit;

use std::{
    borrow::Cow,
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::{
    PgPool, Row,
    migrate::{Migration, MigrationType, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use self::commit::{Committed, OwnedMessage, Pending};
use super::redis::CacheEntry;
use super::{
    Appended, Created, Error, Health, HistoryPage, NewMessage, Page, Range, RedisStore, Result,
    StoreEvent, new_epoch,
};
use crate::protocol::{Cursor, MAX_PAGE, RoomInfo, Since};

/// Sends queued for the committer; a full queue makes sends wait (backpressure), not fail.
const COMMIT_QUEUE: usize = 4096;
/// How long a statement may wait for a pooled connection before the send is `unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// The longest a cache read or refill may take before the database answers instead.
const CACHE_TIMEOUT: Duration = Duration::from_millis(200);
/// A health probe slower than this reports the database unreachable (the watcher allows 2 s).
const HEALTH_TIMEOUT: Duration = Duration::from_millis(1500);
/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// The schema, embedded: sqlx's migrator takes an advisory lock, so replicas starting together
/// apply each migration once.
pub fn migrator() -> Migrator {
    let migration = |version, description, sql| {
        Migration::new(
            version,
            Cow::Borrowed(description),
            MigrationType::Simple,
            Cow::Borrowed(sql),
            false,
        )
    };
    Migrator {
        migrations: Cow::Owned(vec![migration(
            1,
            "rooms and messages",
            include_str!("migrations/0001_rooms_and_messages.sql"),
        )]),
        ..Migrator::DEFAULT
    }
}

/// How long messages are kept; 0 means forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    pub days: u32,
    pub messages: u64,
}

/// The offsets a read wants: `count` of them in `low < offset <= high`, counted from one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wanted {
    bounds: (u64, u64),
    count: u64,
    newest_first: bool,
}

impl Wanted {
    fn new(cursor: Cursor, head: u64, limit: u32) -> Self {
        let (low, high, newest_first) = match cursor {
            Cursor::After(a) => (a.min(head), head, false),
            Cursor::Before(b) => (0, head.min(b.saturating_sub(1)), true),
        };
        Self {
            bounds: (low, high),
            count: (high - low).min(u64::from(limit)),
            newest_first,
        }
    }

    /// Whether a cache answer is exactly what the database would have said: `count` offsets,
    /// consecutive from the cursor's end of the bounds.
    fn is_complete(&self, got: &[(u64, String)]) -> bool {
        let (low, high) = self.bounds;
        got.len() as u64 == self.count
            && got.iter().enumerate().all(|(k, (o, _))| {
                let k = k as u64;
                *o == if self.newest_first {
                    high - k
                } else {
                    low + 1 + k
                }
            })
    }
}

/// Where committed messages and room changes are announced.
enum Bus {
    /// Other replicas, through Redis pub/sub; Redis also holds presence.
    Redis(Arc<RedisStore>),
    /// This process only: the hub's event channel, and this replica's own counts.
    Local {
        events: mpsc::Sender<StoreEvent>,
        online: Mutex<BTreeMap<String, u64>>,
    },
}

/// Rooms and messages in PostgreSQL.
pub struct PgStore {
    pool: PgPool,
    commits: mpsc::Sender<Pending>,
    bus: Bus,
    history_len: u32,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

/// A pool for `url`; connections are made on demand, so a database that is not up yet only makes
/// the store unhealthy.
pub fn pool(url: &str, max_connections: u32) -> Result<PgPool> {
    let options: PgConnectOptions = url.parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_lazy_with(options.application_name("chat-server")))
}

impl PgStore {
    /// The store over `pool`, its committer and announcer tasks started; `redis` is the bus when
    /// given, else `events` (one replica).
    pub fn start(
        pool: PgPool,
        redis: Option<Arc<RedisStore>>,
        events: mpsc::Sender<StoreEvent>,
        history_len: u32,
        retention: Retention,
        metrics: Arc<crate::metrics::Metrics>,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let (commits, rx) = mpsc::channel(COMMIT_QUEUE);
        let (committed_tx, committed_rx) = mpsc::channel(1024);
        // The committer has a connection of its own: queued behind the hub's backfill reads
        // (dozens at once every 2 s), a commit and with it every ack would wait for them.
        let commit_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_lazy_with((*pool.connect_options()).clone());
        tokio::spawn(commit::run(commit_pool, rx, committed_tx, metrics));
        let bus = match redis {
            Some(redis) => Bus::Redis(redis),
            None => Bus::Local {
                events,
                online: Mutex::default(),
            },
        };
        let store = Arc::new(Self {
            pool,
            commits,
            bus,
            history_len,
        });
        tokio::spawn(store.clone().announce(committed_rx));
        if retention.days > 0 || retention.messages > 0 {
            tokio::spawn(store.clone().run_retention(retention, stop));
        }
        store
    }

    /// Apply the embedded migrations (idempotent; safe with several replicas at once).
    pub async fn migrate(pool: &PgPool) -> Result<()> {
        migrator().run(pool).await?;
        Ok(())
    }

    pub(super) async fn append(&self, msg: &NewMessage<'_>) -> Result<Appended> {
        let (reply, result) = oneshot::channel();
        let pending = Pending {
            msg: OwnedMessage::new(msg),
            reply,
        };
        self.commits
            .send(pending)
            .await
            .map_err(|_| Error::CommitterGone)?;
        result.await.map_err(|_| Error::CommitterGone)?
    }

    /// Committed messages, in commit order, to the hub of every replica.
    async fn announce(self: Arc<Self>, mut rx: mpsc::Receiver<Vec<Committed>>) {
        while let Some(batch) = rx.recv().await {
            match &self.bus {
                Bus::Local { events, .. } => {
                    for c in batch {
                        let event = StoreEvent::Message {
                            epoch: c.epoch.into(),
                            room: c.room.into(),
                            offset: c.offset,
                            time_ms: c.time_ms,
                            frame: c.frame.into(),
                        };
                        if events.send(event).await.is_err() {
                            return;
                        }
                    }
                }
                Bus::Redis(redis) => {
                    let payloads = batch
                        .iter()
                        .map(|c| {
                            format!(
                                "m {} {} {} {} {}",
                                c.epoch, c.offset, c.room, c.time_ms, c.frame
                            )
                        })
                        .collect();
                    let entries: Vec<CacheEntry<'_>> = batch
                        .iter()
                        .map(|c| CacheEntry {
                            room: &c.room,
                            epoch: &c.epoch,
                            offset: c.offset,
                            frame: &c.frame,
                        })
                        .collect();
                    // A lost notification is found by the hub's periodic backfill, a lost cache
                    // write by the next read (a miss, refilled from the database).
                    let publish = redis.cache_and_publish(&entries, self.history_len, payloads);
                    match tokio::time::timeout(Duration::from_secs(1), publish).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => tracing::debug!(error = %e, "publish failed"),
                        Err(_) => tracing::debug!("publish timed out"),
                    }
                }
            }
        }
    }

    /// The room's epoch and head, the row made when it is missing.
    async fn room_row(&self, room: &str) -> Result<(String, u64)> {
        let select = "SELECT epoch, head FROM rooms WHERE name = $1";
        let row = match sqlx::query(select)
            .bind(room)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => row,
            None => {
                sqlx::query(
                    "INSERT INTO rooms (name, epoch) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                )
                .bind(room)
                .bind(new_epoch())
                .execute(&self.pool)
                .await?;
                sqlx::query(select).bind(room).fetch_one(&self.pool).await?
            }
        };
        let head: i64 = row.try_get("head")?;
        Ok((row.try_get("epoch")?, head as u64))
    }

    /// Up to `limit` (offset, frame) on one side of `cursor`, nearest first, never beyond `head`:
    /// from the Redis cache when it holds all of them, else from the database (and the recent ones
    /// put back into the cache).
    async fn rows(
        &self,
        room: &str,
        epoch: &str,
        cursor: Cursor,
        head: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String)>> {
        let Bus::Redis(redis) = &self.bus else {
            return self.db_rows(room, cursor, head, limit).await;
        };
        let want = Wanted::new(cursor, head, limit);
        if want.count == 0 {
            return Ok(Vec::new());
        }
        let read = redis.cached(room, epoch, want.bounds, limit, want.newest_first);
        if let Ok(Ok(hit)) = tokio::time::timeout(CACHE_TIMEOUT, read).await
            && want.is_complete(&hit)
        {
            return Ok(hit);
        }
        let rows = self.db_rows(room, cursor, head, limit).await?;
        let recent: Vec<CacheEntry<'_>> = rows
            .iter()
            .filter(|(o, _)| *o + u64::from(self.history_len) > head)
            .map(|(offset, frame)| CacheEntry {
                room,
                epoch,
                offset: *offset,
                frame,
            })
            .collect();
        if !recent.is_empty() {
            let refill = redis.cache_and_publish(&recent, self.history_len, Vec::new());
            let _ = tokio::time::timeout(CACHE_TIMEOUT, refill).await;
        }
        Ok(rows)
    }

    async fn db_rows(
        &self,
        room: &str,
        cursor: Cursor,
        head: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String)>> {
        let (sql, at) = match cursor {
            Cursor::Before(b) => (
                "SELECT off, frame FROM messages WHERE room = $1 AND off < $2 AND off <= $3 \
                 ORDER BY off DESC LIMIT $4",
                b,
            ),
            Cursor::After(a) => (
                "SELECT off, frame FROM messages WHERE room = $1 AND off > $2 AND off <= $3 \
                 ORDER BY off LIMIT $4",
                a,
            ),
        };
        let rows = sqlx::query(sql)
            .bind(room)
            .bind(i64::try_from(at).unwrap_or(i64::MAX))
            .bind(head as i64)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let off: i64 = r.try_get("off")?;
                Ok((off as u64, r.try_get("frame")?))
            })
            .collect()
    }

    pub(super) async fn history(&self, room: &str, since: Option<&Since>) -> Result<Page> {
        let (epoch, head) = self.room_row(room).await?;
        let limit = self.history_len.min(MAX_PAGE);
        let page = |rows: Vec<(u64, String)>, recovered, more| Page {
            epoch: epoch.clone(),
            head,
            frames: rows.into_iter().map(|(_, f)| Arc::from(f)).collect(),
            recovered,
            more,
        };
        if let Some(since) = since.filter(|s| s.epoch == epoch && s.offset <= head) {
            let rows = self
                .rows(room, &epoch, Cursor::After(since.offset), head, limit)
                .await?;
            // Retention removes the oldest first: the next offset present means all are.
            let complete =
                since.offset == head || rows.first().is_some_and(|r| r.0 == since.offset + 1);
            if complete {
                let more = rows.last().is_some_and(|r| r.0 < head);
                return Ok(page(rows, true, more));
            }
        }
        let mut rows = self
            .rows(room, &epoch, Cursor::Before(u64::MAX), head, limit)
            .await?;
        rows.reverse();
        Ok(page(rows, since.is_none(), false))
    }

    pub(super) async fn page(&self, room: &str, cursor: Cursor, limit: u32) -> Result<HistoryPage> {
        let (epoch, head) = self.room_row(room).await?;
        let mut rows = self.rows(room, &epoch, cursor, head, limit + 1).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        if matches!(cursor, Cursor::Before(_)) {
            rows.reverse();
        }
        Ok(HistoryPage {
            epoch,
            frames: rows.into_iter().map(|(_, f)| Arc::from(f)).collect(),
            more,
        })
    }

    pub(super) async fn range(&self, room: &str, after: u64) -> Result<Range> {
        let (epoch, head) = self.room_row(room).await?;
        let rows = self
            .rows(room, &epoch, Cursor::After(after), head, self.history_len)
            .await?;
        Ok(Range {
            epoch,
            entries: rows.into_iter().map(|(o, f)| (o, Arc::from(f))).collect(),
        })
    }

    pub(super) async fn create_room(&self, name: &str, max_rooms: u32) -> Result<Created> {
        let inserted = sqlx::query(
            "INSERT INTO rooms (name, epoch) SELECT $1, $2 \
             WHERE (SELECT count(*) FROM rooms) < $3 ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(new_epoch())
        .bind(i64::from(max_rooms))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            self.rooms_changed().await;
            return Ok(Created::Created);
        }
        if self.room_exists(name).await? {
            Ok(Created::Exists)
        } else {
            Ok(Created::LimitReached)
        }
    }

    async fn rooms_changed(&self) {
        match &self.bus {
            Bus::Redis(redis) => {
                if let Err(e) = redis.publish(vec!["r".to_owned()]).await {
                    tracing::debug!(error = %e, "publish failed");
                }
            }
            Bus::Local { events, .. } => {
                let _ = events.send(StoreEvent::RoomsChanged).await;
            }
        }
    }

    pub(super) async fn room_exists(&self, name: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 FROM rooms WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    pub(super) async fn heartbeat(
        &self,
        counts: &BTreeMap<String, u64>,
        changed: bool,
    ) -> Result<()> {
        match &self.bus {
            Bus::Redis(redis) => redis.heartbeat(counts, changed).await,
            Bus::Local { events, online } => {
                *online.lock().unwrap() = counts.clone();
                if changed {
                    let _ = events.send(StoreEvent::RoomsChanged).await;
                }
                Ok(())
            }
        }
    }

    /// Room names from the database, online counts from the bus (0 while Redis is away).
    pub(super) async fn rooms(&self) -> Result<Vec<RoomInfo>> {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM rooms ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let online: BTreeMap<String, u64> = match &self.bus {
            Bus::Redis(redis) => match redis.rooms().await {
                Ok(rooms) => rooms.into_iter().map(|r| (r.name, r.online)).collect(),
                Err(e) => {
                    tracing::debug!(error = %e, "presence unavailable");
                    BTreeMap::new()
                }
            },
            Bus::Local { online, .. } => online.lock().unwrap().clone(),
        };
        Ok(names
            .into_iter()
            .map(|name| RoomInfo {
                online: online.get(&name).copied().unwrap_or(0),
                name,
            })
            .collect())
    }

    pub(super) async fn depart(&self) -> Result<()> {
        match &self.bus {
            Bus::Redis(redis) => redis.depart().await,
            Bus::Local { online, .. } => {
                online.lock().unwrap().clear();
                Ok(())
            }
        }
    }

    /// Ready when the database answers; Redis trouble only slows delivery between replicas
    /// (the hub's backfill reads the database), so it does not make this replica unready.
    pub(super) async fn health(&self) -> Health {
        let probe = sqlx::query("SELECT head FROM rooms WHERE name = 'general'");
        let probe = tokio::time::timeout(HEALTH_TIMEOUT, probe.fetch_optional(&self.pool));
        match probe.await {
            Ok(Ok(_)) => Health::Ready,
            Ok(Err(sqlx::Error::Database(e))) => {
                Health::Down(format!("database refuses reads: {e}"))
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "database health check failed");
                Health::Down(Health::DATABASE_UNREACHABLE.into())
            }
            Err(_) => Health::Down(Health::DATABASE_UNREACHABLE.into()),
        }
    }

    /// Delete what retention no longer keeps, every minute until `stop`.
    async fn run_retention(self: Arc<Self>, retention: Retention, stop: CancellationToken) {
        let mut tick = tokio::time::interval(RETENTION_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.apply_retention(retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "retention applied"),
                Err(e) => tracing::warn!(error = %e, "retention failed"),
            }
        }
    }

    /// Delete messages older than `days` and beyond the last `messages` of each room; how many.
    pub async fn apply_retention(&self, retention: Retention) -> Result<u64> {
        let mut deleted = 0;
        if retention.days > 0 {
            let cutoff =
                crate::clock::now_ms().saturating_sub(u64::from(retention.days) * 86_400_000);
            deleted += sqlx::query("DELETE FROM messages WHERE time_ms < $1")
                .bind(cutoff as i64)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        if retention.messages > 0 {
            deleted += sqlx::query(
                "DELETE FROM messages m USING rooms r WHERE m.room = r.name AND m.off <= r.head - $1",
            )
            .bind(retention.messages as i64)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(offsets: &[u64]) -> Vec<(u64, String)> {
        offsets.iter().map(|o| (*o, String::new())).collect()
    }

    #[test]
    fn a_cache_answer_counts_only_when_it_is_complete() {
        let after = Wanted::new(Cursor::After(10), 20, 5);
        assert_eq!((after.bounds, after.count), ((10, 20), 5));
        assert!(after.is_complete(&rows(&[11, 12, 13, 14, 15])));
        assert!(!after.is_complete(&rows(&[11, 12, 14, 15, 16])), "a hole");
        assert!(
            !after.is_complete(&rows(&[12, 13, 14, 15, 16])),
            "not from the cursor"
        );
        let tail = Wanted::new(Cursor::After(18), 20, 5);
        assert!(tail.is_complete(&rows(&[19, 20])));
        assert!(!tail.is_complete(&rows(&[19])), "the newest is missing");
        let before = Wanted::new(Cursor::Before(u64::MAX), 20, 3);
        assert_eq!((before.bounds, before.count), ((0, 20), 3));
        assert!(before.is_complete(&rows(&[20, 19, 18])));
        assert!(!before.is_complete(&rows(&[19, 18, 17])));
        let start = Wanted::new(Cursor::Before(3), 20, 10);
        assert!(start.is_complete(&rows(&[2, 1])));
        assert_eq!(Wanted::new(Cursor::After(20), 20, 5).count, 0);
        assert_eq!(Wanted::new(Cursor::Before(1), 20, 5).count, 0);
    }
}
