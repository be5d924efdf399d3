//! Retention of the durable mode: messages older than `--retention-days` and beyond the newest
//! `--retention-messages` of each room are deleted at start and every minute (0 keeps them). Offsets
//! are dense, so "the newest n" is `off > head - n`; the oldest go first, which is what lets a
//! join trust that the message after `since` being there means all after it are.

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

use super::PgStore;
use crate::store::Result;

/// How often retention runs.
const RETENTION_EVERY: Duration = Duration::from_secs(60);

/// How long messages are kept; 0 means forever.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    pub days: u32,
    pub messages: u64,
}

impl PgStore {
    /// Delete what retention no longer keeps, every minute until `stop`.
    pub(super) async fn run_retention(
        self: Arc<Self>,
        retention: Retention,
        stop: CancellationToken,
    ) {
        let mut tick = tokio::time::interval(RETENTION_EVERY);
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.apply_retention(retention).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "retention applied"),
                Err(e) => tracing::warn!(error = %e, "retention failed"),
            }
        }
    }

    /// Delete messages older than `days` and beyond the last `messages` of each room; how many.
    pub async fn apply_retention(&self, retention: Retention) -> Result<u64> {
        let mut deleted = 0;
        if retention.days > 0 {
            let cutoff =
                crate::clock::now_ms().saturating_sub(u64::from(retention.days) * 86_400_000);
            deleted += sqlx::query("DELETE FROM messages WHERE time_ms < $1")
                .bind(cutoff as i64)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        if retention.messages > 0 {
            deleted += sqlx::query(
                "DELETE FROM messages m USING rooms r WHERE m.room = r.name AND m.off <= r.head - $1",
            )
            .bind(retention.messages as i64)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(deleted)
    }
}
