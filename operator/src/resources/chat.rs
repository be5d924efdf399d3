//! The chat-server Deployment, its Service and PodDisruptionBudget.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, Lifecycle,
    LifecycleHandler, PodSpec, PodTemplateSpec, Probe, SecretKeySelector, Service, ServicePort,
    ServiceSpec, SleepAction, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::surge_one_at_a_time;
use super::{CHAT_PORT, Component, REDIS_PORT, child_meta, container_security, pod_security};
use super::{GRPC_PORT_NAME, selector_labels, stable_hash, support_api_token_ref};
use crate::crd::{ChatApp, ServiceType};

/// uid of the chat-server image (images/chat-server/Dockerfile, docs/configuration.md).
const CHAT_UID: i64 = 10001;
/// The chat server's liveness endpoint: 200 while the process serves, Redis or not.
pub const HEALTHZ: &str = "/healthz";
/// The chat server's readiness endpoint: 200 only when it can serve chats (Redis reachable).
pub const READYZ: &str = "/readyz";
/// Annotation on the pod template that changes whenever the server's settings do.
pub const CONFIG_HASH_ANNOTATION: &str = "chatapp.dev/config-hash";

fn env(name: &str, value: impl ToString) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.to_string()),
        ..Default::default()
    }
}

/// The chat server's environment (docs/configuration.md), in a stable order.
pub fn chat_env(app: &ChatApp) -> Vec<EnvVar> {
    let c = &app.spec.chat;
    let redis_url = match &app.spec.redis.external {
        Some(external) => secret_env(
            "CHATAPP_REDIS_URL",
            &external.url_secret_ref.name,
            &external.url_secret_ref.key,
        ),
        None => env(
            "CHATAPP_REDIS_URL",
            format!("redis://{}:{REDIS_PORT}", Component::Redis.name(app)),
        ),
    };
    let mut vars = vec![
        env("CHATAPP_LISTEN", format!("0.0.0.0:{CHAT_PORT}")),
        redis_url,
        env("CHATAPP_REDIS_PREFIX", &c.redis_prefix),
        env(
            "CHATAPP_REDIS_CLUSTER",
            app.spec.redis.external.as_ref().is_some_and(|e| e.cluster),
        ),
        env("CHATAPP_HISTORY_LEN", c.history_len),
        env("CHATAPP_MAX_CONTENT_BYTES", c.max_content_bytes),
        env("CHATAPP_MAX_NAME_CHARS", c.max_name_chars),
        env("CHATAPP_MAX_TOPIC_CHARS", c.max_topic_chars),
        env("CHATAPP_MAX_FRAME_BYTES", c.max_frame_bytes),
        env("CHATAPP_MAX_ROOMS", c.max_rooms),
        env("CHATAPP_MAX_CONNECTIONS", c.max_connections),
        env("CHATAPP_SEND_RATE", c.send_rate),
        env("CHATAPP_SEND_BURST", c.send_burst),
        env("CHATAPP_OUTBOUND_QUEUE", c.outbound_queue),
        env("CHATAPP_OUTBOUND_QUEUE_BYTES", c.outbound_queue_bytes),
        env("CHATAPP_WRITE_TIMEOUT_SECS", c.write_timeout_secs),
        env("CHATAPP_HELLO_TIMEOUT_SECS", c.hello_timeout_secs),
        env("CHATAPP_REQUEST_RATE", c.request_rate),
        env("CHATAPP_REQUEST_BURST", c.request_burst),
        env("CHATAPP_REPLY_BYTES_PER_SEC", c.reply_bytes_per_sec),
        env(
            "CHATAPP_MAX_CONNECTIONS_PER_ADDRESS",
            c.max_connections_per_address,
        ),
        env("CHATAPP_ADDRESS_SEND_RATE", c.address_send_rate),
        env("CHATAPP_ADDRESS_SEND_BURST", c.address_send_burst),
        env(
            "CHATAPP_ROOMS_PER_ADDRESS_PER_HOUR",
            c.rooms_per_address_per_hour,
        ),
        env("CHATAPP_GENERAL_CLEAR_MINS", c.general_clear_minutes),
        env("CHATAPP_ALLOWED_ORIGINS", c.allowed_origins.join(",")),
        env("CHATAPP_ADMINS", c.admins.join(",")),
        env("CHATAPP_GUEST_POSTING", c.guest_posting),
        env("CHATAPP_SUPPORT_AGENTS", c.support_agents.join(",")),
        env("CHATAPP_GUEST_SUPPORT", c.guest_support),
        env("CHATAPP_COOKIE_SECURE", c.cookie_secure.as_str()),
        env("CHATAPP_SESSION_TTL_HOURS", c.session_ttl_hours),
        env("CHATAPP_PING_INTERVAL_SECS", c.ping_interval_secs),
        env("CHATAPP_HEADER_TIMEOUT_SECS", c.header_timeout_secs),
        env("CHATAPP_PRESENCE_TTL_SECS", c.presence_ttl_secs),
        env("CHATAPP_DRAIN_DELAY_SECS", c.drain_delay_secs),
        env("CHATAPP_SHUTDOWN_GRACE_SECS", c.shutdown_grace_secs),
        env("CHATAPP_LOG_FORMAT", "json"),
        env("RUST_LOG", &c.log_level),
    ];
    // Unset is a setting of its own for these two (the server has no empty value for them).
    if let Some(header) = &c.client_address_header {
        vars.push(env("CHATAPP_CLIENT_ADDRESS_HEADER", header));
    }
    if let Some(url) = public_url(app) {
        vars.push(env("CHATAPP_PUBLIC_URL", url));
    }
    // gRPC is off in the server unless it has an address to listen on (and then needs its token).
    if let Some((secret, key)) = support_api_token_ref(app) {
        let port = app.spec.support_api.port;
        vars.extend([
            env("CHATAPP_GRPC_LISTEN", format!("0.0.0.0:{port}")),
            secret_env("CHATAPP_SUPPORT_API_TOKEN", &secret, key),
        ]);
    }
    // Durable mode only: without a database the server would ignore the rest.
    if let Some(db) = &app.spec.database {
        // Both modes read the URL from a Secret's key: the managed one's Secret has `uri` too.
        let (secret, key) = match &db.external {
            Some(external) => (external.secret_name.clone(), external.key.as_str()),
            None => (Component::Postgres.name(app), "uri"),
        };
        vars.extend([
            secret_env("CHATAPP_DATABASE_URL", &secret, key),
            env("CHATAPP_DATABASE_MAX_CONNECTIONS", db.max_connections),
            env("CHATAPP_RETENTION_DAYS", db.retention_days),
            env("CHATAPP_RETENTION_MESSAGES", db.retention_messages),
        ]);
    }
    vars
}

