//! A connection's queue of [`Outbound`] entries: the hub pushes one entry at a time, the session
//! takes everything queued at once. tokio's unbounded channel paid for each entry on both sides
//! (a slot claimed and released, a waker checked, 9 % of a delivery's time in the 1,000-member
//! fanout, docs/benchmarks.md "Issue #10, round 3"); here a push is one uncontended lock and a
//! take is one lock per batch. It is bounded by [`Conn`](super::Conn), in entries and bytes.

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
    /// The session waiting for an entry.
    waker: Option<Waker>,
    /// The session is gone: nothing is queued any more.
    closed: bool,
}

impl Queue {
    /// Queue `out` and wake the session if it waits; false when the session is gone.
    pub(super) fn push(&self, out: Outbound) -> bool {
        let mut shared = self.shared.lock().unwrap();
        if shared.closed {
            return false;
        }
        shared.entries.push_back(out);
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

    /// The next entry, waiting for one. Never `None` (the hub's end lives as long as this one);
    /// an `Option` so that it reads like a channel in `select!`.
    pub async fn recv(&mut self) -> Option<Outbound> {
        poll_fn(|cx| {
            if let Some(out) = self.take() {
                return Poll::Ready(Some(out));
            }
            let mut shared = self.conn.queue.shared.lock().unwrap();
            if !shared.entries.is_empty() {
                drop(shared); // queued since `take` looked
                return Poll::Ready(self.take());
            }
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
    pub fn len(&self) -> usize {
        self.local.len() + self.conn.queue.shared.lock().unwrap().entries.len()
    }

    /// Whether nothing is queued.
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

    use super::*;

    fn frame(n: usize) -> Outbound {
        Outbound::Frame(n.to_string().into())
    }

    fn number(out: Outbound) -> usize {
        match out {
            Outbound::Frame(f) => f.parse().unwrap(),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn entries_come_out_once_in_order_across_takes() {
        let (conn, mut rx) = Conn::new(1000, 1 << 20);
        let mut got = Vec::new();
        let mut next = 0;
        for burst in [1, 5, 40, 3, 100] {
            for _ in 0..burst {
                assert!(conn.queue.push(frame(next)));
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
        let (conn, mut rx) = Conn::new(16, 1 << 20);
        let waiting = tokio::spawn(async move { rx.recv().await.map(number) });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(conn.queue.push(frame(7)));
        let got = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        assert_eq!(got.unwrap().unwrap(), Some(7));
    }

    #[test]
    fn a_burst_is_not_kept_and_a_closed_queue_takes_nothing() {
        let (conn, mut rx) = Conn::new(1000, 1 << 20);
        for n in 0..500 {
            conn.queue.push(frame(n));
        }
        while rx.try_recv().is_ok() {}
        let shared = conn.queue.shared.lock().unwrap().entries.capacity();
        assert!(
            rx.local.capacity() <= KEEP_SLOTS && shared <= KEEP_SLOTS,
            "{shared}"
        );
        drop(rx);
        assert!(!conn.queue.push(frame(1)), "the session is gone");
    }
}
