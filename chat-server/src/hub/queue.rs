//! A connection's queue of [`Outbound`] entries: the hub pushes one entry at a time, the session
//! takes everything queued at once. tokio's unbounded channel paid for each entry on both sides
//! (a slot claimed and released, a waker checked, 9 % of a delivery's time in the 1,000-member
//! fanout, docs/benchmarks.md "Issue #10, round 3"); here a push is one uncontended lock and a
//! take is one lock per batch. It is bounded by [`Conn`](super::Conn), in entries and bytes.
//!
//! A session that is coalescing (`session/write.rs`) waits for a batch, not for one entry: a push
//! wakes it only once that many room messages are queued, or at once for anything else (and for
//! a message that takes its connection past half its byte bound, `Hub::enqueue`). A busy room's
//! member is then woken once per window by its timer instead of once per message.

use std::{
    collections::VecDeque,
    future::poll_fn,
    sync::{Arc, Mutex},
    task::{Poll, Waker},
};

use super::{Conn, Outbound};

/// Slots an idle connection's queue keeps (what tokio's channel allocated up front); a burst's
/// larger buffer is released once it is drained.
const KEEP_SLOTS: usize = 32;

/// The hub's end of a connection's queue (inside [`Conn`]).
#[derive(Debug, Default)]
pub(super) struct Queue {
    shared: Mutex<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    entries: VecDeque<Outbound>,
    /// The session waiting for entries.
    waker: Option<Waker>,
    /// Entries queued before a push wakes the waiting session (its [`OutboundRx::recv_batch`]).
    wake_at: usize,
    /// An entry other than a room message is queued: the session is woken for it at once.
    urgent: bool,
    /// The session is gone: nothing is queued any more.
    closed: bool,
}

impl Queue {
    /// Queue `out` and wake the session if it waits for what is now queued, or at once when
    /// `now` (or `out` is not a room message); false when the session is gone.
    pub(super) fn push(&self, out: Outbound, now: bool) -> bool {
        let urgent = now || !matches!(out, Outbound::Message(_));
        let mut shared = self.shared.lock().unwrap();
        if shared.closed {
            return false;
        }
        shared.entries.push_back(out);
        shared.urgent |= urgent;
        if !shared.urgent && shared.entries.len() < shared.wake_at {
            return true; // a coalescing session: woken by its timer or a full batch
        }
        let waker = shared.waker.take();
        drop(shared);
        if let Some(waker) = waker {
            waker.wake();
        }
        true
    }
}

/// Nothing is queued.
#[derive(Debug, PartialEq, Eq)]
pub struct Empty;

/// The session's end of its connection's queue.
#[derive(Debug)]
pub struct OutboundRx {
    conn: Arc<Conn>,
    /// Entries taken from the queue in one go, not yet handed out.
    local: VecDeque<Outbound>,
}

impl OutboundRx {
    pub(super) fn new(conn: Arc<Conn>) -> Self {
        Self {
            conn,
            local: VecDeque::new(),
        }
    }

    /// The next entry, waiting for one (what [`Self::recv_batch`] is outside a window).
    #[cfg(test)]
    pub async fn recv(&mut self) -> Option<Outbound> {
        self.recv_batch(1).await
    }