/// A variable read from a Secret's key by the kubelet, so its value (a URL with a password) is
/// never in the spec, the status or the Deployment.
fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.into(),
                key: key.into(),
                optional: Some(false),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The URL people open, whose origin the server accepts from browsers: `spec.chat.publicUrl`, or
/// else the Ingress's `http(s)://host`. `None` for a chat reached through node addresses, which
/// the operator cannot know (it reads no Nodes): browsers are then accepted on loopback pages
/// only (port-forward, kind port mappings) until `publicUrl` is set.
pub fn public_url(app: &ChatApp) -> Option<String> {
    (app.spec.chat.public_url.clone()).or_else(|| super::ingress_url(app))
}

/// Hash of everything the server reads at start, for the pod template annotation. The env
/// already rolls pods when it changes; the hash makes the reason visible and also covers a
/// switch of the Secret reference.
pub fn config_hash(app: &ChatApp) -> String {
    let env = serde_json::to_vec(&chat_env(app)).expect("env serializes");
    stable_hash(&env)
}

fn http_probe(path: &str, period: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(period),
        failure_threshold: Some(failures),
        timeout_seconds: Some(2),
        ..Default::default()
    }
}

/// The chat port, and the support API's `grpc` port while it is on.
fn container_ports(app: &ChatApp) -> Vec<ContainerPort> {
    let port = |name: &str, container_port: i32| ContainerPort {
        name: Some(name.into()),
        container_port,
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    let support = &app.spec.support_api;
    let mut ports = vec![port("http", CHAT_PORT)];
    if support.enabled {
        ports.push(port(GRPC_PORT_NAME, support.port));
    }
    ports
}

fn chat_container(app: &ChatApp) -> Container {
    let drain = i64::from(app.spec.chat.drain_delay_secs);
    Container {
        name: "chat-server".into(),
        image: Some(app.spec.image.clone()),
        image_pull_policy: Some(app.spec.image_pull_policy.as_str().into()),
        env: Some(chat_env(app)),
        ports: Some(container_ports(app)),
        // A server waiting for Redis is alive but not ready: /healthz answers without Redis,
        // /readyz only with it. So only /readyz gates traffic, and nothing that needs Redis can
        // restart the pod (a fresh install starts the chat before its Redis is up).
        startup_probe: Some(http_probe(HEALTHZ, 2, 30)),
        liveness_probe: Some(http_probe(HEALTHZ, 10, 3)),
        readiness_probe: Some(http_probe(READYZ, 5, 2)),
        // Endpoints drop a terminating pod at once, but proxies and load balancers lag: keep
        // serving for the drain delay before the server sees SIGTERM and drains on its own.
        lifecycle: (drain > 0).then(|| Lifecycle {
            pre_stop: Some(LifecycleHandler {
                sleep: Some(SleepAction { seconds: drain }),
                ..Default::default()
            }),
            ..Default::default()
        }),
        resources: app.spec.resources.clone(),
        security_context: Some(container_security()),
        volume_mounts: Some(vec![VolumeMount {
            name: "tmp".into(),
            mount_path: "/tmp".into(),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

/// Seconds the kubelet waits after the preStop hook starts: preStop sleep + server drain +
/// shutdown grace, plus slack for the process to exit.
pub fn termination_grace(app: &ChatApp) -> i64 {
    let c = &app.spec.chat;
    2 * i64::from(c.drain_delay_secs) + i64::from(c.shutdown_grace_secs) + 5
}

/// The chat-server Deployment.
pub fn chat_deployment(app: &ChatApp) -> Deployment {
    let labels = selector_labels(app, Component::Chat);
    let spec = &app.spec;
    Deployment {
        metadata: child_meta(app, Component::Chat),
        spec: Some(DeploymentSpec {
            replicas: Some(spec.replicas),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            strategy: Some(surge_one_at_a_time()),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(BTreeMap::from([(
                        CONFIG_HASH_ANNOTATION.to_owned(),
                        config_hash(app),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![chat_container(app)],
                    security_context: Some(pod_security(CHAT_UID)),
                    automount_service_account_token: Some(false),
                    // No per-Service variables (a chat named chatapp would get CHATAPP_REDIS_PORT & co).
                    enable_service_links: Some(false),
                    termination_grace_period_seconds: Some(termination_grace(app)),
                    node_selector: spec.node_selector.clone(),
                    tolerations: spec.tolerations.clone(),
                    affinity: spec.affinity.clone(),
                    topology_spread_constraints: spec.topology_spread_constraints.clone(),
                    volumes: Some(vec![Volume {
                        name: "tmp".into(),
                        empty_dir: Some(EmptyDirVolumeSource::default()),
                        ..Default::default()
                    }]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Service in front of the chat-server pods.
pub fn chat_service(app: &ChatApp) -> Service {
    let svc = &app.spec.service;
    Service {
        metadata: child_meta(app, Component::Chat),
        spec: Some(ServiceSpec {
            type_: Some(svc.type_.as_str().into()),
            selector: Some(selector_labels(app, Component::Chat)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: CHAT_PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                node_port: svc
                    .node_port
                    .filter(|_| svc.type_ != ServiceType::ClusterIP),
                ..Default::default()
            }]),
            // Keep the client's address, which the per-address limits count by: with Cluster, a
            // node forwarding to a pod elsewhere replaces it with its own. The price: a node
            // answers on the node port only while it runs a ready chat pod.
            external_traffic_policy: (svc.type_ != ServiceType::ClusterIP)
                .then(|| "Local".to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// At most one chat-server pod down at a time during voluntary disruptions (node drains).
pub fn chat_pdb(app: &ChatApp) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: child_meta(app, Component::Chat),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector_labels(app, Component::Chat)),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
