//! Whether Redis is fit to hold chat data right now: it answers, it does not evict keys (read with
//! `CONFIG GET maxmemory-policy`), and it takes writes (refused while it is out of memory). The
//! store-health watcher in `lib.rs` asks every second and acts on the answer.

use std::time::{Duration, Instant};

use redis::RedisResult;

use super::{RedisStore, is_transient};
use crate::store::{Health, new_epoch};

/// The last reading of Redis's `maxmemory-policy`.
#[derive(Debug, Default)]
pub(super) struct PolicyCheck {
    /// When it was read; `None` forces a reading (at start, and after Redis was unreachable).
    at: Option<Instant>,
    /// What is wrong with it, if anything.
    problem: Option<String>,
    /// Whether "cannot read it" was logged already (it is said once, not every check).
    unreadable_said: bool,
}

/// How often a good `maxmemory-policy` is read again (a bad one is read at every health check,
/// so fixing it takes effect at once).
const POLICY_EVERY: Duration = Duration::from_secs(30);

/// Why a `maxmemory-policy` is unsafe for chat data, if it is. Every policy but `noeviction` can
/// drop a room's stream, sequence and epoch independently; `volatile-*` ones evict only keys with
/// a TTL, but the idempotency records have one, and losing them turns a retry into a second copy.
fn eviction_problem(policy: &str) -> Option<String> {
    (policy != "noeviction").then(|| format!("redis maxmemory-policy is {policy}; set noeviction"))
}

impl RedisStore {
    /// Reachable, configured not to evict, and accepting writes? The write probe is `SET NX` of
    /// the incarnation (which it creates on a fresh Redis): Redis refuses it while out of memory
    /// even though it would change nothing.
    pub(in crate::store) async fn health(&self) -> Health {
        let ping: RedisResult<String> =
            redis::cmd("PING").query_async(&mut self.conn.clone()).await;
        if ping.is_err() {
            // It may come back as another Redis: read its policy again then.
            self.policy.lock().unwrap().at = None;
            return Health::Down(Health::UNREACHABLE.into());
        }
        if let Some(problem) = self.eviction_problem().await {
            return Health::Down(problem);
        }
        let probe: RedisResult<()> = redis::cmd("SET")
            .arg(self.keys.incarnation())
            .arg(new_epoch())
            .arg("NX")
            .query_async(&mut self.conn.clone())
            .await;
        match probe {
            Ok(()) => Health::Ready,
            Err(e) if is_transient(&e) || e.is_timeout() => {
                Health::Down(Health::UNREACHABLE.into())
            }
            Err(e) => Health::ReadOnly(format!(
                "redis refuses writes ({}): reading works, sending does not",
                e.code().unwrap_or("error")
            )),
        }
    }

    /// What was wrong with Redis's `maxmemory-policy` when it was last read, if anything.
    pub(super) fn eviction_risk(&self) -> Option<String> {
        self.policy.lock().unwrap().problem.clone()
    }

    /// What is wrong with Redis's `maxmemory-policy`, read again when due. A Redis that does not
    /// let us read it (CONFIG renamed or forbidden) is trusted, with a warning.
    async fn eviction_problem(&self) -> Option<String> {
        {
            let check = self.policy.lock().unwrap();
            let due =
                check.problem.is_some() || check.at.is_none_or(|at| at.elapsed() >= POLICY_EVERY);
            if !due {
                return None;
            }
        }
        let reply: RedisResult<Vec<String>> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxmemory-policy")
            .query_async(&mut self.conn.clone())
            .await;
        let mut check = self.policy.lock().unwrap();
        let problem = match reply.as_deref() {
            Ok([_, policy]) => eviction_problem(policy),
            Ok(_) | Err(_) => {
                if !std::mem::replace(&mut check.unreadable_said, true) {
                    tracing::warn!(
                        ?reply,
                        "cannot read redis maxmemory-policy (CONFIG disabled?); \
                         make sure it is noeviction"
                    );
                }
                None
            }
        };
        if let Some(problem) = problem
            .as_ref()
            .filter(|p| check.problem.as_ref() != Some(*p))
        {
            tracing::warn!("{problem}: not ready, sends refused");
        }
        check.at = Some(Instant::now());
        check.problem.clone_from(&problem);
        problem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_noeviction_keeps_rooms_whole() {
        assert_eq!(eviction_problem("noeviction"), None);
        assert_eq!(
            eviction_problem("allkeys-lru").as_deref(),
            Some("redis maxmemory-policy is allkeys-lru; set noeviction")
        );
        assert!(
            eviction_problem("volatile-ttl").is_some(),
            "idempotency records have a TTL"
        );
    }
}
