//! The command line: one subcommand per scenario, each turned into an engine [`Plan`]. Scenario
//! defaults live here and nowhere else.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::engine::Plan;
use crate::error::{Error, Result};
use crate::probe::Probe;
use crate::protocol::Protocol;
use crate::source::SourceAddrs;
use crate::support::SupportPlan;

/// chat-bench: load chat-server over its WebSocket protocol and report throughput, latency,
/// errors, gaps and the server's memory. Targets loopback only; every run is bounded.
#[derive(Debug, Parser)]
#[command(name = "chat-bench", version)]
pub struct Cli {
    #[command(subcommand)]
    pub scenario: Scenario,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub enum Scenario {
    /// Open N connections (paced by --connect-rate / --concurrency), hello + join: time to all
    /// connected, connect latency, failures, server RSS per connection.
    Connect {
        #[command(flatten)]
        common: Common,
        /// Connections to open.
        #[arg(long, default_value_t = 1000)]
        connections: usize,
        /// Room every client joins (with --rooms 1).
        #[arg(long, default_value = "general")]
        room: String,
        /// Spread the connections evenly over this many rooms, `<room-prefix>-idle-<i>`
        /// (created when missing), instead of --room; --connections must divide by it.
        #[arg(long, default_value_t = 1)]
        rooms: usize,
        /// Seconds to stay connected before closing (the RSS reading is taken at the end).
        #[arg(long, default_value_t = 1.0)]
        hold_secs: f64,
    },
    /// One room, N members, M messages/s in total from K of them.
    Fanout {
        #[command(flatten)]
        common: Common,
        /// Members of the room.
        #[arg(long, default_value_t = 100)]
        members: usize,
        /// Members that send.
        #[arg(long, default_value_t = 10)]
        senders: usize,
        #[command(flatten)]
        traffic: Traffic,
    },
    /// Many rooms of a few members each.
    Rooms(RoomsArgs),
    /// Like `rooms`, with clients spread round-robin over several --url (replicas sharing one
    /// Redis), so every room has members on every replica.
    Replicas(RoomsArgs),
    /// The published baseline of the design we replace: 450 users connecting and registering
    /// took 7.2 s there. Here: 450 clients connect, hello and join `general`, all at once.
    Seed450 {
        #[command(flatten)]
        common: Common,
    },
    /// The support desk (issue #15): N waiting clients each open a support conversation and
    /// write at --rate in total; one agent takes --take of them and keeps them open. Queue
    /// update latency (send -> the agent's `support_queue` showing it), the agent's delivery
    /// latency in its open conversations, server CPU and RSS. Needs the server's
    /// --support-agents to name --agent, and --guest-support true unless --register.
    Support(SupportArgs),
}

/// Options of `support`.
#[derive(Debug, Args)]
pub struct SupportArgs {
    #[command(flatten)]
    pub common: Common,
    /// Waiting clients, one conversation each.
    #[arg(long, default_value_t = 200)]
    pub clients: usize,
    /// Conversations the agent takes and keeps open.
    #[arg(long, default_value_t = 20)]
    pub take: usize,
    /// Client messages per second over all clients.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    /// Length of the writing phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Content bytes per message (>= 17: the send time travels in it).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Seconds between the agent holding its conversations and the first message.
    #[arg(long, default_value_t = 0.5)]
    pub hold_secs: f64,
    /// Longest wait for the queue and the agent to catch up after writing stops, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub drain_secs: f64,
    /// Clients are registered users chat-bench signs up over HTTP (each with its own
    /// X-Forwarded-For: run the server with --client-address-header X-Forwarded-For, or its
    /// 30 registrations per address and hour stop the run), instead of guests.
    #[arg(long)]
    pub register: bool,
    /// The agent's username: signed up (or logged in when it exists) before the run; the server
    /// must list it in --support-agents. With --cookie, that session is the agent instead.
    #[arg(long, default_value = "bench-agent")]
    pub agent: String,
}

/// What the command line asks for: a run of the rooms engine, or of the `support` scenario.
#[derive(Debug)]
pub enum Job {
    /// `connect`, `fanout`, `rooms`, `replicas`, `seed450`.
    Rooms(Plan),
    /// `support`.
    Support(SupportPlan),
}

/// Options of `rooms` and `replicas`.
#[derive(Debug, Args)]
pub struct RoomsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Rooms (created when missing; mind the server's --max-rooms).
    #[arg(long, default_value_t = 100)]
    pub rooms: usize,
    /// Members per room.
    #[arg(long, default_value_t = 5)]
    pub members: usize,
    /// Senders per room.
    #[arg(long, default_value_t = 1)]
    pub senders: usize,
    #[command(flatten)]
    pub traffic: Traffic,
}

/// Options every scenario takes.
#[derive(Debug, Args)]
pub struct Common {
    /// WebSocket endpoint, e.g. ws://127.0.0.1:8080/ws (loopback only); repeat for replicas.
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// The servers' wire protocol: chat-server's, or a peer's for loadtest/bench/peers.sh
    /// (socket.io 4 with the events of loadtest/bench/peers/socketio/server.js; NATS over WebSocket).
    #[arg(long, value_enum, default_value_t)]
    pub protocol: Protocol,
    /// Print the report as one JSON object on the last line, after the table.
    #[arg(long)]
    pub json: bool,
    /// The server's pid: its RSS (VmRSS) and CPU time are read from /proc.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The server's Prometheus page, for its RSS when no pid is given.
    #[arg(long)]
    pub metrics_url: Option<String>,
    /// New connections per second (0: as fast as --concurrency allows).
    #[arg(long, default_value_t = 0.0)]
    pub connect_rate: f64,
    /// Handshakes in flight at once [default: 256; seed450: 450, all at once].
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Hard deadline of the whole run, in seconds.
    #[arg(long, default_value_t = 300)]
    pub max_secs: u64,
    /// Prefix of the rooms the run creates and uses.
    #[arg(long, default_value = "bench")]
    pub room_prefix: String,
    /// A `Cookie` header every client sends with its handshake, e.g. `chatapp_session=...` of a
    /// registered user (read receipts are for signed-in users; every client is then that user).
    #[arg(long)]
    pub cookie: Option<String>,
    /// Local addresses to connect from, round robin over the clients, e.g.
    /// `127.0.0.2-127.0.0.9` (loopback only; ranges and commas): each source address has its own
    /// ephemeral ports, so one machine can open more than ~28,000 connections to one server port.
    #[arg(long, value_parser = SourceAddrs::parse)]
    pub source_addrs: Option<SourceAddrs>,
    /// Write this file once every client has connected and joined (or failed): its one line is
    /// `<connected> <failed>`. For scripts that start several chat-bench processes.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// After the hold, keep every connection open until this file exists (checked every 100 ms,
    /// bounded by --max-secs), then go on with the run. For scripts that hold many processes'
    /// connections while another one runs a fanout.
    #[arg(long)]
    pub hold_until: Option<PathBuf>,
}

/// Options of the scenarios that send.
#[derive(Debug, Args)]
pub struct Traffic {
    /// Messages per second over all senders (0: closed loop, --window in flight per sender).
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Sends in flight per sender in closed loop (--rate 0).
    #[arg(long, default_value_t = 1)]
    pub window: u32,
    /// Length of the sending phase, in seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Most messages sent in the run.
    #[arg(long, default_value_t = 1_000_000)]
    pub messages: u64,
    /// Content bytes per message (>= 17: the send time travels in it).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Longest wait for in-flight deliveries after sending stops, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub drain_secs: f64,
    /// Seconds to wait between all connected and the first send.
    #[arg(long, default_value_t = 0.5)]
    pub hold_secs: f64,
    /// Presence signals on while sending: every sender sends `typing` before each message (the
    /// server relays one per 2 s per connection) and every member sends `read` for the newest
    /// offset it has, once a second (as the browser UI does). Needs --cookie for the reads.
    #[arg(long)]
    pub signals: bool,
}

impl Cli {
    /// The job this command line asks for, where to probe the server, and whether to print JSON.
    pub fn job(&self) -> Result<(Job, Probe, bool)> {
        let Scenario::Support(a) = &self.scenario else {
            let (plan, probe, json) = self.plan()?;
            return Ok((Job::Rooms(plan), probe, json));
        };
        let c = &a.common;
        if c.protocol != Protocol::Chatapp {
            return Err(Error::InvalidPlan(
                "support is chat-server's support desk: use --protocol chatapp".into(),
            ));
        }
        let plan = SupportPlan {
            urls: c.urls.clone(),
            clients: a.clients,
            take: a.take,
            rate: a.rate,
            duration: secs(a.duration)?,
            content_bytes: a.size,
            concurrency: c.concurrency.unwrap_or(256),
            hold: secs(a.hold_secs)?,
            drain: secs(a.drain_secs)?,
            max_secs: c.max_secs,
            register: a.register,
            agent: a.agent.clone(),
            agent_cookie: c.cookie.clone(),
        };
        plan.validate()?;
        Ok((Job::Support(plan), probe_of(c), c.json))
    }

