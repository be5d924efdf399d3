//! The session's side of replies and votes: a reply's parent must exist, a stored reply is
//! counted, a `vote` is for registered users in a joined room, and every page a client is handed
//! (`joined`, `history`, a catch-up) gets every message's current counts (zeros included) and the
//! reader's own votes merged in from one batched read (`Store::tallies`).

use super::*;
use crate::{
    protocol::{frame_offset, is_tombstone, with_tally},
    store::{Store, Vote},
};

impl Session {
    /// Refuse a reply whose parent is not a message of this room (`no_such_message`).
    pub(super) async fn check_parent(
        &self,
        room: &str,
        reply_to: Option<u64>,
    ) -> Result<(), ProtocolError> {
        let Some(parent) = reply_to else {
            return Ok(());
        };
        let exists = self
            .state
            .store
            .message_exists(room, parent)
            .await
            .map_err(|e| unavailable(&self.state.metrics, e))?;
        if !exists || self.deleted(room, parent).await? {
            return Err(ProtocolError::new(
                ErrorCode::NoSuchMessage,
                format!("reply_to: no message {parent} in {room} to reply to"),
            ));
        }
        Ok(())
    }

    /// Count a reply that was just stored. The message is stored and acked either way: a
    /// failure here costs the parent's count one reply, logged.
    pub(super) async fn count_reply(&self, room: &str, reply_to: Option<u64>, offset: u64) {
        let Some(parent) = reply_to else { return };
        if let Err(e) = self.state.store.add_reply(room, parent, offset).await {
            self.state.metrics.redis_errors.inc();
            tracing::warn!(%room, parent, error = %e, "reply not counted");
        }
    }

    /// `vote {room, offset, value}`: registered users only, in a joined room; answered with the
    /// message's counts and the voter's vote (`votes` with `mine`), while the room gets the counts.
    pub(super) async fn vote(
        &mut self,
        room: String,
        offset: u64,
        value: i8,
    ) -> Result<String, ProtocolError> {
        let fail = |e: ProtocolError| e.in_room(&room);
        let Some(signed_in) = self.visitor.signed_in() else {
            return Err(fail(ProtocolError::new(
                ErrorCode::LoginRequired,
                "guests cannot vote; register or log in",
            )));
        };
        self.check_joined(&room, "voting in it").map_err(fail)?;
        if self.deleted(&room, offset).await.map_err(fail)? {
            return Err(fail(ProtocolError::new(
                ErrorCode::NoSuchMessage,
                format!("message {offset} in {room} was deleted: no votes on it"),
            )));
        }
        let vote = Vote {
            room: &room,
            offset,
            user: &signed_in.key,
            value,
        };
        let counted = self
            .state
            .store
            .vote(&vote)
            .await
            .map_err(|e| fail(unavailable(&self.state.metrics, e)))?;
        let Some(counted) = counted else {
            return Err(fail(ProtocolError::new(
                ErrorCode::NoSuchMessage,
                format!("no message {offset} in {room} to vote on"),
            )));
        };
        Ok(ServerFrame::Votes {
            room: &room,
            offset,
            up: counted.up,
            down: counted.down,
            mine: Some(value),
        }
        .to_json())
    }

    /// Whether the message at `offset` is a tombstone (`edits`): replies and votes are refused.
    async fn deleted(&self, room: &str, offset: u64) -> Result<bool, ProtocolError> {
        let page = self
            .state
            .store
            .page(room, Cursor::After(offset.saturating_sub(1)), 1)
            .await
            .map_err(|e| unavailable(&self.state.metrics, e))?;
        Ok(page
            .frames
            .first()
            .is_some_and(|f| frame_offset(f) == Some(offset) && is_tombstone(f)))
    }

    /// A store read of a page, with the current counts merged into its frames.
    pub(super) async fn with_counts(
        &self,
        room: &str,
        page: crate::error::Result<Page>,
    ) -> crate::error::Result<Page> {
        let mut page = page?;
        page.frames = self.counted(room, page.frames).await?;
        Ok(page)
    }

    /// `frames` with their current counts and this reader's votes merged in.
    pub(super) async fn counted(
        &self,
        room: &str,
        frames: Vec<Arc<str>>,
    ) -> crate::error::Result<Vec<Arc<str>>> {
        merge_tallies(&self.state.store, room, frames, self.voter()).await
    }

    fn voter(&self) -> Option<&str> {
        self.visitor.signed_in().map(|s| s.key.as_str())
    }
}

/// One batched read of the counts of `frames`, merged into each (zeros included).
async fn merge_tallies(
    store: &Store,
    room: &str,
    frames: Vec<Arc<str>>,
    user: Option<&str>,
) -> crate::error::Result<Vec<Arc<str>>> {
    let offsets: Vec<u64> = frames.iter().filter_map(|f| frame_offset(f)).collect();
    let tallies = store.tallies(room, &offsets, user).await?;
    Ok(frames
        .into_iter()
        .map(|f| match frame_offset(&f) {
            Some(offset) => {
                let tally = tallies.get(&offset).copied().unwrap_or_default();
                with_tally(&f, &tally).into()
            }
            None => f,
        })
        .collect())
}
