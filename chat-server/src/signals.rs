//! Presence signals: typing, read receipts, unread counts and mentions (issue #14, items 6-7).
//! The rules live here: the typing rate, which offsets get receipts, how many names a receipt
//! lists, how often receipts and `unread` are pushed, and what counts as a mention. Sessions
//! handle the client frames (`session/signals.rs`); the stores keep positions and relay frames
//! (`store/reads.rs`); this module's task turns "a position moved" into `receipts` for a room's
//! local members and `unread` for a user's local connections, coalesced.

use std::{collections::HashMap, sync::Arc, time::Duration};

use serde::Serialize;

use crate::{
    AppState,
    hub::Outbound,
    store::{ReadPosition, Unread},
};

/// At most one `typing` per connection in this interval; the rest are dropped silently.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);
/// Receipts and `unread` pushes are coalesced: at most one per room (per user) in this interval,
/// carrying the latest positions only.
pub const PUSH_EVERY: Duration = Duration::from_millis(500);
/// Receipts are sent for the newest this many distinct read positions of a room.
pub const RECEIPT_OFFSETS: usize = 3;
/// Most names a `receipts` frame lists (its `count` is always complete).
pub const MAX_RECEIPT_NAMES: usize = 20;
/// Most users one message can mention (counted); the rest are highlighted only.
pub const MAX_MENTIONED: usize = 10;

/// The `typing` frame the room's other members get.
pub fn typing_frame(room: &str, name: &str, user: Option<&str>) -> String {
    #[derive(Serialize)]
    struct Typing<'a> {
        r#type: &'static str,
        room: &'a str,
        name: &'a str,
        user: Option<&'a str>,
    }
    serde_json::to_string(&Typing {
        r#type: "typing",
        room,
        name,
        user,
    })
    .expect("plain struct")
}

/// The `unread` frame of a user.
pub fn unread_frame(rooms: &[Unread]) -> String {
    serde_json::json!({"type": "unread", "rooms": rooms}).to_string()
}

/// The `receipts` frames of a room: for each of the newest [`RECEIPT_OFFSETS`] distinct
/// positions, how many users have read at least that far, and who (sorted, at most
/// [`MAX_RECEIPT_NAMES`]). Oldest offset first.
pub fn receipts_frames(room: &str, positions: &[ReadPosition]) -> Vec<String> {
    let mut offsets: Vec<u64> = positions
        .iter()
        .map(|p| p.offset)
        .filter(|o| *o > 0)
        .collect();
    offsets.sort_unstable();
    offsets.dedup();
    let newest = &offsets[offsets.len().saturating_sub(RECEIPT_OFFSETS)..];
    newest
        .iter()
        .map(|&offset| {
            let mut names: Vec<&str> = positions
                .iter()
                .filter(|p| p.offset >= offset)
                .map(|p| p.display_name.as_str())
                .collect();
            let count = names.len();
            names.sort_unstable();
            names.truncate(MAX_RECEIPT_NAMES);
            serde_json::json!({
                "type": "receipts", "room": room, "offset": offset, "count": count, "names": names,
            })
            .to_string()
        })
        .collect()
}

