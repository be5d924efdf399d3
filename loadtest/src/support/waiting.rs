//! A waiting client of the `support` scenario: it connects (a guest, or a registered user with
//! its cookie), opens its support conversation (`support_open`), joins that room and, while the
//! engine says [`Phase::Sending`], writes a message every period, each stamped with its send time
//! so the agent can time the queue and the delivery.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, watch};
use tokio::time::{Interval, MissedTickBehavior, timeout};
use tokio_tungstenite::tungstenite::Message;

use super::Phase;
use super::board::Board;
use crate::client::{HANDSHAKE_TIMEOUT, Ws, close, open, send_text};
use crate::protocol::{Frame, Protocol, stamp_of_client_id};
use crate::target::Target;

/// One waiting client.
#[derive(Debug, Clone)]
pub(crate) struct Waiting {
    pub id: usize,
    pub target: Target,
    /// A registered user's session; `None`: a guest.
    pub cookie: Option<String>,
    /// One message per period, the first after `offset`.
    pub period: Duration,
    pub offset: Duration,
    pub content_bytes: usize,
}

/// Runs one waiting client to the end of the run. `permit` bounds concurrent handshakes.
pub(crate) async fn run(
    me: Waiting,
    board: Arc<Board>,
    mut phase: watch::Receiver<Phase>,
    permit: OwnedSemaphorePermit,
) {
    let opened = timeout(HANDSHAKE_TIMEOUT, start(&me)).await;
    drop(permit);
    let (mut ws, room) = match opened {
        Ok(Ok(ok)) => ok,
        Ok(Err(code)) => return failed(&board, &code),
        Err(_) => return failed(&board, "connect_timeout"),
    };
    board.open(&room);
    board.counters.connected.fetch_add(1, Relaxed);
    let mut seq = 0;
    let mut ticker: Option<Interval> = None;
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => on_text(&board, &room, &text),
                Some(Ok(Message::Close(frame))) => {
                    let code = frame.map_or(1005, |f| u16::from(f.code));
                    board.counters.error(&format!("closed_{code}"));
                    return;
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => {
                    board.counters.error("socket_error");
                    return;
                }
            },
            _ = tick(&mut ticker) => {
                if *phase.borrow() != Phase::Sending {
                    continue;
                }
                seq += 1;
                board.counters.sent.fetch_add(1, Relaxed);
                let frame = Protocol::Chatapp.send_frame(
                    &room,
                    me.id,
                    seq,
                    board.micros(),
                    me.content_bytes,
                );
                if send_text(&mut ws, frame).await.is_err() {
                    board.counters.send_errors.fetch_add(1, Relaxed);
                    board.counters.error("socket_error");
                    return;
                }
            }
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Closing };
                match now {
                    Phase::Sending => {
                        let start = tokio::time::Instant::now() + me.offset;
                        let mut t = tokio::time::interval_at(start, me.period);
                        // Open loop: a late tick is sent late, not skipped.
                        t.set_missed_tick_behavior(MissedTickBehavior::Burst);
                        ticker = Some(t);
                    }
                    Phase::Draining => ticker = None,
                    Phase::Closing => { close(&mut ws).await; return; }
                    _ => {}
                }
            }
        }
    }
}

fn failed(board: &Board, code: &str) {
    board.counters.connect_failures.fetch_add(1, Relaxed);
    board.counters.error(code);
}

async fn tick(ticker: &mut Option<Interval>) {
    match ticker {
        Some(t) => {
            t.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Connect, `hello`, `support_open`, `join`: the socket and the conversation's room.
async fn start(me: &Waiting) -> Result<(Ws, String), String> {
    let mut ws = open(&me.target, None, me.cookie.as_deref()).await?;
    let hello = format!(r#"{{"type":"hello","name":"client-{}"}}"#, me.id);
    send_text(&mut ws, hello).await?;
    until(&mut ws, "welcome").await?;
    send_text(&mut ws, r#"{"type":"support_open"}"#.into()).await?;
    let room = until(&mut ws, "support_opened")
        .await?
        .ok_or_else(|| "support_opened_without_room".to_owned())?;
    let join = serde_json::json!({"type": "join", "room": room}).to_string();
    send_text(&mut ws, join).await?;
    until(&mut ws, "joined").await?;
    Ok((ws, room))
}

/// Reads frames until one of type `kind` and returns its `room`; an `error` first is its code.
async fn until(ws: &mut Ws, kind: &str) -> Result<Option<String>, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let frame: Frame<'_> =
                    serde_json::from_str(&text).map_err(|_| "bad_frame".to_owned())?;
                if frame.kind == kind {
                    return Ok(frame.room.map(Cow::into_owned));
                }
                if frame.kind == "error" {
                    return Err(frame.code.map_or("error".into(), Cow::into_owned));
                }
            }
            Some(Ok(Message::Close(f))) => {
                return Err(format!("closed_{}", f.map_or(1005, |f| u16::from(f.code))));
            }
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return Err("socket_error".to_owned()),
        }
    }
}

fn on_text(board: &Board, room: &str, text: &str) {
    if text.starts_with(r#"{"type":"rooms""#) {
        return; // online-count pushes: the most frequent frame, never needed here
    }
    let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
        board.counters.error("bad_frame");
        return;
    };
    match frame.kind.as_ref() {
        "ack" => {
            board.counters.acked.fetch_add(1, Relaxed);
            board.acked(room, frame.offset.unwrap_or(0));
            if let Some(sent) = frame.client_id.as_deref().and_then(stamp_of_client_id) {
                let now = board.micros();
                board.ack.record(now.saturating_sub(sent));
            }
        }
        "error" => {
            board
                .counters
                .error(frame.code.as_deref().unwrap_or("error"));
            if frame.client_id.is_some() {
                board.counters.send_errors.fetch_add(1, Relaxed);
            }
        }
        _ => {}
    }
}
