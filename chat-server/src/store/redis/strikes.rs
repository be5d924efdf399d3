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

    /// Count a failure against the account and the address; their failure counts. One script
    /// per key: the two keys live in different slots of a Redis Cluster.
    pub(crate) async fn strike(
        &self,
        account: &str,
        ip: IpAddr,
        forget_after: Duration,
    ) -> Result<(u32, u32)> {
        let mut counts = [0; 2];
        for (key, count) in self.strike_keys(account, ip).into_iter().zip(&mut counts) {
            let reply: Vec<u32> = self
                .strikes
                .strike
                .key(key)
                .arg(forget_after.as_millis() as u64)
                .invoke_async(&mut self.conn.clone())
                .await?;
            *count = reply.first().copied().unwrap_or(0);
        }
        Ok((counts[0], counts[1]))
    }

    /// Block the account and the address for their delays.
    pub(crate) async fn block(
        &self,
        account: &str,
        ip: IpAddr,
        delays: (Duration, Duration),
    ) -> Result<()> {
        let delays = [delays.0, delays.1];
        for (key, delay) in self.strike_keys(account, ip).into_iter().zip(delays) {
            let _: i64 = self
                .strikes
                .block
                .key(key)
                .arg(delay.as_millis() as u64)
                .invoke_async(&mut self.conn.clone())
                .await?;
        }
        Ok(())
    }

    /// How long attempts on the account or from the address are still refused.
    pub(crate) async fn login_wait(&self, account: &str, ip: IpAddr) -> Result<Duration> {
        let mut longest = 0;
        for key in self.strike_keys(account, ip) {
            let ms: u64 = self.run(&self.strikes.wait.key(key)).await?;
            longest = longest.max(ms);
        }
        Ok(Duration::from_millis(longest))
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