/// The users of `candidates` that `content` mentions as `@username` or `@display name` (case
/// ignored, ended by a character that is not a letter, digit, `-` or `_`), but not `author`; at
/// most [`MAX_MENTIONED`].
pub fn mentioned(content: &str, candidates: &[ReadPosition], author: &str) -> Vec<String> {
    if !content.contains('@') {
        return Vec::new();
    }
    let text = content.to_lowercase();
    let names_at = |name: &str| {
        let needle = format!("@{}", name.to_lowercase());
        text.match_indices(&needle).any(|(i, _)| {
            let before_ok = !text[..i]
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric);
            let rest = &text[i + needle.len()..];
            before_ok
                && !rest
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
    };
    candidates
        .iter()
        .filter(|p| p.user != author && (names_at(&p.user) || names_at(&p.display_name)))
        .map(|p| p.user.clone())
        .take(MAX_MENTIONED)
        .collect()
}

/// The `@username`-shaped words of `content` (3 to 32 of ASCII letters, digits, `-`, `_`, not
/// preceded by a letter or digit), lower-cased, each once, at most [`MAX_MENTIONED`]: the
/// accounts a message may mention besides the room's readers.
pub fn username_words(content: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = content;
    let mut before: Option<char> = None;
    while let Some(i) = rest.find('@') {
        let prev = rest[..i].chars().next_back().or(before);
        let word: String = rest[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let ends_clean = !rest[i + 1 + word.len()..]
            .chars()
            .next()
            .is_some_and(char::is_alphanumeric);
        let word = word.to_ascii_lowercase();
        if !prev.is_some_and(char::is_alphanumeric)
            && (3..=32).contains(&word.len())
            && ends_clean
            && !out.contains(&word)
        {
            out.push(word);
            if out.len() == MAX_MENTIONED {
                break;
            }
        }
        before = Some('@');
        rest = &rest[i + 1..];
    }
    out
}

/// Reads written at once by [`run_reads`].
pub const READ_CONCURRENCY: usize = 32;

/// Write queued `read`s until `stop`: each wake-up takes everything queued (the highest offset
/// per room and user) and writes it, up to [`READ_CONCURRENCY`] at a time. A failed write is
/// logged; the page's next `read` tries again.
pub async fn run_reads(state: AppState, stop: tokio_util::sync::CancellationToken) {
    use futures_util::StreamExt;
    let due = &state.hub.signals;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = due.reads_wake.notified() => {}
        }
        let (store, metrics) = (&state.store, &state.metrics);
        futures_util::stream::iter(due.take_reads())
            .for_each_concurrent(READ_CONCURRENCY, |(room, user, name, offset)| async move {
                if let Err(e) = store.mark_read(&room, &user, &name, offset).await {
                    metrics.redis_errors.inc();
                    tracing::debug!(error = %e, "read position not stored");
                }
            })
            .await;
    }
}

/// Push due receipts and `unread` frames until `stop`, at most every [`PUSH_EVERY`].
pub async fn run(state: AppState, stop: tokio_util::sync::CancellationToken) {
    let mut sent: HashMap<Arc<str>, Vec<String>> = HashMap::new();
    let due = &state.hub.signals;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = due.wake.notified() => {}
        }
        let due = due.take();
        sent.retain(|room, _| state.hub.local_count(room) > 0);
        for room in due.rooms {
            if state.hub.local_count(&room) > 0 {
                push_receipts(&state, &room, &mut sent).await;
            }
        }
        for (room, conn) in due.joined {
            if !sent.contains_key(&room) {
                let Some(frames) = receipts_now(&state, &room).await else {
                    continue;
                };
                sent.insert(room.clone(), frames);
            }
            for frame in &sent[&room] {
                state
                    .hub
                    .offer(&conn, Outbound::Frame(frame.as_str().into()));
            }
        }
        for user in due.users {
            if !state.hub.has_user(&user) {
                continue;
            }
            match state.store.unread(&user).await {
                Ok(rooms) => state.hub.to_user(&user, unread_frame(&rooms).into()),
                Err(e) => tracing::debug!(error = %e, "unread counts could not be read"),
            }
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(PUSH_EVERY) => {}
        }
    }
}

/// The room's receipts now, or None when the positions cannot be read.
async fn receipts_now(state: &AppState, room: &str) -> Option<Vec<String>> {
    match state.store.room_reads(room).await {
        Ok(positions) => Some(receipts_frames(room, &positions)),
        Err(e) => {
            tracing::debug!(error = %e, "read positions could not be read");
            None
        }
    }
}

/// Send the room's local members the receipts that changed since they were last sent.
async fn push_receipts(
    state: &AppState,
    room: &Arc<str>,
    sent: &mut HashMap<Arc<str>, Vec<String>>,
) {
    let Some(frames) = receipts_now(state, room).await else {
        return;
    };
    let before = sent.get(room).map_or(&[][..], Vec::as_slice);
    for frame in &frames {
        if !before.contains(frame) {
            state.hub.to_room(room, frame.as_str().into());
        }
    }
    sent.insert(room.clone(), frames);
}

#[cfg(test)]
mod tests;
