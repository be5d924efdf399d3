//! Acks paced by deliveries: a `send`'s ack is written just before the sender's own copy of the
//! message (its echo), so it never overtakes the room's messages stored before it. A client that
//! waits for its ack before sending again (a closed loop, or a UI's one message in flight) is
//! then paced by how fast the room is delivered, as a NATS publisher waiting for its echo is,
//! instead of outrunning the deliveries and growing every member's queue (the closed loop's
//! tail, docs/benchmarks.md, "Issue #10, round 3"). The ack still means stored (it is made after
//! the store answered) and never waits long: at most [`ACK_WAIT_MAX`], and not at all when the
//! echo was written already or the room is being pulled from the store.

use super::*;

/// Longest an ack waits for its echo: a backstop for an echo that is slow to come (a busy
/// machine; a pub/sub notice lost until the periodic backfill) or never comes (the client left
/// the room meanwhile). Several times the delivery latency a healthy replica has under load.
pub(super) const ACK_WAIT_MAX: Duration = Duration::from_millis(250);

/// An ack waiting for the sender's own copy of its message.
#[derive(Debug)]
pub(super) struct PendingAck {
    room: Arc<str>,
    offset: u64,
    frame: String,
    due: tokio::time::Instant,
}

impl Session {
    /// The ack `frame` of `offset` in `room`, to write now (the echo was written already, or the
    /// room is pulled from the store), or kept until its echo is written and `""` returned.
    pub(super) fn ack_after_echo(&mut self, room: &str, offset: u64, frame: String) -> String {
        let Some((room, view)) = self.rooms.get_key_value(room) else {
            return frame;
        };
        if view.last_sent >= offset || self.handle.is_lagging(room) {
            return frame;
        }
        self.acks.push(PendingAck {
            room: room.clone(),
            offset,
            frame,
            due: tokio::time::Instant::now() + ACK_WAIT_MAX,
        });
        String::new()
    }

    /// When the oldest pending ack is due regardless of its echo (acks are kept oldest first).
    pub(super) fn next_ack_due(&self) -> Option<tokio::time::Instant> {
        self.acks.first().map(|ack| ack.due)
    }

    /// Feed the pending acks that go before `out`: those of its room up to its offset for a
    /// message, every one of its room for an entry that ends or restarts the room's queued
    /// deliveries (a pull from the store, a new epoch, the room gone). Returns how many.
    pub(super) async fn feed_acks_before<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        out: &Outbound,
    ) -> Result<usize, S::Error> {
        if self.acks.is_empty() {
            return Ok(0);
        }
        let (room, through) = match out {
            Outbound::Message(message) => (&message.room, message.offset),
            Outbound::Resync(reset) => (&reset.room, u64::MAX),
            Outbound::Lagged { room }
            | Outbound::Expired(room)
            | Outbound::Removed { room }
            | Outbound::Deleted { room } => (room, u64::MAX),
            Outbound::Frame(_) | Outbound::Rooms | Outbound::SupportQueue => return Ok(0),
        };
        self.feed_acks(sink, |ack| ack.room == *room && ack.offset <= through)
            .await
    }

    /// Write the acks whose wait is over (and nothing when none is).
    pub(super) async fn write_overdue_acks<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
    ) -> Result<(), Close> {
        let now = tokio::time::Instant::now();
        if self.next_ack_due().is_none_or(|due| due > now) {
            return Ok(());
        }
        let guard = self.guard.clone();
        guard
            .run(async {
                self.feed_acks(sink, |ack| ack.due <= now).await?;
                sink.flush().await
            })
            .await
    }

    /// Feed every pending ack (the connection is closing: its client still learns what was
    /// stored).
    pub(super) async fn feed_all_acks<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
    ) -> Result<usize, S::Error> {
        self.feed_acks(sink, |_| true).await
    }

    async fn feed_acks<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        which: impl Fn(&PendingAck) -> bool,
    ) -> Result<usize, S::Error> {
        let mut fed = 0;
        let mut i = 0;
        while i < self.acks.len() {
            if which(&self.acks[i]) {
                let ack = self.acks.remove(i);
                sink.feed(text(ack.frame)).await?;
                fed += 1;
            } else {
                i += 1;
            }
        }
        Ok(fed)
    }
}
