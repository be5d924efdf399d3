//! The names of the ChatApp's conditions and their reasons: the words people and tools read in
//! `status.conditions`, `kubectl get chat` and events. Every writer and every test uses these.

/// A condition that holds.
pub const TRUE: &str = "True";
/// A condition that does not hold.
pub const FALSE: &str = "False";

/// The chat serves: every wanted chat-server pod is ready (or there are none by request).
pub const READY: &str = "Ready";
/// A rollout is under way (pods being created or replaced).
pub const PROGRESSING: &str = "Progressing";
/// Something needs a person: a problem that will not fix itself.
pub const DEGRADED: &str = "Degraded";

/// Reasons, the CamelCase word that says why a condition has its status.
pub mod reason {
    /// Ready: every wanted pod is ready.
    pub const AVAILABLE: &str = "Available";
    /// Ready: `spec.replicas` is 0.
    pub const SCALED_TO_ZERO: &str = "ScaledToZero";
    /// Ready=False: some chat-server pods are not ready yet.
    pub const PODS_NOT_READY: &str = "PodsNotReady";
    /// Ready=False: the managed Redis has no ready pod.
    pub const REDIS_NOT_READY: &str = "RedisNotReady";
    /// Progressing=False: every pod runs the current spec.
    pub const COMPLETE: &str = "Complete";
    /// Progressing=True: pods are being created or replaced.
    pub const ROLLING_OUT: &str = "RollingOut";
    /// Progressing=False: `spec.paused`.
    pub const PAUSED: &str = "Paused";
    /// Degraded=False: nothing wrong was found.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// Degraded=True: pods are stuck (crash loop, bad configuration).
    pub const PODS_FAILING: &str = "PodsFailing";
    /// The spec cannot be reconciled.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The API server refused a child as invalid (HTTP 400/422).
    pub const APPLY_REJECTED: &str = "ApplyRejected";
}
