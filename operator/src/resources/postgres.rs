//! The managed PostgreSQL (`spec.database.managed`): a one-pod StatefulSet, its Service and the
//! Secret with its password and URL.
//!
//! The volume comes from the StatefulSet's claim template, so the StatefulSet controller, not the
//! operator, makes the claim `data-NAME-pg-0`; its `persistentVolumeClaimRetentionPolicy` decides
//! whether the claim goes with the ChatApp (`deleteDataWithChatApp`) or stays (the default: the
//! claim then has no owner, so garbage collection never takes it). The password is made once:
//! the Secret is created only when absent and never applied again (see `controller::apply`).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec, Probe, Secret,
    SecretKeySelector, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::ResourceExt;

use super::{
    Component, MANAGED_BY, POSTGRES_PORT, child_meta, container_security, pod_security,
    selector_labels,
};
use crate::crd::{ChatApp, ManagedDatabase};

mod storage;

pub use storage::{DataStorage, data_storage, durability};

/// uid of the postgres user in the official alpine images.
const POSTGRES_UID: i64 = 70;
/// The database and its user; one chat per database, so fixed names are enough.
pub const DATABASE_USER: &str = "chat";
/// Where the data directory lives inside the volume (a subdirectory: the volume's root may hold
/// lost+found, which initdb refuses).
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";
/// Name of the claim template, hence the claim `data-NAME-pg-0`.
const DATA: &str = "data";

/// The managed database's settings, when `spec.database.managed` is set.
pub fn managed(app: &ChatApp) -> Option<&ManagedDatabase> {
    app.spec.database.as_ref()?.managed.as_ref()
}

/// Whether the managed database's data outlives the ChatApp: on a claim, without
/// `deleteDataWithChatApp`.
pub fn keeps_data(app: &ChatApp) -> bool {
    managed(app).is_some_and(|db| !db.delete_data_with_chat_app && !db.storage.ephemeral)
}

/// Name of the claim the StatefulSet controller makes for the one pod.
pub fn postgres_pvc_name(app: &ChatApp) -> String {
    format!("{DATA}-{}-0", Component::Postgres.name(app))
}

