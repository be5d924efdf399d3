//! A run, phase by phase: resolve the targets (loopback only), create the rooms, open every client
//! (paced and bounded), let the senders send for the planned time or count, drain what is still in
//! flight, close, then add it all up into a [`Report`]. Every phase has a time bound, and the whole
//! run has a hard deadline, so a run always stops by itself.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{self, Phase, RoomStats, Sending, Shared, Spec};
use crate::error::{Error, Result};
use crate::probe::Probe;
use crate::protocol::Protocol;
use crate::report::Report;
use crate::source::SourceAddrs;
use crate::stats::Counters;
use crate::target::{self, Target};

/// Most connections one run may open (the client's and the server's fd limits are 20000 here).
pub const MAX_CONNECTIONS: usize = 20_000;
/// Longest sending phase.
pub const MAX_DURATION: Duration = Duration::from_secs(600);
/// Most messages one run may send.
pub const MAX_MESSAGES: u64 = 10_000_000;
/// How often the engine looks at the counters while it waits.
const POLL: Duration = Duration::from_millis(5);
/// How often a run held by `--hold-until` looks for its file.
const FILE_POLL: Duration = Duration::from_millis(100);
/// Time kept after a `--hold-until` wait to close every client and report before `--max-secs`.
const CLOSE_MARGIN: Duration = Duration::from_secs(20);

/// Everything a run does, decided before it starts (the CLI builds it from a scenario).
#[derive(Debug, Clone)]
pub struct Plan {
    pub scenario: String,
    /// The wire protocol of the servers (`chatapp` unless a peer server is measured).
    pub protocol: Protocol,
    pub urls: Vec<String>,
    /// Rooms to use; `general` always exists, the others are created when missing.
    pub rooms: Vec<String>,
    pub members_per_room: usize,
    /// The first `senders_per_room` members of each room send.
    pub senders_per_room: usize,
    /// Messages per second over all senders; 0 means closed loop (`window` in flight per sender).
    pub rate: f64,
    pub window: u32,
    /// Length of the sending phase.
    pub duration: Duration,
    /// Sends allowed in the whole run.
    pub max_messages: u64,
    pub content_bytes: usize,
    /// New connections per second; 0 means as fast as `concurrency` allows.
    pub connect_rate: f64,
    /// Handshakes in flight at once.
    pub concurrency: usize,
    /// Time all clients stay connected before sending (lets memory settle for the RSS reading).
    pub hold: Duration,
    /// Longest wait for in-flight deliveries after the sending phase.
    pub drain: Duration,
    /// Hard deadline of the whole run, in seconds.
    pub max_secs: u64,
    /// Presence signals while sending (`typing` from senders, `read` from every member).
    pub signals: bool,
    /// A `Cookie` header for every handshake (a registered user's session).
    pub cookie: Option<String>,
    /// Local addresses the clients connect from, round robin (empty: the kernel's choice).
    pub source_addrs: SourceAddrs,
    /// Written with `<connected> <failed>` once every client has connected or failed.
    pub ready_file: Option<PathBuf>,
    /// After the hold, the run waits for this file to exist before it goes on.
    pub hold_until: Option<PathBuf>,
}

impl Plan {
    /// Clients in the run.
    pub fn connections(&self) -> usize {
        self.rooms.len() * self.members_per_room
    }

    /// Refuses plans that are unbounded or make no sense.
    pub fn validate(&self) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidPlan(msg));
        if self.urls.is_empty() {
            return bad("give at least one --url".into());
        }
        if self.rooms.is_empty() || self.members_per_room == 0 {
            return bad("a run needs at least one room with one member".into());
        }
        if self.connections() > MAX_CONNECTIONS {
            return bad(format!(
                "{} connections is over the cap of {MAX_CONNECTIONS}",
                self.connections()
            ));
        }
        if self.senders_per_room > self.members_per_room {
            return bad("more senders than members in a room".into());
        }
        if self.duration > MAX_DURATION || self.max_messages > MAX_MESSAGES {
            return bad(format!(
                "duration is capped at {MAX_DURATION:?} and messages at {MAX_MESSAGES}"
            ));
        }
        if !(self.rate >= 0.0 && self.rate.is_finite() && self.connect_rate >= 0.0) {
            return bad("rates must be >= 0".into());
        }
        if self.concurrency == 0 || self.window == 0 || self.max_secs == 0 {
            return bad("--concurrency, --window and --max-secs must be >= 1".into());
        }
        if !(17..=4096).contains(&self.content_bytes) {
            return bad(
                "--size must be 17..=4096 bytes (16 digits of send time and a space)".into(),
            );
        }
        if self.protocol != Protocol::Chatapp && (self.signals || self.cookie.is_some()) {
            return bad("--signals and --cookie are chat-server's: use --protocol chatapp".into());
        }
        Ok(())
    }
}

