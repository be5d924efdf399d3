//! Accounts and login sessions in PostgreSQL (tables of `migrations/0002_accounts.sql`). Expired
//! sessions are refused on lookup and deleted when new ones are made; ended sessions are deleted,
//! then announced on the bus (Redis pub/sub, or this process's event channel).

use sqlx::Row;

use super::{Bus, PgStore, Result};
use crate::{
    clock::now_ms,
    store::{Account, SessionEnd, StoreEvent},
};

fn account_of(row: &sqlx::postgres::PgRow) -> Result<Account> {
    Ok(Account {
        key: row.try_get("key")?,
        username: row.try_get("username")?,
        display_name: row.try_get("display_name")?,
        email: row.try_get("email")?,
        password_hash: row.try_get("password_hash")?,
    })
}

impl PgStore {
    pub(crate) async fn create_account(&self, a: &Account) -> Result<bool> {
        let inserted = sqlx::query(
            "INSERT INTO users (key, username, display_name, email, password_hash) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&a.key)
        .bind(&a.username)
        .bind(&a.display_name)
        .bind(&a.email)
        .bind(&a.password_hash)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    pub(crate) async fn account(&self, key: &str) -> Result<Option<Account>> {
        let row = sqlx::query(
            "SELECT key, username, display_name, email, password_hash FROM users WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(account_of).transpose()
    }

    pub(crate) async fn set_password(&self, key: &str, hash: &str) -> Result<bool> {
        let updated = sqlx::query("UPDATE users SET password_hash = $2 WHERE key = $1")
            .bind(key)
            .bind(hash)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(updated == 1)
    }

    /// Sessions go with the account (`ON DELETE CASCADE`).
    pub(crate) async fn delete_account(&self, key: &str) -> Result<bool> {
        let deleted = sqlx::query("DELETE FROM users WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(deleted == 1)
    }

    pub(crate) async fn create_session(
        &self,
        token_hash: &str,
        key: &str,
        expires_ms: u64,
    ) -> Result<()> {
        sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
            .bind(now_ms() as i64)
            .execute(&self.pool)
            .await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_key, expires_ms) VALUES ($1, $2, $3)")
            .bind(token_hash)
            .bind(key)
            .bind(expires_ms as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(crate) async fn session(&self, token_hash: &str) -> Result<Option<(Account, u64)>> {
        let row = sqlx::query(
            "SELECT u.key, u.username, u.display_name, u.email, u.password_hash, s.expires_ms \
             FROM sessions s JOIN users u ON u.key = s.user_key \
             WHERE s.token_hash = $1 AND s.expires_ms > $2",
        )
        .bind(token_hash)
        .bind(now_ms() as i64)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires: i64 = row.try_get("expires_ms")?;
        Ok(Some((account_of(&row)?, expires as u64)))
    }

    pub(crate) async fn end_sessions(&self, end: &SessionEnd) -> Result<()> {
        match end {
            SessionEnd::One { token_hash } => {
                sqlx::query("DELETE FROM sessions WHERE token_hash = $1")
                    .bind(token_hash)
                    .execute(&self.pool)
                    .await?;
            }
            SessionEnd::AllOf { user, except } => {
                sqlx::query(
                    "DELETE FROM sessions WHERE user_key = $1 \
                     AND token_hash IS DISTINCT FROM $2",
                )
                .bind(user)
                .bind(except)
                .execute(&self.pool)
                .await?;
            }
        }
        match &self.bus {
            Bus::Redis(redis) => redis.publish(vec![end.to_payload()]).await,
            Bus::Local { events, .. } => {
                let _ = events.send(StoreEvent::SessionsEnded(end.clone())).await;
                Ok(())
            }
        }
    }
}
