//! The `support` scenario (issue #15): `clients` waiting clients each open a support conversation
//! (`support_open`) and write at a steady rate, while one agent takes `take` of them (`support_take`
//! then `join`) and keeps them open. It measures what an agent's screen lives by: how soon the
//! queue (`support_queue`, coalesced by the server to one frame per 100 ms) reflects a client's
//! message, how soon a message in one of the agent's open conversations reaches it, and the
//! server's CPU and RSS meanwhile.
//!
//! The waiting clients are guests (the server needs `--guest-support true`) or, with `register`,
//! registered users chat-bench signs up over HTTP; the agent is a registered user (signed up or
//! logged in here) whom the server names in `--support-agents`. The run is bounded like every
//! other: a hard deadline, capped clients and duration. `board.rs` holds what is measured,
//! `agent.rs` and `waiting.rs` the two kinds of connection, `http.rs` signing in, `report.rs` the
//! figures.

mod agent;
mod board;
mod http;
mod report;
mod waiting;

use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::engine::{MAX_CONNECTIONS, MAX_DURATION};
use crate::error::{Error, Result};
use crate::probe::Probe;
use crate::stats::Counters;
use crate::target::{self, Target};
use board::{Board, lock};
pub use report::SupportReport;
use waiting::Waiting;

/// How often the engine looks at the board while it waits.
const POLL: Duration = Duration::from_millis(5);
/// Longest wait for the agent to take and join its conversations.
const TAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Registrations in flight at once (the server hashes two passwords at a time).
const REGISTER_CONCURRENCY: usize = 8;

/// Where a `support` run is; every connection watches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Clients connect and open their conversations.
    Connecting,
    /// The agent takes and joins its conversations.
    Taking,
    /// Clients write.
    Sending,
    /// Nobody writes; the queue and the agent catch up.
    Draining,
    /// Everyone closes.
    Closing,
}

/// A `support` run, decided before it starts.
#[derive(Debug, Clone)]
pub struct SupportPlan {
    /// Chat endpoints; clients are dealt round-robin over them, the agent uses the first.
    pub urls: Vec<String>,
    /// Waiting clients, each with one conversation.
    pub clients: usize,
    /// Conversations the agent takes and keeps open.
    pub take: usize,
    /// Client messages per second over all clients.
    pub rate: f64,
    /// Length of the writing phase.
    pub duration: Duration,
    pub content_bytes: usize,
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// Time between the agent holding its conversations and the first message.
    pub hold: Duration,
    /// Longest wait for the queue and the agent to catch up after writing stops.
    pub drain: Duration,
    pub max_secs: u64,
    /// Clients are registered users signed up over HTTP (else guests).
    pub register: bool,
    /// The agent's username (signed up, or logged in when it exists).
    pub agent: String,
    /// The agent's session cookie, instead of signing `agent` in.
    pub agent_cookie: Option<String>,
}

impl SupportPlan {
    /// Refuses plans that are unbounded or make no sense.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: &str| Err(Error::InvalidPlan(msg.to_owned()));
        if self.urls.is_empty() {
            return bad("give at least one --url");
        }
        if self.clients == 0 || self.clients >= MAX_CONNECTIONS {
            return bad("--clients must be 1 to 19999");
        }
        if self.take > self.clients {
            return bad("--take must not exceed --clients");
        }
        if !(self.rate > 0.0 && self.rate.is_finite()) {
            return bad("--rate must be above 0");
        }
        if self.duration > MAX_DURATION || self.duration.is_zero() {
            return bad("--duration must be above 0 and at most 600 s");
        }
        if !(17..=4096).contains(&self.content_bytes) {
            return bad("--size must be 17..=4096 bytes (16 digits of send time and a space)");
        }
        if self.concurrency == 0 || self.max_secs == 0 {
            return bad("--concurrency and --max-secs must be >= 1");
        }
        Ok(())
    }

    /// Each client's period: the total rate shared evenly.
    fn period(&self) -> Duration {
        Duration::from_secs_f64(self.clients as f64 / self.rate)
    }
}

/// Runs `plan` to the end (or to its hard deadline) and reports.
pub async fn run(plan: &SupportPlan, probe: &Probe) -> Result<SupportReport> {
    plan.validate()?;
    let mut targets = Vec::with_capacity(plan.urls.len());
    for url in &plan.urls {
        targets.push(target::resolve(url).await?);
    }
    let deadline = Duration::from_secs(plan.max_secs);
    tokio::time::timeout(deadline, run_resolved(plan, &targets, probe))
        .await
        .map_err(|_| Error::Deadline(plan.max_secs))?
}

