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
/// Acknowledged messages survive the loss of any pod: they are committed to a database whose
/// data is on a volume (or outside the cluster).
pub const DURABLE: &str = "Durable";

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
    /// Ready=False: the managed PostgreSQL has no ready pod.
    pub const DATABASE_NOT_READY: &str = "DatabaseNotReady";
    /// Progressing=False: every pod runs the current spec.
    pub const COMPLETE: &str = "Complete";
    /// Progressing=True: pods are being created or replaced.
    pub const ROLLING_OUT: &str = "RollingOut";
    /// Progressing=False: `spec.paused`.
    pub const PAUSED: &str = "Paused";
    /// Degraded=False: nothing wrong was found.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// Degraded=True: pods are stuck (bad container configuration, a missing Secret key...).
    pub const PODS_FAILING: &str = "PodsFailing";
    /// The spec cannot be reconciled.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// The API server refused a child as invalid (HTTP 400/422).
    pub const APPLY_REJECTED: &str = "ApplyRejected";
    /// The chat's (or Locust's) node port is allocated to another Service.
    pub const NODE_PORT_CONFLICT: &str = "NodePortConflict";
    /// Applying a child failed (API server error, timeout): retried with backoff.
    pub const APPLY_FAILED: &str = "ApplyFailed";
    /// Deleting a child no longer wanted failed: retried with backoff.
    pub const DELETE_FAILED: &str = "DeleteFailed";
    /// Reading the children or the Redis Secret failed: retried with backoff.
    pub const OBSERVE_FAILED: &str = "ObserveFailed";
    /// Any other failure of a reconcile.
    pub const RECONCILE_FAILED: &str = "ReconcileFailed";
    /// `spec.redis.external` names a Secret or key that does not exist: nothing was changed.
    pub const REDIS_SECRET_MISSING: &str = "RedisSecretMissing";
    /// `spec.database.external` names a Secret or key that does not exist: nothing was changed.
    pub const DATABASE_SECRET_MISSING: &str = "DatabaseSecretMissing";
    /// `spec.supportApi.tokenSecret` names a Secret, or one without the key `token`, that does
    /// not exist: nothing was changed.
    pub const SUPPORT_API_SECRET_MISSING: &str = "SupportApiSecretMissing";
    /// Progressing: chat pods move to the external Redis; the managed one is kept meanwhile.
    pub const SWITCHING_REDIS: &str = "SwitchingRedis";
    /// Degraded: the managed Redis's PersistentVolumeClaim is not bound.
    pub const PVC_PENDING: &str = "PVCPending";
    /// Degraded: a pod cannot be placed on any node.
    pub const UNSCHEDULABLE: &str = "Unschedulable";
    /// Degraded: a container's image cannot be pulled.
    pub const IMAGE_PULL_BACK_OFF: &str = "ImagePullBackOff";
    /// Degraded: a container keeps crashing.
    pub const CRASH_LOOP_BACK_OFF: &str = "CrashLoopBackOff";
    /// Durable: the managed database's data is on its PersistentVolumeClaim.
    pub const PERSISTENT_VOLUME: &str = "PersistentVolume";
    /// Durable: messages are committed to the external database (as durable as it is).
    pub const EXTERNAL_DATABASE: &str = "ExternalDatabase";
    /// Durable=False: no `spec.database`; messages are durable only as far as Redis is.
    pub const REDIS_ONLY: &str = "RedisOnly";
    /// Durable=False: `database.managed.storage.ephemeral` puts the data in an emptyDir.
    pub const EPHEMERAL_STORAGE: &str = "EphemeralStorage";
    /// Durable=False: the claim would name no StorageClass and the cluster has no default one,
    /// so the data is in an emptyDir.
    pub const NO_DEFAULT_STORAGE_CLASS: &str = "NoDefaultStorageClass";
    /// Durable=False: the database's StatefulSet was made on an emptyDir, and a StorageClass is
    /// there now; its volumes cannot change in place, so it stays until a person recreates it.
    pub const EMPTY_DIR_KEPT: &str = "EmptyDirKept";
}
