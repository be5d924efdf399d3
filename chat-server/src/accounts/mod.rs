//! Accounts: who a request or a WebSocket is ([`Visitor`]: a signed-in [`User`] or a guest), the
//! validation rules of usernames, display names and passwords, and the pieces the HTTP endpoints
//! are built from: `password` (Argon2id on a bounded blocking pool), `token` (session tokens, their
//! hashes and the cookie), `throttle` (growing delays after failed logins) and `http` (the
//! endpoints). Where accounts and sessions are stored is the store's business (`store::accounts`);
//! who is an admin or a support agent ([`Roles`]) comes from `--admins` and `--support-agents` and
//! is never stored.

mod error;
pub(crate) mod http;
pub mod password;
pub(crate) mod throttle;
pub mod token;

/// What the accounts endpoints share: the hashing pool and the brute-force brakes.
#[derive(Debug, Default)]
pub struct Gate {
    pub hasher: password::Hasher,
    pub throttle: throttle::Throttle,
}

use std::sync::Arc;

use serde::Serialize;

pub use crate::store::Account;
use crate::{
    limits::{MAX_PASSWORD_CHARS, MAX_USERNAME_CHARS, MIN_PASSWORD_CHARS, MIN_USERNAME_CHARS},
    protocol::{ProtocolError, validate_email, validate_name},
};

/// A registered user as clients see it (the `user` of `welcome`, `/api/me`, login and register).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// As typed at registration (unique ignoring case).
    pub username: String,
    /// The sender name of this user's messages.
    pub display_name: String,
    pub email: Option<String>,
    /// Listed in `--admins`.
    pub admin: bool,
    /// A support agent: listed in `--support-agents`, or an admin.
    pub agent: bool,
}

impl Account {
    /// The account as clients see it, with its roles.
    pub fn user(&self, roles: &Roles) -> User {
        User {
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            email: self.email.clone(),
            admin: roles.is_admin(&self.key),
            agent: roles.is_agent(&self.key),
        }
    }
}

/// Who has which role, by lower-case username: the one reading of `--admins` and
/// `--support-agents` (admins are agents too).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Roles {
    admins: Vec<String>,
    agents: Vec<String>,
}

impl Roles {
    /// The roles `config` grants.
    pub fn of(config: &crate::Config) -> Self {
        Self::new(&config.admins, &config.support_agents)
    }

    /// Roles from the two lists of usernames as configured (any case, blanks ignored).
    pub fn new(admins: &[String], agents: &[String]) -> Self {
        Self {
            admins: admin_keys(admins),
            agents: admin_keys(agents),
        }
    }

    /// Whether `key` (a lower-case username) is an admin.
    pub fn is_admin(&self, key: &str) -> bool {
        self.admins.iter().any(|a| a == key)
    }

    /// Whether `key` (a lower-case username) is a support agent (admins are).
    pub fn is_agent(&self, key: &str) -> bool {
        self.is_admin(key) || self.agents.iter().any(|a| a == key)
    }
}

/// A signed-in session: the user, and which of their sessions it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub user: User,
    /// The lower-case username.
    pub key: String,
    /// The SHA-256 (hex) of the session token: how the store and session ends name a session.
    pub token_hash: String,
    /// When the session expires, in ms since the epoch.
    pub expires_ms: u64,
}

/// Who is on a connection or a request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Visitor {
    /// Signed in with a valid session cookie.
    Registered(Arc<SignedIn>),
    /// No account (or no valid session).
    #[default]
    Guest,
}

impl Visitor {
    /// The signed-in user, if any.
    pub fn user(&self) -> Option<&User> {
        self.signed_in().map(|s| &s.user)
    }

    /// The session, if signed in.
    pub fn signed_in(&self) -> Option<&SignedIn> {
        match self {
            Self::Registered(s) => Some(s),
            Self::Guest => None,
        }
    }

    /// The lower-case username, if signed in.
    pub fn key(&self) -> Option<&str> {
        self.signed_in().map(|s| s.key.as_str())
    }

    /// True for a guest.
    pub fn is_guest(&self) -> bool {
        matches!(self, Self::Guest)
    }

    /// True for a user listed in `--admins`.
    pub fn is_admin(&self) -> bool {
        self.user().is_some_and(|u| u.admin)
    }

    /// True for a support agent (`--support-agents` or an admin).
    pub fn is_agent(&self) -> bool {
        self.user().is_some_and(|u| u.agent)
    }
}

