//! Locust (issue 4): the Locust master pod pointed at the chat's Service, its web UI Service (a
//! NodePort, 30223 for the default ChatApp), the ConfigMap holding the locustfile, and with
//! `loadTest.workers` the workers and the ClusterIP Service they reach the master on. With no
//! workers the master runs standalone (it also runs the users). The image
//! (images/locust/Dockerfile) and the locustfile belong to the loadtest crate; this module only
//! deploys them.

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
/// Port the master listens on for its workers (Locust's default).
pub const LOCUST_MASTER_PORT: i32 = 5557;
/// uid of the locust user in images/locust/Dockerfile.
const LOCUST_UID: i64 = 1000;
/// Where the ConfigMap is mounted (images/locust/Dockerfile expects this path).
const MOUNT: &str = "/mnt/locust";

/// Name of the ClusterIP Service the workers reach the master on.
pub fn locust_master_name(app: &ChatApp) -> String {
    format!("{}-master", Component::Locust.name(app))
}

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

/// The master's command line: web UI and defaults, against the chat Service; standalone without
/// workers.
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
    if lt.workers > 0 {
        args.extend([
            "--master".into(),
            "--master-bind-port".into(),
            LOCUST_MASTER_PORT.to_string(),
            "--expect-workers".into(),
            lt.workers.to_string(),
        ]);
    }
    if lt.autostart {
        args.push("--autostart".into());
    }
    args
}

/// A worker's command line: the same locustfile, users driven by the master.
pub fn locust_worker_args(app: &ChatApp) -> Vec<String> {
    vec![
        "-f".to_owned(),
        format!("{MOUNT}/locustfile.py"),
        "--worker".into(),
        "--master-host".into(),
        locust_master_name(app),
        "--master-port".into(),
        LOCUST_MASTER_PORT.to_string(),
    ]
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.into()),
        container_port: number,
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..Default::default()
    }
}

/// A Locust container with the locustfile and a writable /tmp (the root filesystem is read-only).
fn locust_container(app: &ChatApp, name: &str, args: Vec<String>) -> Container {
    Container {
        name: name.into(),
        image: Some(app.spec.load_test.image.clone()),
        image_pull_policy: Some(app.spec.image_pull_policy.as_str().into()),
        args: Some(args),
        // Python and Locust write caches under $HOME; bytecode would go next to the read-only file.
        env: Some(vec![
            env("HOME", "/tmp"),
            env("PYTHONDONTWRITEBYTECODE", "1"),
        ]),
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
    }
}

/// A one-container Locust Deployment of `component` (its annotation rolls it when the
/// locustfile changes).
fn locust_pods(app: &ChatApp, component: Component, replicas: i32, c: Container) -> Deployment {
    let labels = selector_labels(app, component);
    Deployment {
        metadata: child_meta(app, component),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
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
                    containers: vec![c],
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

/// The Locust master (standalone without workers): one pod with the web UI.
pub fn locust_deployment(app: &ChatApp) -> Deployment {
    let mut container = locust_container(app, "locust", locust_args(app));
    let mut ports = vec![port("web", LOCUST_PORT)];
    if app.spec.load_test.workers > 0 {
        ports.push(port("master", LOCUST_MASTER_PORT));
    }
    container.ports = Some(ports);
    container.readiness_probe = Some(Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/".into()),
            port: IntOrString::String("web".into()),
            ..Default::default()
        }),
        period_seconds: Some(10),
        ..Default::default()
    });
    locust_pods(app, Component::Locust, 1, container)
}

/// The Locust workers (only built with `loadTest.workers` > 0).
pub fn locust_worker_deployment(app: &ChatApp) -> Deployment {
    let container = locust_container(app, "locust-worker", locust_worker_args(app));
    let replicas = app.spec.load_test.workers;
    locust_pods(app, Component::LocustWorker, replicas, container)
}

fn service(app: &ChatApp, type_: &str, port: ServicePort) -> Service {
    Service {
        metadata: child_meta(app, Component::Locust),
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            selector: Some(selector_labels(app, Component::Locust)),
            ports: Some(vec![port]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The NodePort Service of the Locust web UI.
pub fn locust_service(app: &ChatApp) -> Service {
    let web = ServicePort {
        name: Some("web".into()),
        port: LOCUST_PORT,
        target_port: Some(IntOrString::String("web".into())),
        protocol: Some("TCP".into()),
        node_port: app.spec.load_test.node_port,
        ..Default::default()
    };
    service(app, "NodePort", web)
}

/// The ClusterIP Service the workers reach the master on: kept off the NodePort Service, so the
/// master's unauthenticated port is not opened on every node.
pub fn locust_master_service(app: &ChatApp) -> Service {
    let master = ServicePort {
        name: Some("master".into()),
        port: LOCUST_MASTER_PORT,
        target_port: Some(IntOrString::String("master".into())),
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    let mut svc = service(app, "ClusterIP", master);
    svc.metadata.name = Some(locust_master_name(app));
    svc
}
