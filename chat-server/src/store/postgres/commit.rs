//! Group commit: every send of this replica goes through one committer task, which takes what
//! queued up while the previous transaction ran (at most [`MAX_BATCH`]) and commits it in one
//! transaction; each send awaits its own result on a oneshot, so an ack always follows a COMMIT.
//! Per room the transaction locks the room row first (`SELECT ... FOR UPDATE`, rooms in name order
//! so two replicas never deadlock), checks the idempotency keys, moves `head` by the number of new
//! messages and inserts them with dense offsets. Publishing to other replicas is the bus's job,
//! after the commit.

use std::collections::{BTreeMap, HashMap};

use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::super::{Appended, Error, NewMessage, Result, new_epoch};
use crate::protocol::complete_frame;

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

/// What became of one send of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Decision {
    /// Stored now: the offset is assigned once the batch's count is known.
    New,
    /// Already in the database (or this very send, retried: `duplicate` false).
    Stored(Appended),
    /// The same key earlier in this batch.
    SameAs(usize),
    Conflict,
}

/// Runs until every sender is gone: batches, commits, answers, hands committed messages on.
pub(super) async fn run(
    pool: PgPool,
    mut rx: mpsc::Receiver<Pending>,
    committed: mpsc::Sender<Vec<Committed>>,
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
        let result = commit_with_retries(&pool, &msgs).await;
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

type Outcomes = (Vec<Result<Appended>>, Vec<Committed>);

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

async fn commit(pool: &PgPool, msgs: &[&OwnedMessage]) -> Result<Outcomes> {
    let mut by_room: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, m) in msgs.iter().enumerate() {
        by_room.entry(m.room.as_str()).or_default().push(i);
    }
    let mut outcomes: Vec<Option<Result<Appended>>> = (0..msgs.len()).map(|_| None).collect();
    let mut stored = Vec::new();
    let mut tx = pool.begin().await?;
    for (room, indices) in by_room {
        let room_msgs: Vec<&OwnedMessage> = indices.iter().map(|&i| msgs[i]).collect();
        let (results, committed) = append_room(&mut tx, room, &room_msgs).await?;
        for (&i, r) in indices.iter().zip(results) {
            outcomes[i] = Some(r);
        }
        stored.extend(committed);
    }
    tx.commit().await?;
    let outcomes = outcomes
        .into_iter()
        .map(|o| o.expect("every send of the batch is decided"))
        .collect();
    Ok((outcomes, stored))
}

/// The appends of one room inside the batch's transaction.
async fn append_room(
    tx: &mut Transaction<'_, Postgres>,
    room: &str,
    msgs: &[&OwnedMessage],
) -> Result<(Vec<Result<Appended>>, Vec<Committed>)> {
    let (epoch, head) = lock_room(tx, room).await?;
    let client_ids: Vec<&str> = msgs.iter().map(|m| m.client_id.as_str()).collect();
    let rows = sqlx::query(
        "SELECT client_id, off, id, digest FROM messages WHERE room = $1 AND client_id = ANY($2)",
    )
    .bind(room)
    .bind(&client_ids)
    .fetch_all(&mut **tx)
    .await?;
    let mut known: HashMap<String, (u64, String, String)> = HashMap::new();
    for row in rows {
        let off: i64 = row.try_get("off")?;
        known.insert(
            row.try_get("client_id")?,
            (off as u64, row.try_get("id")?, row.try_get("digest")?),
        );
    }
    let decisions = decide(msgs, &known);
    let new: Vec<usize> = (0..msgs.len())
        .filter(|&i| decisions[i] == Decision::New)
        .collect();
    let first = head + 1;
    if !new.is_empty() {
        insert(tx, room, msgs, &new, first).await?;
        sqlx::query("UPDATE rooms SET head = $2 WHERE name = $1")
            .bind(room)
            .bind((head + new.len() as u64) as i64)
            .execute(&mut **tx)
            .await?;
    }
    let offset_of = |i: usize| first + new.iter().position(|&n| n == i).unwrap_or(0) as u64;
    let results = decisions
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Decision::New => Ok(Appended {
                offset: offset_of(i),
                id: msgs[i].id.clone(),
                duplicate: false,
            }),
            Decision::Stored(a) => Ok(a.clone()),
            Decision::SameAs(j) => Ok(Appended {
                offset: offset_of(*j),
                id: msgs[*j].id.clone(),
                duplicate: true,
            }),
            Decision::Conflict => Err(Error::ClientIdConflict),
        })
        .collect();
    let committed = new
        .iter()
        .map(|&i| {
            let offset = offset_of(i);
            Committed {
                epoch: epoch.clone(),
                room: room.to_owned(),
                offset,
                time_ms: msgs[i].time_ms,
                frame: complete_frame(&msgs[i].frame_prefix, offset),
            }
        })
        .collect();
    Ok((results, committed))
}

