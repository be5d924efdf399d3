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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::accounts::{SignedIn, User};

    fn signed_in(name: &str, agent: bool) -> Visitor {
        let user = User {
            username: name.into(),
            display_name: name.into(),
            email: None,
            admin: false,
            agent,
        };
        Visitor::Registered(Arc::new(SignedIn {
            user,
            key: name.into(),
            token_hash: String::new(),
            expires_ms: u64::MAX,
        }))
    }

    fn queued(rx: &mut crate::hub::OutboundRx) -> usize {
        std::iter::from_fn(|| rx.try_recv().ok())
            .filter(|out| matches!(out, Outbound::SupportQueue))
            .count()
    }

    #[test]
    fn agents_get_one_push_at_a_time_and_write_the_newest() {
        let (hub, _starts) = Hub::new(Arc::default());
        let (ann, mut ann_rx) = Conn::new(16, 1 << 20, &CancellationToken::new());
        ann.visitor.set(signed_in("ann", true)).unwrap();
        let (eve, mut eve_rx) = Conn::new(16, 1 << 20, &CancellationToken::new());
        eve.visitor.set(signed_in("eve", false)).unwrap();
        hub.connect(1, ann.clone());
        hub.connect(2, eve);
        assert!(hub.has_agents());

        hub.agent_connected(&ann);
        assert_eq!(
            queued(&mut ann_rx),
            0,
            "nothing built yet: the feed is woken instead"
        );
        hub.push_support_queue("q1".into());
        hub.push_support_queue("q2".into());
        assert_eq!(queued(&mut ann_rx), 1, "one push queued for two changes");
        assert_eq!(queued(&mut eve_rx), 0, "not an agent");
        assert_eq!(hub.take_support_queue(&ann).as_deref(), Some("q2"));
        hub.push_support_queue("q2".into());
        assert_eq!(queued(&mut ann_rx), 0, "the same queue is not pushed again");
        hub.agent_connected(&ann);
        assert_eq!(queued(&mut ann_rx), 1, "a new agent gets the current one");
    }
}
