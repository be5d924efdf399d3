//! The delivery task: the one task that turns store events into per-connection frames. Per room
//! it delivers offsets in order exactly once, filling any gap from the store (pub/sub is
//! at-most-once; the stream is the truth); a gap too large to push is handed to the sessions to
//! pull ([`Outbound::Lagged`]). Every other store event (room list, access, votes, signals) is
//! passed to the part of the hub it concerns.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Delivered, FastMap, Hub, NewEpoch, Outbound, RoomStart, private};
use crate::{
    clock::now_ms,
    metrics::ReasonLabel,
    protocol::ServerFrame,
    store::{Store, StoreEvent},
};

/// Most events buffered for a room whose first local member is still reading its history.
const MAX_PENDING: usize = 10_000;
/// How often rooms with local members are compared with the store, in case the very last
/// pub/sub notification was lost.
const BACKFILL_EVERY: Duration = Duration::from_secs(2);
/// Rooms whose history the periodic backfill reads at once.
const BACKFILL_CONCURRENCY: usize = 64;
/// Most missed messages a backfill pushes into members' queues; a larger gap is handed to the
/// sessions to pull ([`Outbound::Lagged`]), so a burst never overflows a healthy reader's queue.
const BACKFILL_PUSH_MAX: usize = 32;

/// A stored message as the delivery task handles it (the room is known from context).
#[derive(Debug)]
struct Delivery {
    epoch: Arc<str>,
    offset: u64,
    time_ms: u64,
    frame: Utf8Bytes,
}

/// Per-room delivery position of this replica.
#[derive(Debug, Default)]
pub(super) struct Cursor {
    epoch: Option<Arc<str>>,
    /// Highest offset delivered; `None` until the first joiner's page says where to start.
    last: Option<u64>,
    /// Deliveries that arrived before the first joiner's page, by offset.
    pending: BTreeMap<u64, Delivery>,
}

/// Every room's [`Cursor`], by name.
pub(super) type Cursors = FastMap<Arc<str>, Cursor>;

/// The delivery task: store events and joiners' starting points in, ordered frames out.
pub async fn run_delivery(
    hub: Arc<Hub>,
    store: Store,
    mut events: mpsc::Receiver<StoreEvent>,
    mut starts: mpsc::Receiver<RoomStart>,
    stop: CancellationToken,
) {
    let mut cursors = Cursors::default();
    let mut tick = tokio::time::interval(BACKFILL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            Some(event) = events.recv() => match event {
                StoreEvent::Message { epoch, room, offset, time_ms, frame } => {
                    if !hub.has_members(&room) {
                        cursors.remove(&room);
                        continue;
                    }
                    let cursor = cursors.entry(room.clone()).or_default();
                    // One copy per message; every recipient then shares it.
                    let frame = Utf8Bytes::from(&*frame);
                    let delivery = Delivery { epoch, offset, time_ms, frame };
                    on_message(&hub, &store, &room, cursor, delivery).await;
                }
                StoreEvent::RoomsChanged => hub.rooms_changed.notify_one(),
                StoreEvent::AccessChanged { room } => {
                    private::access_changed(&hub, &store, &room, &mut cursors).await;
                }
                StoreEvent::RoomDeleted { room } => {
                    private::deleted(&hub, &room, &mut cursors);
                }
                StoreEvent::Resubscribed => {
                    backfill_all(&hub, &store, &mut cursors).await;
                    hub.rooms_changed.notify_one();
                    hub.support.changed.notify_one();
                }
                StoreEvent::SessionsEnded(end) => hub.end_sessions(&end),
                StoreEvent::Notice { room, frame } => hub.to_room(&room, frame),
                StoreEvent::Cleared { room, through } => {
                    let frame = ServerFrame::Cleared { room: &room, through }.to_json();
                    hub.to_room(&room, frame.into());
                }
                StoreEvent::Expired { room } => {
                    cursors.remove(&room);
                    hub.expire(&room);
                    hub.rooms_changed.notify_one();
                }
                StoreEvent::Votes { room, offset, up, down } => {
                    let frame = ServerFrame::Votes {
                        room: &room, offset, up, down, mine: None,
                    };
                    hub.to_room(&room, frame.to_json().into());
                }
                StoreEvent::Replies { room, offset, count } => {
                    let frame =
                        ServerFrame::ReplyCount { room: &room, offset, count };
                    hub.to_room(&room, frame.to_json().into());
                }
                StoreEvent::Signal { room, except, frame } => {
                    hub.to_room_except(&room, frame, except);
                }
                StoreEvent::ReadsChanged { room, user } => hub.signals.reads_changed(room, user),
                StoreEvent::SupportChanged { .. } => hub.support.changed.notify_one(),
            },
            Some(start) = starts.recv() => {
                let cursor = cursors.entry(start.room.clone()).or_default();
                if cursor.last.is_none() {
                    cursor.last = Some(start.head);
                    cursor.epoch = Some(start.epoch);
                    let pending = std::mem::take(&mut cursor.pending);
                    for delivery in pending.into_values() {
                        on_message(&hub, &store, &start.room, cursor, delivery).await;
                    }
                }
            }
            _ = tick.tick() => backfill_all(&hub, &store, &mut cursors).await,
        }
    }
}

