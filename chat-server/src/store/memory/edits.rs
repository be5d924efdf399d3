//! Edits, deletions and ephemeral messages in the embedded backend: the frame is replaced in its
//! room's log under the store's lock, and the notice is handed to the hub under the same lock, so
//! it follows every message before it.

use super::{MemoryStore, Result, StoreEvent};
use crate::{
    protocol::edits::{Decision, Refusal, Rewrite, rewrite},
    store::{Applied, Rewritten},
};

impl MemoryStore {
    pub(in crate::store) async fn rewrite(&self, r: &Rewrite<'_>) -> Result<Rewritten> {
        let mut inner = self.inner.lock().await;
        let Some(log) = inner.rooms.get_mut(r.room) else {
            return Ok(Err(Refusal::NoSuchMessage));
        };
        let Ok(at) = log.log.binary_search_by_key(&r.offset, |(o, _)| *o) else {
            return Ok(Err(Refusal::NoSuchMessage));
        };
        match rewrite(r, &log.log[at].1) {
            Decision::Refused(why) => Ok(Err(why)),
            Decision::Unchanged { notice } => Ok(Ok(Applied::unannounced(notice))),
            Decision::Write { frame, notice } => {
                log.log[at].1 = frame.into();
                let event = StoreEvent::Notice {
                    room: r.room.into(),
                    frame: notice.as_str().into(),
                };
                let _ = self.events.send(event).await;
                Ok(Ok(Applied::announced(notice)))
            }
        }
    }

    pub(in crate::store) async fn notify(&self, room: &str, frame: &str) -> Result<()> {
        let event = StoreEvent::Notice {
            room: room.into(),
            frame: frame.into(),
        };
        let _ = self.events.send(event).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use tokio::sync::mpsc;

    use super::*;
    use crate::{
        protocol::edits::{Actor, Change},
        store::NewMessage,
    };

    #[tokio::test]
    async fn an_edit_replaces_the_kept_frame_at_its_offset_and_announces_it() {
        let (tx, mut rx) = mpsc::channel(16);
        let store = MemoryStore::new(10, tx);
        let prefix = r#"{"type":"message","user":"ann","content":"old text","offset":"#;
        let msg = NewMessage {
            room: "general",
            name: "ann",
            topic: None,
            content: "old text",
            client_id: "c1",
            id: "i1",
            time_ms: 0,
            frame_prefix: prefix,
        };
        store.append(&msg).await.unwrap();
        let r = Rewrite {
            room: "general",
            offset: 1,
            change: Change::Edit { content: "new" },
            actor: Actor {
                username: "ann",
                admin: false,
            },
            at_ms: 0,
        };
        assert!(store.rewrite(&r).await.unwrap().is_ok());
        let page = store.history("general", None).await.unwrap();
        assert!(!page.frames[0].contains("old text"), "{:?}", page.frames);
        assert!(page.frames[0].contains("\"new\""));
        let missing = Rewrite { offset: 2, ..r };
        assert_eq!(
            store.rewrite(&missing).await.unwrap(),
            Err(Refusal::NoSuchMessage)
        );
        let kinds: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|e| matches!(e, StoreEvent::Notice { .. }))
            .collect();
        assert_eq!(kinds, [false, true], "the message, then the notice");
    }
}
