//! The `ChatApp` custom resource (`chatapp.dev/v1alpha1`): its spec, status and schema.
//!
//! Every field's `///` line becomes `kubectl explain` text. Ranges and enums live in the schema, and
//! cross-field rules are CEL `x-kubernetes-validations`, so the API server refuses a bad spec with a
//! message that names the field. [`crate::controller::validate`] repeats the rules for the controller, which
//! must not trust that the installed CRD is the newest one.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Affinity, ResourceRequirements, Toleration, TopologySpreadConstraint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

mod chat;
mod optional;
mod support;

pub use chat::{ChatSettings, CookieSecure, ORIGINS_RULE};
pub use optional::{AutoscalingSpec, IngressSpec, MonitoringSpec};
pub use support::{DEFAULT_SUPPORT_API_PORT, SUPPORT_API_TOKEN_KEY, SupportApiSpec};

/// Image the chat server runs when `spec.image` is not given.
/// Every image default is tagged with the workspace version, which `.github/workflows/release.yml`
/// pushes on the tag `v<version>`.
pub const DEFAULT_CHAT_IMAGE: &str = concat!(
    "ghcr.io/chatapp-dev/chat-server:",
    env!("CARGO_PKG_VERSION")
);
/// Image of a managed Redis when `spec.redis.managed.image` is not given.
pub const DEFAULT_REDIS_IMAGE: &str = "docker.io/library/redis:7.4.2-alpine";
/// Image of a managed PostgreSQL when `spec.database.managed.image` is not given (alpine: uid 70).
pub const DEFAULT_POSTGRES_IMAGE: &str = "docker.io/library/postgres:17.6-alpine";
/// Image of the Locust load generator when `spec.loadTest.image` is not given.
pub const DEFAULT_LOCUST_IMAGE: &str =
    concat!("ghcr.io/chatapp-dev/locust:", env!("CARGO_PKG_VERSION"));

/// A chat: chat-server pods, their Service, a Redis (managed or external) and optionally Locust.
#[derive(CustomResource, KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[kube(
    group = "chatapp.dev",
    version = "v1alpha1",
    kind = "ChatApp",
    plural = "chatapps",
    shortname = "chat",
    namespaced,
    status = "ChatAppStatus",
    derive = "PartialEq",
    doc = "A real-time chat: chat-server replicas sharing one Redis, exposed by a Service.",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.replicas",
        label_selector_path = ".status.selector"
    ),
    printcolumn(name = "Replicas", type_ = "integer", json_path = ".spec.replicas"),
    printcolumn(name = "Ready", type_ = "integer", json_path = ".status.readyReplicas"),
    printcolumn(name = "NodePort", type_ = "integer", json_path = ".status.nodePort"),
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url", priority = "1"),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].reason"
    ),
    printcolumn(
        name = "Durable",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Durable\")].status"
    ),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new(
        "size(self.metadata.name) <= 48 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')"
    )
    .message("metadata.name must be a DNS label of at most 48 characters starting with a letter (children add suffixes such as -locust-master)")
)]
#[serde(rename_all = "camelCase")]
pub struct ChatAppSpec {
    /// Number of chat-server pods (0 to 100). 0 stops the chat but keeps Redis and the Service.
    #[serde(default = "default_replicas")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,

    /// Container image of the chat server.
    #[serde(default = "default_chat_image")]
    #[schemars(length(min = 1))]
    pub image: String,

    /// When the kubelet pulls the images: Always, IfNotPresent or Never.
    #[serde(default)]
    pub image_pull_policy: PullPolicy,

    /// CPU and memory requests/limits of each chat-server container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Node labels the chat-server pods must run on (pod spec nodeSelector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_selector: Option<BTreeMap<String, String>>,

    /// Tolerations of the chat-server pods (pod spec tolerations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerations: Option<Vec<Toleration>>,

    /// Affinity rules of the chat-server pods (pod spec affinity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub affinity: Option<Affinity>,

    /// How chat-server pods spread over zones or nodes (pod spec topologySpreadConstraints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology_spread_constraints: Option<Vec<TopologySpreadConstraint>>,

    /// How the chat is exposed: the Service in front of the chat-server pods.
    #[serde(default)]
    pub service: ServiceSpec,

    /// Where messages are stored: a Redis run by the operator (managed, the default) or an
    /// existing one (external).
    #[serde(default)]
    pub redis: RedisSpec,

