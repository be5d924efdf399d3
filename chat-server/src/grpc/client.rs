//! The platform's client as the chat sees it: the `client_id` rule, the client key `ext:<id>`
//! (docs/support-api.md) and the signed-in identity the bridge's session runs as. A `:` never
//! occurs in a username, so an `ext:` key cannot collide with an account.

use std::sync::Arc;

use tonic::Status;

use crate::{
    accounts::{SignedIn, User, Visitor},
    limits::{Limits, MAX_EXTERNAL_ID_CHARS},
    protocol::{ProtocolError, validate_email, validate_name},
};

/// The prefix of a platform client's key.
pub(crate) const KEY_PREFIX: &str = "ext:";

/// A platform client, validated: who a bridge session is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlatformClient {
    /// `ext:<client_id>`, lower case: ids are compared ignoring case, like usernames.
    pub(crate) key: String,
    /// The display name agents see.
    pub(crate) name: String,
    pub(crate) email: Option<String>,
}

impl PlatformClient {
    /// Validate a request's client; `name` falls back to the `client_id` where the request's
    /// name is optional.
    pub(crate) fn new(
        client_id: &str,
        name: Option<&str>,
        email: Option<&str>,
        limits: &Limits,
    ) -> Result<Self, Status> {
        let id = validate_external_id(client_id)?;
        let name = validate_name(name.unwrap_or(&id), limits.max_name_chars)
            .map_err(|e| invalid("client_name", e))?;
        let email = validate_email(email).map_err(|e| invalid("email", e))?;
        Ok(Self {
            key: format!("{KEY_PREFIX}{}", id.to_ascii_lowercase()),
            name,
            email,
        })
    }

    /// The identity the bridge's session runs as: a registered user, neither admin nor agent,
    /// whose username and key are the client key; no login session (empty token hash) and no
    /// expiry.
    pub(crate) fn visitor(&self) -> Visitor {
        Visitor::Registered(Arc::new(SignedIn {
            user: User {
                username: self.key.clone(),
                display_name: self.name.clone(),
                email: self.email.clone(),
                admin: false,
                agent: false,
            },
            key: self.key.clone(),
            token_hash: String::new(),
            expires_ms: u64::MAX,
        }))
    }
}

/// The `client_id` rule: 1 to [`MAX_EXTERNAL_ID_CHARS`] of `A-Z a-z 0-9 . _ -`.
pub(crate) fn validate_external_id(raw: &str) -> Result<String, Status> {
    let valid = (1..=MAX_EXTERNAL_ID_CHARS).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !valid {
        return Err(Status::invalid_argument(format!(
            "client_id must be 1 to {MAX_EXTERNAL_ID_CHARS} of A-Z a-z 0-9 . _ -"
        )));
    }
    Ok(raw.to_owned())
}

/// A field the chat's rules refused, as the gRPC error naming it.
pub(crate) fn invalid(field: &str, e: ProtocolError) -> Status {
    Status::invalid_argument(format!("{field}: {}", e.message))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::Config;

    fn limits() -> Limits {
        Limits::from_config(&Config::parse_from(["chat-server"]))
    }

    #[test]
    fn a_client_is_keyed_ext_and_its_id_lower_cased() {
        let c = PlatformClient::new("Crm-42.a_b", Some(" Ann "), Some("a@x.io"), &limits());
        let c = c.unwrap();
        assert_eq!(
            (c.key.as_str(), c.name.as_str(), c.email.as_deref()),
            ("ext:crm-42.a_b", "Ann", Some("a@x.io"))
        );
        let Visitor::Registered(s) = c.visitor() else {
            panic!("a platform client is registered")
        };
        assert_eq!(
            (s.key.as_str(), s.user.username.as_str()),
            ("ext:crm-42.a_b", "ext:crm-42.a_b")
        );
        assert!(
            !s.user.admin && !s.user.agent && s.token_hash.is_empty() && s.expires_ms == u64::MAX
        );
    }

    #[test]
    fn the_name_defaults_to_the_id() {
        let c = PlatformClient::new("c1", None, None, &limits()).unwrap();
        assert_eq!(c.name, "c1");
    }

    #[test]
    fn bad_ids_names_and_emails_are_invalid_arguments() {
        let long = "a".repeat(MAX_EXTERNAL_ID_CHARS + 1);
        for (id, name, email) in [
            ("", Some("Ann"), None),
            (long.as_str(), Some("Ann"), None),
            ("a:b", Some("Ann"), None),
            ("a b", Some("Ann"), None),
            ("é", Some("Ann"), None),
            ("ok", Some("   "), None),
            ("ok", Some("Ann"), Some("not an email")),
        ] {
            let err = PlatformClient::new(id, name, email, &limits()).unwrap_err();
            assert_eq!(
                err.code(),
                tonic::Code::InvalidArgument,
                "{id:?} {name:?} {email:?}"
            );
        }
        let max = "a".repeat(MAX_EXTERNAL_ID_CHARS);
        assert!(PlatformClient::new(&max, None, None, &limits()).is_ok());
    }
}
