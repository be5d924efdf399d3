//! The two shapes of Redis behind one interface: a standalone Redis (one `redis://` URL, a
//! [`ConnectionManager`] that reconnects in the background) or a Redis Cluster
//! (`--redis-cluster`: comma-separated seed URLs, the redis crate's cluster connection, which
//! routes each command and script by its keys' slot and follows failovers). Both are made lazily,
//! so a Redis that is not there yet only makes the store unhealthy. The subscriber's side is
//! [`PubSub`]: a RESP3 connection whose (sharded) pub/sub messages arrive as push messages.

use std::{sync::Arc, time::Duration};

use redis::{
    AsyncConnectionConfig, Cmd, IntoConnectionInfo, Pipeline, ProtocolVersion, PushInfo,
    RedisFuture, RedisResult, Value,
    aio::{ConnectionLike, ConnectionManager, MultiplexedConnection},
    cluster::{ClusterClient, ClusterClientBuilder},
    cluster_async::ClusterConnection,
};
use tokio::sync::{OnceCell, mpsc};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);

/// The store's connection for commands and scripts; cheap to clone.
#[derive(Clone)]
pub(super) enum Conn {
    Single(ConnectionManager),
    /// Made on first use (and again after a failed first attempt).
    Cluster(Arc<LazyCluster>),
}

/// A cluster connection made when first needed.
pub(super) struct LazyCluster {
    client: ClusterClient,
    conn: OnceCell<ClusterConnection>,
}

impl Conn {
    /// The connection to `url` (cluster: comma-separated seed node URLs).
    pub(super) fn open(url: &str, cluster: bool) -> RedisResult<Self> {
        if cluster {
            let client = ClusterClientBuilder::new(seeds(url)?)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .retries(3)
                .build()?;
            return Ok(Self::Cluster(Arc::new(LazyCluster {
                client,
                conn: OnceCell::new(),
            })));
        }
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_secs(2));
        Ok(Self::Single(ConnectionManager::new_lazy_with_config(
            client, config,
        )?))
    }

    /// Whether this is a Redis Cluster.
    pub(super) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }
}

impl LazyCluster {
    async fn get(&self) -> RedisResult<ClusterConnection> {
        let conn = self
            .conn
            .get_or_try_init(|| self.client.get_async_connection())
            .await?;
        Ok(conn.clone())
    }
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(lazy) => Box::pin(async move {
                let mut conn = lazy.get().await?;
                conn.req_packed_command(cmd).await
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(lazy) => Box::pin(async move {
                let mut conn = lazy.get().await?;
                conn.req_packed_commands(pipeline, offset, count).await
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(_) => 0,
        }
    }
}

/// The seed node URLs of a cluster's `--redis-url`.
fn seeds(url: &str) -> RedisResult<Vec<redis::ConnectionInfo>> {
    url.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.into_connection_info())
        .collect()
}

/// Where the subscriber connects: the same Redis, over RESP3.
pub(super) enum PubSubClient {
    Single(redis::Client),
    Cluster(Vec<redis::ConnectionInfo>),
}

impl PubSubClient {
    pub(super) fn open(url: &str, cluster: bool) -> RedisResult<Self> {
        if cluster {
            return Ok(Self::Cluster(seeds(url)?));
        }
        let info = url.into_connection_info()?;
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        Ok(Self::Single(redis::Client::open(
            info.set_redis_settings(resp3),
        )?))
    }

    /// A new subscriber connection whose messages (and disconnections) go to `pushes`.
    pub(super) async fn connect(
        &self,
        pushes: mpsc::UnboundedSender<PushInfo>,
    ) -> RedisResult<PubSub> {
        match self {
            Self::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(Duration::from_secs(5)))
                    .set_push_sender(pushes);
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(PubSub::Single(conn))
            }
            Self::Cluster(seeds) => {
                let client = ClusterClientBuilder::new(seeds.clone())
                    .use_protocol(ProtocolVersion::RESP3)
                    .connection_timeout(CONNECT_TIMEOUT)
                    .response_timeout(Duration::from_secs(5))
                    .push_sender(pushes)
                    .build()?;
                Ok(PubSub::Cluster(client.get_async_connection().await?))
            }
        }
    }
}

/// A subscriber's connection.
pub(super) enum PubSub {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// Shard channels (un)subscribed per pipeline on a standalone Redis, one per command.
const BATCH: usize = 512;

impl PubSub {
    /// `SUBSCRIBE` the channel every replica hears.
    pub(super) async fn subscribe(&mut self, channel: String) -> RedisResult<()> {
        match self {
            Self::Single(c) => c.subscribe(channel).await,
            Self::Cluster(c) => c.subscribe(channel).await,
        }
    }

    /// `SSUBSCRIBE` (`on`) or `SUNSUBSCRIBE` each of `channels`, one channel per command: a
    /// command naming several shard channels must keep them in one slot. On a standalone Redis
    /// they go in pipelines; on a cluster each to its slot's node.
    pub(super) async fn shard(&mut self, channels: &[String], on: bool) -> RedisResult<()> {
        let command = if on { "SSUBSCRIBE" } else { "SUNSUBSCRIBE" };
        match self {
            Self::Single(c) => {
                for chunk in channels.chunks(BATCH) {
                    let mut pipe = redis::pipe();
                    for channel in chunk {
                        pipe.cmd(command).arg(channel).ignore();
                    }
                    let () = pipe.query_async(c).await?;
                }
            }
            Self::Cluster(c) => {
                for channel in channels {
                    if on {
                        c.ssubscribe(channel).await?;
                    } else {
                        c.sunsubscribe(channel).await?;
                    }
                }
            }
        }
        Ok(())
    }
}
