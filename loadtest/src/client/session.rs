//! A joined client's live part, [`Session`]: what it does with each event its protocol's decoder
//! finds in a frame (deliveries, acks, errors, keep-alives), how it sends (`send`, with `typing`
//! before it when signals are on) and `read`, and what counts as the answer to a send.

use super::*;
use crate::protocol::Decoder;

/// The live part of a client: counts, offsets and its send sequence.
pub(super) struct Session<'a> {
    pub(super) spec: &'a Spec,
    pub(super) shared: &'a Shared,
    pub(super) tracker: OffsetTracker,
    pub(super) decoder: Decoder,
    /// Send stamps of sends waiting for their ack, on protocols whose acks do not say (NATS).
    pub(super) stamps: VecDeque<u64>,
    pub(super) seq: u64,
    pub(super) in_flight: u32,
    pub(super) sending: bool,
    /// The offset of the last `read` sent.
    pub(super) last_read: u64,
    /// When the frames being handled arrived (`Shared::micros`), read at the first event that
    /// needs it: one clock read per wake-up, not per frame.
    pub(super) received_at: Option<u64>,
}

/// What a frame asks of the client.
#[derive(Debug, Default)]
pub(super) struct Answer {
    /// Closed-loop sends to make (one per send answered).
    pub(super) resend: u32,
    /// A keep-alive to answer.
    pub(super) pong: Option<&'static str>,
}

impl Session<'_> {
    /// Handles what the socket gave: a message, its close, its failure or its end; false when
    /// the client is done.
    pub(super) async fn on_frame(
        &mut self,
        ws: &mut Ws,
        frame: Option<Result<Message, tungstenite::Error>>,
        phase: &watch::Receiver<Phase>,
    ) -> bool {
        let failure = match frame {
            Some(Ok(Message::Close(frame))) => {
                let code = frame.map_or(1005, |f| u16::from(f.code));
                format!("closed_{code}")
            }
            Some(Ok(message)) => return self.answer(ws, &message, phase).await,
            Some(Err(_)) => "socket_error".to_owned(),
            None => "socket_eof".to_owned(),
        };
        self.shared.counters.error(&failure);
        false
    }

    /// Handles one message and does what it asks; false when the socket failed.
    pub(super) async fn answer(
        &mut self,
        ws: &mut Ws,
        message: &Message,
        phase: &watch::Receiver<Phase>,
    ) -> bool {
        let answer = self.on_message(message);
        if let Some(pong) = answer.pong
            && ws
                .send(self.spec.protocol.message(pong.into()))
                .await
                .is_err()
        {
            self.shared.counters.error("socket_error");
            return false;
        }
        for _ in 0..answer.resend {
            if !self.send(ws, phase).await {
                return false;
            }
        }
        true
    }

    /// Accounts for every event in one message.
    pub(super) fn on_message(&mut self, message: &Message) -> Answer {
        let mut decoder = std::mem::take(&mut self.decoder);
        let mut answer = Answer::default();
        decoder.decode(message, &mut |event| self.on_event(event, &mut answer));
        self.decoder = decoder;
        answer
    }

    fn on_event(&mut self, event: Event<'_>, answer: &mut Answer) {
        let now = *self.received_at.get_or_insert_with(|| self.shared.micros());
        match event {
            Event::Message { room, offset, sent } if room.as_deref() == Some(&*self.spec.room) => {
                if let Some(offset) = offset {
                    self.tracker.see(offset);
                }
                if let Some(sent) = sent {
                    self.shared.counters.delivered.fetch_add(1, Relaxed);
                    self.shared.delivery.record(now.saturating_sub(sent));
                }
            }
            Event::Ack { offset, sent } => {
                self.shared.counters.acked.fetch_add(1, Relaxed);
                let room = &self.shared.rooms[self.spec.room_index];
                room.acked.fetch_add(1, Relaxed);
                room.final_offset.fetch_max(offset.unwrap_or(0), Relaxed);
                let sent = sent.or_else(|| self.stamps.pop_front());
                if let Some(sent) = sent {
                    self.shared.ack.record(now.saturating_sub(sent));
                }
                answer.resend += u32::from(self.settled());
            }
            Event::Error { code, answers_send } => {
                let counters = &self.shared.counters;
                counters.error(&code);
                if answers_send {
                    counters.send_errors.fetch_add(1, Relaxed);
                    answer.resend += u32::from(self.settled());
                }
            }
            Event::Ping(pong) => answer.pong = Some(pong),
            Event::Bad => self.shared.counters.error("bad_frame"),
            Event::Message { .. } | Event::Other => {}
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
        let micros = self.shared.micros();
        let protocol = self.spec.protocol;
        let frame = protocol.send_frame(
            &self.spec.room,
            self.spec.id,
            self.seq,
            micros,
            plan.content_bytes,
        );
        if protocol.acks_in_order() {
            self.stamps.push_back(micros);
        }
        if ws.send(protocol.message(frame)).await.is_err() {
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
