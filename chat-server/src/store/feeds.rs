//! Which rooms' events this replica wants, and which it is sure to hear: the hand-over between the
//! hub (which knows when a room gets its first local member and loses its last) and the Redis
//! subscriber (which `SSUBSCRIBE`s and `SUNSUBSCRIBE`s the rooms' channels to match). A joiner
//! waits in [`RoomFeeds::ready`] until the room's subscription is confirmed before it reads the
//! room's history, so nothing stored between its page and the subscription goes unheard. Without
//! a subscriber (memory mode, PostgreSQL without Redis) every room is always ready.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::{Notify, watch};

/// The longest a joiner waits for its room's subscription. Past it the join goes on: the
/// delivery task's periodic backfill (every 2 s) fills whatever the late subscription missed.
const READY_WAIT: Duration = Duration::from_secs(3);

/// Rooms wanted (with local members) and rooms subscribed (confirmed by Redis).
#[derive(Debug, Default)]
struct FeedState {
    wanted: HashSet<Arc<str>>,
    subscribed: HashSet<Arc<str>>,
    /// Whether the subscriber holds a live connection; while it does not, joiners do not wait
    /// (its next connection announces `Resubscribed`, and the hub backfills every room).
    connected: bool,
}

/// The rooms to subscribe and to unsubscribe to match what is wanted.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FeedChanges {
    pub(crate) subscribe: Vec<Arc<str>>,
    pub(crate) unsubscribe: Vec<Arc<str>>,
}

/// The rooms this replica wants to hear, shared by the hub and the subscriber.
#[derive(Debug)]
pub struct RoomFeeds {
    state: Mutex<FeedState>,
    /// False without a subscriber: then every room is ready at once.
    subscribed_by_redis: bool,
    /// Wakes the subscriber when what is wanted changed.
    pub(crate) changed: Notify,
    /// Bumped whenever subscriptions are confirmed or the connection comes or goes.
    confirmed: watch::Sender<u64>,
}

impl RoomFeeds {
    /// Feeds that a Redis subscriber serves (`true`) or that need none (`false`).
    pub fn new(subscribed_by_redis: bool) -> Self {
        Self {
            state: Mutex::default(),
            subscribed_by_redis,
            changed: Notify::new(),
            confirmed: watch::Sender::new(0),
        }
    }

    /// A room got its first local member. Called under the hub's members lock, so a room's
    /// `want`s and `unwant`s arrive in the order its membership changed.
    pub fn want(&self, room: &Arc<str>) {
        if self.state.lock().unwrap().wanted.insert(room.clone()) {
            self.changed.notify_one();
        }
    }

    /// A room lost its last local member.
    pub fn unwant(&self, room: &str) {
        if self.state.lock().unwrap().wanted.remove(room) {
            self.changed.notify_one();
        }
    }

    /// Wait until the room's events are sure to reach this replica (or the subscriber is down,
    /// or `READY_WAIT` (3 s) passed, or nobody wants the room any more).
    pub async fn ready(&self, room: &str) {
        if !self.subscribed_by_redis {
            return;
        }
        let mut confirmations = self.confirmed.subscribe();
        let wait = async {
            loop {
                {
                    let state = self.state.lock().unwrap();
                    if !state.connected
                        || state.subscribed.contains(room)
                        || !state.wanted.contains(room)
                    {
                        return;
                    }
                }
                if confirmations.changed().await.is_err() {
                    return;
                }
            }
        };
        if tokio::time::timeout(READY_WAIT, wait).await.is_err() {
            tracing::warn!(
                room,
                "room subscription not confirmed in time; backfill covers it"
            );
        }
    }

    /// What the subscriber must do now. Rooms to unsubscribe stop counting as subscribed at
    /// once, so a joiner arriving while the `SUNSUBSCRIBE` is under way waits for the next
    /// `SSUBSCRIBE` instead of trusting a subscription about to end.
    pub(crate) fn take_changes(&self) -> FeedChanges {
        let mut state = self.state.lock().unwrap();
        let FeedState {
            wanted, subscribed, ..
        } = &mut *state;
        let subscribe: Vec<Arc<str>> = wanted.difference(subscribed).cloned().collect();
        let unsubscribe: Vec<Arc<str>> = subscribed.difference(wanted).cloned().collect();
        for room in &unsubscribe {
            subscribed.remove(room);
        }
        FeedChanges {
            subscribe,
            unsubscribe,
        }
    }

    /// Redis confirmed these subscriptions.
    pub(crate) fn confirmed(&self, rooms: &[Arc<str>]) {
        let mut state = self.state.lock().unwrap();
        state.subscribed.extend(rooms.iter().cloned());
        drop(state);
        self.confirmed.send_modify(|n| *n += 1);
    }

    /// The subscriber's connection is up (nothing subscribed on it yet) or lost.
    pub(crate) fn connection(&self, up: bool) {
        let mut state = self.state.lock().unwrap();
        state.connected = up;
        state.subscribed.clear();
        drop(state);
        self.confirmed.send_modify(|n| *n += 1);
    }

    /// Rooms whose subscription is confirmed.
    pub(crate) fn subscribed_count(&self) -> usize {
        self.state.lock().unwrap().subscribed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms(names: &[&str]) -> Vec<Arc<str>> {
        names.iter().map(|n| Arc::from(*n)).collect()
    }

    #[tokio::test]
    async fn a_joiner_waits_for_the_subscription_and_a_leave_then_join_resubscribes() {
        let feeds = Arc::new(RoomFeeds::new(true));
        feeds.connection(true);
        let ops: Arc<str> = "ops".into();
        feeds.want(&ops);
        let waiting = tokio::spawn({
            let feeds = feeds.clone();
            async move { feeds.ready("ops").await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "ready before the subscription");
        let changes = feeds.take_changes();
        assert_eq!(changes.subscribe, rooms(&["ops"]));
        feeds.confirmed(&changes.subscribe);
        waiting.await.unwrap();
        assert_eq!(feeds.subscribed_count(), 1);

        // The last member leaves and another joins before the subscriber ran: nothing to do.
        feeds.unwant("ops");
        feeds.want(&ops);
        assert_eq!(feeds.take_changes(), FeedChanges::default());

        // The subscriber took the unsubscribe; a joiner now waits for the new subscription.
        feeds.unwant("ops");
        assert_eq!(feeds.take_changes().unsubscribe, rooms(&["ops"]));
        feeds.want(&ops);
        let waiting = tokio::spawn({
            let feeds = feeds.clone();
            async move { feeds.ready("ops").await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "trusted a subscription being ended");
        let changes = feeds.take_changes();
        assert_eq!(changes.subscribe, rooms(&["ops"]));
        feeds.confirmed(&changes.subscribe);
        waiting.await.unwrap();
    }

    #[tokio::test]
    async fn nobody_waits_without_a_subscriber_or_while_it_is_disconnected() {
        let ops: Arc<str> = "ops".into();
        let none = RoomFeeds::new(false);
        none.want(&ops);
        none.ready("ops").await;

        let down = RoomFeeds::new(true);
        down.want(&ops);
        down.ready("ops").await;
        down.connection(true);
        down.confirmed(&rooms(&["ops"]));
        down.connection(false);
        assert_eq!(
            down.subscribed_count(),
            0,
            "a lost connection holds nothing"
        );
        down.connection(true);
        assert_eq!(down.take_changes().subscribe, rooms(&["ops"]));
    }
}
