//! Brute-force brakes: failed logins per account name (existing or not, so the answer does not
//! reveal which) and per client address, each with a growing delay, and registrations per address
//! (each costs an Argon2 hash). Failures are counted on this replica and, when there is a Redis,
//! also in Redis for every replica (`store::redis::strikes`), the longer wait of the two applying;
//! registrations are counted per replica. A refused attempt is told how long to wait
//! (`rate_limited` with `Retry-After`); memory is bounded by sweeping forgotten entries.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::{
    limits::{
        FREE_LOGIN_FAILURES_PER_ACCOUNT, FREE_LOGIN_FAILURES_PER_ADDRESS,
        LOGIN_FAILURES_FORGOTTEN_AFTER, MAX_LOGIN_DELAY, REGISTRATIONS_PER_ADDRESS_PER_HOUR,
    },
    rate::TokenBucket,
    store::RedisStore,
};

/// Entries kept before the first sweep.
const SWEEP_MIN: usize = 4096;

/// A run of failures and the time before which the next attempt is refused.
#[derive(Debug, Clone, Copy)]
struct Strikes {
    failures: u32,
    blocked_until: Instant,
    last: Instant,
}

/// The wait after the `failures`-th failure when `free` are answered at once: 0, then 1 s,
/// doubling, at most [`MAX_LOGIN_DELAY`].
pub fn delay_after(failures: u32, free: u32) -> Duration {
    if failures <= free {
        return Duration::ZERO;
    }
    let doublings = (failures - free - 1).min(20);
    Duration::from_secs(1u64 << doublings).min(MAX_LOGIN_DELAY)
}

#[derive(Debug)]
struct Ledger<K> {
    entries: HashMap<K, Strikes>,
    free: u32,
    sweep_above: usize,
}

impl<K: Hash + Eq + Clone> Ledger<K> {
    fn new(free: u32) -> Self {
        Self {
            entries: HashMap::new(),
            free,
            sweep_above: SWEEP_MIN,
        }
    }

    fn wait(&self, key: &K, now: Instant) -> Duration {
        self.entries.get(key).map_or(Duration::ZERO, |s| {
            s.blocked_until.saturating_duration_since(now)
        })
    }

    fn fail(&mut self, key: &K, now: Instant) -> Duration {
        if self.entries.len() > self.sweep_above {
            self.entries.retain(|_, s| {
                now < s.blocked_until || now.duration_since(s.last) < LOGIN_FAILURES_FORGOTTEN_AFTER
            });
            self.sweep_above = (self.entries.len() * 2).max(SWEEP_MIN);
        }
        let s = self.entries.entry(key.clone()).or_insert(Strikes {
            failures: 0,
            blocked_until: now,
            last: now,
        });
        if now.duration_since(s.last) >= LOGIN_FAILURES_FORGOTTEN_AFTER {
            s.failures = 0;
        }
        s.failures += 1;
        s.last = now;
        let delay = delay_after(s.failures, self.free);
        s.blocked_until = now + delay;
        delay
    }
}

#[derive(Debug)]
struct Book {
    accounts: Ledger<String>,
    addresses: Ledger<IpAddr>,
    registrations: HashMap<IpAddr, TokenBucket>,
}

/// Failed-login and registration brakes of this replica.
#[derive(Debug)]
pub struct Throttle {
    inner: Mutex<Book>,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            inner: Mutex::new(Book {
                accounts: Ledger::new(FREE_LOGIN_FAILURES_PER_ACCOUNT),
                addresses: Ledger::new(FREE_LOGIN_FAILURES_PER_ADDRESS),
                registrations: HashMap::new(),
            }),
        }
    }
}

impl Throttle {
    /// How long this login attempt must wait (zero: go ahead).
    pub fn login_wait(&self, account: &str, ip: IpAddr) -> Duration {
        let book = self.inner.lock().unwrap();
        let now = Instant::now();
        let account = book.accounts.wait(&account.to_owned(), now);
        account.max(book.addresses.wait(&ip, now))
    }

    /// Record a failed login (or password check); the wait before the next attempt.
    pub fn failed(&self, account: &str, ip: IpAddr) -> Duration {
        let mut book = self.inner.lock().unwrap();
        let now = Instant::now();
        let account = book.accounts.fail(&account.to_owned(), now);
        account.max(book.addresses.fail(&ip, now))
    }

