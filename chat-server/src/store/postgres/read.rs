//! The durable mode's reads: a room's row (epoch, head), then its messages from the Redis cache
//! when it holds every one asked for, else from PostgreSQL, which refills the cache. Joins,
//! `history` pages and the hub's gap fills all go through [`PgStore::rows`], and none returns an
//! offset above the head it read, so a page and the live feed meet without a duplicate.

use std::{sync::Arc, time::Duration};

use sqlx::Row;

use super::{Bus, PgStore};
use crate::{
    protocol::{Cursor, MAX_PAGE, Since},
    store::{Error, HistoryPage, Page, Range, Result, new_epoch, redis::CacheEntry},
};

/// The longest a cache read or refill may take before the database answers instead.
const CACHE_TIMEOUT: Duration = Duration::from_millis(200);

/// The offsets a read wants: `count` of them in `low < offset <= high`, counted from one end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wanted {
    bounds: (u64, u64),
    count: u64,
    newest_first: bool,
}

impl Wanted {
    fn new(cursor: Cursor, head: u64, limit: u32) -> Self {
        let (low, high, newest_first) = match cursor {
            Cursor::After(a) => (a.min(head), head, false),
            Cursor::Before(b) => (0, head.min(b.saturating_sub(1)), true),
        };
        Self {
            bounds: (low, high),
            count: (high - low).min(u64::from(limit)),
            newest_first,
        }
    }

    /// Whether a cache answer is exactly what the database would have said: `count` offsets,
    /// consecutive from the cursor's end of the bounds.
    fn is_complete(&self, got: &[(u64, String)]) -> bool {
        let (low, high) = self.bounds;
        got.len() as u64 == self.count
            && got.iter().enumerate().all(|(k, (o, _))| {
                let k = k as u64;
                *o == if self.newest_first {
                    high - k
                } else {
                    low + 1 + k
                }
            })
    }
}