    /// PostgreSQL as the chat's system of record (durable mode: an acknowledged message is
    /// committed). Unset: Redis-only mode, where messages are durable only as far as Redis is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSpec>,

    /// Settings passed to every chat-server as CHATAPP_* environment variables.
    #[serde(default)]
    pub chat: ChatSettings,

    /// Stop reconciling this chat (for manual surgery on its children). Status keeps its last
    /// values, with Progressing=False reason Paused.
    #[serde(default)]
    pub paused: bool,

    /// A Locust load generator pointed at this chat, with its web UI on a NodePort.
    #[serde(default)]
    pub load_test: LoadTestSpec,

    /// NetworkPolicies around the chat: the managed Redis accepts only this chat's pods, and the
    /// chat pods accept traffic on the chat port only.
    #[serde(default)]
    pub network_policy: NetworkPolicySpec,

    /// An Ingress (networking.k8s.io/v1) to the chat's Service, carrying its WebSockets; the
    /// NodePort Service stays. With a host, the chat's public URL is http(s)://host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,

    /// Prometheus Operator objects for this chat (a ServiceMonitor and a PrometheusRule), made
    /// only where the cluster serves monitoring.coreos.com/v1; elsewhere the chat runs without.
    #[serde(default)]
    pub monitoring: MonitoringSpec,

    /// A HorizontalPodAutoscaler (autoscaling/v2) scaling this ChatApp through its scale
    /// subresource: it then owns spec.replicas, and the operator follows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<AutoscalingSpec>,

    /// The support desk's server-to-server gRPC API, for a platform that opens support
    /// conversations on behalf of its clients: off unless enabled.
    #[serde(default)]
    pub support_api: SupportApiSpec,
}

/// Whether the operator fences the chat's pods with NetworkPolicies.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NetworkPolicySpec {
    /// Create the NetworkPolicies (the default). They take effect where the cluster's network
    /// plugin enforces NetworkPolicy; false removes them.
    #[serde(default = "d_true")]
    pub enabled: bool,
}

impl Default for NetworkPolicySpec {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// When the kubelet pulls an image.
#[derive(
    schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum PullPolicy {
    /// Pull on every pod start.
    Always,
    /// Pull only when the node does not have the image.
    #[default]
    IfNotPresent,
    /// Never pull: the image must be on the node (kind/minikube image loading).
    Never,
}

impl PullPolicy {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Always => "Always",
            Self::IfNotPresent => "IfNotPresent",
            Self::Never => "Never",
        }
    }
}

/// The Service in front of the chat-server pods.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.nodePort) || self.type != 'ClusterIP'")
    .message("service.nodePort needs service.type NodePort or LoadBalancer")
    .field_path(".nodePort"))]
pub struct ServiceSpec {
    /// Service type: ClusterIP, NodePort (the default) or LoadBalancer.
    #[serde(rename = "type", default)]
    pub type_: ServiceType,

    /// Node port (30000-32767) for NodePort and LoadBalancer types; allocated by Kubernetes when
    /// unset. The default ChatApp uses 30222.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub node_port: Option<i32>,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        Self {
            type_: ServiceType::NodePort,
            node_port: None,
        }
    }
}

/// A Kubernetes Service type.
#[derive(
    schemars::JsonSchema, Deserialize, Serialize, Clone, Copy, Debug, Default, PartialEq, Eq,
)]
pub enum ServiceType {
    /// Reachable inside the cluster only.
    ClusterIP,
    /// Also reachable on every node's IP at the node port.
    #[default]
    NodePort,
    /// Also exposed by the cloud's load balancer.
    LoadBalancer,
}

impl ServiceType {
    /// The Kubernetes spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClusterIP => "ClusterIP",
            Self::NodePort => "NodePort",
            Self::LoadBalancer => "LoadBalancer",
        }
    }
}

/// Where the chat keeps its messages. Set at most one of managed and external; with neither, the
/// operator runs a managed Redis with default settings.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!(has(self.managed) && has(self.external))")
    .message("redis.managed and redis.external are mutually exclusive: set one of them"))]
pub struct RedisSpec {
    /// A Redis Deployment run by the operator for this chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedRedis>,

    /// An existing Redis, reached with a URL read from a Secret. Switching a running chat here is
    /// safe: nothing changes until the Secret and key exist (Degraded RedisSecretMissing), and the
    /// managed Redis is removed only once every chat pod is ready on this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalRedis>,
}

