//! The session's write path: queued frames out in batches, each socket write bounded by the
//! [`WriteGuard`], and the catch-up pull when the hub could not deliver a room contiguously
//! (also when this connection fell so far behind that the hub stopped queueing its rooms).

use super::*;

/// Bounds every socket write: a reader that stops reading, or the session stopped (a kick, its
/// login session ended, shutdown), ends the write instead of leaving the session stuck in it (a
/// zero TCP window blocks a write indefinitely).
#[derive(Debug)]
pub(super) struct WriteGuard {
    pub(super) timeout: Duration,
    /// Its `stop` token and why it was cancelled.
    pub(super) conn: ConnHandle,
    /// The server's sessions token (`conn.stop`'s parent): cancelled at shutdown.
    pub(super) shutdown: CancellationToken,
}

impl WriteGuard {
    /// The close for a session whose `stop` token was cancelled, by the first reason of:
    /// shutdown, a kick, its login session ended.
    pub(super) fn stopped(&self) -> Close {
        if self.shutdown.is_cancelled() {
            Close(close::GOING_AWAY, "server shutting down")
        } else if self.conn.is_kicked() {
            Close(close::SLOW_CONSUMER, "slow consumer")
        } else if self.conn.session_ended() {
            Close(close::SESSION_ENDED, "session ended")
        } else {
            Close(close::GOING_AWAY, "session stopped")
        }
    }

    pub(super) async fn run<F, T, E>(&self, write: F) -> Result<T, Close>
    where
        F: Future<Output = Result<T, E>>,
    {
        let failed = |_| Close(close::GOING_AWAY, "write failed");
        let mut write = std::pin::pin!(write);
        // Nearly every write completes at once (the socket has room): only a write that has to
        // wait pays for the timer and the two cancellation waiters (per delivery in a fanout,
        // setting them up every time was measurable; docs/benchmarks.md, "#9 hardening").
        let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
        if let Poll::Ready(r) = first {
            return r.map_err(failed);
        }
        tokio::select! {
            biased;
            r = write => r.map_err(failed),
            () = self.conn.stop.cancelled() => Err(self.stopped()),
            () = tokio::time::sleep(self.timeout) => {
                Err(Close(close::SLOW_CONSUMER, "write timed out"))
            }
        }
    }
}

/// A session in a busy room (messages coming fast enough that a window would carry at least
/// [`COALESCE_MIN_BATCH`] of them) writes queued messages at most once per window: what arrives meanwhile stays queued without
/// waking the session (`hub/queue.rs`) and goes out in one write at the window's end: one wake-up,
/// one syscall and one wake-up of the client per window, not per message. A member of a quiet
/// room is written to at once. A loopback write costs about 12 us of the server's CPU whatever it
/// carries, so in a 1,000-member room the window sets the CPU: at 200 messages a second, 10 ms
/// took the whole core and 25 ms about 60 % of it, with a p99 under 40 ms (docs/benchmarks.md,
/// "Issue #10, round 4"). A member waiting for its own ack is not held (`acks.rs`).
pub(super) const COALESCE: Duration = Duration::from_millis(25);

/// Messages a window must be expected to carry before a member is held for one. Below it a
/// window saves few writes and costs each message up to its length: 200 rooms at 50 messages a
/// second each (1.25 a window) got a p50 of 11 ms instead of 0.9 ms for 4 % less CPU; 3 (not 2)
/// halved the closed loop's throughput (docs/benchmarks.md, "Issue #10, round 4"). A server that
/// falls behind writes larger batches, which makes its members busy: the window then comes in
/// where it is needed.
const COALESCE_MIN_BATCH: u32 = 2;

