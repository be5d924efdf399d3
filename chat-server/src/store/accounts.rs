//! Accounts and login sessions in the store: PostgreSQL in the durable mode (tables `users` and
//! `sessions`), Redis in the Redis-only mode (keys in `redis/keys.rs`; Redis must then persist
//! its data), memory otherwise (gone on restart). A session is kept only as the SHA-256 of its
//! token, with its expiry. Ending sessions is announced on the bus every replica listens to
//! ([`StoreEvent::SessionsEnded`]), so each closes the sockets those sessions opened.

use std::{collections::HashMap, sync::Mutex};

use super::{Result, Store, StoreEvent};
use crate::clock::now_ms;

/// An account as stored: what `accounts::User` shows of it without the admin flag, its lookup key and password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The username in lower case: what uniqueness and lookups use.
    pub key: String,
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    /// The Argon2id PHC string (`$argon2id$...`).
    pub password_hash: String,
}

/// Which login sessions ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// One session (logout, expiry), by token hash.
    One { token_hash: String },
    /// Every session of a user but `except` (password change: the session that changed it).
    AllOf {
        user: String,
        except: Option<String>,
    },
}

impl SessionEnd {
    /// The bus payload: `s1 <token hash>` or `sa <user> <except or ->`.
    pub(crate) fn to_payload(&self) -> String {
        match self {
            Self::One { token_hash } => format!("s1 {token_hash}"),
            Self::AllOf { user, except } => {
                format!("sa {user} {}", except.as_deref().unwrap_or("-"))
            }
        }
    }

    /// The inverse of [`Self::to_payload`].
    pub(crate) fn from_payload(payload: &str) -> Option<Self> {
        if let Some(hash) = payload.strip_prefix("s1 ") {
            return Some(Self::One {
                token_hash: hash.to_owned(),
            });
        }
        let (user, except) = payload.strip_prefix("sa ")?.split_once(' ')?;
        Some(Self::AllOf {
            user: user.to_owned(),
            except: (except != "-").then(|| except.to_owned()),
        })
    }

    /// Whether a socket signed in as `user` with `token_hash` belongs to the ended sessions. A
    /// session without a token (an in-process one, like the gRPC API's `ext:<id>` visitors) is
    /// named by no session end.
    pub fn covers(&self, user: &str, token_hash: &str) -> bool {
        if token_hash.is_empty() {
            return false;
        }
        match self {
            Self::One { token_hash: t } => t == token_hash,
            Self::AllOf { user: u, except } => u == user && except.as_deref() != Some(token_hash),
        }
    }
}

/// Accounts and sessions of the in-memory mode.
#[derive(Debug, Default)]
pub struct MemoryAccounts {
    inner: Mutex<Book>,
}

#[derive(Debug, Default)]
struct Book {
    users: HashMap<String, Account>,
    /// token hash → (user key, expiry ms)
    sessions: HashMap<String, (String, u64)>,
    sweep_above: usize,
}

impl MemoryAccounts {
    fn create_account(&self, account: &Account) -> bool {
        let mut book = self.inner.lock().unwrap();
        if book.users.contains_key(&account.key) {
            return false;
        }
        book.users.insert(account.key.clone(), account.clone());
        true
    }

    fn account(&self, key: &str) -> Option<Account> {
        self.inner.lock().unwrap().users.get(key).cloned()
    }

    fn set_password(&self, key: &str, hash: &str) -> bool {
        let mut book = self.inner.lock().unwrap();
        book.users
            .get_mut(key)
            .map(|a| a.password_hash = hash.to_owned())
            .is_some()
    }

    fn delete_account(&self, key: &str) -> bool {
        let mut book = self.inner.lock().unwrap();
        book.sessions.retain(|_, (user, _)| user != key);
        book.users.remove(key).is_some()
    }

    fn create_session(&self, token_hash: &str, key: &str, expires_ms: u64) {
        let mut book = self.inner.lock().unwrap();
        // Expired sessions are swept whenever the map has doubled: amortised O(1) per login.
        if book.sessions.len() >= book.sweep_above.max(1024) {
            let now = now_ms();
            book.sessions.retain(|_, (_, expires)| *expires > now);
            book.sweep_above = book.sessions.len() * 2;
        }
        book.sessions
            .insert(token_hash.to_owned(), (key.to_owned(), expires_ms));
    }

    fn session(&self, token_hash: &str) -> Option<(Account, u64)> {
        let book = self.inner.lock().unwrap();
        let (key, expires) = book.sessions.get(token_hash)?;
        if *expires <= now_ms() {
            return None;
        }
        Some((book.users.get(key)?.clone(), *expires))
    }

    fn end(&self, end: &SessionEnd) {
        let mut book = self.inner.lock().unwrap();
        book.sessions
            .retain(|hash, (user, _)| !end.covers(user, hash));
    }
}

impl Store {
    /// Store a new account; false when its username is taken (ignoring case).
    pub async fn create_account(&self, account: &Account) -> Result<bool> {
        match self {
            Store::Memory(s) => Ok(s.accounts.create_account(account)),
            Store::Redis(s) => s.create_account(account).await,
            Store::Postgres(s) => s.create_account(account).await,
        }
    }

    /// The account of a lower-case username.
    pub async fn account(&self, key: &str) -> Result<Option<Account>> {
        match self {
            Store::Memory(s) => Ok(s.accounts.account(key)),
            Store::Redis(s) => s.account(key).await,
            Store::Postgres(s) => s.account(key).await,
        }
    }

    /// Replace an account's password hash; false when the account is gone.
    pub async fn set_password(&self, key: &str, hash: &str) -> Result<bool> {
        match self {
            Store::Memory(s) => Ok(s.accounts.set_password(key, hash)),
            Store::Redis(s) => s.set_password(key, hash).await,
            Store::Postgres(s) => s.set_password(key, hash).await,
        }
    }

