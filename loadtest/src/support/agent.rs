//! The agent of the `support` scenario: one signed-in connection that reads every
//! `support_queue` frame (timing how soon the queue reflects each client message), takes and
//! joins the conversations the engine picks, and times the messages that reach it there.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use futures_util::StreamExt;
use serde::Deserialize;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::Phase;
use super::board::{Board, Listed, lock};
use crate::client::{HANDSHAKE_TIMEOUT, Ws, close, open, send_text};
use crate::stats::read_stamp;
use crate::target::Target;

/// The frames the agent reads, parsed once each (a queue frame of 220 conversations is ~100 KB).
#[derive(Debug, Deserialize)]
struct Frame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    room: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    content: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    code: Option<Cow<'a, str>>,
    #[serde(default)]
    conversations: Vec<Listed>,
    /// `welcome`'s signed-in user (an object); in a `message`, the sender's username (a string).
    #[serde(default)]
    user: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct User {
    #[serde(default)]
    agent: bool,
    #[serde(default)]
    username: String,
}

/// Runs the agent until the engine says [`Phase::Closing`] or its socket fails. A failure to
/// start is left in `board.agent_failure`.
pub(crate) async fn run(
    target: Target,
    cookie: String,
    board: Arc<Board>,
    mut phase: watch::Receiver<Phase>,
) {
    let started = tokio::time::timeout(HANDSHAKE_TIMEOUT, start(&target, &cookie)).await;
    let mut ws = match started {
        Ok(Ok(ws)) => ws,
        Ok(Err(why)) => return fail(&board, why),
        Err(_) => return fail(&board, "the agent's connection timed out".into()),
    };
    board.agent_ready.store(true, Relaxed);
    let mut holding: HashSet<String> = HashSet::new();
    let mut took = false;
    loop {
        tokio::select! {
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(text))) => on_text(&board, &text, &mut holding),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    board.counters.error("agent_closed");
                    return;
                }
                Some(Ok(_)) => {}
            },
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Closing };
                match now {
                    // A watch keeps only the newest phase: take on whichever comes first.
                    Phase::Taking | Phase::Sending | Phase::Draining if !took => {
                        took = true;
                        let rooms: Vec<String> = lock(&board.to_take).iter().cloned().collect();
                        if !take(&mut ws, &rooms).await {
                            board.counters.error("agent_closed");
                            return;
                        }
                    }
                    Phase::Closing => { close(&mut ws).await; return; }
                    _ => {}
                }
            }
        }
    }
}

fn fail(board: &Board, why: String) {
    *lock(&board.agent_failure) = Some(why);
}

/// Connects with the agent's cookie and checks its `welcome` names an agent.
async fn start(target: &Target, cookie: &str) -> Result<Ws, String> {
    let mut ws = open(target, None, Some(cookie)).await?;
    send_text(&mut ws, r#"{"type":"hello","name":"bench-agent"}"#.into()).await?;
    loop {
        let Some(Ok(msg)) = ws.next().await else {
            return Err("the agent's connection closed before welcome".into());
        };
        let Message::Text(text) = msg else { continue };
        let Ok(frame) = serde_json::from_str::<Frame<'_>>(&text) else {
            continue;
        };
        if frame.kind == "welcome" {
            let user = frame
                .user
                .and_then(|u| serde_json::from_value::<User>(u).ok());
            return match user {
                Some(u) if u.agent => Ok(ws),
                Some(u) => Err(format!(
                    "{} is signed in but not an agent: run the server with --support-agents {} (CHATAPP_SUPPORT_AGENTS)",
                    u.username, u.username
                )),
                None => Err(
                    "the agent's welcome names no signed-in user: its cookie is not a session"
                        .into(),
                ),
            };
        }
        if frame.kind == "error" {
            return Err(format!("the agent got error {:?}", frame.code));
        }
    }
}

/// `support_take` then `join` for each room (the answers arrive in the read loop).
async fn take(ws: &mut Ws, rooms: &[String]) -> bool {
    for room in rooms {
        let take = serde_json::json!({"type": "support_take", "room": room}).to_string();
        let join = serde_json::json!({"type": "join", "room": room}).to_string();
        if send_text(ws, take).await.is_err() || send_text(ws, join).await.is_err() {
            return false;
        }
    }
    true
}

fn on_text(board: &Board, text: &str, holding: &mut HashSet<String>) {
    let now = board.micros();
    let Ok(frame) = serde_json::from_str::<Frame<'_>>(text) else {
        board.counters.error("bad_frame");
        return;
    };
    match frame.kind.as_ref() {
        "support_queue" => {
            board.queue_frames.fetch_add(1, Relaxed);
            board.queue_bytes.fetch_add(text.len() as u64, Relaxed);
            board.on_queue(&frame.conversations, now);
        }
        "joined" => {
            let Some(room) = frame.room else { return };
            if lock(&board.to_take).contains(room.as_ref()) && holding.insert(room.into_owned()) {
                board.taken.fetch_add(1, Relaxed);
            }
        }
        "message" => {
            let held = frame.room.as_deref().is_some_and(|r| holding.contains(r));
            let sent = frame.content.as_deref().and_then(read_stamp);
            if let (true, Some(sent)) = (held, sent) {
                board.agent_delivered.fetch_add(1, Relaxed);
                board.delivery.record(now.saturating_sub(sent));
            }
        }
        "error" => board.counters.error(&format!(
            "agent_{}",
            frame.code.as_deref().unwrap_or("error")
        )),
        _ => {}
    }
}
