//! The session's side of the message lifecycle: `edit` and `delete` of a stored message, and
//! ephemeral sends. Who may ask is decided here (a registered user in a room they joined; guests
//! get `login_required`); whose message it is, by the stored `user`, is decided by
//! `protocol::edits::rewrite` inside the store's atomic step.

use super::*;
use crate::protocol::edits::{Actor, Change, Rewrite, ephemeral_ack, ephemeral_frame};

impl Session {
    /// Edit or delete the message at `offset`. The answer is the room's `edited` / `deleted`
    /// notice, which the asker (a member) receives with the room; it is sent directly only when
    /// the room was not told (a retry of what was done already, or a bus that failed): an empty
    /// reply here means "nothing more to write".
    pub(super) async fn rewrite(
        &mut self,
        room: String,
        offset: u64,
        change: Change<'_>,
    ) -> Result<String, ProtocolError> {
        let Some(user) = self.visitor.user() else {
            let why = if self.state.config.guest_posting {
                "guests cannot edit or delete messages (a message posted as a guest cannot be \
                 edited by anyone but an admin, who may delete it); register or log in"
            } else {
                "guests cannot edit or delete messages; register or log in"
            };
            return Err(ProtocolError::new(ErrorCode::LoginRequired, why).in_room(&room));
        };
        self.check_joined(&room, "changing its messages")?;
        let request = Rewrite {
            room: &room,
            offset,
            change,
            actor: Actor {
                username: &user.username,
                admin: user.admin,
            },
            at_ms: now_ms(),
        };
        match self.state.store.rewrite(&request).await {
            Ok(Ok(applied)) if applied.announced => Ok(String::new()),
            Ok(Ok(applied)) => Ok(applied.notice),
            Ok(Err(refusal)) => Err(refusal.to_error(&request)),
            Err(e) => Err(unavailable(&self.state.metrics, e).in_room(&room)),
        }
    }

    /// A message delivered live to the room's members on every replica and stored nowhere: the
    /// same checks and frame as `send` (budget, login, joined), `ephemeral: true` and no offset.
    pub(super) async fn send_ephemeral(
        &mut self,
        room: String,
        topic: Option<String>,
        content: String,
        client_id: String,
    ) -> Result<String, ProtocolError> {
        let fail = |e: ProtocolError| e.in_room(&room).for_client(Some(client_id.clone()));
        self.require_login("send messages").map_err(fail)?;
        self.check_joined(&room, "sending to it").map_err(fail)?;
        let Identity { name, email } = self.identity.as_ref().expect("checked by on_text");
        let id = uuid::Uuid::new_v4().to_string();
        let time = rfc3339_ms(now_ms());
        let frame = ephemeral_frame(&MessageDraft {
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
            reply_to: None,
        });
        self.state
            .store
            .notify(&room, &frame)
            .await
            .map_err(|e| fail(unavailable(&self.state.metrics, e)))?;
        self.state.metrics.messages_in.inc();
        Ok(ephemeral_ack(&client_id, &room, &id))
    }
}
