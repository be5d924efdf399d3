//! Desired state: pure functions from a `ChatApp` to the Kubernetes objects it should own.
//!
//! Nothing here talks to the API server or awaits. Names, labels, the owner reference and the
//! Pod Security "restricted" contexts come from the helpers below so every child agrees on them;
//! the controller applies what [`Desired::build`] returns.

mod autoscaling;
mod chat;
mod ingress;
mod loadtest;
mod monitoring;
mod network;
pub(crate) mod postgres;
pub(crate) mod redis;
mod support;

pub use autoscaling::{CONNECTIONS_METRIC, chat_hpa};
pub use chat::{chat_deployment, chat_env, chat_pdb, chat_service, config_hash, public_url};
pub use ingress::{chat_ingress, ingress_tls, ingress_url};
pub use loadtest::{
    LOCUST_MASTER_PORT, LOCUSTFILE, locust_configmap, locust_deployment, locust_master_name,
    locust_master_service, locust_service, locust_worker_deployment,
};
pub use monitoring::{
    alert_rules, chat_prometheus_rule, chat_service_monitor, prometheus_rule_resource,
    service_monitor_resource,
};
pub use network::{chat_network_policy, postgres_network_policy, redis_network_policy};
pub use postgres::{DataStorage, postgres_secret, postgres_service, postgres_statefulset};
pub use redis::{redis_deployment, redis_pvc, redis_service};
pub use support::{
    GRPC_PORT_NAME, new_token, support_api_secret, support_api_service, support_api_token_ref,
    with_token,
};

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    Deployment, DeploymentStrategy, RollingUpdateDeployment, StatefulSet,
};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, PersistentVolumeClaim, PodSecurityContext, SeccompProfile, Secret,
    SecurityContext, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::DynamicObject;
use kube::{Resource, ResourceExt};

use crate::crd::ChatApp;

/// Value of `app.kubernetes.io/managed-by` on every child; the controller's watches filter on it.
pub const MANAGED_BY: &str = "chatapp-operator";
/// Label selector matching every child the operator made.
pub const MANAGED_SELECTOR: &str = "app.kubernetes.io/managed-by=chatapp-operator";
/// Port of the chat server inside its pod and on its Service.
pub const CHAT_PORT: i32 = 8080;
/// Port of the Redis server.
pub const REDIS_PORT: i32 = 6379;
/// Port of the managed PostgreSQL.
pub const POSTGRES_PORT: i32 = 5432;
/// Port of the Locust web UI.
pub const LOCUST_PORT: i32 = 8089;

/// Every object one ChatApp should own. Destructured without `..` where it is applied, so a
/// child that is built cannot be forgotten.
#[derive(Clone, Debug)]
pub struct Desired {
    /// The managed database's Secret (password, URL), with `database.managed`: created once,
    /// never applied, so its password is never regenerated.
    pub postgres_secret: Option<Secret>,
    /// The managed database's NetworkPolicy, with `database.managed` and `networkPolicy.enabled`.
    pub postgres_network_policy: Option<NetworkPolicy>,
    /// The managed database's Service.
    pub postgres_service: Option<Service>,
    /// The managed database's StatefulSet.
    pub postgres_statefulset: Option<StatefulSet>,
    /// Managed Redis volume (only with `redis.managed.persistence`).
    pub redis_pvc: Option<PersistentVolumeClaim>,
    /// Managed Redis Deployment (absent with `redis.external`).
    pub redis_deployment: Option<Deployment>,
    /// Managed Redis Service.
    pub redis_service: Option<Service>,
    /// Managed Redis NetworkPolicy, with `networkPolicy.enabled`.
    pub redis_network_policy: Option<NetworkPolicy>,
    /// The support API's token Secret, with `supportApi.enabled` and no `supportApi.tokenSecret`:
    /// created once, never applied, so its token is never regenerated.
    pub support_api_secret: Option<Secret>,
    /// The chat-server NetworkPolicy, with `networkPolicy.enabled`.
    pub chat_network_policy: Option<NetworkPolicy>,
    /// The chat-server Deployment.
    pub chat_deployment: Deployment,
    /// The chat's Service.
    pub chat_service: Service,
    /// The support API's ClusterIP Service, with `supportApi.enabled`.
    pub support_api_service: Option<Service>,
    /// PodDisruptionBudget, only when replicas > 1.
    pub chat_pdb: Option<PodDisruptionBudget>,
    /// The chat's Ingress, with `spec.ingress`.
    pub chat_ingress: Option<Ingress>,
    /// The HorizontalPodAutoscaler of the ChatApp, with `spec.autoscaling`.
    pub chat_hpa: Option<HorizontalPodAutoscaler>,
    /// ServiceMonitor, with `monitoring.enabled` where the Prometheus Operator's CRDs exist.
    pub chat_service_monitor: Option<DynamicObject>,
    /// PrometheusRule, likewise.
    pub chat_prometheus_rule: Option<DynamicObject>,
    /// The locustfile, only with `loadTest.enabled`.
    pub locust_configmap: Option<ConfigMap>,
    /// Locust Deployment, only with `loadTest.enabled`.
    pub locust_deployment: Option<Deployment>,
    /// Locust web UI Service, only with `loadTest.enabled`.
    pub locust_service: Option<Service>,
    /// Service the Locust workers reach the master on, only with `loadTest.workers` > 0.
    pub locust_master_service: Option<Service>,
    /// Locust workers, only with `loadTest.workers` > 0.
    pub locust_worker_deployment: Option<Deployment>,
}