    /// The rooms-engine run this command line asks for, where to probe the server, and whether
    /// to print JSON (`support` is not one: see [`Cli::job`]).
    pub fn plan(&self) -> Result<(Plan, Probe, bool)> {
        let (name, common) = match &self.scenario {
            Scenario::Connect { common, .. } => ("connect", common),
            Scenario::Fanout { common, .. } => ("fanout", common),
            Scenario::Rooms(a) => ("rooms", &a.common),
            Scenario::Replicas(a) => ("replicas", &a.common),
            Scenario::Seed450 { common } => ("seed450", common),
            Scenario::Support(_) => {
                return Err(Error::InvalidPlan("support is not a rooms run".into()));
            }
        };
        let base = Plan {
            scenario: name.to_owned(),
            protocol: common.protocol,
            urls: common.urls.clone(),
            rooms: vec!["general".into()],
            members_per_room: 0,
            senders_per_room: 0,
            rate: 0.0,
            window: 1,
            duration: Duration::ZERO,
            max_messages: 0,
            content_bytes: 64,
            connect_rate: common.connect_rate,
            concurrency: common.concurrency.unwrap_or(256),
            hold: Duration::ZERO,
            drain: Duration::ZERO,
            max_secs: common.max_secs,
            signals: false,
            cookie: common.cookie.clone(),
            source_addrs: common.source_addrs.clone().unwrap_or_default(),
            ready_file: common.ready_file.clone(),
            hold_until: common.hold_until.clone(),
        };
        let prefix = &common.room_prefix;
        let plan = match &self.scenario {
            Scenario::Connect {
                connections,
                room,
                rooms,
                hold_secs,
                ..
            } => Plan {
                rooms: connect_rooms(room, *rooms, *connections, prefix)?,
                members_per_room: connections / (*rooms).max(1),
                hold: secs(*hold_secs)?,
                ..base
            },
            Scenario::Seed450 { .. } => Plan {
                members_per_room: 450,
                // The baseline's 450 users arrived together.
                concurrency: common.concurrency.unwrap_or(450),
                ..base
            },
            Scenario::Fanout {
                members,
                senders,
                traffic,
                ..
            } => traffic.apply(Plan {
                rooms: vec![format!("{prefix}-fanout")],
                members_per_room: *members,
                senders_per_room: *senders,
                ..base
            })?,
            Scenario::Rooms(a) | Scenario::Replicas(a) => traffic_rooms(a, prefix, base)?,
            Scenario::Support(_) => unreachable!("refused above"),
        };
        if name == "replicas" && plan.urls.len() < 2 {
            return Err(Error::InvalidPlan(
                "replicas needs two or more --url".into(),
            ));
        }
        Ok((plan, probe_of(common), common.json))
    }
}

fn probe_of(common: &Common) -> Probe {
    Probe {
        server_pid: common.server_pid,
        metrics_url: common.metrics_url.clone(),
    }
}

/// The rooms of `connect`: --room, or --rooms of them with --connections spread evenly.
fn connect_rooms(
    room: &str,
    rooms: usize,
    connections: usize,
    prefix: &str,
) -> Result<Vec<String>> {
    match rooms {
        0 => Err(Error::InvalidPlan("--rooms must be >= 1".into())),
        1 => Ok(vec![room.to_owned()]),
        n if !connections.is_multiple_of(n) => Err(Error::InvalidPlan(format!(
            "--connections {connections} does not divide evenly over --rooms {n}"
        ))),
        n => Ok((0..n).map(|i| format!("{prefix}-idle-{i}")).collect()),
    }
}

fn traffic_rooms(a: &RoomsArgs, prefix: &str, base: Plan) -> Result<Plan> {
    a.traffic.apply(Plan {
        rooms: (0..a.rooms).map(|i| format!("{prefix}-{i}")).collect(),
        members_per_room: a.members,
        senders_per_room: a.senders,
        ..base
    })
}

impl Traffic {
    fn apply(&self, plan: Plan) -> Result<Plan> {
        Ok(Plan {
            rate: self.rate,
            window: self.window,
            duration: secs(self.duration)?,
            max_messages: self.messages,
            content_bytes: self.size,
            drain: secs(self.drain_secs)?,
            hold: secs(self.hold_secs)?,
            signals: self.signals,
            ..plan
        })
    }
}

fn secs(s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s).map_err(|_| Error::InvalidPlan(format!("bad duration {s}")))
}

#[cfg(test)]
mod tests;
