//! Candidates for `search` (`crate::search` applies the exact matcher to them): PostgreSQL
//! narrows the room's whole history with its full-text index (`postgres/search.rs`); memory
//! and Redis hand back what they keep (the newest `--history-len` messages of the room).

use std::sync::Arc;

use super::{Result, Store};
use crate::{
    protocol::Cursor,
    query::{Query, StoredMessage},
};

impl Store {
    /// Up to `batch` (offset, frame) of `room` below `before`, newest first, among which are all
    /// the messages there that match `query`.
    pub async fn search_candidates(
        &self,
        room: &str,
        query: &Query,
        before: u64,
        batch: u32,
    ) -> Result<Vec<(u64, Arc<str>)>> {
        if let Store::Postgres(pg) = self {
            return pg.search_rows(room, query, before, batch).await;
        }
        let page = self.page(room, Cursor::Before(before), batch).await?;
        Ok(page
            .frames
            .into_iter()
            .rev()
            .filter_map(|frame| Some((StoredMessage::read(&frame)?.offset, frame)))
            .collect())
    }
}
