//! The session's side of filters and search: `search` requests (read access checked exactly as
//! for `history`), and the per-room filter a `join {filter}` sets, applied to everything this
//! connection is sent of that room (live messages, `joined` and `history` pages, catch-up).
//! A room without a filter costs one `None` check per message.

use super::*;
use crate::{query::Query, search::search};

impl Session {
    /// Search a room's messages (newest first); counted like `history` against the request rate
    /// and the reply budget.
    pub(super) async fn search(
        &mut self,
        room: String,
        query: &Query,
        text: &str,
        limit: u32,
        before: u64,
    ) -> Result<String, ProtocolError> {
        self.check_readable(&room).await?;
        let found = search(&self.state.store, &room, query, before, limit)
            .await
            .map_err(|e| unavailable(&self.state.metrics, e).in_room(&room))?;
        let messages = frames_array(&found.frames).map_err(|e| {
            tracing::error!(%room, error = %e, "stored history is not JSON");
            ProtocolError::new(ErrorCode::Internal, "history could not be read")
        })?;
        Ok(ServerFrame::SearchResults {
            room: &room,
            query: text,
            messages: &messages,
            more: found.more,
            next_before: found.next_before,
        }
        .to_json())
    }

    /// The filter this connection set on `room`, if any.
    pub(super) fn filter_of(&self, room: &str) -> Option<&Query> {
        self.rooms.get(room)?.filter.as_deref()
    }
}

/// The frames that pass `filter` (all of them without one).
pub(super) fn filtered(filter: Option<&Query>, mut frames: Vec<Arc<str>>) -> Vec<Arc<str>> {
    if let Some(filter) = filter {
        frames.retain(|frame| filter.matches_frame(frame));
    }
    frames
}
