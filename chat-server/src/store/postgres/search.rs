//! Search candidates from the whole history: the query's SQL prefilter (`query/sql.rs`) over
//! the `chat_search_doc` index of migration `0004_search.sql`, newest first.

use std::sync::Arc;

use sqlx::Row;

use super::PgStore;
use crate::{
    query::{Bind, Query},
    store::Result,
};

impl PgStore {
    pub(in crate::store) async fn search_rows(
        &self,
        room: &str,
        query: &Query,
        before: u64,
        batch: u32,
    ) -> Result<Vec<(u64, Arc<str>)>> {
        let filter = query.prefilter(4);
        let sql = format!(
            "SELECT off, frame FROM messages WHERE room = $1 AND off < $2 AND {} \
             ORDER BY off DESC LIMIT $3",
            filter.sql
        );
        let mut select = sqlx::query(&sql)
            .bind(room)
            .bind(i64::try_from(before).unwrap_or(i64::MAX))
            .bind(i64::from(batch));
        for bind in filter.binds {
            select = match bind {
                Bind::Text(text) => select.bind(text),
                Bind::Int(n) => select.bind(n),
            };
        }
        let rows = select.fetch_all(&self.pool).await?;
        rows.into_iter()
            .map(|r| {
                let off: i64 = r.try_get("off")?;
                let frame: String = r.try_get("frame")?;
                Ok((off as u64, Arc::from(frame)))
            })
            .collect()
    }
}
