//! The session's side of presence signals (`crate::signals` has the rules): `typing` is relayed
//! to the room's other members through the store's bus, at most one per [`TYPING_EVERY`] per
//! connection (the rest are dropped silently); `read` queues a move of a signed-in user's
//! position for the signals' read writer (guests get `login_required`); a stored message that mentions readers of the room is counted for them.
//! Neither `typing` nor `read` gets a reply when it succeeds.

use super::*;
use crate::signals::{MAX_MENTIONED, TYPING_EVERY, mentioned, typing_frame, username_words};

/// When this connection last relayed a `typing`.
#[derive(Debug, Default)]
pub(super) struct SignalState {
    last_typing: Option<Instant>,
}

impl Session {
    /// Relay "typing" to the room's other members; `Ok("")` means nothing to reply.
    pub(super) async fn typing(&mut self, room: String) -> Result<String, ProtocolError> {
        self.check_joined(&room, "typing in it")?;
        let may_send = self.require_poster(&room, "type").is_ok();
        let recent = self
            .signals
            .last_typing
            .is_some_and(|t| t.elapsed() < TYPING_EVERY);
        if !may_send || recent {
            return Ok(String::new());
        }
        self.signals.last_typing = Some(Instant::now());
        let name = self.identity.as_ref().map_or("", |i| i.name.as_str());
        let user = self.visitor.user().map(|u| u.username.as_str());
        let frame = typing_frame(&room, name, user);
        if let Err(e) = self.state.store.signal(&room, self.id, &frame).await {
            tracing::debug!(error = %e, "typing not relayed");
        }
        Ok(String::new())
    }

    /// Move the signed-in user's read position; `Ok("")` means nothing to reply.
    pub(super) async fn read(
        &mut self,
        room: String,
        offset: u64,
    ) -> Result<String, ProtocolError> {
        let Some(signed_in) = self.visitor.signed_in() else {
            return Err(ProtocolError::new(
                ErrorCode::LoginRequired,
                "read positions are kept for signed-in users only; register or log in",
            )
            .in_room(&room));
        };
        self.check_joined(&room, "marking it read")?;
        let (key, display_name) = (signed_in.key.clone(), signed_in.user.display_name.clone());
        // Written by the signals' read writer, so this session never waits for the store.
        if !self
            .state
            .hub
            .signals
            .read(room.as_str().into(), key, display_name, offset)
        {
            tracing::debug!(%room, "read dropped: the queue of reads is full");
        }
        if crate::support::is_support_room(&room) {
            self.support_read(&room, offset).await;
        }
        Ok(String::new())
    }

    /// Count the mentions of a message just stored (best effort: a failure only loses counts).
    pub(super) async fn count_mentions(&self, room: &str, offset: u64, content: &str) {
        if !content.contains('@') {
            return;
        }
        let store = &self.state.store;
        let author = self.visitor.key().unwrap_or("");
        let result = match store.room_reads(room).await {
            Ok(readers) => {
                let mut users = mentioned(content, &readers, author);
                self.mentioned_accounts(content, author, &mut users).await;
                // A private room's mentions count for its participants only: anyone else's
                // `unread` would name the room.
                if let Some(participants) = self.state.hub.acl.participants(room) {
                    users.retain(|u| participants.contains(u));
                }
                store.add_mentions(room, offset, &users).await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "mentions not counted");
        }
    }

    /// Adds the accounts named `@username` that are not among `users` yet (users who never read
    /// the room), up to [`MAX_MENTIONED`] in all: one account lookup per such word.
    async fn mentioned_accounts(&self, content: &str, author: &str, users: &mut Vec<String>) {
        for word in username_words(content) {
            if users.len() >= MAX_MENTIONED {
                return;
            }
            if word == author || users.contains(&word) {
                continue;
            }
            if let Ok(Some(_)) = self.state.store.account(&word).await {
                users.push(word);
            }
        }
    }
}