/// The lookup key of a username: its lower case (usernames are ASCII).
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// A username: 3..=32 of ASCII letters, digits, `-` and `_`, kept as typed.
pub fn validate_username(raw: &str) -> Result<String, ProtocolError> {
    let ok = (MIN_USERNAME_CHARS..=MAX_USERNAME_CHARS).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(ProtocolError::field(
            "username",
            format!(
                "username must be {MIN_USERNAME_CHARS} to {MAX_USERNAME_CHARS} characters of \
                 letters, digits, '-' or '_'"
            ),
        ))
    }
}

/// A password: 8..=128 characters (anything, spaces included; never trimmed).
pub fn validate_password(raw: &str, field: &'static str) -> Result<(), ProtocolError> {
    let n = raw.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        Ok(())
    } else {
        Err(ProtocolError::field(
            field,
            format!("{field} must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"),
        ))
    }
}

/// A display name: the rule of `hello`'s `name` (`max` characters), reported as `display_name`;
/// none or blank means the username.
pub fn validate_display_name(
    raw: Option<&str>,
    username: &str,
    max: usize,
) -> Result<String, ProtocolError> {
    match raw.filter(|r| !r.trim().is_empty()) {
        None => Ok(username.to_owned()),
        Some(raw) => validate_name(raw, max).map_err(|e| ProtocolError {
            field: Some("display_name"),
            message: e.message.replacen("name", "display_name", 1),
            ..e
        }),
    }
}

/// An optional email: the rule of `hello`'s `email`.
pub fn validate_account_email(raw: Option<&str>) -> Result<Option<String>, ProtocolError> {
    validate_email(raw)
}

/// The usernames of `--admins` as lookup keys.
pub fn admin_keys(admins: &[String]) -> Vec<String> {
    admins
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .map(username_key)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_3_to_32_of_the_allowed_characters() {
        for good in ["abc", "Alice_01", "a-b", &"x".repeat(32)] {
            assert_eq!(validate_username(good).unwrap(), good);
        }
        for bad in [
            "ab",
            "",
            &"x".repeat(33),
            "al ice",
            "alice!",
            "élise",
            "a\u{200b}bc",
        ] {
            let err = validate_username(bad).unwrap_err();
            assert_eq!(err.field, Some("username"), "{bad}");
        }
        assert_eq!(username_key("Alice_01"), "alice_01");
    }

    #[test]
    fn passwords_are_8_to_128_characters_counted_not_bytes() {
        assert!(validate_password("12345678", "password").is_ok());
        assert!(validate_password(&"é".repeat(128), "password").is_ok());
        assert!(validate_password("       8", "password").is_ok());
        let short = validate_password("1234567", "new_password").unwrap_err();
        assert_eq!(short.field, Some("new_password"));
        assert!(validate_password(&"x".repeat(129), "password").is_err());
    }

    #[test]
    fn display_names_default_to_the_username_and_follow_the_name_rule() {
        assert_eq!(validate_display_name(None, "bob", 64).unwrap(), "bob");
        assert_eq!(validate_display_name(Some("  "), "bob", 64).unwrap(), "bob");
        assert_eq!(
            validate_display_name(Some(" Bob B. "), "bob", 64).unwrap(),
            "Bob B."
        );
        let err = validate_display_name(Some(&"x".repeat(65)), "bob", 64).unwrap_err();
        assert_eq!(err.field, Some("display_name"));
        assert!(err.message.starts_with("display_name"), "{}", err.message);
        let err = validate_display_name(Some("a\u{202e}b"), "bob", 64).unwrap_err();
        assert_eq!(err.field, Some("display_name"));
    }

    #[test]
    fn emails_follow_the_hello_rule_and_admins_are_keys() {
        assert_eq!(validate_account_email(Some("")).unwrap(), None);
        assert!(validate_account_email(Some("a@b.co")).unwrap().is_some());
        assert_eq!(
            validate_account_email(Some("nope")).unwrap_err().field,
            Some("email")
        );
        assert_eq!(admin_keys(&["Root".into(), " ".into()]), ["root"]);
        let account = Account {
            key: "root".into(),
            username: "Root".into(),
            display_name: "Root".into(),
            email: None,
            password_hash: String::new(),
        };
        let root = account.user(&Roles::new(&["ROOT".into()], &[]));
        assert!(root.admin && root.agent, "admins are agents");
        let agent = account.user(&Roles::new(&[], &["Root".into()]));
        assert!(!agent.admin && agent.agent);
        let plain = account.user(&Roles::default());
        assert!(!plain.admin && !plain.agent);
    }
}