/// A Redis run by the operator (one pod, Recreate strategy when it has a volume).
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedRedis {
    /// Redis container image (runs as uid 999).
    #[serde(default = "default_redis_image")]
    #[schemars(length(min = 1))]
    pub image: String,

    /// CPU and memory requests/limits of the Redis container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Keep the data on a PersistentVolumeClaim (with appendonly yes). Without it, data lives in
    /// an emptyDir and is lost when the Redis pod is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<Persistence>,
}

impl Default for ManagedRedis {
    fn default() -> Self {
        Self {
            image: default_redis_image(),
            resources: None,
            persistence: None,
        }
    }
}

/// The PersistentVolumeClaim of a managed Redis.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Persistence {
    /// Requested volume size, e.g. 1Gi.
    #[serde(default = "default_volume_size")]
    pub size: Quantity,

    /// StorageClass of the claim; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

/// An existing Redis. The chat-server reads its URL from the Secret at start.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalRedis {
    /// The Secret key holding the URL, `redis://[:password@]host:port[/db]` (with cluster,
    /// comma-separated seed node URLs).
    pub url_secret_ref: SecretKeyRef,

    /// The URL names a Redis Cluster (CHATAPP_REDIS_CLUSTER): each room's keys in one slot, its
    /// events on sharded pub/sub; with or without spec.database. The managed Redis is always a
    /// single node.
    #[serde(default)]
    pub cluster: bool,
}

/// A key of a Secret in the ChatApp's namespace.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,

    /// Key inside the Secret.
    #[serde(default = "default_secret_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// The chat's PostgreSQL and the durable mode's settings (CHATAPP_DATABASE_*, CHATAPP_RETENTION_*).
/// Set exactly one of managed and external.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("has(self.managed) != has(self.external)")
    .message("set exactly one of database.managed and database.external"))]
pub struct DatabaseSpec {
    /// A PostgreSQL run by the operator: a one-pod StatefulSet NAME-pg whose data claim
    /// (data-NAME-pg-0) is kept when the ChatApp is deleted unless deleteDataWithChatApp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedDatabase>,

    /// An existing PostgreSQL (for example a CloudNativePG Cluster), reached with a URL read from
    /// a Secret. Nothing changes until the Secret and key exist (Degraded DatabaseSecretMissing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalDatabase>,

    /// Connections to PostgreSQL per chat-server replica (CHATAPP_DATABASE_MAX_CONNECTIONS).
    #[serde(default = "d_db_connections")]
    #[schemars(range(min = 2, max = 1000))]
    pub max_connections: i32,

    /// Delete messages older than this many days; 0 keeps them forever (CHATAPP_RETENTION_DAYS).
    #[serde(default)]
    #[schemars(range(min = 0, max = 36_500))]
    pub retention_days: i32,

    /// Keep at most this many messages per room; 0 keeps all (CHATAPP_RETENTION_MESSAGES).
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub retention_messages: i64,
}

/// A PostgreSQL run by the operator for this chat (one pod, no replication: a database for one
/// chat, not a highly available one; use external with CloudNativePG for that).
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ManagedDatabase {
    /// PostgreSQL container image; an official postgres alpine image (runs as uid 70).
    #[serde(default = "default_postgres_image")]
    #[schemars(length(min = 1))]
    pub image: String,

    /// CPU and memory requests/limits of the PostgreSQL container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Where the data lives: a PersistentVolumeClaim (the default) or, with ephemeral, an
    /// emptyDir.
    #[serde(default)]
    pub storage: DatabaseStorage,

    /// Delete the data's PersistentVolumeClaim when the ChatApp is deleted. false (the default)
    /// keeps it (StatefulSet persistentVolumeClaimRetentionPolicy whenDeleted Retain): deleting
    /// a ChatApp never loses its messages by surprise, and a ChatApp of the same name finds them.
    #[serde(default)]
    pub delete_data_with_chat_app: bool,
}

impl Default for ManagedDatabase {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

/// The volume of a managed PostgreSQL.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseStorage {
    /// Requested volume size, e.g. 1Gi. The claim is made once: a later change is refused by the
    /// API server (StatefulSet claim templates are immutable).
    #[serde(default = "default_volume_size")]
    pub size: Quantity,

    /// StorageClass of the claim; the cluster's default class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,

