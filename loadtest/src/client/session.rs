//! A joined client's live part, [`Session`]: what it does with each frame it reads (deliveries,
//! acks, errors), how it sends (`send`, with `typing` before it when signals are on) and `read`,
//! and what counts as the answer to a send. Also the `send` frame with its stamps.

use super::*;

/// The live part of a client: counts, offsets and its send sequence.
pub(super) struct Session<'a> {
    pub(super) spec: &'a Spec,
    pub(super) shared: &'a Shared,
    pub(super) tracker: OffsetTracker,
    pub(super) seq: u64,
    pub(super) in_flight: u32,
    pub(super) sending: bool,
    /// The offset of the last `read` sent.
    pub(super) last_read: u64,
}

impl Session<'_> {
    /// Handles one text frame; returns true when a closed-loop sender should send again.
    pub(super) fn on_text(&mut self, text: &str) -> bool {
        // Online-count pushes are the most frequent frame while thousands join: skip them unparsed.
        if text.starts_with(r#"{"type":"rooms""#) {
            return false;
        }
        let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
            self.shared.counters.error("bad_frame");
            return false;
        };
        let now = self.shared.micros();
        match frame.kind.as_ref() {
            "message" if frame.room.as_deref() == Some(&*self.spec.room) => {
                if let Some(offset) = frame.offset {
                    self.tracker.see(offset);
                }
                if let Some(sent) = frame.content.as_deref().and_then(read_stamp) {
                    self.shared.counters.delivered.fetch_add(1, Relaxed);
                    self.shared
                        .delivery
                        .record(self.spec.id, now.saturating_sub(sent));
                }
                false
            }
            "ack" => {
                self.shared.counters.acked.fetch_add(1, Relaxed);
                let room = &self.shared.rooms[self.spec.room_index];
                room.acked.fetch_add(1, Relaxed);
                room.final_offset
                    .fetch_max(frame.offset.unwrap_or(0), Relaxed);
                if let Some(sent) = frame.client_id.as_deref().and_then(stamp_of_client_id) {
                    self.shared
                        .ack
                        .record(self.spec.id, now.saturating_sub(sent));
                }
                self.settled()
            }
            "error" => {
                let counters = &self.shared.counters;
                counters.error(frame.code.as_deref().unwrap_or("error"));
                // An error with a `client_id` answers one of our sends; without one it answers
                // something else (a guest's `read`, a refused `typing`).
                if frame.client_id.is_none() {
                    return false;
                }
                counters.send_errors.fetch_add(1, Relaxed);
                self.settled()
            }
            _ => false,
        }
    }

    /// One of our sends got its answer; closed-loop senders refill their window.
    fn settled(&mut self) -> bool {
        self.in_flight = self.in_flight.saturating_sub(1);
        let closed_loop = self.spec.sending.is_some_and(|s| s.period.is_none());
        closed_loop && self.sending
    }

    /// The connection is ending: its sends still waiting for an answer are settled as lost.
    pub(super) fn lose_in_flight(&mut self) {
        let lost = std::mem::take(&mut self.in_flight);
        self.shared
            .counters
            .send_errors
            .fetch_add(u64::from(lost), Relaxed);
    }

    /// Sends one message if the run's budget allows; false when the socket failed.
    pub(super) async fn send(&mut self, ws: &mut Ws, phase: &watch::Receiver<Phase>) -> bool {
        let Some(plan) = self.spec.sending else {
            return true;
        };
        if !self.sending {
            return true;
        }
        if self.shared.tickets.fetch_add(1, Relaxed) >= self.shared.budget {
            self.sending = false;
            return true;
        }
        // Count the send before looking at the phase: once the engine has switched to Draining
        // and reads `sent`, every send it will ever wait an answer for is in that count, and a
        // send racing the switch (a tick that won its `select!` against the phase change) is
        // taken back instead of going out unaccounted.
        let sent = &self.shared.counters.sent;
        sent.fetch_add(1, Relaxed);
        if *phase.borrow() != Phase::Sending {
            sent.fetch_sub(1, Relaxed);
            self.sending = false;
            return true;
        }
        self.seq += 1;
        if self.spec.signals {
            let typing = format!(r#"{{"type":"typing","room":"{}"}}"#, self.spec.room);
            if ws.send(Message::text(typing)).await.is_err() {
                sent.fetch_sub(1, Relaxed);
                self.shared.counters.error("socket_error");
                return false;
            }
        }
        let frame = send_frame(
            &self.spec.room,
            self.spec.id,
            self.seq,
            self.shared.micros(),
            plan.content_bytes,
        );
        if ws.send(Message::text(frame)).await.is_err() {
            // Still counted as sent: its error is its answer.
            self.shared.counters.error("socket_error");
            self.shared.counters.send_errors.fetch_add(1, Relaxed);
            return false;
        }
        self.in_flight += 1;
        true
    }
}

impl Session<'_> {
    /// Sends `read` for the newest offset seen, when it moved; false when the socket failed.
    pub(super) async fn read(&mut self, ws: &mut Ws) -> bool {
        let offset = self.tracker.last;
        if offset <= self.last_read {
            return true;
        }
        self.last_read = offset;
        let frame = format!(
            r#"{{"type":"read","room":"{}","offset":{offset}}}"#,
            self.spec.room
        );
        if ws.send(Message::text(frame)).await.is_err() {
            self.shared.counters.error("socket_error");
            return false;
        }
        true
    }
}

/// `{"type":"send",...}` with the send time stamped into both the content and the client id, so
/// that every recipient times the delivery and the sender times the ack without any lookup table.
pub(crate) fn send_frame(
    room: &str,
    id: usize,
    seq: u64,
    micros: u64,
    content_bytes: usize,
) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(96 + room.len() + content_bytes);
    let _ = write!(
        out,
        r#"{{"type":"send","room":"{room}","client_id":"{id}.{seq}.{micros}","content":""#
    );
    write_stamp(&mut out, micros);
    out.push(' ');
    let padding = content_bytes.saturating_sub(17);
    out.extend(std::iter::repeat_n('x', padding));
    out.push_str("\"}");
    out
}

/// The send time in a client id written by [`send_frame`].
pub(crate) fn stamp_of_client_id(client_id: &str) -> Option<u64> {
    client_id.rsplit('.').next()?.parse().ok()
}
