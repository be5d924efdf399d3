//! The session's side of the support desk (`crate::support` has the rules): `support_open` (a
//! client's one conversation, made on first use: its room, then its record), the agents'
//! `support_queue`, `support_take`, `support_transfer` and `support_close`, and what a message or
//! an agent's `read` in a support room does to its conversation. A guest (with
//! `--guest-support`) is the client key `guest:<hex>` derived from the resume token it is given;
//! this connection then sees and writes in that one room as its client.

use super::*;
use crate::{
    accounts::{Roles, username_key},
    protocol::Timers,
    store::{
        Access,
        support::{Opened, Outcome},
    },
    support::{
        Action, Actor, Conversation, Refusal, guest_key, new_resume_token, new_room_name,
        queue_frame, resume_hash,
    },
};

/// What an agent does to a conversation.
#[derive(Debug)]
pub(super) enum Act {
    Take,
    /// To the agent with this username.
    Transfer(String),
    Close,
}

/// A guest's support conversation on this connection (its client key is the connection's
/// `support_guest`).
#[derive(Debug, Clone)]
pub(super) struct SupportGuest {
    /// The resume token: a connection stays one client, so opening again finds the same one.
    token: String,
    room: String,
}

impl Session {
    /// `support_open`: the client's conversation, opened on first use.
    pub(super) async fn support_open(
        &mut self,
        resume: Option<String>,
    ) -> Result<String, ProtocolError> {
        let name = self
            .identity
            .as_ref()
            .map_or("", |i| i.name.as_str())
            .to_owned();
        let (client, token) = match self.visitor.key() {
            Some(key) => (key.to_owned(), None),
            None if self.state.config.guest_support => {
                let token = match &self.support_guest {
                    Some(guest) => guest.token.clone(),
                    None => self.guest_token(resume).await?,
                };
                (guest_key(&token), Some(token))
            }
            None => {
                return Err(ProtocolError::new(
                    ErrorCode::LoginRequired,
                    "guests cannot open support conversations here; register or log in",
                ));
            }
        };
        let conv = self
            .conversation_of(&client, &name, token.as_deref())
            .await?;
        if let Some(token) = &token {
            let _ = self.handle.support_guest.set(client);
            self.support_guest = Some(SupportGuest {
                token: token.clone(),
                room: conv.room.clone(),
            });
        }
        Ok(ServerFrame::SupportOpened {
            room: &conv.room,
            state: conv.state.as_str(),
            taken_by: conv.taken_by.as_deref(),
            taken_by_name: conv.taken_by_name.as_deref(),
            resume: token.as_deref(),
        }
        .to_json())
    }

    /// The token a guest's conversation is found by: the one quoted when it names a
    /// conversation (checked against its full hash), else a new one (never one a guest made up).
    async fn guest_token(&self, resume: Option<String>) -> Result<String, ProtocolError> {
        if let Some(token) = resume {
            let found = self
                .state
                .store
                .support_find(&guest_key(&token))
                .await
                .map_err(|e| unavailable(&self.state.metrics, e))?;
            if found.is_some_and(|c| c.resume_hash.as_deref() == Some(&resume_hash(&token))) {
                return Ok(token);
            }
        }
        Ok(new_resume_token())
    }

    /// `client`'s conversation: the stored one (its room made again if it was deleted), or a new
    /// one in a new room.
    async fn conversation_of(
        &self,
        client: &str,
        name: &str,
        token: Option<&str>,
    ) -> Result<Conversation, ProtocolError> {
        let fail = |e| unavailable(&self.state.metrics, e);
        let store = &self.state.store;
        if let Some(conv) = store.support_find(client).await.map_err(fail)? {
            self.ensure_room(&conv).await?;
            return Ok(conv);
        }
        if token.is_some() && !self.admission.address.take_room() {
            return Err(ProtocolError::new(
                ErrorCode::RateLimited,
                "too many support conversations opened from your address; try later",
            ));
        }
        let access = Access::support_of(client);
        for _ in 0..2 {
            let room = new_room_name();
            if !self.create(&room, Some(&access), Timers::default()).await? {
                continue;
            }
            self.state
                .hub
                .apply_access(&room.as_str().into(), Some(access.clone()));
            let mut conv = Conversation::new(&room, client, name, token.is_some(), now_ms());
            conv.resume_hash = token.map(resume_hash);
            match store.support_open(&conv).await.map_err(fail)? {
                Opened::New(conv) => return Ok(conv),
                // Another tab of the client won the race: theirs stays, this room goes.
                Opened::Existing(conv) => {
                    if let Err(e) = store.delete_room(&room).await {
                        tracing::debug!(%room, error = %e, "an unused support room stays");
                    }
                    return Ok(conv);
                }
            }
        }
        Err(ProtocolError::new(
            ErrorCode::Internal,
            "could not name the conversation's room; try again",
        ))
    }

    /// Make a conversation's room again when it was deleted (by an admin, or lost with Redis).
    async fn ensure_room(&self, conv: &Conversation) -> Result<(), ProtocolError> {
        let exists = self
            .state
            .store
            .access(&conv.room)
            .await
            .map_err(|e| unavailable(&self.state.metrics, e))?;
        if exists.is_none() {
            let access = Access::support_of(&conv.client);
            self.create(&conv.room, Some(&access), Timers::default())
                .await?;
            let room: Arc<str> = conv.room.as_str().into();
            self.state.hub.apply_access(&room, Some(access));
        }
        Ok(())
    }

