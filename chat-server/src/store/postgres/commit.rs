//! Group commit: every send of this replica goes through one committer task, which takes what
//! queued up while the previous transaction ran (at most [`MAX_BATCH`]) and commits it in one
//! transaction; each send awaits its own result on a oneshot, so an ack always follows a COMMIT.
//! Per room the transaction locks the room row first (`SELECT ... FOR UPDATE`, rooms in name order
//! so two replicas never deadlock), checks the idempotency keys, moves `head` by the number of new
//! messages and inserts them with dense offsets. Publishing to other replicas is the bus's job,
//! after the commit.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use sha2::{Digest, Sha256};
use sqlx::{PgPool, Postgres, Row, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::super::{Appended, Error, NewMessage, Result, new_epoch};
use crate::{metrics::Metrics, protocol::complete_frame};

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
    /// The room was deleted (and not created again): nothing is stored.
    Gone,
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
    let mut rooms: Vec<&str> = msgs.iter().map(|m| m.room.as_str()).collect();
    rooms.sort_unstable();
    rooms.dedup();
    let mut tx = pool.begin().await?;
    let (heads, known) = lock_and_look_up(&mut tx, &rooms, msgs).await?;
    let mut decisions = decide(msgs, &known);
    for (d, m) in decisions.iter_mut().zip(msgs) {
        if !heads.contains_key(m.room.as_str()) {
            *d = Decision::Gone;
        }
    }
    let plan = assign(msgs, &decisions, &heads);
    if !plan.new.is_empty() {
        insert(&mut tx, msgs, &plan).await?;
    }
    tx.commit().await?;
    let appended = |i: usize, duplicate| Appended {
        offset: plan.offsets[i],
        id: msgs[i].id.clone(),
        duplicate,
    };
    let outcomes = decisions
        .iter()
        .enumerate()
        .map(|(i, d)| match d {
            Decision::New => Ok(appended(i, false)),
            Decision::Stored(a) => Ok(a.clone()),
            Decision::SameAs(j) => Ok(appended(*j, true)),
            Decision::Conflict => Err(Error::ClientIdConflict),
            Decision::Gone => Err(Error::RoomGone),
        })
        .collect();
    let committed = plan
        .new
        .iter()
        .map(|&i| Committed {
            epoch: heads[msgs[i].room.as_str()].0.clone(),
            room: msgs[i].room.clone(),
            offset: plan.offsets[i],
            time_ms: msgs[i].time_ms,
            frame: complete_frame(&msgs[i].frame_prefix, plan.offsets[i]),
        })
        .collect();
    Ok((outcomes, committed))
}

/// What the database already holds under the batch's (room, client_id) keys.
type Known = HashMap<(String, String), (u64, String, String)>;

/// One statement: lock the batch's room rows (epoch, head) until the transaction ends, in name
/// order so two replicas never wait on each other in a cycle, then read the idempotency records
/// of the batch's keys. The records are read in the statement's snapshot, taken before a lock
/// wait: a record committed by the transaction waited for is then missed, the insert meets the
/// unique key, and the batch is tried again ([`lost_race`]). Missing room rows are made first (a
/// room that lost its row gets a new epoch, which is what tells clients), except for a deleted
/// room: it has no head, and its sends fail.
async fn lock_and_look_up<'r>(
    tx: &mut Transaction<'_, Postgres>,
    rooms: &[&'r str],
    msgs: &[&OwnedMessage],
) -> Result<(HashMap<&'r str, (String, u64)>, Known)> {
    let msg_rooms: Vec<&str> = msgs.iter().map(|m| m.room.as_str()).collect();
    let client_ids: Vec<&str> = msgs.iter().map(|m| m.client_id.as_str()).collect();
    let sql = "WITH locked AS (SELECT name, epoch, head FROM rooms WHERE name = ANY($1) \
               ORDER BY name FOR UPDATE) \
               SELECT name AS room, NULL::text AS client_id, head AS off, epoch AS id, \
               NULL::text AS digest FROM locked \
               UNION ALL \
               SELECT m.room, m.client_id, m.off, m.id, m.digest FROM messages m \
               JOIN UNNEST($2::text[], $3::text[]) AS k(room, client_id) \
               ON m.room = k.room AND m.client_id = k.client_id";
    let query = || {
        sqlx::query(sql)
            .bind(rooms)
            .bind(&msg_rooms)
            .bind(&client_ids)
    };
    let mut rows = query().fetch_all(&mut **tx).await?;
    let room_rows = |rows: &[sqlx::postgres::PgRow]| {
        rows.iter()
            .filter(|r| matches!(r.try_get::<Option<String>, _>("client_id"), Ok(None)))
            .count()
    };
    if room_rows(&rows) < rooms.len() {
        let epochs: Vec<String> = rooms.iter().map(|_| new_epoch()).collect();
        sqlx::query(
            "INSERT INTO rooms (name, epoch) SELECT * FROM UNNEST($1::text[], $2::text[]) \
             AS n(name, epoch) WHERE NOT EXISTS (SELECT 1 FROM deleted_rooms d WHERE d.name = n.name) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(rooms)
        .bind(&epochs)
        .execute(&mut **tx)
        .await?;
        rows = query().fetch_all(&mut **tx).await?;
    }
    let mut heads = HashMap::with_capacity(rooms.len());
    let mut known = HashMap::new();
    for row in rows {
        let room: String = row.try_get("room")?;
        let off: i64 = row.try_get("off")?;
        let id: String = row.try_get("id")?;
        match row.try_get::<Option<String>, _>("client_id")? {
            None => {
                if let Some(r) = rooms.iter().find(|r| **r == room) {
                    heads.insert(*r, (id, off as u64));
                }
            }
            Some(client_id) => {
                known.insert((room, client_id), (off as u64, id, row.try_get("digest")?));
            }
        }
    }
    Ok((heads, known))
}

/// Idempotency, decided in arrival order against the database and the batch itself.
fn decide(msgs: &[&OwnedMessage], known: &Known) -> Vec<Decision> {
    let mut first_in_batch: HashMap<(&str, &str), usize> = HashMap::new();
    msgs.iter()
        .enumerate()
        .map(|(i, m)| {
            let key = (m.room.clone(), m.client_id.clone());
            if let Some((off, id, digest)) = known.get(&key) {
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
            match first_in_batch.get(&(m.room.as_str(), m.client_id.as_str())) {
                Some(&j) if msgs[j].digest != m.digest => Decision::Conflict,
                Some(&j) => Decision::SameAs(j),
                None => {
                    first_in_batch.insert((&m.room, &m.client_id), i);
                    Decision::New
                }
            }
        })
        .collect()
}

/// Offsets for the new messages of a batch, dense per room in arrival order after its head.
#[derive(Debug)]
struct Plan<'r> {
    /// Indices of the messages stored now.
    new: Vec<usize>,
    /// The offset of each message stored now (0 for the others).
    offsets: Vec<u64>,
    /// Each room's head after the batch (only rooms that got messages).
    heads: BTreeMap<&'r str, u64>,
}

fn assign<'r>(
    msgs: &[&'r OwnedMessage],
    decisions: &[Decision],
    heads: &HashMap<&str, (String, u64)>,
) -> Plan<'r> {
    let mut plan = Plan {
        new: Vec::new(),
        offsets: vec![0; msgs.len()],
        heads: BTreeMap::new(),
    };
    for (i, m) in msgs.iter().enumerate() {
        if decisions[i] != Decision::New {
            continue;
        }
        let start = heads.get(m.room.as_str()).map_or(0, |h| h.1);
        let head = plan.heads.entry(m.room.as_str()).or_insert(start);
        *head += 1;
        plan.offsets[i] = *head;
        plan.new.push(i);
    }
    plan
}

