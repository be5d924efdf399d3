//! The pure parts of group commit: the digest, idempotency decisions and offset assignment.

use std::collections::HashMap;

use super::{
    OwnedMessage,
    batch::{Decision, Known, assign, decide},
    digest,
};
use crate::store::Appended;

fn owned(client_id: &str, id: &str, content: &str) -> OwnedMessage {
    OwnedMessage {
        room: "general".into(),
        client_id: client_id.into(),
        id: id.into(),
        digest: digest("ann", "", content),
        time_ms: 0,
        frame_prefix: String::new(),
    }
}

#[test]
fn digests_are_stable_and_separate_the_fields() {
    assert_eq!(digest("a", "b", "c"), digest("a", "b", "c"));
    assert_ne!(digest("a", "bc", ""), digest("ab", "c", ""));
    assert_eq!(digest("ann", "", "hi").len(), 32);
}

#[test]
fn idempotency_is_decided_against_the_database_and_the_batch() {
    let a = owned("c1", "m1", "hi");
    let again = owned("c1", "m2", "hi");
    let other = owned("c1", "m3", "something else");
    let stored = owned("c9", "m4", "hi");
    let retried = owned("c8", "m5", "hi");
    let mut known = HashMap::new();
    let key = |c: &str| ("general".to_owned(), c.to_owned());
    known.insert(key("c9"), (7, "old".to_owned(), stored.digest.clone()));
    known.insert(key("c8"), (8, "m5".to_owned(), retried.digest.clone()));
    let d = decide(&[&a, &again, &other, &stored, &retried], &known);
    assert_eq!(d[0], Decision::New);
    assert_eq!(d[1], Decision::SameAs(0));
    assert_eq!(d[2], Decision::Conflict);
    let dup = |offset, id: &str, duplicate| {
        Decision::Stored(Appended {
            offset,
            id: id.into(),
            duplicate,
        })
    };
    assert_eq!(d[3], dup(7, "old", true));
    assert_eq!(d[4], dup(8, "m5", false), "this very send, retried");
}

#[test]
fn offsets_are_dense_per_room_in_arrival_order() {
    let mut ops = owned("c1", "m1", "a");
    ops.room = "ops".into();
    let msgs = [
        owned("c1", "m1", "a"),
        ops,
        owned("c2", "m2", "b"),
        owned("c1", "m3", "a"),
    ];
    let refs: Vec<&OwnedMessage> = msgs.iter().collect();
    let decisions = decide(&refs, &Known::new());
    assert_eq!(decisions[3], Decision::SameAs(0));
    let mut heads = HashMap::new();
    heads.insert("general", ("e".to_owned(), 41));
    heads.insert("ops", ("e".to_owned(), 0));
    let plan = assign(&refs, &decisions, &heads);
    assert_eq!(plan.new, [0, 1, 2]);
    assert_eq!(plan.offsets, [42, 1, 43, 0]);
    assert_eq!(
        plan.heads.into_iter().collect::<Vec<_>>(),
        [("general", 43), ("ops", 1)]
    );
}