    /// `support_queue`: agents only.
    pub(super) async fn support_queue(&self) -> Result<String, ProtocolError> {
        self.require_agent("see the support queue")?;
        let all = self
            .state
            .store
            .support_list()
            .await
            .map_err(|e| unavailable(&self.state.metrics, e))?;
        Ok(queue_frame(all))
    }

    /// `support_take`, `support_transfer` and `support_close`: agents only.
    pub(super) async fn support_act(
        &self,
        room: String,
        act: Act,
    ) -> Result<String, ProtocolError> {
        self.require_agent("take, hand over or close conversations")
            .map_err(|e| e.in_room(&room))?;
        let Some(by) = self.support_actor() else {
            return Err(ProtocolError::new(
                ErrorCode::Internal,
                "an agent without a name",
            ));
        };
        let named;
        let action = match &act {
            Act::Take => Action::Take { by },
            Act::Close => Action::Close { by },
            Act::Transfer(to) => {
                named = self.agent_named(to).await.map_err(|e| e.in_room(&room))?;
                Action::Transfer {
                    by,
                    to: &named.0,
                    to_name: &named.1,
                }
            }
        };
        let outcome = self
            .state
            .store
            .support_change(&room, &action, now_ms())
            .await
            .map_err(|e| unavailable(&self.state.metrics, e).in_room(&room))?;
        let conv = match outcome {
            Outcome::Missing => return Err(rooms::no_such_room(&room)),
            Outcome::Refused(Refusal::Taken) => {
                return Err(ProtocolError::new(
                    ErrorCode::Taken,
                    "another agent has taken this conversation",
                )
                .in_room(&room));
            }
            Outcome::Refused(Refusal::Forbidden(why)) => {
                return Err(ProtocolError::new(ErrorCode::Forbidden, why).in_room(&room));
            }
            Outcome::Unchanged(conv) => *conv,
            Outcome::Changed { old, new } => {
                if old.state_changed(&new) && self.announce_state(&new).await {
                    // Members of the room (this connection among them) hear it from there.
                    if self.rooms.contains_key(room.as_str()) {
                        return Ok(String::new());
                    }
                }
                *new
            }
        };
        Ok(state_frame(&conv))
    }

    /// The key and display name of the agent `to`; `invalid_field` (`to`) when it is none.
    async fn agent_named(&self, to: &str) -> Result<(String, String), ProtocolError> {
        let key = username_key(to);
        let not_agent = || ProtocolError::field("to", format!("{to} is not a support agent"));
        if !Roles::of(&self.state.config).is_agent(&key) {
            return Err(not_agent());
        }
        let account = self
            .state
            .store
            .account(&key)
            .await
            .map_err(|e| unavailable(&self.state.metrics, e))?
            .ok_or_else(not_agent)?;
        Ok((key, account.display_name))
    }

    /// Tell the conversation's room (on every replica) its new state; false when that failed.
    async fn announce_state(&self, conv: &Conversation) -> bool {
        let frame = state_frame(conv);
        match self.state.store.notify(&conv.room, &frame).await {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!(room = %conv.room, error = %e, "support_state not announced");
                false
            }
        }
    }

    /// A message was stored in a support room: the client's waits, an agent's answers.
    pub(super) async fn support_message(
        &self,
        room: &str,
        content: &str,
        time_ms: u64,
        offset: u64,
    ) {
        let Some(by) = self.support_actor() else {
            return;
        };
        let action = Action::Message {
            by,
            content,
            time_ms,
            offset,
        };
        self.support_update(room, &action).await;
    }

    /// An agent read a support room up to `offset`: its unread count follows.
    pub(super) async fn support_read(&self, room: &str, offset: u64) {
        if let Some(by) = self.support_actor().filter(|a| a.agent) {
            self.support_update(room, &Action::Read { by, offset })
                .await;
        }
    }

    /// Best effort: a failure leaves the queue stale until the next change.
    async fn support_update(&self, room: &str, action: &Action<'_>) {
        match self
            .state
            .store
            .support_change(room, action, now_ms())
            .await
        {
            Ok(Outcome::Changed { old, new }) if old.state_changed(&new) => {
                self.announce_state(&new).await;
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(%room, error = %e, "support conversation not updated"),
        }
    }

    /// Who this connection is to the support rules: a signed-in user, or a guest's client key.
    fn support_actor(&self) -> Option<Actor<'_>> {
        let name = self.identity.as_ref().map_or("", |i| i.name.as_str());
        let viewer = self.viewer();
        viewer.user.map(|key| Actor {
            key,
            name,
            agent: viewer.agent,
            admin: viewer.admin,
        })
    }

    /// Refuse anyone but an agent (`forbidden`).
    fn require_agent(&self, what: &str) -> Result<(), ProtocolError> {
        if self.visitor.is_agent() {
            return Ok(());
        }
        Err(ProtocolError::new(
            ErrorCode::Forbidden,
            format!("only support agents {what}"),
        ))
    }

    /// Whether this connection may post (`send`, `typing`) in `room`: when guests may post, or it
    /// is a guest's own support room. `what` ends "guests cannot …".
    pub(super) fn require_poster(&self, room: &str, what: &str) -> Result<(), ProtocolError> {
        match &self.support_guest {
            Some(guest) if guest.room == room => Ok(()),
            _ => self.require_login(what),
        }
    }
}

/// The `support_state` frame of `conv`.
fn state_frame(conv: &Conversation) -> String {
    ServerFrame::SupportState {
        room: &conv.room,
        state: conv.state.as_str(),
        taken_by: conv.taken_by.as_deref(),
        taken_by_name: conv.taken_by_name.as_deref(),
    }
    .to_json()
}
