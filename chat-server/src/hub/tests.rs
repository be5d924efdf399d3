//! The delivery task against the in-memory store, with the event feed under the test's control:
//! lost and repeated notifications must still give every member each offset once, in order.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::*;
use crate::store::{MemoryStore, NewMessage, Store, StoreEvent};

struct Fixture {
    hub: Arc<Hub>,
    store: Store,
    events: mpsc::Sender<StoreEvent>,
    member: OutboundRx,
    conn: ConnHandle,
    stop: CancellationToken,
}

/// A hub with one member in `general` and a delivery task whose events the test sends; the
/// store's own announcements are dropped, as if pub/sub lost them all.
async fn fixture(queue: usize) -> Fixture {
    let (store_events, mut lost) = mpsc::channel(1024);
    tokio::spawn(async move { while lost.recv().await.is_some() {} });
    let store = Store::Memory(Arc::new(MemoryStore::new(100, store_events)));
    let (hub, starts) = Hub::new(Arc::default());
    let (handle, member) = Conn::new(queue, 1 << 20, &CancellationToken::new());
    let room: Arc<str> = "general".into();
    hub.join(&room, 1, handle.clone());
    let (events, events_rx) = mpsc::channel(16);
    let stop = CancellationToken::new();
    tokio::spawn(run_delivery(
        hub.clone(),
        store.clone(),
        events_rx,
        starts,
        stop.clone(),
    ));
    let page = store.history("general", None).await.unwrap();
    hub.started(room, page.epoch.into(), page.head).await;
    Fixture {
        hub,
        store,
        events,
        member,
        conn: handle,
        stop,
    }
}

impl Fixture {
    /// Store a message and return the event pub/sub would have carried for it.
    async fn append(&self, client_id: &str) -> StoreEvent {
        let stored = self
            .store
            .append(&NewMessage {
                room: "general",
                name: "ann",
                topic: None,
                content: client_id,
                client_id,
                id: client_id,
                time_ms: 0,
                frame_prefix: r#"{"type":"message","offset":"#,
            })
            .await
            .unwrap();
        let epoch = self.store.history("general", None).await.unwrap().epoch;
        StoreEvent::Message {
            epoch: epoch.into(),
            room: "general".into(),
            offset: stored.offset,
            time_ms: 0,
            frame: format!("frame {}", stored.offset).into(),
        }
    }