impl Desired {
    /// Every child as JSON, in apply order: what `operator render` prints and what the builder
    /// tests inspect (the controller applies the typed objects). Destructured without `..`, so a
    /// new child cannot be left out.
    pub fn to_json(&self) -> Vec<serde_json::Value> {
        let Self {
            postgres_secret,
            postgres_network_policy,
            postgres_service,
            postgres_statefulset,
            redis_pvc,
            redis_deployment,
            redis_service,
            redis_network_policy,
            support_api_secret,
            chat_network_policy,
            chat_deployment,
            chat_service,
            support_api_service,
            chat_pdb,
            chat_ingress,
            chat_hpa,
            chat_service_monitor,
            chat_prometheus_rule,
            locust_configmap,
            locust_deployment,
            locust_service,
            locust_master_service,
            locust_worker_deployment,
        } = self;
        fn json(obj: &impl serde::Serialize) -> serde_json::Value {
            serde_json::to_value(obj).expect("Kubernetes objects serialize to JSON")
        }
        [
            postgres_secret.as_ref().map(json),
            postgres_network_policy.as_ref().map(json),
            postgres_service.as_ref().map(json),
            postgres_statefulset.as_ref().map(json),
            redis_pvc.as_ref().map(json),
            redis_network_policy.as_ref().map(json),
            redis_deployment.as_ref().map(json),
            redis_service.as_ref().map(json),
            support_api_secret.as_ref().map(json),
            chat_network_policy.as_ref().map(json),
            Some(json(chat_deployment)),
            Some(json(chat_service)),
            support_api_service.as_ref().map(json),
            chat_pdb.as_ref().map(json),
            chat_ingress.as_ref().map(json),
            chat_hpa.as_ref().map(json),
            chat_service_monitor.as_ref().map(json),
            chat_prometheus_rule.as_ref().map(json),
            locust_configmap.as_ref().map(json),
            locust_deployment.as_ref().map(json),
            locust_service.as_ref().map(json),
            locust_master_service.as_ref().map(json),
            locust_worker_deployment.as_ref().map(json),
        ]
        .into_iter()
        .flatten()
        .collect()
    }

    /// Builds every child of `app` for a cluster without optional APIs (what `operator render`
    /// shows). The spec must have passed [`crate::controller::validate::validate`].
    pub fn build(app: &ChatApp) -> Self {
        Self::build_for(app, ClusterApis::default())
    }

    /// Builds every child of `app` for a cluster that serves the optional APIs in `caps`.
    pub fn build_for(app: &ChatApp, caps: ClusterApis) -> Self {
        let managed = app.spec.redis.external.is_none();
        let persistent = managed && redis::managed(app).persistence.is_some();
        let load_test = app.spec.load_test.enabled;
        let workers = load_test && app.spec.load_test.workers > 0;
        let fenced = app.spec.network_policy.enabled;
        let monitored = app.spec.monitoring.enabled && caps.monitoring;
        let storage = postgres::data_storage(app, caps.storage);
        let database = storage.is_some();
        let support = &app.spec.support_api;
        let own_token = support.enabled && support.token_secret.is_none();
        Self {
            postgres_secret: database.then(|| postgres_secret(app)),
            postgres_network_policy: (database && fenced).then(|| postgres_network_policy(app)),
            postgres_service: postgres_service(app),
            postgres_statefulset: storage.and_then(|s| postgres_statefulset(app, s)),
            redis_pvc: persistent.then(|| redis_pvc(app)),
            redis_deployment: managed.then(|| redis_deployment(app)),
            redis_service: managed.then(|| redis_service(app)),
            redis_network_policy: (managed && fenced).then(|| redis_network_policy(app)),
            support_api_secret: own_token.then(|| support_api_secret(app)),
            chat_network_policy: fenced.then(|| chat_network_policy(app)),
            chat_deployment: chat_deployment(app),
            chat_service: chat_service(app),
            support_api_service: support.enabled.then(|| support_api_service(app)),
            chat_pdb: (app.spec.replicas > 1).then(|| chat_pdb(app)),
            chat_ingress: chat_ingress(app),
            chat_hpa: chat_hpa(app, caps.custom_metrics),
            chat_service_monitor: monitored.then(|| chat_service_monitor(app)),
            chat_prometheus_rule: monitored.then(|| chat_prometheus_rule(app)),
            locust_configmap: load_test.then(|| locust_configmap(app)),
            locust_deployment: load_test.then(|| locust_deployment(app)),
            locust_service: load_test.then(|| locust_service(app)),
            locust_master_service: workers.then(|| locust_master_service(app)),
            locust_worker_deployment: workers.then(|| locust_worker_deployment(app)),
        }
    }
}

