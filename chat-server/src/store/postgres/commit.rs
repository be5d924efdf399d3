//! Group commit: every send of this replica goes through one committer task, which takes what
//! queued up while the previous transaction ran (at most [`MAX_BATCH`]) and commits it in one
//! transaction; each send awaits its own result on a oneshot, so an ack always follows a COMMIT.
//! Per room the transaction locks the room row first (`SELECT ... FOR UPDATE`, rooms in name order
//! so two replicas never deadlock), checks the idempotency keys, moves `head` by the number of new
//! messages and inserts them with dense offsets. Publishing to other replicas is the bus's job,
//! after the commit.
//! Here the loop and what a send hands it; the SQL of one batch is `commit/batch.rs`.

mod batch;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use super::super::{Appended, Error, NewMessage, Result};
use crate::metrics::Metrics;
use batch::{Outcomes, commit};

/// Most sends in one transaction.
pub(super) const MAX_BATCH: usize = 512;
/// Attempts of a batch that lost a race (unique key, deadlock, serialization).
const ATTEMPTS: u32 = 3;

/// A send waiting for its transaction.
#[derive(Debug)]
pub(super) struct Pending {
    pub(super) msg: OwnedMessage,
    pub(super) reply: oneshot::Sender<Result<Appended>>,
}

/// What the committer needs of a [`NewMessage`], owned so it can cross to its task.
#[derive(Debug, Clone)]
pub(super) struct OwnedMessage {
    pub(super) room: String,
    pub(super) client_id: String,
    pub(super) id: String,
    pub(super) digest: String,
    pub(super) time_ms: u64,
    pub(super) frame_prefix: String,
}

impl OwnedMessage {
    pub(super) fn new(msg: &NewMessage<'_>) -> Self {
        Self {
            room: msg.room.to_owned(),
            client_id: msg.client_id.to_owned(),
            id: msg.id.to_owned(),
            digest: digest(msg.name, msg.topic.unwrap_or(""), msg.content),
            time_ms: msg.time_ms,
            frame_prefix: msg.frame_prefix.to_owned(),
        }
    }
}

/// sha256(name \0 topic \0 content), hex, first 32 digits: the same on every replica and release.
pub(super) fn digest(name: &str, topic: &str, content: &str) -> String {
    let mut h = Sha256::new();
    for (i, part) in [name, topic, content].iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(part.as_bytes());
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A message this batch stored, to announce after the commit.
#[derive(Debug, Clone)]
pub(super) struct Committed {
    pub(super) epoch: String,
    pub(super) room: String,
    pub(super) offset: u64,
    pub(super) time_ms: u64,
    pub(super) frame: String,
}

/// Runs until every sender is gone: batches, commits, answers, hands committed messages on.
pub(super) async fn run(
    pool: PgPool,
    mut rx: mpsc::Receiver<Pending>,
    committed: mpsc::Sender<Vec<Committed>>,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(_) => break,
            }
        }
        let msgs: Vec<&OwnedMessage> = batch.iter().map(|p| &p.msg).collect();
        let started = std::time::Instant::now();
        let result = commit_with_retries(&pool, &msgs).await;
        metrics.commit_batch.observe(msgs.len() as f64);
        metrics
            .commit_duration
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok((outcomes, stored)) => {
                for (p, outcome) in batch.into_iter().zip(outcomes) {
                    let _ = p.reply.send(outcome);
                }
                // Dropped when the bus lags: the hub's periodic backfill reads the database.
                let _ = committed.try_send(stored);
            }
            Err(e) => {
                tracing::warn!(error = %e, sends = batch.len(), "group commit failed");
                let text = e.to_string();
                for p in batch {
                    let _ = p.reply.send(Err(Error::CommitFailed(text.clone())));
                }
            }
        }
    }
}

async fn commit_with_retries(pool: &PgPool, msgs: &[&OwnedMessage]) -> Result<Outcomes> {
    let mut attempt = 1;
    loop {
        match commit(pool, msgs).await {
            Err(Error::Database(e)) if attempt < ATTEMPTS && lost_race(&e) => attempt += 1,
            other => return other,
        }
    }
}

/// A unique violation, deadlock or serialization failure: the batch may simply be tried again.
fn lost_race(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| matches!(&*c, "23505" | "40001" | "40P01"))
}