    /// Delete an account and every session of it; false when it was not there. The user leaves
    /// every participant list and stops being any room's creator, so an account made later
    /// under the same name inherits no room.
    pub async fn delete_account(&self, key: &str) -> Result<bool> {
        let deleted = match self {
            Store::Memory(s) => Ok(s.accounts.delete_account(key)),
            Store::Redis(s) => s.delete_account(key).await,
            Store::Postgres(s) => s.delete_account(key).await,
        }?;
        self.forget_user(key).await?;
        self.support_forget(key).await?;
        Ok(deleted)
    }

    /// Record a session (by token hash) of a user until `expires_ms`.
    pub async fn create_session(&self, token_hash: &str, key: &str, expires_ms: u64) -> Result<()> {
        match self {
            Store::Memory(s) => {
                s.accounts.create_session(token_hash, key, expires_ms);
                Ok(())
            }
            Store::Redis(s) => s.create_session(token_hash, key, expires_ms).await,
            Store::Postgres(s) => s.create_session(token_hash, key, expires_ms).await,
        }
    }

    /// The account of a live (unexpired) session, with the session's expiry.
    pub async fn session(&self, token_hash: &str) -> Result<Option<(Account, u64)>> {
        match self {
            Store::Memory(s) => Ok(s.accounts.session(token_hash)),
            Store::Redis(s) => s.session(token_hash).await,
            Store::Postgres(s) => s.session(token_hash).await,
        }
    }

    /// Forget the ended sessions, then tell every replica (this one included) so each closes
    /// the sockets they opened. The announcement is best effort once the sessions are gone: a
    /// replica that misses it still refuses the cookie from now on.
    pub async fn end_sessions(&self, end: &SessionEnd) -> Result<()> {
        match self {
            Store::Memory(s) => {
                s.accounts.end(end);
                s.announce(StoreEvent::SessionsEnded(end.clone())).await;
                Ok(())
            }
            Store::Redis(s) => {
                s.end_sessions(end).await?;
                s.publish(vec![end.to_payload()]).await
            }
            Store::Postgres(s) => s.end_sessions(end).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ends_travel_as_payloads_and_cover_the_right_sockets() {
        let one = SessionEnd::One {
            token_hash: "h1".into(),
        };
        let all = SessionEnd::AllOf {
            user: "ann".into(),
            except: Some("h2".into()),
        };
        let every = SessionEnd::AllOf {
            user: "ann".into(),
            except: None,
        };
        for end in [&one, &all, &every] {
            assert_eq!(
                SessionEnd::from_payload(&end.to_payload()).as_ref(),
                Some(end)
            );
        }
        assert!(one.covers("bob", "h1") && !one.covers("ann", "h2"));
        assert!(all.covers("ann", "h1") && !all.covers("ann", "h2") && !all.covers("bob", "h1"));
        assert!(every.covers("ann", "h2"));
        let blank = SessionEnd::One {
            token_hash: String::new(),
        };
        assert!(
            !blank.covers("ext:p1", "") && !every.covers("ann", ""),
            "a session without a token (gRPC's) is ended by nothing"
        );
        assert_eq!(SessionEnd::from_payload("sa ann"), None);
    }

    #[test]
    fn presence_travels_as_text_and_sums_into_a_listing() {
        use crate::{
            protocol::{Counts, Member},
            store::{ALL_CONNECTIONS, Listing, RoomPresence},
        };
        let ann = Member {
            username: "ann".into(),
            display_name: "Ann".into(),
        };
        let p = RoomPresence {
            registered: 2,
            guests: 1,
            users: vec![ann.clone()],
        };
        assert_eq!(RoomPresence::decode(&p.encode()), p);
        assert_eq!(RoomPresence::default().encode(), "0");
        assert_eq!(
            RoomPresence::decode("3").guests,
            3,
            "an older replica's count"
        );
        let entries = [
            ("general".to_owned(), p.clone()),
            ("general".to_owned(), p.clone()),
            (ALL_CONNECTIONS.to_owned(), p),
        ];
        let listing = Listing::of(vec!["ops".into(), "general".into()], entries.into_iter());
        let general = &listing.rooms[0];
        assert_eq!(general.name, "general");
        assert_eq!(
            (general.online, general.registered, general.guests),
            (6, 4, 2)
        );
        assert_eq!(
            general.users,
            [ann],
            "a user on two replicas is listed once"
        );
        assert_eq!(listing.rooms[1].online, 0);
        assert_eq!(
            listing.totals,
            Counts {
                online: 3,
                registered: 2,
                guests: 1
            }
        );
    }

    #[test]
    fn memory_sessions_expire_and_end() {
        let m = MemoryAccounts::default();
        let account = Account {
            key: "ann".into(),
            username: "Ann".into(),
            display_name: "Ann".into(),
            email: None,
            password_hash: "$argon2id$x".into(),
        };
        assert!(m.create_account(&account));
        assert!(!m.create_account(&account), "taken");
        m.create_session("h1", "ann", now_ms() + 60_000);
        m.create_session("old", "ann", now_ms() - 1);
        assert_eq!(m.session("h1").unwrap().0, account);
        assert!(m.session("old").is_none(), "expired");
        m.end(&SessionEnd::AllOf {
            user: "ann".into(),
            except: None,
        });
        assert!(m.session("h1").is_none());
        m.create_session("h3", "ann", now_ms() + 60_000);
        assert!(m.delete_account("ann"));
        assert!(m.session("h3").is_none() && m.account("ann").is_none());
    }
}