/// What the cluster offers that the builders depend on, found by the observe steps: optional
/// APIs (discovery), used only when there, and where the managed database's data can live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterApis {
    /// `custom.metrics.k8s.io` (e.g. prometheus-adapter): HPAs can use the chat's own metrics.
    pub custom_metrics: bool,
    /// The Prometheus Operator's `monitoring.coreos.com/v1` ServiceMonitor and PrometheusRule.
    pub monitoring: bool,
    /// Where the managed database's data lives (None: not looked up; the spec's choice).
    pub storage: Option<DataStorage>,
}

/// The parts of a ChatApp, each naming its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// chat-server pods and the chat Service.
    Chat,
    /// The managed Redis.
    Redis,
    /// The managed PostgreSQL.
    Postgres,
    /// The Locust master (standalone without workers) and its web UI.
    Locust,
    /// The Locust workers.
    LocustWorker,
    /// The support desk's gRPC API: its Service and token Secret (the pods are the chat's).
    SupportApi,
}

impl Component {
    fn label(self) -> &'static str {
        match self {
            Self::Chat => "chat-server",
            Self::Redis => "redis",
            Self::Postgres => "postgres",
            Self::Locust => "locust",
            Self::LocustWorker => "locust-worker",
            Self::SupportApi => "support-api",
        }
    }

    /// Name of this component's children: the chat keeps the ChatApp's own name.
    pub fn name(self, app: &ChatApp) -> String {
        match self {
            Self::Chat => app.name_any(),
            Self::Redis => format!("{}-redis", app.name_any()),
            // Short: the StatefulSet's controller-revision-hash label is NAME-pg-HASH (≤ 63).
            Self::Postgres => format!("{}-pg", app.name_any()),
            Self::Locust => format!("{}-locust", app.name_any()),
            Self::LocustWorker => format!("{}-locust-worker", app.name_any()),
            Self::SupportApi => format!("{}-support-api", app.name_any()),
        }
    }
}

/// Labels shared by every child of one ChatApp, whatever its component.
pub fn instance_labels(app: &ChatApp) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), "chatapp".to_owned()),
        ("app.kubernetes.io/instance".to_owned(), app.name_any()),
    ])
}

/// Labels that select one component's pods.
pub fn selector_labels(app: &ChatApp, component: Component) -> BTreeMap<String, String> {
    let mut labels = instance_labels(app);
    labels.insert(
        "app.kubernetes.io/component".to_owned(),
        component.label().to_owned(),
    );
    labels
}

/// `labels` as a label selector string, `k=v,k=v`, for list calls and `status.selector`.
pub fn label_selector(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The chat-server selector as a string, for `status.selector`.
pub fn selector_string(app: &ChatApp) -> String {
    label_selector(&selector_labels(app, Component::Chat))
}

/// Metadata of a child: name, namespace, labels and the controller owner reference.
///
/// A ChatApp without a uid (one read from a file by `operator render`) cannot own anything, so
/// its children get no owner reference; the controller refuses to apply such children
/// ([`crate::error::Error::MissingUid`]), as they would outlive their ChatApp.
pub fn child_meta(app: &ChatApp, component: Component) -> ObjectMeta {
    let mut labels = selector_labels(app, component);
    labels.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
    ObjectMeta {
        name: Some(component.name(app)),
        namespace: app.namespace(),
        labels: Some(labels),
        owner_references: owner_reference(app).map(|owner| vec![owner]),
        ..Default::default()
    }
}

/// Controller owner reference, so deleting the ChatApp garbage-collects the child; None without
/// a uid. kube's helper leaves `blockOwnerDeletion` unset: foreground deletion still works
/// without it, and it would need an extra `chatapps/finalizers` permission.
pub fn owner_reference(app: &ChatApp) -> Option<OwnerReference> {
    app.controller_owner_ref(&())
}

/// Rolling update that adds one new pod before removing an old one, so capacity never drops.
pub fn surge_one_at_a_time() -> DeploymentStrategy {
    DeploymentStrategy {
        type_: Some("RollingUpdate".into()),
        rolling_update: Some(RollingUpdateDeployment {
            max_surge: Some(IntOrString::Int(1)),
            max_unavailable: Some(IntOrString::Int(0)),
        }),
    }
}

/// Pod-level security for the Pod Security "restricted" profile.
pub fn pod_security(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Container-level security: restricted profile plus a read-only root filesystem.
pub fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        privileged: Some(false),
        read_only_root_filesystem: Some(true),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            ..Default::default()
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// FNV-1a 64-bit: a stable hash (unlike `DefaultHasher`, fixed across Rust releases).
pub fn stable_hash(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

#[cfg(test)]
pub(crate) mod tests;
