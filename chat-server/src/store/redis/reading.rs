//! Reading a room's messages from Redis: the page a `join` starts from (a `no-writes` script that
//! also recovers from a point in the room's history), `history` pages (plain `XRANGE` /
//! `XREVRANGE`, so paging works while Redis refuses writes), the ranges the hub backfills from,
//! and the durable mode's cache window.

use std::sync::Arc;

use super::RedisStore;
use crate::{
    protocol::{Cursor, Since},
    store::{Error, HistoryPage, Page, Range, Result},
};

impl RedisStore {
    pub(in crate::store) async fn history(
        &self,
        room: &str,
        since: Option<&Since>,
    ) -> Result<Page> {
        // The incarnation (a global key) only matters for a room without an epoch yet: read it
        // then, and ask again with it. A page is one script in the room's slot either way, so it
        // is exact: the epoch key, sequence and stream read together. An incarnation that changes
        // between the two calls (Redis lost its data) only makes the reported epoch differ from
        // the one the first message gets, and the hub resyncs that member, as for '0'.
        let mut incarnation = String::new();
        let reply = loop {
            let reply: Vec<String> = self
                .run(
                    self.scripts
                        .history
                        .key(self.keys.stream(room))
                        .key(self.keys.seq(room))
                        .key(self.keys.epoch(room))
                        .key(self.keys.cleared(room))
                        .arg(room)
                        .arg(self.history_len)
                        .arg(since.map_or("", |s| s.epoch.as_str()))
                        .arg(since.map_or(0, |s| s.offset))
                        .arg(&incarnation),
                )
                .await?;
            if reply.len() != 1 || !incarnation.is_empty() {
                break reply;
            }
            // Read only (no `SET NX`): joins work while Redis refuses writes.
            let current: Option<String> = self
                .query(redis::cmd("GET").arg(self.keys.incarnation()))
                .await?;
            incarnation = current.unwrap_or_else(|| "-".to_owned());
        };
        let mut it = reply.into_iter();
        let (Some(epoch), Some(head), Some(recovered)) = (it.next(), it.next(), it.next()) else {
            return Err(Error::Corrupt("short history reply".into()));
        };
        Ok(Page {
            epoch,
            head: head
                .parse()
                .map_err(|_| Error::Corrupt(format!("head {head}")))?,
            recovered: recovered == "1",
            frames: it.map(Arc::from).collect(),
            more: false,
        })
    }

    /// One `XRANGE`/`XREVRANGE` of `limit + 1` entries: the extra one only says `more`. Plain
    /// reads, so paging works while Redis refuses writes.
    pub(in crate::store) async fn page(
        &self,
        room: &str,
        cursor: Cursor,
        limit: u32,
    ) -> Result<HistoryPage> {
        let epoch: Option<String> = self
            .query(redis::cmd("GET").arg(self.keys.epoch(room)))
            .await?;
        let epoch = epoch.unwrap_or_default();
        let stream = self.keys.stream(room);
        let cmd = match cursor {
            Cursor::Before(b) if b <= 1 => None,
            Cursor::After(u64::MAX) => None,
            Cursor::Before(u64::MAX) => Some(
                redis::cmd("XREVRANGE")
                    .arg(&stream)
                    .arg("+")
                    .arg("-")
                    .clone(),
            ),
            Cursor::Before(b) => Some(
                redis::cmd("XREVRANGE")
                    .arg(&stream)
                    .arg(format!("(0-{b}"))
                    .arg("-")
                    .clone(),
            ),
            Cursor::After(a) => Some(
                redis::cmd("XRANGE")
                    .arg(&stream)
                    .arg(format!("(0-{a}"))
                    .arg("+")
                    .clone(),
            ),
        };
        let Some(mut cmd) = cmd else {
            return Ok(HistoryPage {
                epoch,
                frames: Vec::new(),
                more: false,
            });
        };
        cmd.arg("COUNT").arg(limit + 1);
        let entries: Vec<(String, Vec<String>)> = self.query(&cmd).await?;
        let more = entries.len() > limit as usize;
        let mut frames: Vec<Arc<str>> = entries
            .into_iter()
            .take(limit as usize)
            .filter_map(|(_, fields)| fields.into_iter().nth(1).map(Arc::from))
            .collect();
        if matches!(cursor, Cursor::Before(_)) {
            frames.reverse();
        }
        Ok(HistoryPage {
            epoch,
            frames,
            more,
        })
    }

    pub(in crate::store) async fn range(&self, room: &str, after: u64) -> Result<Range> {
        let reply: Vec<String> = self
            .run(
                self.scripts
                    .range
                    .key(self.keys.stream(room))
                    .key(self.keys.epoch(room))
                    .arg(after)
                    .arg(self.history_len),
            )
            .await?;
        let mut it = reply.into_iter();
        let epoch = it.next().unwrap_or_default();
        let mut entries = Vec::new();
        while let (Some(id), Some(frame)) = (it.next(), it.next()) {
            let offset = id
                .strip_prefix("0-")
                .and_then(|o| o.parse().ok())
                .ok_or_else(|| Error::Corrupt(format!("stream id {id}")))?;
            entries.push((offset, Arc::from(frame)));
        }
        Ok(Range { epoch, entries })
    }

    /// Up to `limit` cached (offset, frame) of a room's epoch with `low < offset <= high`, the
    /// lowest first (or the highest first when `newest_first`). One try, no retry: a cache that
    /// does not answer is a miss.
    pub(in crate::store) async fn cached(
        &self,
        room: &str,
        epoch: &str,
        (low, high): (u64, u64),
        limit: u32,
        newest_first: bool,
    ) -> Result<Vec<(u64, String)>> {
        let key = self.keys.cache(room, epoch);
        let mut cmd = if newest_first {
            let mut c = redis::cmd("ZREVRANGEBYSCORE");
            c.arg(&key).arg(high).arg(format!("({low}"));
            c
        } else {
            let mut c = redis::cmd("ZRANGEBYSCORE");
            c.arg(&key).arg(format!("({low}")).arg(high);
            c
        };
        cmd.arg("WITHSCORES").arg("LIMIT").arg(0).arg(limit);
        let reply: Vec<(String, u64)> = cmd.query_async(&mut self.conn.clone()).await?;
        Ok(reply.into_iter().map(|(f, o)| (o, f)).collect())
    }
}