/// Runs `plan` to the end (or to its hard deadline) and reports.
pub async fn run(plan: &Plan, probe: &Probe) -> Result<Report> {
    plan.validate()?;
    let mut targets = Vec::with_capacity(plan.urls.len());
    for url in &plan.urls {
        let mut target = target::resolve(url).await?;
        target.url = plan.protocol.handshake_url(&target.url);
        targets.push(target);
    }
    let deadline = Duration::from_secs(plan.max_secs);
    tokio::time::timeout(deadline, run_resolved(plan, &targets, probe))
        .await
        .map_err(|_| Error::Deadline(plan.max_secs))?
}

async fn run_resolved(plan: &Plan, targets: &[Target], probe: &Probe) -> Result<Report> {
    // Peers make rooms on the first join.
    if plan.protocol == Protocol::Chatapp {
        create_rooms(plan, &targets[0]).await?;
    }
    let before = probe.sample().await;
    let shared = Arc::new(Shared {
        counters: Counters::default(),
        delivery: Default::default(),
        ack: Default::default(),
        connect: Default::default(),
        rooms: plan.rooms.iter().map(|_| RoomStats::default()).collect(),
        epoch: Instant::now(),
        budget: plan.max_messages,
        tickets: AtomicU64::new(0),
    });
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);

    let started = Instant::now();
    let mut clients = spawn_clients(plan, targets, &shared, &phase_rx).await;
    let total = plan.connections() as u64;
    wait_until(Duration::MAX, || {
        Counters::get(&shared.counters.connected) + Counters::get(&shared.counters.connect_failures)
            >= total
    })
    .await;
    let connect_time = started.elapsed();
    if let Some(path) = &plan.ready_file {
        let c = &shared.counters;
        let line = format!(
            "{} {}\n",
            Counters::get(&c.connected),
            Counters::get(&c.connect_failures)
        );
        std::fs::write(path, line)
            .map_err(|e| Error::Setup(format!("cannot write {}: {e}", path.display())))?;
    }
    tokio::time::sleep(plan.hold).await;
    if let Some(path) = &plan.hold_until {
        // Leave time to close and report before the run's hard deadline.
        let left =
            Duration::from_secs(plan.max_secs).saturating_sub(started.elapsed() + CLOSE_MARGIN);
        wait_for_file(path, left).await;
    }
    let connected = probe.sample().await;

    let send_started = Instant::now();
    let _ = phase_tx.send(Phase::Sending);
    if plan.senders_per_room > 0 {
        wait_until(plan.duration, || {
            Counters::get(&shared.counters.sent) >= plan.max_messages
        })
        .await;
    }
    let send_time = send_started.elapsed();
    let _ = phase_tx.send(Phase::Draining);
    wait_until(plan.drain, || {
        let c = &shared.counters;
        // Only answers to sends settle them: a guest's refused `read` is an error too, and
        // counting it here once ended the drain before the last ack came in.
        let answered = Counters::get(&c.acked) + Counters::get(&c.send_errors);
        let settled = answered >= Counters::get(&c.sent);
        settled && Counters::get(&c.delivered) >= expected_deliveries(&shared.rooms)
    })
    .await;
    let active_time = send_started.elapsed();
    let after = probe.sample().await;

    let _ = phase_tx.send(Phase::Closing);
    let mut missing = 0;
    let mut duplicates = 0;
    while let Some(done) = clients.join_next().await {
        let Ok(outcome) = done else { continue };
        if let Some(mut tracker) = outcome.tracker {
            tracker.finish(shared.rooms[outcome.room_index].final_offset.load(Relaxed));
            missing += tracker.missing;
            duplicates += tracker.duplicates;
        }
    }
    Ok(Report::build(crate::report::Inputs {
        plan,
        shared: &shared,
        connect_time,
        send_time,
        active_time,
        expected: expected_deliveries(&shared.rooms),
        missing,
        duplicates,
        samples: [before, connected, after],
    }))
}

/// Deliveries owed: every acknowledged message to every member of its room. Valid because every
/// member joins before the first send and nobody leaves before the end.
fn expected_deliveries(rooms: &[RoomStats]) -> u64 {
    rooms
        .iter()
        .map(|r| r.acked.load(Relaxed) * r.members.load(Relaxed))
        .sum()
}

/// Waits until `path` exists or `limit` has passed.
async fn wait_for_file(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() && start.elapsed() < limit {
        tokio::time::sleep(FILE_POLL).await;
    }
}

/// Polls `done` until it holds or `limit` has passed.
async fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() && start.elapsed() < limit {
        tokio::time::sleep(POLL).await;
    }
}

