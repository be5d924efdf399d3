//! The embedded backend's message log and rooms: idempotency, order, trimming, the room limit.

use tokio::sync::mpsc;

use super::MemoryStore;
use crate::{
    protocol::Since,
    store::{Created, Error, NewMessage, StoreEvent},
};

fn msg<'a>(room: &'a str, client_id: &'a str, prefix: &'a str) -> NewMessage<'a> {
    NewMessage {
        room,
        name: "ann",
        topic: None,
        content: "hi",
        client_id,
        id: client_id,
        time_ms: 0,
        frame_prefix: prefix,
    }
}

#[tokio::test]
async fn appends_are_idempotent_ordered_and_trimmed() {
    let (tx, mut rx) = mpsc::channel(16);
    let store = MemoryStore::new(2, tx);
    let prefix = r#"{"type":"message","offset":"#;
    let a = store.append(&msg("general", "c1", prefix)).await.unwrap();
    let again = store.append(&msg("general", "c1", prefix)).await.unwrap();
    assert_eq!((a.offset, a.duplicate), (1, false));
    assert_eq!((again.offset, again.duplicate), (1, true));
    for c in ["c2", "c3"] {
        store.append(&msg("general", c, prefix)).await.unwrap();
    }
    let offsets: Vec<u64> = std::iter::from_fn(|| rx.try_recv().ok())
        .filter_map(|e| match e {
            StoreEvent::Message { offset, .. } => Some(offset),
            _ => None,
        })
        .collect();
    assert_eq!(offsets, [1, 2, 3], "one event per stored message, in order");

    let page = store.history("general", None).await.unwrap();
    assert_eq!((page.head, page.frames.len(), page.recovered), (3, 2, true));
    let epoch = page.epoch.clone();
    let since = |offset| Since {
        epoch: epoch.clone(),
        offset,
    };
    let ok = store.history("general", Some(&since(2))).await.unwrap();
    assert_eq!((ok.frames.len(), ok.recovered), (1, true));
    let trimmed = store.history("general", Some(&since(0))).await.unwrap();
    assert!(!trimmed.recovered, "offset 1 was trimmed: no silent gap");
    let other = Since {
        epoch: "elsewhere".into(),
        offset: 3,
    };
    assert!(
        !store
            .history("general", Some(&other))
            .await
            .unwrap()
            .recovered
    );
    assert_eq!(store.range("general", 2).await.unwrap().entries.len(), 1);
}

#[tokio::test]
async fn idempotency_is_per_message_and_bounded_by_the_history() {
    let (tx, _rx) = mpsc::channel(1024);
    let store = MemoryStore::new(3, tx);
    let prefix = r#"{"type":"message","offset":"#;
    store.append(&msg("general", "c1", prefix)).await.unwrap();
    let other = NewMessage {
        content: "something else",
        ..msg("general", "c1", prefix)
    };
    assert!(matches!(
        store.append(&other).await,
        Err(Error::ClientIdConflict)
    ));
    let stranger = NewMessage {
        name: "bob",
        ..msg("general", "c1", prefix)
    };
    assert!(matches!(
        store.append(&stranger).await,
        Err(Error::ClientIdConflict)
    ));
    for i in 2..=100 {
        let id = format!("c{i}");
        store.append(&msg("general", &id, prefix)).await.unwrap();
    }
    let inner = store.inner.lock().await;
    let sends = inner.rooms["general"].sends.len();
    assert!(sends <= 6, "{sends} records for a history of 3");
    drop(inner);
    let again = store.append(&msg("general", "c1", prefix)).await.unwrap();
    assert_eq!(
        (again.offset, again.duplicate),
        (101, false),
        "trimmed: new again"
    );
}

#[tokio::test]
async fn rooms_are_created_once_within_the_limit() {
    let (tx, _rx) = mpsc::channel(16);
    let store = MemoryStore::new(10, tx);
    assert_eq!(
        store.create_room("ops", 2, None).await.unwrap(),
        Created::Created
    );
    assert_eq!(
        store.create_room("ops", 2, None).await.unwrap(),
        Created::Exists
    );
    assert_eq!(
        store.create_room("dev", 2, None).await.unwrap(),
        Created::LimitReached
    );
    let names: Vec<_> = store
        .rooms()
        .await
        .unwrap()
        .rooms
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["general", "ops"]);
}
