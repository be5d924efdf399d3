//! The managed Redis: Deployment, Service and optional PersistentVolumeClaim.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, ExecAction, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PodSpec, PodTemplateSpec, Probe,
    Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Component, REDIS_PORT, child_meta, container_security, pod_security, selector_labels};
use crate::crd::{ChatApp, ManagedRedis};

/// uid of the redis user in the official images.
const REDIS_UID: i64 = 999;

/// The managed Redis settings, defaulted when `spec.redis` names neither kind.
pub fn managed(app: &ChatApp) -> ManagedRedis {
    app.spec.redis.managed.clone().unwrap_or_default()
}

/// Share of the container's memory limit Redis may fill with data (`--maxmemory`), in percent.
/// The rest is Redis's own overhead beyond `used_memory` (allocator fragmentation, client and
/// replication buffers, the fork of an AOF rewrite), so Redis refuses writes before the kubelet
/// OOM-kills it.
pub const MAXMEMORY_PERCENT: u64 = 80;

/// `--maxmemory` in bytes: [`MAXMEMORY_PERCENT`] of the memory limit; 0 (no limit) without one.
pub fn redis_maxmemory(redis: &ManagedRedis) -> u64 {
    let limit = redis
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref()?.get("memory"))
        .and_then(|q| quantity_bytes(&q.0));
    limit.map_or(0, |bytes| bytes / 100 * MAXMEMORY_PERCENT)
}

/// Bytes in a Kubernetes memory quantity (`512Mi`, `1G`, `1.5Gi`, `1e9`, `1000`); `None` when it
/// is not one. Fractions of a byte are dropped.
pub fn quantity_bytes(q: &str) -> Option<u64> {
    const SUFFIXES: [(&str, f64); 13] = [
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let q = q.trim();
    // Binary suffixes first (`Mi` before `M`); `1e3` ends in a digit and is an exponent.
    let (number, factor) = SUFFIXES
        .iter()
        .find_map(|(suffix, factor)| Some((q.strip_suffix(suffix)?, *factor)))
        .unwrap_or((q, 1.0));
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some((value * factor) as u64)
}

fn redis_container(app: &ChatApp, redis: &ManagedRedis) -> Container {
    // noeviction: the chat-server refuses to be ready on a Redis that may evict (eviction would
    // take a room's history, offsets and epoch apart); at maxmemory it refuses writes instead.
    let mut args = vec![
        "redis-server".to_owned(),
        "--dir".into(),
        "/data".into(),
        "--maxmemory-policy".into(),
        "noeviction".into(),
        "--maxmemory".into(),
        redis_maxmemory(redis).to_string(),
    ];
    if redis.persistence.is_some() {
        args.extend(["--appendonly".into(), "yes".into()]);
    } else {
        // Nothing survives the pod anyway: skip snapshot writes.
        args.extend([
            "--save".into(),
            String::new(),
            "--appendonly".into(),
            "no".into(),
        ]);
    }
    Container {
        name: "redis".into(),
        image: Some(redis.image.clone()),
        image_pull_policy: Some(app.spec.image_pull_policy.as_str().into()),
        args: Some(args),
        ports: Some(vec![ContainerPort {
            name: Some("redis".into()),
            container_port: REDIS_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        readiness_probe: Some(Probe {
            exec: Some(ExecAction {
                command: Some(vec!["redis-cli".into(), "ping".into()]),
            }),
            period_seconds: Some(5),
            timeout_seconds: Some(2),
            ..Default::default()
        }),
        liveness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String("redis".into()),
                ..Default::default()
            }),
            period_seconds: Some(10),
            ..Default::default()
        }),
        resources: redis.resources.clone(),
        security_context: Some(container_security()),
        volume_mounts: Some(vec![VolumeMount {
            name: "data".into(),
            mount_path: "/data".into(),
            ..Default::default()
        }]),
        ..Default::default()
    }
}

/// The Redis Deployment: one pod; `Recreate` with a volume, so two pods never share the claim.
pub fn redis_deployment(app: &ChatApp) -> Deployment {
    let redis = managed(app);
    let labels = selector_labels(app, Component::Redis);
    let data = match redis.persistence {
        Some(_) => Volume {
            name: "data".into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: Component::Redis.name(app),
                read_only: Some(false),
            }),
            ..Default::default()
        },
        None => Volume {
            name: "data".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        },
    };
    let strategy = if redis.persistence.is_some() {
        "Recreate"
    } else {
        "RollingUpdate"
    };
    Deployment {
        metadata: child_meta(app, Component::Redis),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            strategy: Some(DeploymentStrategy {
                type_: Some(strategy.into()),
                rolling_update: None,
            }),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![redis_container(app, &redis)],
                    security_context: Some(pod_security(REDIS_UID)),
                    automount_service_account_token: Some(false),
                    // No per-Service variables (a chat named chatapp would get CHATAPP_REDIS_PORT & co).
                    enable_service_links: Some(false),
                    volumes: Some(vec![data]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The ClusterIP Service the chat servers reach Redis on.
pub fn redis_service(app: &ChatApp) -> Service {
    Service {
        metadata: child_meta(app, Component::Redis),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(app, Component::Redis)),
            ports: Some(vec![ServicePort {
                name: Some("redis".into()),
                port: REDIS_PORT,
                target_port: Some(IntOrString::String("redis".into())),
                protocol: Some("TCP".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The Redis data volume claim (only built with `redis.managed.persistence`).
pub fn redis_pvc(app: &ChatApp) -> PersistentVolumeClaim {
    let persistence = managed(app).persistence.unwrap_or_else(|| {
        serde_json::from_value(serde_json::json!({})).expect("persistence has defaults")
    });
    PersistentVolumeClaim {
        metadata: child_meta(app, Component::Redis),
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: persistence.storage_class_name,
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([("storage".to_owned(), persistence.size)])),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}
