//! Leader election over a `coordination.k8s.io/v1` Lease, so the operator Deployment can run
//! several replicas with exactly one reconciling.
//!
//! [`decide`] is the whole policy, pure: create the Lease when there is none, renew it when it
//! names us, take it over when it names nobody or its holder's `renewTime + leaseDurationSeconds`
//! has passed, otherwise wait. [`Elector`] carries it out with plain get/create/replace: a replace
//! sends the `resourceVersion` it read, so when two standbys race for one expired Lease the API
//! server accepts one and answers the other 409, which simply means "not you". Expiry compares
//! timestamps written by another pod with our own clock, so it assumes node clocks agree to
//! well within [`LEASE_DURATION`] (NTP does that). What runs while leading, and what losing the
//! Lease does to the process, is `crate::run`'s business.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use kube::{Client, Error as KubeError};
use tokio::time::{Instant, sleep, timeout};
use tracing::{info, warn};

/// Name of the Lease, in the operator's namespace.
pub const LEASE_NAME: &str = crate::bundle::NAME;
/// How long a Lease stays ours after a renewal: the longest a dead leader blocks a standby.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// How often the leader renews and a standby looks again.
pub const RETRY_PERIOD: Duration = Duration::from_secs(5);
/// A leader that could not renew for this long steps down, safely before its Lease expires for
/// the others (as client-go's `RenewDeadline`).
pub const RENEW_DEADLINE: Duration = Duration::from_secs(10);

/// What to do about the Lease, as decided by [`decide`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// There is no Lease: create one naming us.
    Create,
    /// It names us: renew it.
    Renew,
    /// It is released or expired: take it over.
    TakeOver,
    /// Someone else holds it and renews it in time: wait.
    Follow {
        /// The current holder.
        holder: String,
    },
}

/// The election policy, without a client: what `me` should do about `lease` at `now`.
pub fn decide(lease: Option<&Lease>, me: &str, now: Timestamp) -> Decision {
    let Some(lease) = lease else {
        return Decision::Create;
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.unwrap_or_default();
    if holder == me {
        return Decision::Renew;
    }
    if holder.is_empty() {
        return Decision::TakeOver;
    }
    let duration = spec
        .lease_duration_seconds
        .map_or(LEASE_DURATION.as_secs() as i64, i64::from);
    let expired = spec.renew_time.is_none_or(|MicroTime(renewed)| {
        renewed
            .checked_add(SignedDuration::from_secs(duration))
            .is_ok_and(|end| end <= now)
    });
    if expired {
        Decision::TakeOver
    } else {
        Decision::Follow { holder }
    }
}

/// The Lease `me` writes for `decision` (None for [`Decision::Follow`]). It keeps the read
/// Lease's `resourceVersion`, which makes the replace conditional.
pub fn claim(
    lease: Option<&Lease>,
    me: &str,
    now: Timestamp,
    decision: &Decision,
) -> Option<Lease> {
    if let Decision::Follow { .. } = decision {
        return None;
    }
    let mut next = lease.cloned().unwrap_or_else(|| Lease {
        metadata: ObjectMeta {
            name: Some(LEASE_NAME.into()),
            ..Default::default()
        },
        spec: None,
    });
    let spec = next.spec.get_or_insert_with(LeaseSpec::default);
    if *decision != Decision::Renew {
        spec.holder_identity = Some(me.into());
        spec.acquire_time = Some(MicroTime(now));
        spec.lease_transitions = Some(match decision {
            Decision::Create => 0,
            _ => spec.lease_transitions.unwrap_or(0).saturating_add(1),
        });
    }
    spec.lease_duration_seconds = Some(LEASE_DURATION.as_secs() as i32);
    spec.renew_time = Some(MicroTime(now));
    Some(next)
}

/// One replica's side of the election: its identity and the Lease API of its namespace.
pub struct Elector {
    api: Api<Lease>,
    me: String,
}

impl Elector {
    /// An elector for the Lease in `namespace`, holding it as `me` (the pod name).
    pub fn new(client: Client, namespace: &str, me: String) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            me,
        }
    }

    /// This replica's holder identity.
    pub fn identity(&self) -> &str {
        &self.me
    }

    /// One round: read the Lease and write it when [`decide`] says so. Ok(true) when we hold it
    /// now; a 409 (another replica wrote first) is Ok(false).
    pub async fn try_lead(&self) -> Result<bool, KubeError> {
        let lease = self.api.get_opt(LEASE_NAME).await?;
        let now = Timestamp::now();
        let decision = decide(lease.as_ref(), &self.me, now);
        let Some(next) = claim(lease.as_ref(), &self.me, now, &decision) else {
            return Ok(false);
        };
        let written = match decision {
            Decision::Create => self.api.create(&PostParams::default(), &next).await,
            _ => {
                self.api
                    .replace(LEASE_NAME, &PostParams::default(), &next)
                    .await
            }
        };
        match written {
            Ok(_) => Ok(true),
            Err(KubeError::Api(status)) if status.code == 409 => Ok(false),
            Err(err) => Err(err),
        }
    }

    /// One round bounded by `limit`, so a hung request cannot hold up a step-down.
    async fn round(&self, limit: Duration) -> Result<bool, String> {
        match timeout(limit, self.try_lead()).await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err("the API server did not answer in time".into()),
        }
    }

    /// Returns once this replica holds the Lease, looking every [`RETRY_PERIOD`]. `healthy` is
    /// told after each round whether the API server answered (a standby's readiness).
    pub async fn acquire(&self, healthy: impl Fn(bool)) {
        loop {
            match self.round(RETRY_PERIOD).await {
                Ok(true) => return,
                Ok(false) => healthy(true),
                Err(err) => {
                    healthy(false);
                    warn!(error = %err, "cannot read or claim the leader lease");
                }
            }
            sleep(RETRY_PERIOD).await;
        }
    }

    /// Renews the Lease every [`RETRY_PERIOD`] and returns when it is lost: another replica
    /// holds it, or no renewal succeeded for [`RENEW_DEADLINE`].
    pub async fn hold(&self) {
        let mut renewed = Instant::now();
        loop {
            sleep(RETRY_PERIOD).await;
            // A renewal that has not answered by the deadline counts as failed.
            let left = RENEW_DEADLINE.saturating_sub(renewed.elapsed());
            match self.round(left).await {
                Ok(true) => renewed = Instant::now(),
                Ok(false) => {
                    warn!(lease = LEASE_NAME, "another replica holds the leader lease");
                    return;
                }
                Err(err) => warn!(error = %err, "cannot renew the leader lease"),
            }
            if renewed.elapsed() >= RENEW_DEADLINE {
                warn!(
                    lease = LEASE_NAME,
                    "could not renew the leader lease in time"
                );
                return;
            }
        }
    }

    /// Gives the Lease up (holder cleared) if it still names us, so a standby takes over at its
    /// next round instead of after [`LEASE_DURATION`].
    pub async fn release(&self) -> Result<(), KubeError> {
        let Some(mut lease) = self.api.get_opt(LEASE_NAME).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.me.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.acquire_time = None;
        spec.renew_time = None;
        self.api
            .replace(LEASE_NAME, &PostParams::default(), &lease)
            .await?;
        info!(lease = LEASE_NAME, "leader lease released");
        Ok(())
    }
}

/// A holder identity for a process without a pod name: `operator-` and 16 random hex digits
/// (std's per-process random hash keys, so no extra crate).
pub fn random_identity() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    format!("operator-{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests;
