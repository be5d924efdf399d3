//! Pub/sub in: one RESP3 connection that `SUBSCRIBE`s the events channel every replica hears and
//! `SSUBSCRIBE`s the sharded channel of each room this replica has members in ([`RoomFeeds`]:
//! subscribed before the room's first local member reads its history, unsubscribed after the
//! last leaves), forwarding what it hears as [`StoreEvent`]s. After every connection loss it
//! connects again with backoff, subscribes every wanted room again and announces
//! [`StoreEvent::Resubscribed`], so the hub backfills whatever was missed meanwhile. A replica
//! therefore receives the messages of its own rooms only, whatever the total traffic.

use std::{sync::Arc, time::Duration};

use redis::{PushInfo, PushKind, RedisResult};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{RedisStore, conn::PubSub, events};
use crate::{
    metrics::Metrics,
    store::{RoomFeeds, StoreEvent},
};

/// Rooms subscribed before their joiners are told (a joiner waits for its room's confirmation).
const CONFIRM_EVERY: usize = 512;

/// Why a connection's life ended.
enum Ended {
    Stopped,
    Lost,
}

/// What the subscriber follows, feeds and counts.
struct Listener {
    feeds: Arc<RoomFeeds>,
    events: mpsc::Sender<StoreEvent>,
    metrics: Arc<Metrics>,
}

impl RedisStore {
    /// Forward pub/sub notifications as [`StoreEvent`]s until `stop`, connecting again with
    /// backoff after every loss and announcing each (re)subscription so the hub backfills.
    pub async fn run_subscriber(
        self: Arc<Self>,
        feeds: Arc<RoomFeeds>,
        events: mpsc::Sender<StoreEvent>,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) {
        let to = Listener {
            feeds,
            events,
            metrics,
        };
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match self.listen(&to, &stop, &mut backoff).await {
                Ok(Ended::Stopped) => return,
                Ok(Ended::Lost) => tracing::warn!("redis pub/sub connection lost; resubscribing"),
                Err(e) => tracing::warn!(error = %e, "redis pub/sub failed"),
            }
            to.feeds.connection(false);
            to.metrics.redis_subscribed_rooms.set(0);
            to.metrics.redis_errors.inc();
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }

    /// One connection's life: subscribe, then forward and follow the wanted rooms until it ends.
    async fn listen(
        &self,
        to: &Listener,
        stop: &CancellationToken,
        backoff: &mut Duration,
    ) -> RedisResult<Ended> {
        let (tx, mut pushes) = mpsc::unbounded_channel();
        let mut conn = self.pubsub.connect(tx).await?;
        conn.subscribe(self.keys.events()).await?;
        to.feeds.connection(true);
        self.follow_rooms(&mut conn, to).await?;
        *backoff = Duration::from_millis(100);
        tracing::info!(rooms = to.feeds.subscribed_count(), "subscribed to redis");
        if to.events.send(StoreEvent::Resubscribed).await.is_err() {
            return Ok(Ended::Stopped);
        }
        // Following the rooms runs beside the forwarding, so a joiner's subscription is never
        // queued behind a hub that is slow to take events.
        tokio::select! {
            () = stop.cancelled() => Ok(Ended::Stopped),
            failed = self.follow(&mut conn, to) => failed,
            ended = self.forward(&mut pushes, to) => Ok(ended),
        }
    }

    /// Follow the wanted rooms until a (un)subscription fails.
    async fn follow(&self, conn: &mut PubSub, to: &Listener) -> RedisResult<Ended> {
        loop {
            to.feeds.changed.notified().await;
            self.follow_rooms(conn, to).await?;
        }
    }

    /// Hand every payload heard to the hub until the connection ends.
    async fn forward(
        &self,
        pushes: &mut mpsc::UnboundedReceiver<PushInfo>,
        to: &Listener,
    ) -> Ended {
        while let Some(push) = pushes.recv().await {
            match push.kind {
                PushKind::Disconnection => return Ended::Lost,
                PushKind::Message | PushKind::SMessage => {
                    to.metrics.redis_pubsub_received.inc();
                    let payload = push
                        .data
                        .get(1)
                        .and_then(|v| redis::from_redis_value_ref::<String>(v).ok());
                    let event = payload.and_then(|p| events::parse(&p, &self.instance));
                    let Some(event) = event else {
                        tracing::warn!("ignoring unexpected pub/sub payload");
                        continue;
                    };
                    if to.events.send(event).await.is_err() {
                        return Ended::Stopped;
                    }
                }
                // Confirmations of our own (un)subscriptions.
                _ => {}
            }
        }
        Ended::Lost
    }

    /// Unsubscribe the rooms nobody here is in any more, subscribe the newly wanted ones, and
    /// tell the feeds which subscriptions Redis confirmed.
    async fn follow_rooms(&self, conn: &mut PubSub, to: &Listener) -> RedisResult<()> {
        let changes = to.feeds.take_changes();
        let channels = |rooms: &[Arc<str>]| -> Vec<String> {
            rooms.iter().map(|r| self.keys.room_events(r)).collect()
        };
        conn.shard(&channels(&changes.unsubscribe), false).await?;
        for chunk in changes.subscribe.chunks(CONFIRM_EVERY) {
            conn.shard(&channels(chunk), true).await?;
            to.feeds.confirmed(chunk);
        }
        let rooms = to.feeds.subscribed_count();
        to.metrics
            .redis_subscribed_rooms
            .set(i64::try_from(rooms).unwrap_or(i64::MAX));
        Ok(())
    }
}