impl PgStore {
    /// The room's epoch and head, the row made when it is missing (unless the room was
    /// deleted: [`Error::RoomGone`]).
    async fn room_row(&self, room: &str) -> Result<(String, u64)> {
        let select = "SELECT epoch, head FROM rooms WHERE name = $1";
        let row = match sqlx::query(select)
            .bind(room)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(row) => row,
            None => {
                sqlx::query(
                    "INSERT INTO rooms (name, epoch) SELECT $1, $2 WHERE NOT EXISTS \
                     (SELECT 1 FROM deleted_rooms WHERE name = $1) ON CONFLICT (name) DO NOTHING",
                )
                .bind(room)
                .bind(new_epoch())
                .execute(&self.pool)
                .await?;
                sqlx::query(select)
                    .bind(room)
                    .fetch_optional(&self.pool)
                    .await?
                    .ok_or(Error::RoomGone)?
            }
        };
        let head: i64 = row.try_get("head")?;
        Ok((row.try_get("epoch")?, head as u64))
    }

    /// Up to `limit` (offset, frame) on one side of `cursor`, nearest first, never beyond `head`:
    /// from the Redis cache when it holds all of them, else from the database (and the recent ones
    /// put back into the cache).
    async fn rows(
        &self,
        room: &str,
        epoch: &str,
        cursor: Cursor,
        head: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String)>> {
        let Bus::Redis(redis) = &self.bus else {
            return self.db_rows(room, cursor, head, limit).await;
        };
        let want = Wanted::new(cursor, head, limit);
        if want.count == 0 {
            return Ok(Vec::new());
        }
        let read = redis.cached(room, epoch, want.bounds, limit, want.newest_first);
        if let Ok(Ok(hit)) = tokio::time::timeout(CACHE_TIMEOUT, read).await
            && want.is_complete(&hit)
        {
            return Ok(hit);
        }
        let rows = self.db_rows(room, cursor, head, limit).await?;
        let recent: Vec<CacheEntry<'_>> = rows
            .iter()
            .filter(|(o, _)| *o + u64::from(self.history_len) > head)
            .map(|(offset, frame)| CacheEntry {
                room,
                epoch,
                offset: *offset,
                frame,
            })
            .collect();
        if !recent.is_empty() {
            let refill = redis.cache_and_publish(&recent, self.history_len, Vec::new());
            let _ = tokio::time::timeout(CACHE_TIMEOUT, refill).await;
        }
        Ok(rows)
    }

    async fn db_rows(
        &self,
        room: &str,
        cursor: Cursor,
        head: u64,
        limit: u32,
    ) -> Result<Vec<(u64, String)>> {
        let (sql, at) = match cursor {
            Cursor::Before(b) => (
                "SELECT off, frame FROM messages WHERE room = $1 AND off < $2 AND off <= $3 \
                 ORDER BY off DESC LIMIT $4",
                b,
            ),
            Cursor::After(a) => (
                "SELECT off, frame FROM messages WHERE room = $1 AND off > $2 AND off <= $3 \
                 ORDER BY off LIMIT $4",
                a,
            ),
        };
        let rows = sqlx::query(sql)
            .bind(room)
            .bind(i64::try_from(at).unwrap_or(i64::MAX))
            .bind(head as i64)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                let off: i64 = r.try_get("off")?;
                Ok((off as u64, r.try_get("frame")?))
            })
            .collect()
    }

    pub(in crate::store) async fn history(
        &self,
        room: &str,
        since: Option<&Since>,
    ) -> Result<Page> {
        let (epoch, head) = self.room_row(room).await?;
        let limit = self.history_len.min(MAX_PAGE);
        let page = |rows: Vec<(u64, String)>, recovered, more| Page {
            epoch: epoch.clone(),
            head,
            frames: rows.into_iter().map(|(_, f)| Arc::from(f)).collect(),
            recovered,
            more,
        };
        // A client at or before a clear may still show cleared messages: it starts over.
        let cleared = match since {
            Some(_) => self.cleared_through(room).await?,
            None => 0,
        };
        let honoured = |s: &&Since| {
            s.epoch == epoch && s.offset <= head && (cleared == 0 || s.offset > cleared)
        };
        if let Some(since) = since.filter(honoured) {
            let rows = self
                .rows(room, &epoch, Cursor::After(since.offset), head, limit)
                .await?;
            // Retention removes the oldest first: the next offset present means all are.
            let complete =
                since.offset == head || rows.first().is_some_and(|r| r.0 == since.offset + 1);
            if complete {
                let more = rows.last().is_some_and(|r| r.0 < head);
                return Ok(page(rows, true, more));
            }
        }
        let mut rows = self
            .rows(room, &epoch, Cursor::Before(u64::MAX), head, limit)
            .await?;
        rows.reverse();
        Ok(page(rows, since.is_none(), false))
    }

    pub(in crate::store) async fn page(
        &self,
        room: &str,
        cursor: Cursor,
        limit: u32,
    ) -> Result<HistoryPage> {
        let (epoch, head) = self.room_row(room).await?;
        let mut rows = self.rows(room, &epoch, cursor, head, limit + 1).await?;
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        if matches!(cursor, Cursor::Before(_)) {
            rows.reverse();
        }
        Ok(HistoryPage {
            epoch,
            frames: rows.into_iter().map(|(_, f)| Arc::from(f)).collect(),
            more,
        })
    }

    pub(in crate::store) async fn range(&self, room: &str, after: u64) -> Result<Range> {
        let (epoch, head) = self.room_row(room).await?;
        let rows = self
            .rows(room, &epoch, Cursor::After(after), head, self.history_len)
            .await?;
        Ok(Range {
            epoch,
            entries: rows.into_iter().map(|(o, f)| (o, Arc::from(f))).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(offsets: &[u64]) -> Vec<(u64, String)> {
        offsets.iter().map(|o| (*o, String::new())).collect()
    }

    #[test]
    fn a_cache_answer_counts_only_when_it_is_complete() {
        let after = Wanted::new(Cursor::After(10), 20, 5);
        assert_eq!((after.bounds, after.count), ((10, 20), 5));
        assert!(after.is_complete(&rows(&[11, 12, 13, 14, 15])));
        assert!(!after.is_complete(&rows(&[11, 12, 14, 15, 16])), "a hole");
        assert!(
            !after.is_complete(&rows(&[12, 13, 14, 15, 16])),
            "not from the cursor"
        );
        let tail = Wanted::new(Cursor::After(18), 20, 5);
        assert!(tail.is_complete(&rows(&[19, 20])));
        assert!(!tail.is_complete(&rows(&[19])), "the newest is missing");
        let before = Wanted::new(Cursor::Before(u64::MAX), 20, 3);
        assert_eq!((before.bounds, before.count), ((0, 20), 3));
        assert!(before.is_complete(&rows(&[20, 19, 18])));
        assert!(!before.is_complete(&rows(&[19, 18, 17])));
        let start = Wanted::new(Cursor::Before(3), 20, 10);
        assert!(start.is_complete(&rows(&[2, 1])));
        assert_eq!(Wanted::new(Cursor::After(20), 20, 5).count, 0);
        assert_eq!(Wanted::new(Cursor::Before(1), 20, 5).count, 0);
    }
}