impl Session {
    /// The end of the coalescing window, while the session is in one: not when the client waits
    /// for an ack, which goes out with its echo (`acks.rs`) and holds back the client's next send
    /// (waiting out the window would only slow the room down). The session goes on reading its
    /// client meanwhile (a wait that blocked the loop delayed every request and ack of a busy
    /// room's members: the closed-loop scenario lost a third of its throughput).
    pub(super) fn coalescing_until(&self) -> Option<tokio::time::Instant> {
        let last_flush = self
            .last_flush
            .filter(|_| self.busy && self.acks.is_empty())?;
        let due = last_flush + COALESCE;
        (due > tokio::time::Instant::now()).then_some(due)
    }

    /// Queued entries that end the window early: a batch, or half of what `--outbound-queue`
    /// allows (a member that sends fast queues its own echoes meanwhile).
    pub(super) fn coalesce_batch(&self) -> usize {
        let half = self.state.config.outbound_queue as usize / 2;
        WRITE_BATCH.min(half).max(1)
    }

    /// Write `first` and what else is queued, in batches of one flush each; a room the hub could
    /// not deliver contiguously is pulled from the store between batches.
    pub(super) async fn write_queued<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        first: Outbound,
    ) -> Result<(), Close> {
        let mut next = Some(first);
        while let Some(out) = next.take() {
            let guard = self.guard.clone();
            let lagged = guard.run(self.write_batch(sink, out)).await?;
            if let Some(room) = lagged {
                // From here the hub queues the room's messages again; everything before is
                // pulled now (the offsets already written are skipped when they come).
                self.handle.caught_up(&room);
                Box::pin(self.catch_up(sink, &room)).await?;
                next = self.try_take();
            }
        }
        Ok(())
    }

    /// Feed up to [`WRITE_BATCH`] queued frames and flush; stops early at a `Lagged` room.
    /// `first` and the entries taken here are released from the queue's bounds before the flush.
    async fn write_batch<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        first: Outbound,
    ) -> Result<Option<Arc<str>>, S::Error> {
        let mut next = Some(first);
        let mut written = 0;
        let mut bytes = 0;
        let mut messages = 0;
        let mut lagged = None;
        let (mut taken, mut taken_bytes) = (0, 0);
        while let Some(out) = next.take() {
            taken += 1;
            taken_bytes += out.queued_bytes();
            written += self.feed_acks_before(sink, &out).await?;
            if let Outbound::Lagged { room } = out {
                lagged = Some(room);
                break;
            }
            let message = matches!(out, Outbound::Message(_));
            if let Some(msg) = self.outbound_to_message(out) {
                messages += u64::from(message);
                bytes += msg.to_text().map_or(0, str::len);
                sink.feed(msg).await?;
                written += 1;
            }
            if written < WRITE_BATCH && bytes < WRITE_BATCH_BYTES {
                next = self.try_take();
            }
        }
        // One update of each shared counter per batch, not one per frame.
        self.handle.release(taken, taken_bytes);
        self.state.metrics.messages_out.inc_by(messages);
        sink.flush().await?;
        if messages > 0 {
            // Messages per window at the rate of this flush (its messages over the time since
            // the one before): worth a window from COALESCE_MIN_BATCH on.
            let now = tokio::time::Instant::now();
            let per_window = COALESCE * u32::try_from(messages).unwrap_or(u32::MAX);
            self.busy = self
                .last_flush
                .is_some_and(|last| (now - last) * COALESCE_MIN_BATCH <= per_window);
            self.last_flush = Some(now);
        }
        Ok(lagged)
    }

    /// The next queued entry, if one is waiting (it counts against the queue's bounds until
    /// `write_batch` releases it).
    fn try_take(&mut self) -> Option<Outbound> {
        self.rx.try_recv().ok()
    }

    /// The hub skipped part of `room` for this replica (a burst too large to queue, or messages
    /// trimmed before it could read them): read what this client is missing from the store and
    /// write it as plain `message` frames, paced by this socket. When part of it is gone, send
    /// `joined` with `recovered: false` instead, as for a `join` whose `since` cannot be honoured.
    /// Never a silent jump in offsets.
    async fn catch_up<S: Sink<Message> + Unpin>(
        &mut self,
        sink: &mut S,
        room: &Arc<str>,
    ) -> Result<(), Close> {
        loop {
            let Some(view) = self.rooms.get(room) else {
                return Ok(()); // left meanwhile
            };
            let since = Since {
                epoch: view.epoch.to_string(),
                offset: view.last_sent,
            };
            let history = self.state.store.history(room, Some(&since)).await;
            let page = match self.with_counts(room, history).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(%room, error = %e, "catching up failed; closing so the client recovers");
                    self.state.metrics.redis_errors.inc();
                    return Err(Close(close::INTERNAL, "could not recover missed messages"));
                }
            };
            let guard = self.guard.clone();
            if !page.recovered {
                let filter = self.rooms.get_mut(room).and_then(|v| v.filter.take());
                let frame = self
                    .joined_frame(room.clone(), page, filter)
                    .map_err(|_| Close(close::INTERNAL, "stored history is not JSON"))?;
                return guard.run(sink.send(text(frame))).await;
            }
            if page.frames.is_empty() {
                return Ok(());
            }
            let count = page.frames.len() as u64;
            let frames = super::search::filtered(self.filter_of(room), page.frames);
            let writes = async {
                for frame in &frames {
                    sink.feed(Message::Text(Utf8Bytes::from(frame.as_ref())))
                        .await?;
                }
                sink.flush().await
            };
            guard.run(writes).await?;
            self.state.metrics.messages_out.inc_by(frames.len() as u64);
            if let Some(view) = self.rooms.get_mut(room) {
                view.last_sent = since.offset + count;
                if view.last_sent >= page.head {
                    return Ok(());
                }
            }
        }
    }

    fn outbound_to_message(&mut self, out: Outbound) -> Option<Message> {
        match out {
            Outbound::Message(message) => {
                let Delivered {
                    room,
                    offset,
                    time_ms,
                    frame,
                } = &*message;
                let view = self.rooms.get_mut(room)?;
                if *offset <= view.last_sent {
                    return None; // already in the `joined` page
                }
                if self.handle.is_lagging(room) {
                    return None; // pulled from the store at the room's `Lagged`, queued after
                }
                view.last_sent = *offset;
                if view
                    .filter
                    .as_ref()
                    .is_some_and(|f| !f.matches_frame(frame))
                {
                    return None;
                }
                self.unsampled += 1;
                if self.unsampled >= LATENCY_SAMPLE_EVERY {
                    self.unsampled = 0;
                    let latency = now_ms().saturating_sub(*time_ms) as f64 / 1000.0;
                    self.state.metrics.delivery_latency.observe(latency);
                }
                Some(Message::Text(frame.clone()))
            }
            Outbound::Resync(reset) => {
                let NewEpoch { room, epoch } = &*reset;
                let view = self.rooms.get_mut(room)?;
                view.epoch = epoch.clone();
                view.last_sent = 0;
                Some(text(ServerFrame::Resync { room, epoch }.to_json()))
            }
            Outbound::Frame(frame) => Some(Message::Text(Utf8Bytes::from(&*frame))),
            Outbound::Rooms => Some(Message::Text(self.state.hub.take_rooms(&self.handle))),
            Outbound::SupportQueue => self
                .state
                .hub
                .take_support_queue(&self.handle)
                .map(Message::Text),
            Outbound::Lagged { .. } => None, // handled by `write_queued`
            Outbound::Expired(room) => {
                self.rooms.remove(&room);
                Some(text(ServerFrame::Expired { room: &room }.to_json()))
            }
            // The hub took this connection out of the room already; forget it here too.
            Outbound::Removed { room } => {
                self.rooms.remove(&room);
                Some(text(ServerFrame::Removed { room: &room }.to_json()))
            }
            Outbound::Deleted { room } => {
                let joined = self.rooms.remove(&room).is_some();
                joined.then(|| text(ServerFrame::RoomDeleted { room: &room }.to_json()))
            }
        }
    }
}
