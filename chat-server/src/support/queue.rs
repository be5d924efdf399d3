//! The `support_queue` frame: every conversation ordered for agents (waiting ones oldest first,
//! then open ones, then the latest closed ones), at most
//! [`MAX_SUPPORT_LISTED`](crate::limits::MAX_SUPPORT_LISTED), each as its
//! [`SupportEntry`](crate::protocol::SupportEntry). Built once per change and shared by every
//! agent connection of the replica.

use super::{Conversation, State};
use crate::{
    clock::rfc3339_ms,
    limits::{MAX_SUPPORT_CLOSED_LISTED, MAX_SUPPORT_LISTED},
    protocol::{ServerFrame, SupportEntry, SupportLast},
};

/// The `support_queue` frame listing `all`.
pub(crate) fn queue_frame(mut all: Vec<Conversation>) -> String {
    order(&mut all);
    let conversations: Vec<SupportEntry> = all.iter().map(entry).collect();
    ServerFrame::SupportQueue {
        conversations: &conversations,
    }
    .to_json()
}

/// Waiting first (those with an unanswered client message first, the longest waiting first;
/// then the others by when they changed), then open (most recently changed first), then the
/// newest [`MAX_SUPPORT_CLOSED_LISTED`] closed; at most [`MAX_SUPPORT_LISTED`] in all.
fn order(all: &mut Vec<Conversation>) {
    all.sort_by_key(|c| match (c.state, c.waiting_since_ms) {
        (State::Waiting, Some(since)) => (0, since, c.room.clone()),
        (State::Waiting, None) => (1, c.updated_ms, c.room.clone()),
        (State::Open, _) => (2, u64::MAX - c.updated_ms, c.room.clone()),
        (State::Closed, _) => (3, u64::MAX - c.updated_ms, c.room.clone()),
    });
    let closed_from = all.partition_point(|c| c.state != State::Closed);
    all.truncate((closed_from + MAX_SUPPORT_CLOSED_LISTED).min(MAX_SUPPORT_LISTED));
}

fn entry(c: &Conversation) -> SupportEntry {
    SupportEntry {
        room: c.room.clone(),
        client: c.client.clone(),
        client_name: c.client_name.clone(),
        guest: c.guest,
        last: c.last.as_ref().map(|l| SupportLast {
            name: l.name.clone(),
            content: l.content.clone(),
            time: rfc3339_ms(l.time_ms),
            offset: l.offset,
        }),
        waiting_since: c.waiting_since_ms.map(rfc3339_ms),
        unread: c.unread.len() as u64,
        taken_by: c.taken_by.clone(),
        taken_by_name: c.taken_by_name.clone(),
        state: c.state.as_str(),
        opened_at: rfc3339_ms(c.opened_ms),
        updated_at: rfc3339_ms(c.updated_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(room: &str, state: State, since: Option<u64>, updated: u64) -> Conversation {
        let mut c = Conversation::new(room, room, room, false, 0);
        c.state = state;
        c.waiting_since_ms = since;
        c.updated_ms = updated;
        c
    }

    #[test]
    fn waiting_oldest_first_then_open_then_the_latest_closed() {
        let mut all = vec![
            conv("support-c1", State::Closed, None, 5),
            conv("support-o1", State::Open, Some(1), 3),
            conv("support-w2", State::Waiting, Some(20), 30),
            conv("support-w1", State::Waiting, Some(10), 40),
            conv("support-w0", State::Waiting, None, 1),
            conv("support-o2", State::Open, None, 9),
        ];
        for i in 0..(MAX_SUPPORT_CLOSED_LISTED as u64 + 5) {
            all.push(conv(&format!("support-x{i}"), State::Closed, None, 100 + i));
        }
        let frame = queue_frame(all);
        let v: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(v["type"], "support_queue");
        let rooms: Vec<&str> = v["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["room"].as_str().unwrap())
            .collect();
        assert_eq!(
            rooms[..5],
            [
                "support-w1",
                "support-w2",
                "support-w0",
                "support-o2",
                "support-o1"
            ],
            "nothing to answer in w0 yet"
        );
        assert_eq!(rooms.len(), 5 + MAX_SUPPORT_CLOSED_LISTED);
        assert_eq!(
            rooms[5],
            format!("support-x{}", MAX_SUPPORT_CLOSED_LISTED + 4)
        );
        assert!(
            !rooms.contains(&"support-c1"),
            "the oldest closed are left out"
        );
        let w1 = &v["conversations"][0];
        assert_eq!(w1["state"], "waiting");
        assert_eq!(w1["waiting_since"], "1970-01-01T00:00:00.010Z");
        assert_eq!(w1["unread"], 0);
        assert!(w1["last"].is_null() && w1["taken_by"].is_null());
    }

    #[test]
    fn at_most_max_listed() {
        let all = (0..MAX_SUPPORT_LISTED as u64 + 3)
            .map(|i| conv(&format!("support-{i}"), State::Waiting, Some(i), i))
            .collect();
        let v: serde_json::Value = serde_json::from_str(&queue_frame(all)).unwrap();
        assert_eq!(
            v["conversations"].as_array().unwrap().len(),
            MAX_SUPPORT_LISTED
        );
    }
}