    /// The next entry once `batch` entries are queued, or at once when anything but a room
    /// message is (a notice, a `Lagged`, the room list): what a coalescing session waits for;
    /// `batch` 1 outside a window. Never `None` (the hub's end lives as long as this one); an
    /// `Option` so that it reads like a channel in `select!`.
    pub async fn recv_batch(&mut self, batch: usize) -> Option<Outbound> {
        let batch = batch.max(1);
        poll_fn(|cx| {
            if self.local.len() >= batch {
                return Poll::Ready(self.take());
            }
            let mut shared = self.conn.queue.shared.lock().unwrap();
            let queued = self.local.len() + shared.entries.len();
            if queued >= batch || (shared.urgent && queued > 0) {
                drop(shared);
                return Poll::Ready(self.take());
            }
            shared.wake_at = batch - self.local.len();
            match &mut shared.waker {
                Some(w) if w.will_wake(cx.waker()) => {}
                waker => *waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
        .await
    }

    /// The next entry if one is queued.
    pub fn try_recv(&mut self) -> Result<Outbound, Empty> {
        self.take().ok_or(Empty)
    }

    /// Entries queued and not yet handed out.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.local.len() + self.conn.queue.shared.lock().unwrap().entries.len()
    }

    /// Whether nothing is queued.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn take(&mut self) -> Option<Outbound> {
        if self.local.is_empty() {
            let mut shared = self.conn.queue.shared.lock().unwrap();
            if shared.entries.is_empty() {
                return None;
            }
            std::mem::swap(&mut shared.entries, &mut self.local);
            shared.urgent = false;
            if shared.entries.capacity() > KEEP_SLOTS {
                shared.entries = VecDeque::new();
            }
        }
        let out = self.local.pop_front();
        if self.local.is_empty() && self.local.capacity() > KEEP_SLOTS {
            self.local = VecDeque::new();
        }
        out
    }
}

impl Drop for OutboundRx {
    fn drop(&mut self) {
        let mut shared = self.conn.queue.shared.lock().unwrap();
        shared.closed = true;
        shared.entries = VecDeque::new();
        shared.waker = None;
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio_util::sync::CancellationToken;

    use super::*;

    fn frame(n: usize) -> Outbound {
        Outbound::Frame(n.to_string().into())
    }

    fn number(out: Outbound) -> usize {
        match out {
            Outbound::Frame(f) => f.parse().unwrap(),
            Outbound::Message(m) => m.offset as usize,
            other => panic!("{other:?}"),
        }
    }

    fn message(offset: u64) -> Outbound {
        Outbound::Message(Arc::new(super::super::Delivered {
            room: "general".into(),
            offset,
            time_ms: 0,
            frame: "{}".into(),
        }))
    }

    /// Counts the wake-ups of a session's task.
    #[derive(Default)]
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl Wakes {
        fn count(&self) -> usize {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// A coalescing session waits for a batch: room messages short of it are queued without a
    /// wake-up (the window's timer ends the wait), the batch's last one wakes it, and so does
    /// anything else at once, a notice waiting behind no window.
    #[test]
    fn a_coalescing_session_is_woken_by_a_full_batch_or_at_once_by_anything_but_a_message() {
        let (conn, mut rx) = Conn::new(1000, 1 << 20, &CancellationToken::new());
        let wakes = Arc::new(Wakes::default());
        let waker = Waker::from(wakes.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        {
            let mut waiting = std::pin::pin!(rx.recv_batch(3));
            assert!(waiting.as_mut().poll(&mut cx).is_pending());
            assert!(conn.queue.push(message(1), false));
            assert!(conn.queue.push(message(2), false));
            assert_eq!(wakes.count(), 0, "two of a batch of three: no wake-up");
            assert!(waiting.as_mut().poll(&mut cx).is_pending());
            assert!(conn.queue.push(message(3), false));
            assert_eq!(wakes.count(), 1, "the batch is full");
            let got = waiting.as_mut().poll(&mut cx).map(|out| out.map(number));
            assert_eq!(got, Poll::Ready(Some(1)));
        }
        assert_eq!(rx.try_recv().map(number), Ok(2));
        assert_eq!(rx.try_recv().map(number), Ok(3));
        {
            let mut waiting = std::pin::pin!(rx.recv_batch(64));
            assert!(waiting.as_mut().poll(&mut cx).is_pending());
            assert!(conn.queue.push(message(4), false));
            assert_eq!(wakes.count(), 1);
            assert!(conn.queue.push(frame(5), false));
            assert_eq!(wakes.count(), 2, "a notice wakes the session at once");
            let got = waiting.as_mut().poll(&mut cx).map(|out| out.map(number));
            assert_eq!(got, Poll::Ready(Some(4)), "in order, the message first");
        }
        assert_eq!(rx.try_recv().map(number), Ok(5));
        {
            // A room message the hub marks (its connection past half its bytes) wakes it too.
            let mut waiting = std::pin::pin!(rx.recv_batch(64));
            assert!(waiting.as_mut().poll(&mut cx).is_pending());
            assert!(conn.queue.push(message(6), true));
            assert_eq!(wakes.count(), 3);
            let got = waiting.as_mut().poll(&mut cx).map(|out| out.map(number));
            assert_eq!(got, Poll::Ready(Some(6)));
        }
        // Once the window is over the session waits for one entry again.
        let mut waiting = std::pin::pin!(rx.recv_batch(1));
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        assert!(conn.queue.push(message(7), false));
        assert_eq!(wakes.count(), 4);
        let got = waiting.as_mut().poll(&mut cx).map(|out| out.map(number));
        assert_eq!(got, Poll::Ready(Some(7)));
    }

    #[tokio::test]
    async fn entries_come_out_once_in_order_across_takes() {
        let (conn, mut rx) = Conn::new(1000, 1 << 20, &CancellationToken::new());
        let mut got = Vec::new();
        let mut next = 0;
        for burst in [1, 5, 40, 3, 100] {
            for _ in 0..burst {
                assert!(conn.queue.push(frame(next), false));
                next += 1;
            }
            // Half now, the rest after more arrive: nothing taken in one go is lost or reordered.
            for _ in 0..burst / 2 {
                got.push(number(rx.try_recv().unwrap()));
            }
            assert_eq!(rx.len(), next - got.len());
        }
        while let Ok(out) = rx.try_recv() {
            got.push(number(out));
        }
        assert_eq!(got, (0..next).collect::<Vec<_>>());
        assert!(rx.is_empty());
    }

    #[tokio::test]
    async fn a_waiting_session_is_woken_by_a_push() {
        let (conn, mut rx) = Conn::new(16, 1 << 20, &CancellationToken::new());
        let waiting = tokio::spawn(async move { rx.recv().await.map(number) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(conn.queue.push(frame(7), false));
        let got = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(got.unwrap().unwrap(), Some(7));
    }

    #[test]
    fn a_burst_is_not_kept_and_a_closed_queue_takes_nothing() {
        let (conn, mut rx) = Conn::new(1000, 1 << 20, &CancellationToken::new());
        for n in 0..500 {
            conn.queue.push(frame(n), false);
        }
        while rx.try_recv().is_ok() {}
        let shared = conn.queue.shared.lock().unwrap().entries.capacity();
        assert!(
            rx.local.capacity() <= KEEP_SLOTS && shared <= KEEP_SLOTS,
            "{shared}"
        );
        drop(rx);
        assert!(!conn.queue.push(frame(1), false), "the session is gone");
    }
}