/// Spawns one task per client: room `r` gets clients `r*m .. (r+1)*m`, spread round-robin over
/// the targets, so with replicas every room has members on every replica.
async fn spawn_clients(
    plan: &Plan,
    targets: &[Target],
    shared: &Arc<Shared>,
    phase: &watch::Receiver<Phase>,
) -> JoinSet<client::Outcome> {
    let gate = Arc::new(Semaphore::new(plan.concurrency));
    let pace = (plan.connect_rate > 0.0).then(|| Duration::from_secs_f64(1.0 / plan.connect_rate));
    let senders_total = (plan.rooms.len() * plan.senders_per_room).max(1);
    let period =
        (plan.rate > 0.0).then(|| Duration::from_secs_f64(senders_total as f64 / plan.rate));
    let rooms: Vec<Arc<str>> = plan.rooms.iter().map(|r| Arc::from(r.as_str())).collect();
    let cookie: Option<Arc<str>> = plan.cookie.as_deref().map(Arc::from);
    let mut set = JoinSet::new();
    let started = tokio::time::Instant::now();
    let mut sender_index = 0;
    for id in 0..plan.connections() {
        if let Some(pace) = pace {
            tokio::time::sleep_until(started + pace * id as u32).await;
        }
        let Ok(permit) = gate.clone().acquire_owned().await else {
            break;
        };
        let room_index = id / plan.members_per_room;
        let sending = (id % plan.members_per_room < plan.senders_per_room).then(|| {
            sender_index += 1;
            Sending {
                period,
                offset: period.map_or(Duration::ZERO, |p| {
                    p.mul_f64(sender_index as f64 / senders_total as f64)
                }),
                window: plan.window,
                content_bytes: plan.content_bytes,
            }
        });
        let spec = Spec {
            id,
            protocol: plan.protocol,
            target: targets[id % targets.len()].clone(),
            source: plan.source_addrs.pick(id),
            room_index,
            room: rooms[room_index].clone(),
            sending,
            signals: plan.signals,
            cookie: cookie.clone(),
        };
        set.spawn(client::run(spec, shared.clone(), phase.clone(), permit));
    }
    set
}

/// Checks the chat lets chat-bench's guests do what the plan needs, then makes sure every room
/// exists, over one setup connection (`room_exists` is fine).
async fn create_rooms(plan: &Plan, target: &Target) -> Result<()> {
    let setup = |e: &dyn std::fmt::Display| Error::Setup(format!("{}: {e}", target.url));
    let (mut ws, _) = tokio_tungstenite::connect_async(target.url.as_str())
        .await
        .map_err(|e| setup(&e))?;
    ws.send(Message::text(r#"{"type":"hello","name":"bench-setup"}"#))
        .await
        .map_err(|e| setup(&e))?;
    let welcome = next_frame(&mut ws, |v| v["type"] == "welcome")
        .await
        .map_err(|e| setup(&e))?;
    let rooms: Vec<&String> = plan.rooms.iter().filter(|r| *r != "general").collect();
    let posts = plan.senders_per_room > 0 || !rooms.is_empty();
    if posts && !guests_may_post(&welcome) {
        let _ = ws.close(None).await;
        return Err(setup(&GUESTS_CANNOT_POST));
    }
    for room in rooms {
        let frame = serde_json::json!({"type": "create_room", "name": room}).to_string();
        ws.send(Message::text(frame)).await.map_err(|e| setup(&e))?;
        let v = next_frame(&mut ws, |v| {
            (v["type"] == "room_created" && v["room"] == room.as_str()) || v["type"] == "error"
        })
        .await
        .map_err(|e| setup(&e))?;
        if v["type"] == "error" && v["code"] != "room_exists" {
            return Err(setup(&v));
        }
    }
    let _ = ws.close(None).await;
    Ok(())
}

/// Why a run stops before it starts on a chat whose guests only read.
const GUESTS_CANNOT_POST: &str = "this chat does not let guests post (welcome.guest_posting is false), and chat-bench's clients are guests: run the server with --guest-posting true (CHATAPP_GUEST_POSTING=true; in a ChatApp, spec.chat.guestPosting: true)";

/// Whether the `welcome` frame lets a guest post: `guest_posting` true, or absent (a server from
/// before accounts, where everyone posts).
fn guests_may_post(welcome: &serde_json::Value) -> bool {
    welcome["guest_posting"].as_bool().unwrap_or(true)
}

/// Reads frames until one that `wanted` accepts.
async fn next_frame(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    wanted: impl Fn(&serde_json::Value) -> bool,
) -> std::result::Result<serde_json::Value, String> {
    loop {
        let Some(Ok(msg)) = ws.next().await else {
            return Err("connection lost".into());
        };
        let Message::Text(text) = msg else { continue };
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if wanted(&v) {
            return Ok(v);
        }
    }
}

#[cfg(test)]
mod tests;