    async fn next_offset(&mut self) -> u64 {
        let out = tokio::time::timeout(Duration::from_secs(5), self.member.recv())
            .await
            .expect("a delivery")
            .expect("queue open");
        match out {
            Outbound::Message(message) => message.offset,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn lost_notifications_are_filled_from_the_store_in_order_once() {
    let mut f = fixture(16).await;
    f.append("c1").await;
    f.append("c2").await;
    let third = f.append("c3").await;
    // Only the third notification arrives: 1 and 2 come from the stream first.
    f.events.send(third.clone()).await.unwrap();
    assert_eq!(
        [
            f.next_offset().await,
            f.next_offset().await,
            f.next_offset().await
        ],
        [1, 2, 3]
    );
    // A repeated notification is not delivered again; the next new one is.
    f.events.send(third).await.unwrap();
    let fourth = f.append("c4").await;
    f.events.send(fourth).await.unwrap();
    assert_eq!(f.next_offset().await, 4);
    assert!(f.member.try_recv().is_err(), "nothing else queued");
    f.stop.cancel();
}

#[tokio::test]
async fn a_resubscription_backfills_what_was_missed() {
    let mut f = fixture(16).await;
    f.append("c1").await;
    f.append("c2").await;
    f.events.send(StoreEvent::Resubscribed).await.unwrap();
    assert_eq!([f.next_offset().await, f.next_offset().await], [1, 2]);
    f.stop.cancel();
}

#[tokio::test]
async fn a_full_queue_kicks_the_member_instead_of_growing() {
    let f = fixture(2).await;
    for c in ["c1", "c2", "c3"] {
        let event = f.append(c).await;
        f.events.send(event).await.unwrap();
    }
    tokio::time::timeout(Duration::from_secs(5), f.conn.stop.cancelled())
        .await
        .expect("the member is stopped");
    assert!(f.conn.is_kicked(), "as a slow consumer");
    assert_eq!(
        f.hub.local_count("general"),
        1,
        "the hub only kicks; the session closes itself and leaves"
    );
    f.stop.cancel();
}

/// A hub with one connection whose queue holds `frames` entries and `bytes` bytes.
fn one_conn(frames: usize, bytes: usize) -> (Arc<Hub>, ConnHandle, OutboundRx) {
    let (hub, _starts) = Hub::new(Arc::default());
    let (conn, rx) = Conn::new(frames, bytes, &CancellationToken::new());
    hub.connect(1, conn.clone());
    (hub, conn, rx)
}

#[test]
fn the_queue_is_bounded_in_bytes_as_well_as_frames() {
    // Frames other than room messages may take twice the bound before the connection is kicked
    // (room messages past the bound are pulled instead: the next test).
    let (hub, conn, mut rx) = one_conn(1000, 50_000);
    let frame: Arc<str> = "x".repeat(30_000).into();
    for _ in 0..3 {
        hub.offer(&conn, Outbound::Frame(frame.clone()));
    }
    assert!(!conn.is_kicked(), "90,000 bytes fit");
    // Taking frames off the queue makes room again.
    let taken = rx.try_recv().unwrap();
    conn.taken(&taken);
    hub.offer(&conn, Outbound::Frame(frame.clone()));
    assert!(!conn.is_kicked(), "still 90,000 bytes queued");
    hub.offer(&conn, Outbound::Frame(frame));
    assert!(conn.is_kicked(), "120,000 bytes do not");
}

fn message(room: &Arc<str>, offset: u64, len: usize) -> Outbound {
    Outbound::Message(Arc::new(Delivered {
        room: room.clone(),
        offset,
        time_ms: 0,
        frame: Utf8Bytes::from("x".repeat(len)),
    }))
}

fn queued(rx: &mut OutboundRx) -> Vec<String> {
    std::iter::from_fn(|| rx.try_recv().ok())
        .map(|out| match out {
            Outbound::Message(m) => format!("{}:{}", m.room, m.offset),
            Outbound::Lagged { room } => format!("lagged {room}"),
            other => format!("{other:?}"),
        })
        .collect()
}

#[test]
fn room_messages_past_the_byte_bound_are_pulled_instead_of_kicking() {
    let (hub, conn, mut rx) = one_conn(1000, 100_000);
    let (general, quiet): (Arc<str>, Arc<str>) = ("general".into(), "quiet".into());
    for offset in 1..=5 {
        hub.offer(&conn, message(&general, offset, 30_000));
    }
    // Once a room lags, even a message that would fit is not queued: the pull covers it.
    hub.offer(&conn, message(&quiet, 1, 10_000));
    hub.offer(&conn, message(&quiet, 2, 100));
    assert!(!conn.is_kicked(), "a reader behind is not kicked");
    assert!(conn.is_lagging("general") && conn.is_lagging("quiet"));
    assert_eq!(
        queued(&mut rx),
        [
            "general:1",
            "general:2",
            "general:3",
            "lagged general",
            "lagged quiet"
        ],
        "one Lagged per room, nothing past the bound"
    );
    // The session reached `general`'s Lagged: its messages are queued again, `quiet`'s not yet.
    conn.queued_bytes.store(0, Ordering::Relaxed);
    conn.caught_up("general");
    hub.offer(&conn, message(&general, 6, 100));
    hub.offer(&conn, message(&quiet, 3, 100));
    assert_eq!(queued(&mut rx), ["general:6"]);
    conn.caught_up("quiet");
    assert!(!conn.is_lagging("general") && !conn.is_lagging("quiet"));
    let metrics = hub.metrics.outbound_lagged.get();
    assert_eq!(metrics, 2, "one per room switched to pulling");
}

/// A member waiting out its coalescing window (a batch of 64) is woken once its queue holds
/// half its byte bound, before the bound turns the room into a pull from the store.
#[test]
fn a_coalescing_member_is_woken_at_half_its_bytes() {
    use std::task::{Context, Wake, Waker};
    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let (hub, conn, mut rx) = one_conn(1000, 100_000);
    let general: Arc<str> = "general".into();
    let woken = Arc::new(Flag(false.into()));
    let waker = Waker::from(woken.clone());
    let mut waiting = Box::pin(rx.recv_batch(64));
    assert!(
        waiting
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    hub.offer(&conn, message(&general, 1, 30_000));
    assert!(
        !woken.0.load(Ordering::SeqCst),
        "30,000 bytes wait for the window"
    );
    hub.offer(&conn, message(&general, 2, 30_000));
    assert!(
        woken.0.load(Ordering::SeqCst),
        "60,000 of 100,000 bytes end it"
    );
    drop(waiting);
    assert_eq!(queued(&mut rx), ["general:1", "general:2"]);
    assert!(!conn.is_lagging("general"));
}

#[test]
fn room_list_pushes_coalesce_to_one_queued_frame_with_the_newest_list() {
    let (hub, conn, mut rx) = one_conn(1000, 1 << 20);
    hub.greeted(&conn);
    assert!(matches!(rx.try_recv(), Ok(Outbound::Rooms)), "hello's list");
    hub.take_rooms(&conn);
    for n in 0..5 {
        let frame = Utf8Bytes::from(format!(r#"{{"type":"rooms","n":{n}}}"#));
        hub.push_rooms(RoomsList::shared_only(frame));
    }
    // The same list again is no change at all.
    hub.push_rooms(RoomsList::shared_only(Utf8Bytes::from(
        r#"{"type":"rooms","n":4}"#,
    )));
    assert!(matches!(rx.try_recv(), Ok(Outbound::Rooms)));
    assert!(rx.try_recv().is_err(), "one push queued for five changes");
    assert_eq!(hub.take_rooms(&conn), r#"{"type":"rooms","n":4}"#);
    // Once taken, the next change queues again.
    hub.push_rooms(RoomsList::shared_only(Utf8Bytes::from(
        r#"{"type":"rooms","n":5}"#,
    )));
    assert!(matches!(rx.try_recv(), Ok(Outbound::Rooms)));
}

#[test]
fn a_connection_gets_no_room_list_push_before_its_hello() {
    let (hub, conn, mut rx) = one_conn(1000, 1 << 20);
    hub.push_rooms(RoomsList::shared_only(Utf8Bytes::from(
        r#"{"type":"rooms","n":1}"#,
    )));
    assert!(rx.try_recv().is_err(), "not greeted yet: no push");
    hub.greeted(&conn);
    assert!(matches!(rx.try_recv(), Ok(Outbound::Rooms)));
    assert!(rx.try_recv().is_err(), "one list, after welcome");
    assert_eq!(hub.take_rooms(&conn), r#"{"type":"rooms","n":1}"#);
    hub.push_rooms(RoomsList::shared_only(Utf8Bytes::from(
        r#"{"type":"rooms","n":2}"#,
    )));
    assert!(
        matches!(rx.try_recv(), Ok(Outbound::Rooms)),
        "pushes from now on"
    );
}

#[test]
fn a_queued_message_is_as_small_as_a_pointer_plus_a_tag() {
    // Each connection's channel allocates its slots in blocks of 32: the entry size is memory
    // per connection (docs/benchmarks.md, "Memory per connection").
    assert!(std::mem::size_of::<Outbound>() <= 24);
}

#[test]
fn a_room_is_wanted_from_its_first_local_member_to_its_last_whichever_way_they_go() {
    use crate::store::RoomFeeds;
    let feeds = Arc::new(RoomFeeds::new(true));
    let (hub, _starts) = Hub::with_feeds(Arc::default(), feeds.clone());
    let room: Arc<str> = "ops".into();
    let ops = || vec![room.clone()];
    let member = || Conn::new(16, 1 << 20, &CancellationToken::new()).0;
    let subscribe = |feeds: &RoomFeeds| {
        let changes = feeds.take_changes();
        feeds.confirmed(&changes.subscribe);
        changes.subscribe
    };

    hub.join(&room, 1, member());
    hub.join(&room, 2, member());
    assert_eq!(subscribe(&feeds), ops());
    hub.leave(&room, 1);
    let changes = feeds.take_changes();
    assert!(changes.subscribe.is_empty() && changes.unsubscribe.is_empty());
    hub.disconnect(2, [room.clone()]);
    assert_eq!(feeds.take_changes().unsubscribe, ops(), "the last one left");

    hub.join(&room, 3, member());
    assert_eq!(subscribe(&feeds), ops());
    hub.expire(&room);
    assert_eq!(feeds.take_changes().unsubscribe, ops(), "expired");

    hub.join(&room, 4, member());
    assert_eq!(subscribe(&feeds), ops());
    hub.room_deleted(&room);
    assert_eq!(feeds.take_changes().unsubscribe, ops(), "deleted");
}

#[test]
fn one_rooms_presence_is_what_the_whole_map_has_for_it() {
    let (hub, _starts) = Hub::new(Arc::default());
    let (a, b): (Arc<str>, Arc<str>) = ("a".into(), "b".into());
    let mut queues = Vec::new();
    for (id, room) in [(1, &a), (2, &a), (3, &b)] {
        let (handle, rx) = Conn::new(8, 1 << 10, &CancellationToken::new());
        hub.connect(id, handle.clone());
        hub.join(room, id, handle);
        queues.push(rx);
    }
    let all = hub.local_presence();
    assert_eq!(hub.room_presence("a"), all["a"]);
    assert_eq!(hub.room_presence("a").guests, 2);
    assert_eq!(hub.room_presence("b"), all["b"]);
    assert!(hub.room_presence("nobody").is_empty());
}

/// One token stops a session for every reason, and says which: a kick (once), its login
/// session's end, or the server's shutdown (its parent).
#[test]
fn a_connection_is_stopped_by_a_kick_its_session_end_or_shutdown() {
    let shutdown = CancellationToken::new();
    let (kicked, _rx) = Conn::new(16, 1 << 20, &shutdown);
    assert!(kicked.kick(), "the first kick counts");
    assert!(!kicked.kick(), "a second does not");
    assert!(kicked.stop.is_cancelled() && kicked.is_kicked() && !kicked.session_ended());

    let (ended, _rx) = Conn::new(16, 1 << 20, &shutdown);
    ended.end_session();
    assert!(ended.stop.is_cancelled() && ended.session_ended() && !ended.is_kicked());

    let (other, _rx) = Conn::new(16, 1 << 20, &shutdown);
    assert!(!other.stop.is_cancelled());
    shutdown.cancel();
    assert!(other.stop.is_cancelled(), "shutdown stops every session");
    assert!(!other.is_kicked() && !other.session_ended());
}
