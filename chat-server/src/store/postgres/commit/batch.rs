//! The SQL of one group-commit batch, in one transaction: lock the batch's rooms and read the
//! idempotency records of its keys, decide each send (new, stored, same as an earlier one, a
//! conflict, a deleted room), give the new messages dense offsets per room, insert them and move
//! the heads. The loop that gathers batches and retries lost races is `commit.rs`.

use std::collections::{BTreeMap, HashMap};

use sqlx::{PgPool, Postgres, Row, Transaction};

use super::{Committed, OwnedMessage};
use crate::{
    protocol::complete_frame,
    store::{Appended, Error, Result, new_epoch},
};

/// What became of one send of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
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

/// What each send of a batch gets, and the messages it stored.
pub(super) type Outcomes = (Vec<Result<Appended>>, Vec<Committed>);

/// One transaction for one batch: lock and look up, decide, assign offsets, insert, commit.
pub(super) async fn commit(pool: &PgPool, msgs: &[&OwnedMessage]) -> Result<Outcomes> {
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
pub(super) type Known = HashMap<(String, String), (u64, String, String)>;

/// One statement: lock the batch's room rows (epoch, head) until the transaction ends, in name
/// order so two replicas never wait on each other in a cycle, then read the idempotency records
/// of the batch's keys. The records are read in the statement's snapshot, taken before a lock
/// wait: a record committed by the transaction waited for is then missed, the insert meets the
/// unique key, and the batch is tried again ([`lost_race`](super::lost_race)). Missing room rows are made first (a
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
pub(super) fn decide(msgs: &[&OwnedMessage], known: &Known) -> Vec<Decision> {
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
pub(super) struct Plan<'r> {
    /// Indices of the messages stored now.
    pub(super) new: Vec<usize>,
    /// The offset of each message stored now (0 for the others).
    pub(super) offsets: Vec<u64>,
    /// Each room's head after the batch (only rooms that got messages).
    pub(super) heads: BTreeMap<&'r str, u64>,
}

pub(super) fn assign<'r>(
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
