//! Failed-login strikes shared by every replica through Redis (keys in `keys.rs`), so the delays
//! of `accounts::throttle` hold however the attempts are spread over replicas. Redis counts the
//! failures and keeps the blocks on its own clock; the schedule (how long after how many) is the
//! throttle's.

use std::{net::IpAddr, time::Duration};

use redis::Script;

use super::{RedisStore, Result};

/// The scripts of this file.
pub(super) struct StrikeScripts {
    strike: Script,
    block: Script,
    wait: Script,
}

impl StrikeScripts {
    pub(super) fn load() -> Self {
        Self {
            strike: Script::new(include_str!("scripts/strike.lua")),
            block: Script::new(include_str!("scripts/block.lua")),
            wait: Script::new(include_str!("scripts/wait.lua")),
        }
    }
}

impl RedisStore {
    fn strike_keys(&self, account: &str, ip: IpAddr) -> [String; 2] {
        [
            self.keys.strikes("account", account),
            self.keys.strikes("address", &ip.to_string()),
        ]
    }

    /// Count a failure against the account and the address; their failure counts.
    pub(crate) async fn strike(
        &self,
        account: &str,
        ip: IpAddr,
        forget_after: Duration,
    ) -> Result<(u32, u32)> {
        let [a, b] = self.strike_keys(account, ip);
        let counts: Vec<u32> = self
            .strikes
            .strike
            .key(a)
            .key(b)
            .arg(forget_after.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok((
            counts.first().copied().unwrap_or(0),
            counts.get(1).copied().unwrap_or(0),
        ))
    }

    /// Block the account and the address for their delays.
    pub(crate) async fn block(
        &self,
        account: &str,
        ip: IpAddr,
        delays: (Duration, Duration),
    ) -> Result<()> {
        let [a, b] = self.strike_keys(account, ip);
        let _: i64 = self
            .strikes
            .block
            .key(a)
            .key(b)
            .arg(delays.0.as_millis() as u64)
            .arg(delays.1.as_millis() as u64)
            .invoke_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }

    /// How long attempts on the account or from the address are still refused.
    pub(crate) async fn login_wait(&self, account: &str, ip: IpAddr) -> Result<Duration> {
        let [a, b] = self.strike_keys(account, ip);
        let ms: u64 = self.run(self.strikes.wait.key(a).key(b)).await?;
        Ok(Duration::from_millis(ms))
    }

    /// Forget the account's failures (a successful login).
    pub(crate) async fn clear_strikes(&self, account: &str) -> Result<()> {
        let _: u64 = redis::cmd("DEL")
            .arg(self.keys.strikes("account", account))
            .query_async(&mut self.conn.clone())
            .await?;
        Ok(())
    }
}