/// The Secret the managed database's password and URL live in, without its data: the apply step
/// fills it with `with_password` on the one create. It lives as long as the data: without
/// `deleteDataWithChatApp` it has no owner, like the kept claim, because the data directory
/// knows only this password (a ChatApp recreated with the same name finds both and works).
pub fn postgres_secret(app: &ChatApp) -> Secret {
    let mut metadata = child_meta(app, Component::Postgres);
    if keeps_data(app) {
        metadata.owner_references = None;
    }
    Secret {
        metadata,
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// `secret` with `password` and the keys the pods read: `password` (PostgreSQL's) and `uri`
/// (the chat-server's, the key CloudNativePG uses too, so both modes read it the same way).
pub fn with_password(app: &ChatApp, mut secret: Secret, password: &str) -> Secret {
    let host = Component::Postgres.name(app);
    let uri = format!(
        "postgres://{DATABASE_USER}:{password}@{host}:{POSTGRES_PORT}/{DATABASE_USER}?sslmode=disable"
    );
    secret.string_data = Some(BTreeMap::from([
        ("username".to_owned(), DATABASE_USER.to_owned()),
        ("password".to_owned(), password.to_owned()),
        ("uri".to_owned(), uri),
    ]));
    secret
}

/// A fresh password: 244 random bits from the OS (two v4 UUIDs), URL-safe as it is.
pub fn new_password() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn pg_isready() -> Option<ExecAction> {
    Some(ExecAction {
        command: Some(vec![
            "pg_isready".into(),
            "--host=127.0.0.1".into(),
            format!("--port={POSTGRES_PORT}"),
            format!("--username={DATABASE_USER}"),
            format!("--dbname={DATABASE_USER}"),
        ]),
    })
}

fn postgres_container(app: &ChatApp, db: &ManagedDatabase) -> Container {
    let mount = |name: &str, path: &str| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        ..Default::default()
    };
    let value = |name: &str, value: &str| EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    };
    let password = EnvVar {
        name: "POSTGRES_PASSWORD".into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: Component::Postgres.name(app),
                key: "password".into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    Container {
        name: "postgres".into(),
        image: Some(db.image.clone()),
        image_pull_policy: Some(app.spec.image_pull_policy.as_str().into()),
        env: Some(vec![
            value("POSTGRES_USER", DATABASE_USER),
            value("POSTGRES_DB", DATABASE_USER),
            value("PGDATA", PGDATA),
            password,
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("postgres".into()),
            container_port: POSTGRES_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        // A first start runs initdb, which may take a while on a slow disk: readiness says when
        // the chat pods can use it; liveness allows a minute of silence before a restart.
        readiness_probe: Some(Probe {
            exec: pg_isready(),
            period_seconds: Some(5),
            timeout_seconds: Some(3),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            exec: pg_isready(),
            initial_delay_seconds: Some(30),
            period_seconds: Some(10),
            timeout_seconds: Some(5),
            failure_threshold: Some(6),
            ..Default::default()
        }),
        resources: db.resources.clone(),
        security_context: Some(container_security()),
        // The root filesystem is read-only: the data, the socket directory and /tmp are volumes.
        volume_mounts: Some(vec![
            mount(DATA, "/var/lib/postgresql/data"),
            mount("run", "/var/run/postgresql"),
            mount("tmp", "/tmp"),
        ]),
        ..Default::default()
    }
}

fn empty_dir(name: &str) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }
}

/// The claim template: labels only, never an owner reference (with `Retain` the claim must
/// outlive the ChatApp; with `Delete` the StatefulSet controller makes the StatefulSet its owner).
fn claim_template(app: &ChatApp, db: &ManagedDatabase) -> PersistentVolumeClaim {
    claim(app, db, DATA)
}

/// The claim the controller creates with `dryRun=All` (never stored) to learn whether a claim
/// naming no StorageClass gets the cluster's default one (see `controller::observe`).
pub fn storage_probe(app: &ChatApp) -> Option<PersistentVolumeClaim> {
    let db = managed(app)?;
    let name = format!("{}-storage-probe", Component::Postgres.name(app));
    let mut probe = claim(app, db, &name);
    probe.metadata.namespace = app.namespace();
    Some(probe)
}

fn claim(app: &ChatApp, db: &ManagedDatabase, name: &str) -> PersistentVolumeClaim {
    let mut labels = selector_labels(app, Component::Postgres);
    labels.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: db.storage.storage_class_name.clone(),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_owned(),
                    db.storage.size.clone(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The PostgreSQL StatefulSet: one pod, its data on a claim kept when the ChatApp is deleted
/// unless `deleteDataWithChatApp`, or on an emptyDir where `storage` says so.
pub fn postgres_statefulset(app: &ChatApp, storage: DataStorage) -> Option<StatefulSet> {
    let db = managed(app)?;
    let labels = selector_labels(app, Component::Postgres);
    let mut volumes = vec![empty_dir("run"), empty_dir("tmp")];
    let claims = if storage.on_claim() {
        Some(vec![claim_template(app, db)])
    } else {
        volumes.push(empty_dir(DATA));
        None
    };
    let when_deleted = if db.delete_data_with_chat_app {
        "Delete"
    } else {
        "Retain"
    };
    Some(StatefulSet {
        metadata: child_meta(app, Component::Postgres),
        spec: Some(StatefulSetSpec {
            replicas: Some(1),
            service_name: Some(Component::Postgres.name(app)),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some(when_deleted.into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![postgres_container(app, db)],
                    security_context: Some(pod_security(POSTGRES_UID)),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    // PostgreSQL shuts down cleanly (fast mode) well within this.
                    termination_grace_period_seconds: Some(60),
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            volume_claim_templates: claims,
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// The ClusterIP Service the chat servers reach PostgreSQL on (the StatefulSet's service name).
pub fn postgres_service(app: &ChatApp) -> Option<Service> {
    managed(app)?;
    Some(Service {
        metadata: child_meta(app, Component::Postgres),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(app, Component::Postgres)),
            ports: Some(vec![ServicePort {
                name: Some("postgres".into()),
                port: POSTGRES_PORT,
                target_port: Some(IntOrString::String("postgres".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// What the ChatApp's status says about the managed database's data when the ChatApp is
/// deleted (only for data on a claim: an emptyDir goes with its pod, which `Durable` says).
pub fn data_note(app: &ChatApp, storage: DataStorage) -> Option<String> {
    let db = managed(app)?;
    let pvc = postgres_pvc_name(app);
    let secret = Component::Postgres.name(app);
    let ns = app.namespace().unwrap_or_default();
    if !storage.on_claim() {
        return None;
    }
    Some(if db.delete_data_with_chat_app {
        format!(
            "the managed database's data (PersistentVolumeClaim {pvc}) is deleted with this ChatApp (database.managed.deleteDataWithChatApp)"
        )
    } else {
        format!(
            "the managed database's data is kept in PersistentVolumeClaim {pvc} (and its password in Secret {secret}) when this ChatApp is deleted; delete them with kubectl -n {ns} delete pvc/{pvc} secret/{secret}"
        )
    })
}

#[cfg(test)]
mod tests;