/// One statement: the batch's new messages (one multi-row insert) and the rooms' new heads.
async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    msgs: &[&OwnedMessage],
    plan: &Plan<'_>,
) -> Result<()> {
    let pick = |f: fn(&OwnedMessage) -> &str| -> Vec<&str> {
        plan.new.iter().map(|&i| f(msgs[i])).collect()
    };
    let offs: Vec<i64> = plan.new.iter().map(|&i| plan.offsets[i] as i64).collect();
    let frames: Vec<String> = plan
        .new
        .iter()
        .map(|&i| complete_frame(&msgs[i].frame_prefix, plan.offsets[i]))
        .collect();
    let times: Vec<i64> = plan.new.iter().map(|&i| msgs[i].time_ms as i64).collect();
    let (names, heads): (Vec<&str>, Vec<i64>) =
        plan.heads.iter().map(|(r, h)| (*r, *h as i64)).unzip();
    sqlx::query(
        "WITH inserted AS (INSERT INTO messages (room, off, id, client_id, digest, time_ms, frame) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], \
         $6::bigint[], $7::text[])) \
         UPDATE rooms SET head = v.head FROM UNNEST($8::text[], $9::bigint[]) AS v(name, head) \
         WHERE rooms.name = v.name",
    )
    .bind(pick(|m| &m.room))
    .bind(&offs)
    .bind(pick(|m| &m.id))
    .bind(pick(|m| &m.client_id))
    .bind(pick(|m| &m.digest))
    .bind(&times)
    .bind(&frames)
    .bind(&names)
    .bind(&heads)
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
        let key = |c: &str| ("general".to_owned(), c.to_owned());
        known.insert(key("c9"), (7, "old".to_owned(), stored.digest.clone()));
        known.insert(key("c8"), (8, "m5".to_owned(), retried.digest.clone()));
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

    #[test]
    fn offsets_are_dense_per_room_in_arrival_order() {
        let mut ops = owned("c1", "m1", "a");
        ops.room = "ops".into();
        let msgs = [
            owned("c1", "m1", "a"),
            ops,
            owned("c2", "m2", "b"),
            owned("c1", "m3", "a"),
        ];
        let refs: Vec<&OwnedMessage> = msgs.iter().collect();
        let decisions = decide(&refs, &Known::new());
        assert_eq!(decisions[3], Decision::SameAs(0));
        let mut heads = HashMap::new();
        heads.insert("general", ("e".to_owned(), 41));
        heads.insert("ops", ("e".to_owned(), 0));
        let plan = assign(&refs, &decisions, &heads);
        assert_eq!(plan.new, [0, 1, 2]);
        assert_eq!(plan.offsets, [42, 1, 43, 0]);
        assert_eq!(
            plan.heads.into_iter().collect::<Vec<_>>(),
            [("general", 43), ("ops", 1)]
        );
    }
}
