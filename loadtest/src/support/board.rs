//! What the `support` scenario's connections report into, [`Board`], and the pure rules of its
//! measurements: when a `support_queue` frame times a message ([`Board::on_queue`]) and what the
//! queue still owes at the end ([`Board::unreflected`]).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use serde::Deserialize;

use crate::stats::{Counters, Latencies, read_stamp};

/// A conversation as the queue lists it: only the fields the benchmark reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Listed {
    pub room: String,
    #[serde(default)]
    pub last: Option<Last>,
}

/// A conversation's last message in the queue (`content`: its first 200 characters).
#[derive(Debug, Deserialize)]
pub(crate) struct Last {
    #[serde(default)]
    pub content: String,
    #[serde(default)]
    pub offset: u64,
}

/// One conversation of this run.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Conversation {
    /// Newest acknowledged offset of the client's messages.
    pub acked_offset: u64,
    /// Client messages acknowledged.
    pub acked: u64,
    /// Newest offset the agent's queue has shown as `last`.
    pub shown_offset: u64,
}

/// Everything the run's connections report.
#[derive(Debug)]
pub(crate) struct Board {
    pub counters: Counters,
    /// Client send -> the first `support_queue` frame whose `last` is that message.
    pub queue: Latencies,
    /// Client send -> `message` at the agent, in the conversations it holds.
    pub delivery: Latencies,
    /// Client send -> `ack`.
    pub ack: Latencies,
    /// Time zero of the send stamps.
    pub epoch: Instant,
    /// The conversations of this run, by room; the agent times only these.
    pub conversations: Mutex<HashMap<String, Conversation>>,
    /// Rooms in the order their clients opened them.
    pub opened: Mutex<Vec<String>>,
    /// Rooms the agent is to take.
    pub to_take: Mutex<HashSet<String>>,
    /// Rooms the agent took and joined.
    pub taken: AtomicU64,
    /// The agent's `welcome` said it is an agent.
    pub agent_ready: AtomicBool,
    /// Why the agent could not start, when it could not.
    pub agent_failure: Mutex<Option<String>>,
    pub agent_delivered: AtomicU64,
    pub queue_frames: AtomicU64,
    pub queue_bytes: AtomicU64,
    /// Conversations listed in the last queue frame.
    pub queue_listed: AtomicU64,
    /// Queue frames only time messages sent after this (micros since `epoch`).
    pub sending_since: AtomicU64,
}

impl Board {
    pub fn new() -> Self {
        Self {
            counters: Counters::default(),
            queue: Latencies::default(),
            delivery: Latencies::default(),
            ack: Latencies::default(),
            epoch: Instant::now(),
            conversations: Mutex::default(),
            opened: Mutex::default(),
            to_take: Mutex::default(),
            taken: AtomicU64::new(0),
            agent_ready: AtomicBool::new(false),
            agent_failure: Mutex::default(),
            agent_delivered: AtomicU64::new(0),
            queue_frames: AtomicU64::new(0),
            queue_bytes: AtomicU64::new(0),
            queue_listed: AtomicU64::new(0),
            sending_since: AtomicU64::new(u64::MAX),
        }
    }

    pub fn micros(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// A client opened `room`.
    pub fn open(&self, room: &str) {
        lock(&self.conversations).insert(room.to_owned(), Conversation::default());
        lock(&self.opened).push(room.to_owned());
    }

    /// A client's message at `offset` in `room` was acknowledged.
    pub fn acked(&self, room: &str, offset: u64) {
        if let Some(c) = lock(&self.conversations).get_mut(room) {
            c.acked += 1;
            c.acked_offset = c.acked_offset.max(offset);
        }
    }

    /// One `support_queue` frame received at `now`: every conversation of this run whose `last`
    /// moved to a newer message of ours times that message (a message superseded before any
    /// frame showed it is not timed). Returns how many it timed.
    pub fn on_queue(&self, listed: &[Listed], now: u64) -> u64 {
        let since = self.sending_since.load(Relaxed);
        let mut timed = 0;
        let mut conversations = lock(&self.conversations);
        for item in listed {
            let (Some(last), Some(c)) = (&item.last, conversations.get_mut(&item.room)) else {
                continue;
            };
            if last.offset <= c.shown_offset {
                continue;
            }
            c.shown_offset = last.offset;
            if let Some(sent) = read_stamp(&last.content).filter(|s| *s >= since) {
                self.queue.record(now.saturating_sub(sent));
                timed += 1;
            }
        }
        self.queue_listed.store(listed.len() as u64, Relaxed);
        timed
    }

    /// Conversations whose newest acknowledged message the queue has not shown (yet).
    pub fn unreflected(&self) -> u64 {
        let conversations = lock(&self.conversations);
        conversations
            .values()
            .filter(|c| c.shown_offset < c.acked_offset)
            .count() as u64
    }

    /// Client messages acknowledged in the conversations the agent holds: what it must receive.
    pub fn owed_to_agent(&self) -> u64 {
        let to_take = lock(&self.to_take);
        let conversations = lock(&self.conversations);
        to_take
            .iter()
            .filter_map(|room| conversations.get(room))
            .map(|c| c.acked)
            .sum()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