async fn run_resolved(
    plan: &SupportPlan,
    targets: &[Target],
    probe: &Probe,
) -> Result<SupportReport> {
    let agent_cookie = match &plan.agent_cookie {
        Some(cookie) => cookie.clone(),
        None => http::sign_in(&targets[0], &plan.agent, None)
            .await
            .map_err(Error::Setup)?,
    };
    let cookies = client_cookies(plan, targets).await?;
    let board = Arc::new(Board::new());
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let before = probe.sample().await;

    let agent = tokio::spawn(agent::run(
        targets[0].clone(),
        agent_cookie,
        board.clone(),
        phase_rx.clone(),
    ));
    wait_until(crate::client::HANDSHAKE_TIMEOUT, || {
        board.agent_ready.load(Relaxed) || lock(&board.agent_failure).is_some()
    })
    .await;
    if !board.agent_ready.load(Relaxed) {
        let why = lock(&board.agent_failure).clone();
        return Err(Error::Setup(
            why.unwrap_or_else(|| "the agent did not start".into()),
        ));
    }

    let started = Instant::now();
    let mut clients = spawn_clients(plan, targets, cookies, &board, &phase_rx).await;
    let total = plan.clients as u64;
    let c = &board.counters;
    wait_until(Duration::MAX, || {
        Counters::get(&c.connected) + Counters::get(&c.connect_failures) >= total
    })
    .await;
    let connect_time = started.elapsed();

    *lock(&board.to_take) = lock(&board.opened)
        .iter()
        .take(plan.take)
        .cloned()
        .collect();
    let wanted = lock(&board.to_take).len() as u64;
    let _ = phase_tx.send(Phase::Taking);
    wait_until(TAKE_TIMEOUT, || board.taken.load(Relaxed) >= wanted).await;
    tokio::time::sleep(plan.hold).await;
    let connected = probe.sample().await;

    board.sending_since.store(board.micros(), Relaxed);
    let send_started = Instant::now();
    let _ = phase_tx.send(Phase::Sending);
    tokio::time::sleep(plan.duration).await;
    let send_time = send_started.elapsed();
    let _ = phase_tx.send(Phase::Draining);
    wait_until(plan.drain, || {
        let answered = Counters::get(&c.acked) + Counters::get(&c.send_errors);
        answered >= Counters::get(&c.sent)
            && board.unreflected() == 0
            && board.agent_delivered.load(Relaxed) >= board.owed_to_agent()
    })
    .await;
    let after = probe.sample().await;

    let _ = phase_tx.send(Phase::Closing);
    while clients.join_next().await.is_some() {}
    let _ = agent.await;
    Ok(SupportReport::build(report::Inputs {
        plan,
        board: &board,
        connect_time,
        send_time,
        samples: [before, connected, after],
    }))
}

/// Each client's session cookie: none for guests; with `register`, an account per client,
/// `bs-RUN-I`, named after the run so that runs on one store do not meet.
async fn client_cookies(plan: &SupportPlan, targets: &[Target]) -> Result<Vec<Option<String>>> {
    if !plan.register {
        return Ok(vec![None; plan.clients]);
    }
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() & 0xff_ffff);
    let gate = Arc::new(Semaphore::new(REGISTER_CONCURRENCY));
    let mut set = JoinSet::new();
    for i in 0..plan.clients {
        let target = targets[i % targets.len()].clone();
        let gate = gate.clone();
        set.spawn(async move {
            let _permit = gate.acquire_owned().await;
            let name = format!("bs-{run:06x}-{i}");
            let cookie = http::sign_in(&target, &name, Some(&http::address_of(i))).await;
            (i, cookie)
        });
    }
    let mut cookies = vec![None; plan.clients];
    while let Some(done) = set.join_next().await {
        let Ok((i, cookie)) = done else { continue };
        cookies[i] = Some(cookie.map_err(Error::Setup)?);
    }
    Ok(cookies)
}

/// One task per waiting client, spread round-robin over the targets, their first messages
/// spread over one period so the offered load is even.
async fn spawn_clients(
    plan: &SupportPlan,
    targets: &[Target],
    cookies: Vec<Option<String>>,
    board: &Arc<Board>,
    phase: &watch::Receiver<Phase>,
) -> JoinSet<()> {
    let gate = Arc::new(Semaphore::new(plan.concurrency));
    let period = plan.period();
    let mut set = JoinSet::new();
    for (id, cookie) in cookies.into_iter().enumerate() {
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        let me = Waiting {
            id,
            target: targets[id % targets.len()].clone(),
            cookie,
            period,
            offset: period.mul_f64(id as f64 / plan.clients as f64),
            content_bytes: plan.content_bytes,
        };
        set.spawn(waiting::run(me, board.clone(), phase.clone(), permit));
    }
    set
}

/// Polls `done` until it holds or `limit` has passed.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < limit {
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests;
