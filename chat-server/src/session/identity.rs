//! Who the connection is: `hello`, which identifies it (a registered user's name and email
//! always come from the account) and answers `welcome`, and [`Session::require_login`], the one
//! check of what guests may not do.

use super::*;

impl Session {
    /// Identify the connection. A registered user's name and email come from the account, never
    /// from `hello`, so nobody can post under a registered user's name.
    pub(super) fn hello(
        &mut self,
        name: String,
        email: Option<String>,
    ) -> Result<String, ProtocolError> {
        let (name, email) = match self.visitor.user() {
            Some(user) => (user.display_name.clone(), user.email.clone()),
            None => (name, email),
        };
        let welcome = ServerFrame::Welcome {
            protocol: PROTOCOL_VERSION,
            session: &self.id.to_string(),
            server: &self.state.instance,
            name: &name,
            email: email.as_deref(),
            limits: &self.state.limits,
            user: self.visitor.user(),
            guest_posting: self.state.config.guest_posting,
            guest_support: self.state.config.guest_support,
        }
        .to_json();
        self.identity = Some(Identity { name, email });
        if let Some(key) = self.visitor.key() {
            self.state.hub.signals.user_connected(key);
        }
        // What follows the welcome goes through the queue, so it arrives right after it: the
        // store's health when it is down, then the room list.
        let hub = &self.state.hub;
        if let Some(reason) = self.state.cannot_store() {
            let health = ServerFrame::Health {
                ready: false,
                reason: Some(&reason),
            };
            hub.offer(&self.handle, Outbound::Frame(health.to_json().into()));
        }
        hub.greeted(&self.handle);
        if self.visitor.is_agent() {
            hub.agent_connected(&self.handle);
        }
        Ok(welcome)
    }

    /// Refuse a guest (`login_required`) unless guest posting is on. `what` ends "guests cannot …".
    pub(crate) fn require_login(&self, what: &str) -> Result<(), ProtocolError> {
        if self.visitor.is_guest() && !self.state.config.guest_posting {
            return Err(ProtocolError::new(
                ErrorCode::LoginRequired,
                format!("guests cannot {what}; register or log in"),
            ));
        }
        Ok(())
    }
}
