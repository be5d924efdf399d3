//! Where the managed database's data lives, and what that means for the messages: the one place
//! that chooses between the claim and an emptyDir, and the words of the `Durable` condition.
//!
//! The data goes on a PersistentVolumeClaim unless the spec asks for an emptyDir
//! (`storage.ephemeral`) or no volume could ever be bound to the claim: it names no StorageClass
//! and the cluster has no default one. Then the database (and the default ChatApp with it) still
//! comes up, on an emptyDir, and the status says plainly that the messages are not durable. A
//! StatefulSet's volumes cannot change in place, so once it exists its choice stands: the
//! operator never deletes a database to move it, it tells a person how to.

use kube::ResourceExt;

use super::{managed, postgres_pvc_name};
use crate::controller::conditions::reason;
use crate::crd::{ChatApp, ManagedDatabase};
use crate::resources::Component;

/// Where the managed database keeps its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataStorage {
    /// On its PersistentVolumeClaim `data-NAME-pg-0`: durable.
    Claim,
    /// In an emptyDir, because `storage.ephemeral` asks for it.
    Ephemeral,
    /// In an emptyDir, because the claim would name no StorageClass and the cluster has no
    /// default one (it would stay Pending, and the chat would never start).
    NoDefaultClass,
    /// In an emptyDir, because the StatefulSet was made that way (no default StorageClass then,
    /// or `storage.ephemeral`), though a claim is wanted and possible now: its volumes cannot
    /// change in place.
    EmptyDirKept,
}

impl DataStorage {
    /// What the spec alone asks for (what `operator render` shows, knowing no cluster).
    pub fn from_spec(db: &ManagedDatabase) -> Self {
        if db.storage.ephemeral {
            Self::Ephemeral
        } else {
            Self::Claim
        }
    }

    /// Whether [`DataStorage::decide`] needs to know if the cluster has a default StorageClass:
    /// only for a claim that names none, or for an emptyDir that may now move to a claim.
    pub fn needs_default_class(db: &ManagedDatabase, existing_has_claim: Option<bool>) -> bool {
        !db.storage.ephemeral
            && existing_has_claim != Some(true)
            && (existing_has_claim == Some(false) || db.storage.storage_class_name.is_none())
    }

    /// The choice for `db`, given whether its StatefulSet exists with a claim template
    /// (`Some(true)`), exists without one (`Some(false)`) or not at all, and whether the cluster
    /// has a default StorageClass (None: not asked, see [`DataStorage::needs_default_class`]).
    pub fn decide(
        db: &ManagedDatabase,
        existing_has_claim: Option<bool>,
        default_class: Option<bool>,
    ) -> Self {
        let class_available =
            db.storage.storage_class_name.is_some() || default_class == Some(true);
        match existing_has_claim {
            _ if db.storage.ephemeral => Self::Ephemeral,
            Some(true) => Self::Claim,
            Some(false) if class_available => Self::EmptyDirKept,
            Some(false) => Self::NoDefaultClass,
            None if db.storage.storage_class_name.is_none() && default_class == Some(false) => {
                Self::NoDefaultClass
            }
            None => Self::Claim,
        }
    }

    /// Whether the data is on a claim.
    pub fn on_claim(self) -> bool {
        self == Self::Claim
    }
}

/// Where `app`'s managed database keeps its data (None without one): what the controller
/// `found`, or, when it did not look (`operator render`, a test), what the spec asks for.
pub fn data_storage(app: &ChatApp, found: Option<DataStorage>) -> Option<DataStorage> {
    managed(app).map(|db| found.unwrap_or_else(|| DataStorage::from_spec(db)))
}

/// The `Durable` condition for `app`: (holds, reason, message). `storage` is what the controller
/// found (None: not looked up, the spec's choice is assumed).
pub fn durability(app: &ChatApp, storage: Option<DataStorage>) -> (bool, &'static str, String) {
    let Some(database) = &app.spec.database else {
        let redis = if app.spec.redis.external.is_some() {
            "the external Redis"
        } else if crate::resources::redis::managed(app).persistence.is_some() {
            "the managed Redis (on its volume, with appendonly)"
        } else {
            "the managed Redis, which keeps them in an emptyDir and loses them with its pod"
        };
        return (
            false,
            reason::REDIS_ONLY,
            format!(
                "no spec.database: messages are durable only as far as {redis}; set spec.database (managed or external) for durable mode"
            ),
        );
    };
    let Some(storage) = data_storage(app, storage) else {
        let secret = database
            .external
            .as_ref()
            .map_or("", |e| e.secret_name.as_str());
        return (
            true,
            reason::EXTERNAL_DATABASE,
            format!(
                "an acknowledged message is committed to the external PostgreSQL (Secret {secret}): as durable as that database"
            ),
        );
    };
    let set = Component::Postgres.name(app);
    let ns = app.namespace().unwrap_or_default();
    let lost = format!(
        "messages are NOT durable: they are lost when the {set}-0 pod is deleted, evicted or moved to another node"
    );
    let recreate = format!(
        "then delete the StatefulSet (kubectl -n {ns} delete statefulset {set}; the messages in it are lost) and the operator makes it again on a PersistentVolumeClaim"
    );
    match storage {
        DataStorage::Claim => (
            true,
            reason::PERSISTENT_VOLUME,
            format!(
                "an acknowledged message is committed to the managed PostgreSQL on PersistentVolumeClaim {}",
                postgres_pvc_name(app)
            ),
        ),
        DataStorage::Ephemeral => (
            false,
            reason::EPHEMERAL_STORAGE,
            format!(
                "the managed database keeps its data in an emptyDir (database.managed.storage.ephemeral): {lost}"
            ),
        ),
        DataStorage::NoDefaultClass => (
            false,
            reason::NO_DEFAULT_STORAGE_CLASS,
            format!(
                "this cluster has no default StorageClass, so the managed database keeps its data in an emptyDir to come up at all: {lost}. To make them durable, set spec.database.managed.storage.storageClassName to a StorageClass of the cluster (kubectl get storageclass) or mark one as the default, {recreate}"
            ),
        ),
        DataStorage::EmptyDirKept => (
            false,
            reason::EMPTY_DIR_KEPT,
            format!(
                "StatefulSet {set} was made with its data in an emptyDir (no default StorageClass then, or storage.ephemeral) and a StatefulSet's volumes cannot change in place: {lost}. A claim is wanted and a StorageClass is available now: {recreate}"
            ),
        ),
    }
}
