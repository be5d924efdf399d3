//! The support queue on this replica's side: the newest `support_queue` frame (built by the
//! `support` feed task once per change, shared by every agent connection) and the pushes to the
//! agents' connections. Like the room list, a connection has at most one push queued and writes
//! the newest frame when it gets to it, so a burst of changes costs a slow agent one frame.

use std::sync::{Mutex, atomic::Ordering};

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

use super::{Conn, Hub, Outbound};
use crate::accounts::Visitor;

/// The newest queue frame, and the signal that it is due again.
#[derive(Debug, Default)]
pub struct SupportFeed {
    frame: Mutex<Option<Utf8Bytes>>,
    /// Signalled when a conversation changed anywhere (or may have: a resubscription).
    pub changed: Notify,
}

fn is_agent(conn: &Conn) -> bool {
    conn.visitor.get().is_some_and(Visitor::is_agent)
}

impl Hub {
    /// Whether an agent is connected to this replica.
    pub fn has_agents(&self) -> bool {
        self.conns.lock().unwrap().values().any(|c| is_agent(c))
    }

    /// Make `frame` the queue and tell every local agent, unless it is the one they have.
    pub fn push_support_queue(&self, frame: Utf8Bytes) {
        {
            let mut current = self.support.frame.lock().unwrap();
            if current.as_ref() == Some(&frame) {
                return;
            }
            *current = Some(frame);
        }
        for conn in self.conns.lock().unwrap().values() {
            if is_agent(conn) {
                self.offer_support_queue(conn);
            }
        }
    }

    /// No agent is here: forget the queue (the next agent gets a fresh one).
    pub fn forget_support_queue(&self) {
        *self.support.frame.lock().unwrap() = None;
    }

    /// An agent identified itself: queue the current queue for it, or have one built.
    pub fn agent_connected(&self, conn: &Conn) {
        if self.support.frame.lock().unwrap().is_some() {
            self.offer_support_queue(conn);
        } else {
            self.support.changed.notify_one();
        }
    }

    /// The newest queue, for a connection writing its [`Outbound::SupportQueue`]; the flag is
    /// cleared before the read, so a change landing meanwhile queues another push.
    pub fn take_support_queue(&self, conn: &Conn) -> Option<Utf8Bytes> {
        conn.support_pending.store(false, Ordering::Release);
        self.support.frame.lock().unwrap().clone()
    }

    fn offer_support_queue(&self, conn: &Conn) {
        if !conn.support_pending.swap(true, Ordering::AcqRel) {
            self.offer(conn, Outbound::SupportQueue);
        }
    }
}