    /// Keep the data in an emptyDir instead of a claim: for clusters without storage. Messages
    /// are then NOT durable (lost with the pod), and the ChatApp's Ready message says so.
    #[serde(default)]
    pub ephemeral: bool,
}

impl Default for DatabaseStorage {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every field has a default")
    }
}

/// An existing PostgreSQL. The chat-server reads its URL from the Secret at start; the URL is
/// never copied into the ChatApp's spec or status.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalDatabase {
    /// Name of the Secret holding the URL, in the ChatApp's namespace (a CloudNativePG Cluster
    /// named pg writes pg-app).
    #[schemars(length(min = 1, max = 253))]
    pub secret_name: String,

    /// Key holding `postgres://user:password@host:port/db`; `uri`, as CloudNativePG writes it.
    #[serde(default = "default_database_key")]
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
}

/// A Locust load generator: a master with its web UI, standalone or with workers.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.spawnRate <= self.users")
    .message("loadTest.spawnRate must not exceed loadTest.users")
    .field_path(".spawnRate"))]
pub struct LoadTestSpec {
    /// Deploy Locust for this chat.
    #[serde(default)]
    pub enabled: bool,

    /// Number of simulated users (the web UI's default).
    #[serde(default = "d_users")]
    #[schemars(range(min = 1, max = 100_000))]
    pub users: i32,

    /// Users started per second (the web UI's default).
    #[serde(default = "d_spawn_rate")]
    #[schemars(range(min = 1, max = 10_000))]
    pub spawn_rate: i32,

    /// Start the test as soon as Locust is up instead of waiting for the web UI's Start button.
    #[serde(default)]
    pub autostart: bool,

    /// Locust worker pods. 0 (the default) runs Locust standalone: one pod serves the web UI and
    /// runs every user. With workers, that pod is the master: it serves the UI and spreads the
    /// users over the workers, for more load than one Python process can make.
    #[serde(default)]
    #[schemars(range(min = 0, max = 50))]
    pub workers: i32,

    /// Locust image; it needs the websocket-client package (images/locust/Dockerfile).
    #[serde(default = "default_locust_image")]
    #[schemars(length(min = 1))]
    pub image: String,

    /// Node port (30000-32767) of the Locust web UI; allocated by Kubernetes when unset. The
    /// default ChatApp uses 30223.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 30000, max = 32767))]
    pub node_port: Option<i32>,
}

impl Default for LoadTestSpec {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every loadTest field has a default")
    }
}

/// What the operator observed, written only when it changes.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ChatAppStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,

    /// Chat-server pods that exist (the scale subresource's status replicas).
    #[serde(default)]
    pub replicas: i32,

    /// Chat-server pods that pass their readiness probe.
    #[serde(default)]
    pub ready_replicas: i32,

    /// Label selector of the chat-server pods (for the scale subresource and HPAs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,

    /// Node port of the chat's Service, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_port: Option<i32>,

    /// Where the chat is reached: its public URL (chat.publicUrl or the Ingress's), else the load
    /// balancer's address, else the in-cluster Service URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,

    /// Node port of the Locust web UI, when loadTest is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_test_node_port: Option<i32>,

    /// Ready, Progressing, Degraded and Durable (whether acknowledged messages survive the loss
    /// of any pod), with reasons and messages for people.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

fn default_replicas() -> i32 {
    2
}
fn default_chat_image() -> String {
    DEFAULT_CHAT_IMAGE.into()
}
fn default_redis_image() -> String {
    DEFAULT_REDIS_IMAGE.into()
}
fn default_locust_image() -> String {
    DEFAULT_LOCUST_IMAGE.into()
}
fn default_volume_size() -> Quantity {
    Quantity("1Gi".into())
}
fn default_secret_key() -> String {
    "url".into()
}
fn default_postgres_image() -> String {
    DEFAULT_POSTGRES_IMAGE.into()
}
fn default_database_key() -> String {
    "uri".into()
}
fn d_db_connections() -> i32 {
    8
}
fn d_true() -> bool {
    true
}
fn d_users() -> i32 {
    50
}
fn d_spawn_rate() -> i32 {
    5
}

impl ChatAppSpec {
    /// A spec with every default, as an empty `spec: {}` would be defaulted by the API server.
    pub fn defaulted() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every spec field has a default")
    }
}

#[cfg(test)]
mod tests;
