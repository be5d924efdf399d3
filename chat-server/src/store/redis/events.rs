//! The payloads on the bus (`docs/architecture.md` lists them): where each travels ([`route`]: a
//! room's own events on its sharded channel, the rare global ones on the events channel) and the
//! parser of every payload; a feature's own payloads parse in its module. The connection that
//! hears them is `subscriber.rs`'.

use super::{edits, reads, support, timed, votes};
use crate::store::{SessionEnd, StoreEvent};

/// Where a payload is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Route<'a> {
    /// The room's sharded channel (`Keys::room_events`): only replicas with members there hear it.
    Room(&'a str),
    /// The events channel every replica hears (`Keys::events`).
    Everyone,
}

/// The channel of a payload: a room's messages, notices, votes, replies, typing and timed
/// clears/expiries go to that room's channel; the room list, access, deletions, read positions
/// (a user's `unread` is due on every replica they are connected to, in the room or not),
/// support and session ends go to everyone. The scripts that publish (`append.lua`, `vote.lua`,
/// ...) follow the same split.
pub(super) fn route(payload: &str) -> Route<'_> {
    let mut words = payload.split(' ');
    let kind = words.next().unwrap_or("");
    // The room is the nth word after the kind.
    let nth = match kind {
        "n" | "v" | "p" | "x" => 0,
        "c" => 1,
        "m" | "t" => 2,
        _ => return Route::Everyone,
    };
    match words.nth(nth) {
        Some(room) if !room.is_empty() => Route::Room(room),
        _ => Route::Everyone,
    }
}

/// Any payload heard on the bus, as the event it announces (`None` for one we do not know).
pub(super) fn parse(payload: &str, instance: &str) -> Option<StoreEvent> {
    reads::parse_signal(payload, instance).or_else(|| parse_event(payload))
}

/// `m <epoch> <offset> <room> <time_ms> <frame>`, `r`, a session end (`s1 …`, `sa …`), a notice
/// `n <room> <frame>` (`edits.rs`), a timed room's clear (`c <through> <room>`) or expiry
/// (`x <room>`), a private room's participants changed (`a <room>`) or a room deleted
/// (`d <room>`); votes and replies (`v …`, `p …`) are `votes.rs`', a support conversation's
/// change (`q <room>`) `support.rs`'.
pub(super) fn parse_event(payload: &str) -> Option<StoreEvent> {
    if payload == "r" {
        return Some(StoreEvent::RoomsChanged);
    }
    if let Some(rest) = payload.strip_prefix("n ") {
        return edits::parse_notice(rest);
    }
    if let Some(room) = payload.strip_prefix("a ") {
        return Some(StoreEvent::AccessChanged { room: room.into() });
    }
    if let Some(room) = payload.strip_prefix("d ") {
        return Some(StoreEvent::RoomDeleted { room: room.into() });
    }
    if payload.starts_with('s') {
        return SessionEnd::from_payload(payload).map(StoreEvent::SessionsEnded);
    }
    if let Some(fired) = timed::parse_payload(payload) {
        return Some(fired.into());
    }
    if let Some(event) = votes::parse_event(payload) {
        return Some(event);
    }
    if let Some(event) = support::parse_event(payload) {
        return Some(event);
    }
    let rest = payload.strip_prefix("m ")?;
    let mut parts = rest.splitn(5, ' ');
    let epoch = parts.next()?;
    let offset = parts.next()?.parse().ok()?;
    let room = parts.next()?;
    let time_ms = parts.next()?.parse().ok()?;
    let frame = parts.next()?;
    Some(StoreEvent::Message {
        epoch: epoch.into(),
        room: room.into(),
        offset,
        time_ms,
        frame: frame.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room_of(event: &StoreEvent) -> Option<&str> {
        match event {
            StoreEvent::Message { room, .. }
            | StoreEvent::Notice { room, .. }
            | StoreEvent::Cleared { room, .. }
            | StoreEvent::Expired { room }
            | StoreEvent::Votes { room, .. }
            | StoreEvent::Replies { room, .. }
            | StoreEvent::Signal { room, .. } => Some(room),
            _ => None,
        }
    }

    #[test]
    fn a_rooms_own_events_travel_on_its_channel_and_the_rest_to_everyone() {
        let per_room = [
            r#"m e1 42 ops 1700 {"type":"message","content":"a b"}"#,
            r#"n ops {"type":"deleted","room":"ops","offset":3}"#,
            "v ops 7 1 0",
            "p ops 7 2",
            "c 9 ops",
            "x ops",
            r#"t replica-1 5 ops {"type":"typing"}"#,
        ];
        for payload in per_room {
            let event = parse(payload, "replica-2").expect(payload);
            assert_eq!(room_of(&event), Some("ops"), "{payload}");
            assert_eq!(route(payload), Route::Room("ops"), "{payload}");
        }
        let everyone = [
            "r",
            "a ops",
            "d ops",
            "u ops ann",
            "q support-1",
            "s1 ab12",
            "sa ann -",
        ];
        for payload in everyone {
            assert!(parse(payload, "replica-2").is_some(), "{payload}");
            assert_eq!(route(payload), Route::Everyone, "{payload}");
        }
        assert_eq!(route("m e1"), Route::Everyone, "malformed: no room");
    }

    #[test]
    fn pubsub_payloads_parse() {
        let Some(StoreEvent::Message {
            epoch,
            room,
            offset,
            time_ms,
            frame,
        }) = parse_event(r#"m e1 42 general 1700 {"type":"message","content":"a b"}"#)
        else {
            panic!("not a message event")
        };
        assert_eq!(
            (&*epoch, &*room, offset, time_ms),
            ("e1", "general", 42, 1700)
        );
        assert_eq!(&*frame, r#"{"type":"message","content":"a b"}"#);
        assert!(matches!(parse_event("r"), Some(StoreEvent::RoomsChanged)));
        assert!(matches!(
            parse_event("a plans"),
            Some(StoreEvent::AccessChanged { room }) if &*room == "plans"
        ));
        assert!(matches!(
            parse_event("d plans"),
            Some(StoreEvent::RoomDeleted { room }) if &*room == "plans"
        ));
        // `p` is a reply count (votes.rs), not a private room's participants (`a`).
        assert!(matches!(
            parse_event("p ops 7 2"),
            Some(StoreEvent::Replies { room, offset: 7, count: 2 }) if &*room == "ops"
        ));
        assert!(parse_event("m e1 x general 1 {}").is_none());
        assert!(parse_event("garbage").is_none());
        assert!(matches!(
            parse_event("q support-0123456789"),
            Some(StoreEvent::SupportChanged { room }) if &*room == "support-0123456789"
        ));
        assert!(matches!(
            parse_event("sa ann -"),
            Some(StoreEvent::SessionsEnded(SessionEnd::AllOf { .. }))
        ));
    }
}