async fn on_message(
    hub: &Hub,
    store: &Store,
    room: &Arc<str>,
    cursor: &mut Cursor,
    delivery: Delivery,
) {
    let Some(last) = cursor.last else {
        if cursor.pending.len() < MAX_PENDING {
            cursor.pending.insert(delivery.offset, delivery);
        }
        return;
    };
    let Delivery {
        epoch,
        offset,
        time_ms,
        frame,
    } = delivery;
    if cursor.epoch.as_ref() != Some(&epoch) {
        resync(hub, room, cursor, epoch.clone());
        return backfill(hub, store, room, cursor).await;
    }
    if offset <= last {
        return;
    }
    if offset != last + 1 {
        backfill(hub, store, room, cursor).await;
    }
    let last = cursor.last.unwrap_or(last);
    if last + 1 < offset {
        // The backfill could not read the missing range (the store failed): deliver this one
        // and let the sessions pull the gap, rather than stall the room or skip silently.
        lagged(hub, room, cursor, offset - 1, "unreadable");
    }
    if cursor.last.is_some_and(|l| l < offset) {
        let out = Outbound::Message(Arc::new(Delivered {
            room: room.clone(),
            offset,
            time_ms,
            frame,
        }));
        hub.deliver(&out, room);
        cursor.last = Some(offset);
    }
}

fn resync(hub: &Hub, room: &Arc<str>, cursor: &mut Cursor, epoch: Arc<str>) {
    tracing::warn!(%room, %epoch, "room history was lost; resyncing members");
    hub.deliver(
        &Outbound::Resync(Arc::new(NewEpoch {
            room: room.clone(),
            epoch: epoch.clone(),
        })),
        room,
    );
    cursor.epoch = Some(epoch);
    cursor.last = Some(0);
}

async fn backfill(hub: &Hub, store: &Store, room: &Arc<str>, cursor: &mut Cursor) {
    let Some(last) = cursor.last else { return };
    let range = match store.range(room, last).await {
        Ok(range) => range,
        Err(e) => {
            hub.metrics.redis_errors.inc();
            tracing::warn!(%room, error = %e, "backfill failed; will retry");
            return;
        }
    };
    if !range.epoch.is_empty() && cursor.epoch.as_deref() != Some(range.epoch.as_str()) {
        resync(hub, room, cursor, range.epoch.into());
        return Box::pin(backfill(hub, store, room, cursor)).await;
    }
    let Some(&(first, _)) = range.entries.first() else {
        return;
    };
    let newest = range.entries.last().map_or(first, |(o, _)| *o);
    if first > last + 1 || range.entries.len() > BACKFILL_PUSH_MAX {
        let reason = if first > last + 1 { "trimmed" } else { "burst" };
        return lagged(hub, room, cursor, newest, reason);
    }
    let now_ms = now_ms();
    for (offset, frame) in range.entries {
        if cursor.last.is_some_and(|l| offset > l) {
            // A backfilled message's original timestamp is inside its frame; latency is measured
            // from now so a recovered gap does not look like slow delivery.
            let out = Outbound::Message(Arc::new(Delivered {
                room: room.clone(),
                offset,
                time_ms: now_ms,
                frame: Utf8Bytes::from(&*frame),
            }));
            hub.deliver(&out, room);
            cursor.last = Some(offset);
        }
    }
}

/// Hand the room's members everything after the cursor to pull themselves, and move the cursor
/// to `through` (the newest offset known to be stored).
fn lagged(hub: &Hub, room: &Arc<str>, cursor: &mut Cursor, through: u64, reason: &'static str) {
    tracing::info!(%room, ?cursor.last, through, reason, "members pull a gap from the store");
    hub.metrics
        .delivery_gaps
        .get_or_create(&ReasonLabel { reason })
        .inc();
    hub.deliver(&Outbound::Lagged { room: room.clone() }, room);
    cursor.last = Some(through);
}

async fn backfill_all(hub: &Hub, store: &Store, cursors: &mut Cursors) {
    cursors.retain(|room, _| hub.has_members(room));
    // Rooms are independent, so their reads go out together (pipelined on the store's one
    // connection). One after another, 200 rooms on a busy Redis held up live delivery for about
    // a second every BACKFILL_EVERY (docs/benchmarks.md, "rooms").
    futures_util::stream::iter(cursors.iter_mut())
        .for_each_concurrent(BACKFILL_CONCURRENCY, |(room, cursor)| {
            backfill(hub, store, room, cursor)
        })
        .await;
}
