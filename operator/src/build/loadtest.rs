//! Locust (issue 4): a standalone Locust pod pointed at the chat's Service, its web UI Service and
//! the ConfigMap holding the locustfile. The image (images/locust/Dockerfile) and the locustfile
//! belong to the loadtest crate; this module only deploys them.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar,
    HTTPGetAction, PodSpec, PodTemplateSpec, Probe, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{CHAT_PORT, Component, LOCUST_PORT, child_meta, container_security, pod_security};
use super::{selector_labels, stable_hash};
use crate::crd::ChatApp;

/// The locustfile shipped with the operator (loadtest/locustfile.py).
pub const LOCUSTFILE: &str = include_str!("../../../loadtest/locustfile.py");
/// uid of the locust user in images/locust/Dockerfile.
const LOCUST_UID: i64 = 1000;
/// Where the ConfigMap is mounted (images/locust/Dockerfile expects this path).
const MOUNT: &str = "/mnt/locust";

/// The ConfigMap with the locustfile.
pub fn locust_configmap(app: &ChatApp) -> ConfigMap {
    ConfigMap {
        metadata: child_meta(app, Component::Locust),
        data: Some(BTreeMap::from([(
            "locustfile.py".to_owned(),
            LOCUSTFILE.to_owned(),
        )])),
        ..Default::default()
    }
}

/// Locust's command line: standalone (web UI and users in one process) against the chat Service.
pub fn locust_args(app: &ChatApp) -> Vec<String> {
    let lt = &app.spec.load_test;
    let mut args = vec![
        "-f".to_owned(),
        format!("{MOUNT}/locustfile.py"),
        "-H".into(),
        format!("http://{}:{CHAT_PORT}", Component::Chat.name(app)),
        "--web-port".into(),
        LOCUST_PORT.to_string(),
        "--users".into(),
        lt.users.to_string(),
        "--spawn-rate".into(),
        lt.spawn_rate.to_string(),
    ];
    if lt.autostart {
        args.push("--autostart".into());
    }
    args
}

/// The Locust Deployment (one pod; its annotation rolls it when the locustfile changes).
pub fn locust_deployment(app: &ChatApp) -> Deployment {
    let labels = selector_labels(app, Component::Locust);
    let container = Container {
        name: "locust".into(),
        image: Some(app.spec.load_test.image.clone()),
        image_pull_policy: Some(app.spec.image_pull_policy.as_str().into()),
        args: Some(locust_args(app)),
        // Python and Locust write caches under $HOME and /tmp; the root filesystem is read-only.
        env: Some(vec![
            EnvVar {
                name: "HOME".into(),
                value: Some("/tmp".into()),
                ..Default::default()
            },
            EnvVar {
                name: "PYTHONDONTWRITEBYTECODE".into(),
                value: Some("1".into()),
                ..Default::default()
            },
        ]),
        ports: Some(vec![ContainerPort {
            name: Some("web".into()),
            container_port: LOCUST_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        readiness_probe: Some(Probe {
            http_get: Some(HTTPGetAction {
                path: Some("/".into()),
                port: IntOrString::String("web".into()),
                ..Default::default()
            }),
            period_seconds: Some(10),
            ..Default::default()
        }),
        security_context: Some(container_security()),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "locustfile".into(),
                mount_path: MOUNT.into(),
                read_only: Some(true),
                ..Default::default()
            },
            VolumeMount {
                name: "tmp".into(),
                mount_path: "/tmp".into(),
                ..Default::default()
            },
        ]),
        ..Default::default()
    };
    Deployment {
        metadata: child_meta(app, Component::Locust),
        spec: Some(DeploymentSpec {
            replicas: Some(1),
            selector: LabelSelector {
                match_labels: Some(labels.clone()),
                ..Default::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(BTreeMap::from([(
                        "chatapp.dev/locustfile-hash".to_owned(),
                        stable_hash(LOCUSTFILE.as_bytes()),
                    )])),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    security_context: Some(pod_security(LOCUST_UID)),
                    automount_service_account_token: Some(false),
                    // No per-Service variables (a chat named chatapp would get CHATAPP_REDIS_PORT & co).
                    enable_service_links: Some(false),
                    volumes: Some(vec![
                        Volume {
                            name: "locustfile".into(),
                            config_map: Some(ConfigMapVolumeSource {
                                name: Component::Locust.name(app),
                                ..Default::default()
                            }),
                            ..Default::default()
                        },
                        Volume {
                            name: "tmp".into(),
                            empty_dir: Some(EmptyDirVolumeSource::default()),
                            ..Default::default()
                        },
                    ]),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The NodePort Service of the Locust web UI.
pub fn locust_service(app: &ChatApp) -> Service {
    Service {
        metadata: child_meta(app, Component::Locust),
        spec: Some(ServiceSpec {
            type_: Some("NodePort".into()),
            selector: Some(selector_labels(app, Component::Locust)),
            ports: Some(vec![ServicePort {
                name: Some("web".into()),
                port: LOCUST_PORT,
                target_port: Some(IntOrString::String("web".into())),
                protocol: Some("TCP".into()),
                node_port: app.spec.load_test.node_port,
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}
