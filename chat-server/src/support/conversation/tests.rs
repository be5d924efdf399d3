//! The conversation rule, case by case.

use super::*;

const CLIENT: Actor<'static> = Actor {
    key: "carol",
    name: "Carol",
    agent: false,
    admin: false,
};
const ANN: Actor<'static> = Actor {
    key: "ann",
    name: "Ann",
    agent: true,
    admin: false,
};
const BOB: Actor<'static> = Actor {
    key: "bob",
    name: "Bob",
    agent: true,
    admin: false,
};
const ROOT: Actor<'static> = Actor {
    key: "root",
    name: "Root",
    agent: true,
    admin: true,
};
const EVE: Actor<'static> = Actor {
    key: "eve",
    name: "Eve",
    agent: false,
    admin: false,
};

fn message(by: Actor<'static>, offset: u64) -> Action<'static> {
    Action::Message {
        by,
        content: "hello",
        time_ms: offset * 1000,
        offset,
    }
}

fn step(c: &Conversation, a: Action<'_>) -> Conversation {
    c.apply(&a, 99_000).unwrap().expect("a change")
}

#[test]
fn client_messages_wait_and_count_until_an_agent_answers_and_reads() {
    let c = Conversation::new("support-0123456789", "carol", "Carol", false, 0);
    let c = step(&c, message(CLIENT, 1));
    let c = step(&c, message(CLIENT, 2));
    assert_eq!(c.waiting_since_ms, Some(1000), "the oldest unanswered");
    assert_eq!(c.unread, [1, 2]);
    assert_eq!(c.last.as_ref().unwrap().offset, 2);
    let c = step(&c, message(ANN, 3));
    assert_eq!(c.waiting_since_ms, None, "answered");
    assert_eq!(c.unread.len(), 2, "answering is not reading");
    let c = step(&c, Action::Read { by: ANN, offset: 1 });
    assert_eq!(c.unread, [2]);
    assert_eq!(c.apply(&Action::Read { by: ANN, offset: 1 }, 0), Ok(None));
    assert_eq!(
        c.apply(
            &Action::Read {
                by: CLIENT,
                offset: 9
            },
            0
        ),
        Ok(None),
        "the client's own reads are not the support side's"
    );
    assert_eq!(c.apply(&message(EVE, 4), 0), Ok(None), "not a party");
    let c = step(&c, message(CLIENT, 4));
    assert_eq!(c.waiting_since_ms, Some(4000));
    let long = "é".repeat(SUPPORT_PREVIEW_CHARS + 5);
    let c = step(
        &c,
        Action::Message {
            by: CLIENT,
            content: &long,
            time_ms: 5,
            offset: 5,
        },
    );
    assert_eq!(
        c.last.unwrap().content.chars().count(),
        SUPPORT_PREVIEW_CHARS
    );
}

#[test]
fn updates_landing_out_of_order_keep_the_newest() {
    let c = Conversation::new("support-0123456789", "carol", "Carol", false, 0);
    // The agent's answer at 3 lands before the client's message at 2 it answered.
    let c = step(&c, message(ANN, 3));
    let c = step(&c, message(CLIENT, 2));
    assert_eq!(c.last.as_ref().unwrap().offset, 3, "the newest stays last");
    assert_eq!(c.waiting_since_ms, None, "2 was answered by 3");
    assert_eq!(c.unread, [2], "but not read");
    let c = step(&c, message(CLIENT, 5));
    let c = step(&c, message(CLIENT, 4));
    assert_eq!(c.waiting_since_ms, Some(4000), "the oldest unanswered");
    assert_eq!(c.unread, [2, 4, 5]);
    assert_eq!(c.last.unwrap().offset, 5);
}

#[test]
fn unread_keeps_the_newest_offsets_only() {
    let mut c = Conversation::new("support-0123456789", "carol", "Carol", false, 0);
    for offset in 1..=(MAX_SUPPORT_UNREAD as u64 + 10) {
        c = step(&c, message(CLIENT, offset));
    }
    assert_eq!(c.unread.len(), MAX_SUPPORT_UNREAD);
    assert_eq!(c.unread[0], 11);
}

#[test]
fn one_take_wins_and_only_the_holder_or_an_admin_hands_over_or_closes() {
    let c = Conversation::new("support-0123456789", "carol", "Carol", false, 0);
    assert_eq!(
        c.apply(&Action::Take { by: CLIENT }, 0),
        Err(Refusal::Forbidden("only support agents take conversations"))
    );
    let taken = step(&c, Action::Take { by: ANN });
    assert_eq!(
        (taken.state, taken.taken_by.as_deref()),
        (State::Open, Some("ann"))
    );
    assert!(c.state_changed(&taken));
    assert_eq!(
        taken.apply(&Action::Take { by: BOB }, 0),
        Err(Refusal::Taken)
    );
    assert_eq!(taken.apply(&Action::Take { by: ANN }, 0), Ok(None));
    let transfer = |by| Action::Transfer {
        by,
        to: "bob",
        to_name: "Bob",
    };
    assert!(matches!(
        taken.apply(&transfer(BOB), 0),
        Err(Refusal::Forbidden(_))
    ));
    let moved = step(&taken, transfer(ANN));
    assert_eq!(moved.taken_by_name.as_deref(), Some("Bob"));
    assert!(step(&taken, transfer(ROOT)).taken_by.as_deref() == Some("bob"));
    assert!(matches!(
        moved.apply(&Action::Close { by: ANN }, 0),
        Err(Refusal::Forbidden(_))
    ));
    assert!(matches!(
        moved.apply(&Action::Close { by: EVE }, 0),
        Err(Refusal::Forbidden(_))
    ));
    let closed = step(&moved, Action::Close { by: BOB });
    assert_eq!(
        (closed.state, closed.taken_by.as_deref()),
        (State::Closed, None)
    );
    assert_eq!(closed.apply(&Action::Close { by: ROOT }, 0), Ok(None));
    // Any agent closes a conversation nobody holds.
    assert_eq!(step(&c, Action::Close { by: BOB }).state, State::Closed);
}

#[test]
fn a_client_message_reopens_a_closed_conversation() {
    let c = Conversation::new("support-0123456789", "carol", "Carol", false, 0);
    let c = step(&c, Action::Take { by: ANN });
    let closed = step(&c, Action::Close { by: ANN });
    let reopened = step(&closed, message(CLIENT, 7));
    assert_eq!(reopened.state, State::Waiting);
    assert_eq!(reopened.taken_by, None);
    assert!(closed.state_changed(&reopened));
    let answered = step(&closed, message(ANN, 8));
    assert_eq!(answered.state, State::Closed, "an agent's message does not");
}

#[test]
fn the_record_round_trips_as_json() {
    let mut c = Conversation::new("support-0123456789", "guest:00ff", "Gus", true, 5);
    c.resume_hash = Some("ab".into());
    let c = step(&c, message(ANN, 1));
    assert_eq!(Conversation::decode(&c.encode()), Some(c));
    assert_eq!(Conversation::decode("{}"), None);
}
