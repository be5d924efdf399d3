//! Pub/sub in: the subscriber that forwards the events channel as [`StoreEvent`]s (resubscribing
//! with backoff, each time announcing it so the hub backfills), and the parser of every payload
//! on the bus (`docs/architecture.md` lists them); a feature's own payloads parse in its module.

use std::{sync::Arc, time::Duration};

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{RedisStore, edits, reads, support, timed, votes};
use crate::{
    metrics::Metrics,
    store::{SessionEnd, StoreEvent},
};

impl RedisStore {
    /// Forward pub/sub notifications as [`StoreEvent`]s until `stop`, resubscribing with backoff
    /// after every connection loss and announcing each (re)subscription so the hub backfills.
    pub async fn run_subscriber(
        self: Arc<Self>,
        events: mpsc::Sender<StoreEvent>,
        metrics: Arc<Metrics>,
        stop: CancellationToken,
    ) {
        let channel = self.keys.events();
        let mut backoff = Duration::from_millis(100);
        while !stop.is_cancelled() {
            match self.client.get_async_pubsub().await {
                Ok(mut pubsub) => match pubsub.subscribe(&channel).await {
                    Ok(()) => {
                        backoff = Duration::from_millis(100);
                        tracing::info!(%channel, "subscribed to redis");
                        if events.send(StoreEvent::Resubscribed).await.is_err() {
                            return;
                        }
                        let mut stream = pubsub.on_message();
                        loop {
                            let msg = tokio::select! {
                                () = stop.cancelled() => return,
                                msg = stream.next() => msg,
                            };
                            let Some(msg) = msg else { break };
                            let Ok(payload) = msg.get_payload::<String>() else {
                                continue;
                            };
                            let event = reads::parse_signal(&payload, &self.instance)
                                .or_else(|| parse_event(&payload));
                            let Some(event) = event else {
                                tracing::warn!("ignoring unexpected pub/sub payload");
                                continue;
                            };
                            if events.send(event).await.is_err() {
                                return;
                            }
                        }
                        tracing::warn!("redis pub/sub connection lost; resubscribing");
                    }
                    Err(e) => tracing::warn!(error = %e, "redis subscribe failed"),
                },
                Err(e) => tracing::warn!(error = %e, "redis pub/sub connect failed"),
            }
            metrics.redis_errors.inc();
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
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