    /// A successful login clears the account's failures (not the address's).
    pub fn succeeded(&self, account: &str) {
        self.inner.lock().unwrap().accounts.entries.remove(account);
    }

    /// [`Self::login_wait`], and the wait Redis holds for every replica when there is one.
    pub async fn wait_shared(
        &self,
        shared: Option<&RedisStore>,
        account: &str,
        ip: IpAddr,
    ) -> Duration {
        let local = self.login_wait(account, ip);
        let Some(redis) = shared else { return local };
        match redis.login_wait(account, ip).await {
            Ok(wait) => wait.max(local),
            Err(e) => {
                tracing::warn!(error = %e, "shared login strikes unavailable; this replica's apply");
                local
            }
        }
    }

    /// [`Self::failed`], counted in Redis for every replica too; the longer wait.
    pub async fn failed_shared(
        &self,
        shared: Option<&RedisStore>,
        account: &str,
        ip: IpAddr,
    ) -> Duration {
        let local = self.failed(account, ip);
        let Some(redis) = shared else { return local };
        let counted = async {
            let (by_account, by_address) = redis
                .strike(account, ip, LOGIN_FAILURES_FORGOTTEN_AFTER)
                .await?;
            let delays = (
                delay_after(by_account, FREE_LOGIN_FAILURES_PER_ACCOUNT),
                delay_after(by_address, FREE_LOGIN_FAILURES_PER_ADDRESS),
            );
            redis.block(account, ip, delays).await?;
            Ok::<_, crate::Error>(delays.0.max(delays.1))
        };
        match counted.await {
            Ok(wait) => wait.max(local),
            Err(e) => {
                tracing::warn!(error = %e, "shared login strikes unavailable; this replica's apply");
                local
            }
        }
    }

    /// [`Self::succeeded`], in Redis too.
    pub async fn succeeded_shared(&self, shared: Option<&RedisStore>, account: &str) {
        self.succeeded(account);
        if let Some(redis) = shared
            && let Err(e) = redis.clear_strikes(account).await
        {
            tracing::warn!(error = %e, "clearing shared login strikes failed");
        }
    }

    /// Take one registration of this address's hourly budget; else how long until one is free.
    pub fn register(&self, ip: IpAddr) -> Result<(), Duration> {
        let per_hour = f64::from(REGISTRATIONS_PER_ADDRESS_PER_HOUR);
        let rate = per_hour / 3600.0;
        let mut book = self.inner.lock().unwrap();
        if book.registrations.len() > SWEEP_MIN {
            book.registrations.retain(|_, b| !b.is_full());
        }
        let bucket = book
            .registrations
            .entry(ip)
            .or_insert_with(|| TokenBucket::new(rate, per_hour));
        if bucket.take(1.0) {
            Ok(())
        } else {
            Err(Duration::from_secs_f64(1.0 / rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_start_after_the_free_failures_and_double_up_to_the_cap() {
        let waits: Vec<u64> = (1..=8).map(|n| delay_after(n, 3).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 1, 2, 4, 8, 16]);
        assert_eq!(delay_after(1000, 3), MAX_LOGIN_DELAY);
    }

    #[test]
    fn failures_block_the_account_and_the_address_separately() {
        let t = Throttle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..FREE_LOGIN_FAILURES_PER_ACCOUNT {
            assert_eq!(t.failed("ann", ip), Duration::ZERO);
        }
        assert_eq!(t.failed("ann", ip), Duration::from_secs(1));
        assert!(t.login_wait("ann", ip) > Duration::ZERO);
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        assert!(t.login_wait("ann", other) > Duration::ZERO, "per account");
        assert_eq!(t.login_wait("bob", other), Duration::ZERO);
        t.succeeded("ann");
        assert_eq!(t.login_wait("ann", other), Duration::ZERO);
        for n in 0..FREE_LOGIN_FAILURES_PER_ADDRESS {
            t.failed(&format!("user{n}"), other);
        }
        assert!(t.failed("zed", other) > Duration::ZERO, "per address");
    }

    #[test]
    fn registrations_per_address_are_bounded() {
        let t = Throttle::default();
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..REGISTRATIONS_PER_ADDRESS_PER_HOUR {
            assert!(t.register(ip).is_ok());
        }
        assert!(t.register(ip).unwrap_err() > Duration::ZERO);
        assert!(t.register("10.0.0.9".parse().unwrap()).is_ok());
    }
}
