//! chat-bench, the chatapp load generator: it speaks the WebSocket protocol of docs/protocol.md,
//! runs named scenarios (`connect`, `fanout`, `rooms`, `replicas`, `seed450`, and the support
//! desk's `support` in [`support`]) against loopback servers, and reports throughput, latency,
//! errors, offset gaps and the server's memory. The [`protocol`] adapters let it load socket.io
//! and nats-server the same way, for comparison (all scenarios but `support`).
//!
//! The CLI ([`cli`]) turns a scenario into a [`Plan`]; the [`engine`] runs it with one task per
//! simulated client (the private `client` module); [`stats`] holds what is measured and [`report`] prints it. The
//! server side (and Locust, in `loadtest/locustfile.py`) is not here.

pub mod cli;
mod client;
pub mod engine;
pub mod error;
pub mod probe;
pub mod protocol;
pub mod report;
pub mod source;
pub mod stats;
pub mod support;
pub mod target;

pub use engine::{Plan, run};
pub use error::{Error, Result};
pub use probe::Probe;
pub use report::Report;
