//! Sending a message: `send` builds the `message` frame once, appends it to the store and
//! answers `ack` (written with the sender's own copy of the message, `acks.rs`); [`unavailable`] is how any store failure looks to the client.

use super::*;
use crate::support;

impl Session {
    pub(super) async fn send(
        &mut self,
        room: String,
        topic: Option<String>,
        content: String,
        client_id: String,
        reply_to: Option<u64>,
    ) -> Result<String, ProtocolError> {
        let fail = |e: ProtocolError| e.in_room(&room).for_client(Some(client_id.clone()));
        self.require_poster(&room, "send messages").map_err(fail)?;
        self.check_joined(&room, "sending to it").map_err(fail)?;
        self.check_parent(&room, reply_to).await.map_err(fail)?;
        let Identity { name, email } = self.identity.as_ref().expect("checked by on_text");
        let id = uuid::Uuid::new_v4().to_string();
        let time_ms = now_ms();
        let time = rfc3339_ms(time_ms);
        let draft = MessageDraft {
            room: &room,
            id: &id,
            name,
            user: self.visitor.user().map(|u| u.username.as_str()),
            guest: self.visitor.is_guest(),
            email: email.as_deref(),
            time: &time,
            topic: topic.as_deref(),
            content: &content,
            client_id: &client_id,
            reply_to,
        };
        let prefix = draft.frame_prefix();
        let new = NewMessage {
            room: &room,
            name,
            topic: topic.as_deref(),
            content: &content,
            client_id: &client_id,
            id: &id,
            time_ms,
            frame_prefix: &prefix,
        };
        let stored = self
            .state
            .store
            .append(&new)
            .await
            .map_err(|e| fail(unavailable(&self.state.metrics, e)))?;
        if !stored.duplicate {
            self.state.metrics.messages_in.inc();
            self.count_reply(&room, reply_to, stored.offset).await;
            self.count_mentions(&room, stored.offset, &content).await;
            if support::is_support_room(&room) {
                self.support_message(&room, &content, time_ms, stored.offset)
                    .await;
            }
        }
        let ack = ServerFrame::Ack {
            client_id: &client_id,
            room: &room,
            offset: stored.offset,
            id: &stored.id,
            duplicate: stored.duplicate,
        }
        .to_json();
        Ok(self.ack_after_echo(&room, stored.offset, ack))
    }
}

/// A store failure as the client sees it (a `client_id` conflict is the client's own).
pub(super) fn unavailable(metrics: &Metrics, e: Error) -> ProtocolError {
    if let Error::ClientIdConflict = e {
        return ProtocolError::new(
            ErrorCode::ClientIdConflict,
            "this client_id was used for another message in this room; use a new one",
        );
    }
    if let Error::RoomGone = e {
        return ProtocolError::new(ErrorCode::NoSuchRoom, "the room was deleted");
    }
    metrics.redis_errors.inc();
    tracing::warn!(error = %e, "store operation failed");
    match e {
        Error::Redis(_)
        | Error::Connect(_)
        | Error::Misconfigured(_)
        | Error::Database(_)
        | Error::CommitFailed(_)
        | Error::Contended(_)
        | Error::CommitterGone => ProtocolError::new(
            ErrorCode::Unavailable,
            "the message store is unavailable; nothing was stored, try again",
        ),
        Error::Corrupt(_)
        | Error::Listen { .. }
        | Error::Settings(_)
        | Error::ClientIdConflict
        | Error::RoomGone
        | Error::Migrate(_) => ProtocolError::new(ErrorCode::Internal, "internal error"),
    }
}
