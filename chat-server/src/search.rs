//! `search`: the messages of a room that match a query, newest first, a page at a time. The
//! store hands over candidates in batches (PostgreSQL narrowed by its full-text index, the other
//! stores everything they keep) and the query's exact matcher decides, so a search and a live
//! filter always agree. Work is bounded: at most [`MAX_SEARCH_SCAN`] candidates per request; a
//! search that stops there says `more` with the offset to continue below.

use std::sync::Arc;

use crate::{
    limits::MAX_SEARCH_SCAN,
    query::Query,
    store::{Result, Store},
};

/// Candidates read from the store at once.
const BATCH: u32 = 200;

/// One page of search results.
#[derive(Debug, Default)]
pub struct Found {
    /// Matching message frames, newest first.
    pub frames: Vec<Arc<str>>,
    /// True when older messages may match: ask again with `before: next_before`.
    pub more: bool,
    pub next_before: Option<u64>,
}

/// Up to `limit` messages of `room` below offset `before` that match `query`, newest first.
pub async fn search(
    store: &Store,
    room: &str,
    query: &Query,
    before: u64,
    limit: u32,
) -> Result<Found> {
    let mut found = Found::default();
    let mut cursor = before;
    let mut scanned = 0;
    loop {
        let batch = store.search_candidates(room, query, cursor, BATCH).await?;
        let exhausted = batch.len() < BATCH as usize;
        for (offset, frame) in batch {
            scanned += 1;
            cursor = cursor.min(offset);
            if !query.matches_frame(&frame) {
                continue;
            }
            if found.frames.len() == limit as usize {
                found.more = true;
                return Ok(found);
            }
            found.frames.push(frame);
            found.next_before = Some(offset);
        }
        if exhausted {
            found.next_before = None;
            return Ok(found);
        }
        if scanned >= MAX_SEARCH_SCAN {
            found.more = true;
            found.next_before = Some(cursor);
            return Ok(found);
        }
    }
}
