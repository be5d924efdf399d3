//! Accounts and login sessions in the Redis-only mode (keys in `keys.rs`): an account is one JSON
//! string created with `SET NX` (so a username is taken once), a session a string that expires
//! with it, and each account a set of its sessions' hashes so all of them can be ended at once.
//! A session and its account's set are in different slots on a Redis Cluster, so they are
//! written apart: the set first (a hash in the set whose session never came is harmless: ending
//! it deletes nothing), then the session; ending sessions deletes each, then leaves the set.

use serde::{Deserialize, Serialize};

use super::{RedisStore, Result};
use crate::{
    clock::now_ms,
    store::{Account, SessionEnd},
};

/// An account as stored in Redis.
#[derive(Serialize, Deserialize)]
struct Stored {
    username: String,
    display_name: String,
    email: Option<String>,
    password_hash: String,
}

impl Stored {
    fn of(a: &Account) -> Self {
        Self {
            username: a.username.clone(),
            display_name: a.display_name.clone(),
            email: a.email.clone(),
            password_hash: a.password_hash.clone(),
        }
    }

    fn into_account(self, key: &str) -> Account {
        Account {
            key: key.to_owned(),
            username: self.username,
            display_name: self.display_name,
            email: self.email,
            password_hash: self.password_hash,
        }
    }
}

fn json(a: &Account) -> String {
    serde_json::to_string(&Stored::of(a)).expect("an account serialises")
}

impl RedisStore {
    pub(crate) async fn create_account(&self, account: &Account) -> Result<bool> {
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.user(&account.key))
            .arg(json(account))
            .arg("NX")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.is_some())
    }

    pub(crate) async fn account(&self, key: &str) -> Result<Option<Account>> {
        let raw: Option<String> = self
            .query(redis::cmd("GET").arg(self.keys.user(key)))
            .await?;
        Ok(raw
            .and_then(|r| serde_json::from_str::<Stored>(&r).ok())
            .map(|s| s.into_account(key)))
    }

    pub(crate) async fn set_password(&self, key: &str, hash: &str) -> Result<bool> {
        let Some(mut account) = self.account(key).await? else {
            return Ok(false);
        };
        account.password_hash = hash.to_owned();
        let set: Option<String> = redis::cmd("SET")
            .arg(self.keys.user(key))
            .arg(json(&account))
            .arg("XX")
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(set.is_some())
    }

    pub(crate) async fn delete_account(&self, key: &str) -> Result<bool> {
        self.end_sessions(&SessionEnd::AllOf {
            user: key.to_owned(),
            except: None,
        })
        .await?;
        let removed: u64 = redis::cmd("DEL")
            .arg(self.keys.user(key))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(removed > 0)
    }

    pub(crate) async fn create_session(
        &self,
        token_hash: &str,
        key: &str,
        expires_ms: u64,
    ) -> Result<()> {
        let ttl_ms = expires_ms.saturating_sub(now_ms()).max(1);
        let sessions = self.keys.user_sessions(key);
        let () = redis::pipe()
            .atomic()
            .cmd("SADD")
            .arg(&sessions)
            .arg(token_hash)
            .ignore()
            // The set lives as long as the newest session (sessions all have the same ttl).
            .cmd("PEXPIRE")
            .arg(&sessions)
            .arg(ttl_ms)
            .ignore()
            .query_async(&mut self.conn.clone())
            .await?;
        let () = redis::cmd("SET")
            .arg(self.keys.session(token_hash))
            .arg(format!("{key} {expires_ms}"))
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    pub(crate) async fn session(&self, token_hash: &str) -> Result<Option<(Account, u64)>> {
        let raw: Option<String> = self
            .query(redis::cmd("GET").arg(self.keys.session(token_hash)))
            .await?;
        let Some((key, expires)) = raw.as_deref().and_then(|r| r.split_once(' ')) else {
            return Ok(None);
        };
        let Ok(expires) = expires.parse::<u64>() else {
            return Ok(None);
        };
        if expires <= now_ms() {
            return Ok(None);
        }
        Ok(self.account(key).await?.map(|a| (a, expires)))
    }

    pub(crate) async fn end_sessions(&self, end: &SessionEnd) -> Result<()> {
        match end {
            SessionEnd::One { token_hash } => {
                let () = redis::cmd("DEL")
                    .arg(self.keys.session(token_hash))
                    .query_async(&mut self.conn.clone())
                    .await
                    .map(|_: u64| ())?;
            }
            SessionEnd::AllOf { user, except } => {
                let set = self.keys.user_sessions(user);
                let hashes: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(&set)).await?;
                let ended: Vec<&String> = hashes
                    .iter()
                    .filter(|h| Some(*h) != except.as_ref())
                    .collect();
                // Nothing to end is no command at all (account deletion after the sessions
                // were already ended got `unavailable`).
                if ended.is_empty() {
                    return Ok(());
                }
                let deletions = ended.iter().map(|h| {
                    let mut conn = self.conn.clone();
                    let cmd = redis::cmd("DEL").arg(self.keys.session(h)).clone();
                    async move { cmd.query_async::<u64>(&mut conn).await }
                });
                futures_util::future::try_join_all(deletions).await?;
                let () = redis::cmd("SREM")
                    .arg(&set)
                    .arg(&ended)
                    .query_async(&mut self.conn.clone())
                    .await
                    .map(|_: u64| ())?;
            }
        }
        Ok(())
    }
}
