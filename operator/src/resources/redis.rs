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

fn redis_container(app: &ChatApp, redis: &ManagedRedis) -> Container {
    let mut args = vec!["redis-server".to_owned(), "--dir".into(), "/data".into()];
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
