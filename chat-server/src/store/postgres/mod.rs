//! The durable backend: PostgreSQL is the system of record (rooms, every message, idempotency
//! keys), Redis, when given, is the bus between replicas and holds presence. A send is acked only
//! after the transaction that stored it committed (group commit, `commit.rs`); offsets are
//! assigned in that transaction under the room row's lock, so they are dense per room whatever the
//! number of replicas. Reads (joins, pages, the hub's gap fills) come from Redis's cache of each
//! room's recent window when it holds every message asked for, else from the database, which
//! refills the cache. Without Redis the bus is this process's own event channel: one replica only.

mod access;
mod accounts;
mod commit;
mod edits;
mod read;
mod reads;
mod retention;
mod search;
mod support;
mod timed;
mod votes;

pub use self::retention::Retention;

use std::{
    borrow::Cow,
    collections::BTreeMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use sqlx::{
    PgPool,
    migrate::{Migration, MigrationType, Migrator},
    postgres::{PgConnectOptions, PgPoolOptions},
};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use self::commit::{Committed, OwnedMessage, Pending};
use super::redis::CacheEntry;
use super::{
    Appended, Error, Health, Listing, NewMessage, RedisStore, Result, RoomPresence, StoreEvent,
};

/// Sends queued for the committer; a full queue makes sends wait (backpressure), not fail.
const COMMIT_QUEUE: usize = 4096;
/// How long a statement may wait for a pooled connection before the send is `unavailable`.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// A health probe slower than this reports the database unreachable (the watcher allows 2 s).
const HEALTH_TIMEOUT: Duration = Duration::from_millis(1500);

/// A listing's counts as presence entries again (Redis's room names are not the database's).
fn presence_of(listing: Listing) -> Vec<(String, RoomPresence)> {
    let totals = RoomPresence {
        registered: listing.totals.registered,
        guests: listing.totals.guests,
        users: Vec::new(),
    };
    let rooms = listing.rooms.into_iter().map(|r| {
        let p = RoomPresence {
            registered: r.registered,
            guests: r.guests,
            users: r.users,
        };
        (r.name, p)
    });
    rooms
        .chain([(super::ALL_CONNECTIONS.to_owned(), totals)])
        .collect()
}

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
        migrations: Cow::Owned(vec![
            migration(
                1,
                "rooms and messages",
                include_str!("migrations/0001_rooms_and_messages.sql"),
            ),
            migration(2, "accounts", include_str!("migrations/0002_accounts.sql")),
            migration(
                3,
                "private rooms",
                include_str!("migrations/0003_private_rooms.sql"),
            ),
            migration(4, "search", include_str!("migrations/0004_search.sql")),
            migration(
                6,
                "replies and votes",
                include_str!("migrations/0006_votes.sql"),
            ),
            migration(
                7,
                "read positions",
                include_str!("migrations/0007_reads.sql"),
            ),
            migration(
                8,
                "timed rooms",
                include_str!("migrations/0008_timed_rooms.sql"),
            ),
            migration(
                9,
                "support desk",
                include_str!("migrations/0009_support.sql"),
            ),
        ]),
        ..Migrator::DEFAULT
    }
}

/// Where committed messages and room changes are announced.
enum Bus {
    /// Other replicas, through Redis pub/sub; Redis also holds presence.
    Redis(Arc<RedisStore>),
    /// This process only: the hub's event channel, and this replica's own counts.
    Local {
        events: mpsc::Sender<StoreEvent>,
        online: Mutex<BTreeMap<String, RoomPresence>>,
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

    /// The Redis of the bus, when there is one.
    pub(crate) fn redis(&self) -> Option<&Arc<RedisStore>> {
        match &self.bus {
            Bus::Redis(redis) => Some(redis),
            Bus::Local { .. } => None,
        }
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

    /// Tell every replica (or, without Redis, this one) that the room list changed.
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
        counts: &BTreeMap<String, RoomPresence>,
        changed: bool,
        private: &std::collections::BTreeSet<Arc<str>>,
    ) -> Result<()> {
        match &self.bus {
            Bus::Redis(redis) => redis.heartbeat(counts, changed, private).await,
            Bus::Local { events, online } => {
                let mut kept = counts.clone();
                kept.retain(|_, p| !p.is_empty());
                *online.lock().unwrap() = kept;
                if changed {
                    let _ = events.send(StoreEvent::RoomsChanged).await;
                }
                Ok(())
            }
        }
    }

    /// Room names from the database, online counts from the bus (0 while Redis is away).
    pub(super) async fn rooms(&self) -> Result<Listing> {
        let names: Vec<String> = sqlx::query_scalar("SELECT name FROM rooms ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        let entries: Vec<(String, RoomPresence)> = match &self.bus {
            Bus::Redis(redis) => match redis.rooms().await {
                Ok(listing) => presence_of(listing),
                Err(e) => {
                    tracing::debug!(error = %e, "presence unavailable");
                    Vec::new()
                }
            },
            Bus::Local { online, .. } => online.lock().unwrap().clone().into_iter().collect(),
        };
        Ok(Listing::of(names, entries.into_iter()))
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
}