/// The room row, locked until the transaction ends; made when it is missing (a room that lost
/// its row gets a new epoch, which is what tells clients).
async fn lock_room(tx: &mut Transaction<'_, Postgres>, room: &str) -> Result<(String, u64)> {
    let select = "SELECT epoch, head FROM rooms WHERE name = $1 FOR UPDATE";
    if let Some(row) = sqlx::query(select)
        .bind(room)
        .fetch_optional(&mut **tx)
        .await?
    {
        let head: i64 = row.try_get("head")?;
        return Ok((row.try_get("epoch")?, head as u64));
    }
    sqlx::query("INSERT INTO rooms (name, epoch) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(room)
        .bind(new_epoch())
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query(select).bind(room).fetch_one(&mut **tx).await?;
    let head: i64 = row.try_get("head")?;
    Ok((row.try_get("epoch")?, head as u64))
}

/// Idempotency, decided in arrival order against the database and the batch itself.
fn decide(msgs: &[&OwnedMessage], known: &HashMap<String, (u64, String, String)>) -> Vec<Decision> {
    let mut first_in_batch: HashMap<&str, usize> = HashMap::new();
    msgs.iter()
        .enumerate()
        .map(|(i, m)| {
            if let Some((off, id, digest)) = known.get(&m.client_id) {
                if *digest != m.digest {
                    return Decision::Conflict;
                }
                return Decision::Stored(Appended {
                    offset: *off,
                    id: id.clone(),
                    // The same id is this very send, retried after a lost reply.
                    duplicate: *id != m.id,
                });
            }
            match first_in_batch.get(m.client_id.as_str()) {
                Some(&j) if msgs[j].digest != m.digest => Decision::Conflict,
                Some(&j) => Decision::SameAs(j),
                None => {
                    first_in_batch.insert(&m.client_id, i);
                    Decision::New
                }
            }
        })
        .collect()
}

/// One multi-row insert of the room's new messages, offsets `first..`.
async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    room: &str,
    msgs: &[&OwnedMessage],
    new: &[usize],
    first: u64,
) -> Result<()> {
    let offs: Vec<i64> = (0..new.len()).map(|k| (first + k as u64) as i64).collect();
    let pick =
        |f: fn(&OwnedMessage) -> &str| -> Vec<&str> { new.iter().map(|&i| f(msgs[i])).collect() };
    let frames: Vec<String> = new
        .iter()
        .zip(&offs)
        .map(|(&i, &o)| complete_frame(&msgs[i].frame_prefix, o as u64))
        .collect();
    let times: Vec<i64> = new.iter().map(|&i| msgs[i].time_ms as i64).collect();
    sqlx::query(
        "INSERT INTO messages (room, off, id, client_id, digest, time_ms, frame) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])",
    )
    .bind(room)
    .bind(&offs)
    .bind(pick(|m| &m.id))
    .bind(pick(|m| &m.client_id))
    .bind(pick(|m| &m.digest))
    .bind(&times)
    .bind(&frames)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(client_id: &str, id: &str, content: &str) -> OwnedMessage {
        OwnedMessage {
            room: "general".into(),
            client_id: client_id.into(),
            id: id.into(),
            digest: digest("ann", "", content),
            time_ms: 0,
            frame_prefix: String::new(),
        }
    }

    #[test]
    fn digests_are_stable_and_separate_the_fields() {
        assert_eq!(digest("a", "b", "c"), digest("a", "b", "c"));
        assert_ne!(digest("a", "bc", ""), digest("ab", "c", ""));
        assert_eq!(digest("ann", "", "hi").len(), 32);
    }

    #[test]
    fn idempotency_is_decided_against_the_database_and_the_batch() {
        let a = owned("c1", "m1", "hi");
        let again = owned("c1", "m2", "hi");
        let other = owned("c1", "m3", "something else");
        let stored = owned("c9", "m4", "hi");
        let retried = owned("c8", "m5", "hi");
        let mut known = HashMap::new();
        known.insert(
            "c9".to_owned(),
            (7, "old".to_owned(), stored.digest.clone()),
        );
        known.insert(
            "c8".to_owned(),
            (8, "m5".to_owned(), retried.digest.clone()),
        );
        let d = decide(&[&a, &again, &other, &stored, &retried], &known);
        assert_eq!(d[0], Decision::New);
        assert_eq!(d[1], Decision::SameAs(0));
        assert_eq!(d[2], Decision::Conflict);
        let dup = |offset, id: &str, duplicate| {
            Decision::Stored(Appended {
                offset,
                id: id.into(),
                duplicate,
            })
        };
        assert_eq!(d[3], dup(7, "old", true));
        assert_eq!(d[4], dup(8, "m5", false), "this very send, retried");
    }
}
