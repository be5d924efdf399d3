//! The install bundle, generated from code: the CRD, least-privilege RBAC and the operator
//! Deployment. `crds/chatapp.yaml`, `deploy/*.yaml` and the root `chatapp.yaml` are these
//! functions' output, checked by the `generated_files` test.
//!
//! The bundle names no namespace: `kubectl apply -f chatapp.yaml` installs the operator in the
//! current namespace and `kubectl apply -f chatapp.yaml -n chatapp` in `chatapp`. That is why the
//! operator watches its own namespace with a Role and a RoleBinding (whose ServiceAccount subject
//! may omit the namespace and then means the binding's own), instead of a ClusterRoleBinding,
//! whose subject would have to hard-code one namespace.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, ObjectFieldSelector,
    PodAffinityTerm, PodAntiAffinity, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    ServiceAccount, WeightedPodAffinityTerm,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::CustomResourceExt;
use serde::Serialize;

use crate::crd::ChatApp;
use crate::resources::{container_security, pod_security, surge_one_at_a_time};

/// Name of the operator's ServiceAccount, Role, RoleBinding and Deployment.
pub const NAME: &str = "chatapp-operator";
/// Image of the operator in the published bundle.
pub const DEFAULT_OPERATOR_IMAGE: &str =
    concat!("ghcr.io/chatapp-dev/operator:", env!("CARGO_PKG_VERSION"));
/// Port of the operator's /healthz, /readyz and /metrics.
pub const METRICS_PORT: i32 = 8081;
/// Operator replicas in the bundle: one leader and one standby.
pub const REPLICAS: i32 = 2;
/// uid of distroless' nonroot user, which the operator image runs as.
const OPERATOR_UID: i64 = 65532;

/// Every permission the operator needs in its namespace: (API group, resource, verbs).
///
/// Server-side apply is a `patch` that the API server authorizes as `create` when the object
/// does not exist yet, so applied kinds need both. The `rbac_is_derived` test replays the
/// controller against a mock API server and checks this table against what it called.
pub const RULES: &[(&str, &str, &[&str])] = &[
    ("chatapp.dev", "chatapps", &["create", "list", "watch"]),
    ("chatapp.dev", "chatapps/status", &["patch"]),
    (
        "apps",
        "deployments",
        &["create", "delete", "list", "patch", "watch"],
    ),
    // The managed database; never deleted by the operator (it goes with its ChatApp). get: its
    // volumes cannot change in place, so an existing one keeps its choice of claim or emptyDir.
    (
        "apps",
        "statefulsets",
        &["create", "get", "list", "patch", "watch"],
    ),
    (
        "",
        "services",
        &["create", "delete", "list", "patch", "watch"],
    ),
    (
        "",
        "configmaps",
        &["create", "delete", "list", "patch", "watch"],
    ),
    (
        "policy",
        "poddisruptionbudgets",
        &["create", "delete", "list", "patch", "watch"],
    ),
    (
        "",
        "persistentvolumeclaims",
        // get: the managed database's claim, made by the StatefulSet controller, when Pending.
        // create: also the dry-run claim that asks whether the cluster has a default
        // StorageClass (no StorageClass read: that would need a ClusterRole, see observe.rs).
        &["create", "get", "list", "patch", "watch"],
    ),
    (
        "networking.k8s.io",
        "networkpolicies",
        &["create", "delete", "list", "patch", "watch"],
    ),
    (
        "networking.k8s.io",
        "ingresses",
        &["create", "delete", "list", "patch", "watch"],
    ),
    (
        "autoscaling",
        "horizontalpodautoscalers",
        &["create", "delete", "list", "patch", "watch"],
    ),
    // Optional kinds (the Prometheus Operator's), applied and removed but never watched: a
    // watch on a kind the cluster may not serve would fail the controller.
    (
        "monitoring.coreos.com",
        "servicemonitors",
        &["create", "delete", "patch"],
    ),
    (
        "monitoring.coreos.com",
        "prometheusrules",
        &["create", "delete", "patch"],
    ),
    ("", "pods", &["list"]),
    // The Secrets `spec.redis.external`, `spec.database.external` and `spec.supportApi.tokenSecret`
    // name, to check they hold their key before switching (get); the managed database's and the
    // support API's own Secrets, created once (create). Never list, watch, update or delete.
    ("", "secrets", &["create", "get"]),
    ("events.k8s.io", "events", &["create", "patch"]),
    // Leader election: read, create, and replace (conditionally) the one Lease.
    (
        "coordination.k8s.io",
        "leases",
        &["create", "get", "update"],
    ),
];

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_owned(), NAME.to_owned()),
        ("app.kubernetes.io/part-of".to_owned(), "chatapp".to_owned()),
    ])
}

fn meta() -> ObjectMeta {
    ObjectMeta {
        name: Some(NAME.into()),
        labels: Some(labels()),
        ..Default::default()
    }
}

/// The operator's ServiceAccount.
pub fn service_account() -> ServiceAccount {
    ServiceAccount {
        metadata: meta(),
        ..Default::default()
    }
}

/// The Role granting exactly [`RULES`].
pub fn role() -> Role {
    let rules = RULES
        .iter()
        .map(|(group, resource, verbs)| PolicyRule {
            api_groups: Some(vec![(*group).into()]),
            resources: Some(vec![(*resource).into()]),
            verbs: verbs.iter().map(|v| (*v).into()).collect(),
            ..Default::default()
        })
        .collect();
    Role {
        metadata: meta(),
        rules: Some(rules),
    }
}

/// Binds the Role to the ServiceAccount of the same namespace (no namespace named on purpose).
pub fn role_binding() -> RoleBinding {
    RoleBinding {
        metadata: meta(),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: NAME.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: NAME.into(),
            ..Default::default()
        }]),
    }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn probe(path: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..Default::default()
        }),
        period_seconds: Some(10),
        ..Default::default()
    }
}

/// The operator Deployment: two replicas with leader election (one reconciles, the other stands
/// by to take over within the Lease duration), rolled one new pod at a time: a standby is ready
/// without leading, so the rollout never waits for leadership.
pub fn operator_deployment(operator_image: &str, chat_image: Option<&str>) -> Deployment {
    let mut env = vec![
        field_env("CHATAPP_OPERATOR_NAMESPACE", "metadata.namespace"),
        field_env("CHATAPP_OPERATOR_POD", "metadata.name"),
        EnvVar {
            name: "CHATAPP_ENSURE_DEFAULT".into(),
            value: Some("true".into()),
            ..Default::default()
        },
        EnvVar {
            name: "CHATAPP_LEADER_ELECT".into(),
            value: Some("true".into()),
            ..Default::default()
        },
    ];
    if let Some(image) = chat_image {
        env.push(EnvVar {
            name: "CHATAPP_DEFAULT_IMAGE".into(),
            value: Some(image.into()),
            ..Default::default()
        });
    }
    let container = Container {
        name: "operator".into(),
        image: Some(operator_image.into()),
        args: Some(vec!["run".into()]),
        env: Some(env),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: METRICS_PORT,
            protocol: Some("TCP".into()),
            ..Default::default()
        }]),
        liveness_probe: Some(probe("/healthz")),
        readiness_probe: Some(probe("/readyz")),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), Quantity("50m".into())),
                ("memory".to_owned(), Quantity("64Mi".into())),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                Quantity("256Mi".into()),
            )])),
            ..Default::default()
        }),
        security_context: Some(container_security()),
        ..Default::default()
    };
    Deployment {
        metadata: meta(),
        spec: Some(DeploymentSpec {
            replicas: Some(REPLICAS),
            selector: LabelSelector {
                match_labels: Some(labels()),
                ..Default::default()
            },
            strategy: Some(surge_one_at_a_time()),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels()),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    service_account_name: Some(NAME.into()),
                    containers: vec![container],
                    security_context: Some(pod_security(OPERATOR_UID)),
                    affinity: Some(spread_over_nodes()),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Prefer the two operator replicas on different nodes, so one node going down leaves a standby.
fn spread_over_nodes() -> Affinity {
    Affinity {
        pod_anti_affinity: Some(PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 100,
                    pod_affinity_term: PodAffinityTerm {
                        topology_key: "kubernetes.io/hostname".into(),
                        label_selector: Some(LabelSelector {
                            match_labels: Some(labels()),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                },
            ]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn doc(obj: &impl Serialize) -> String {
    yaml_doc(obj)
}

/// One object as YAML that YAML 1.1 readers (kubectl's parser among them) read back the same:
/// serde_norway (the maintained fork of serde_yaml) writes YAML 1.2, where `yes`, `no`, `on` and
/// `off` are plain strings, but a 1.1 reader turns them into booleans (Redis's `--appendonly no`
/// would fail to apply).
pub(crate) fn yaml_doc(obj: &impl Serialize) -> String {
    let yaml = serde_norway::to_string(obj).expect("Kubernetes objects serialize to YAML");
    let mut out = String::with_capacity(yaml.len());
    for line in yaml.lines() {
        let value_at = line.rfind(": ").map(|i| i + 2).or_else(|| {
            line.trim_start()
                .starts_with("- ")
                .then(|| line.find("- ").unwrap() + 2)
        });
        match value_at {
            Some(i) if is_yaml11_bool(&line[i..]) => {
                out.push_str(&line[..i]);
                out.push('\'');
                out.push_str(&line[i..]);
                out.push('\'');
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Plain scalars that are strings in YAML 1.2 but booleans in 1.1 (serde_norway already quotes
/// the strings `true` and `false`, so an unquoted one is a real boolean and stays).
fn is_yaml11_bool(v: &str) -> bool {
    const WORDS: [&str; 6] = ["y", "n", "yes", "no", "on", "off"];
    WORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
}

const HEADER: &str = "# Generated from operator/src/bundle.rs: UPDATE_SNAPSHOTS=1 cargo test -p operator --test generated\n# rewrites it, and a test fails when it drifts. Do not edit by hand.\n";

/// `crds/chatapp.yaml`: the ChatApp CRD.
pub fn crd_yaml() -> String {
    format!(
        "# Generated by `cargo run -p operator -- crd`. Do not edit by hand.\n{}",
        doc(&ChatApp::crd())
    )
}

/// `deploy/rbac.yaml`: ServiceAccount, Role and RoleBinding.
pub fn rbac_yaml() -> String {
    format!(
        "{HEADER}{}---\n{}---\n{}",
        doc(&service_account()),
        doc(&role()),
        doc(&role_binding())
    )
}

/// `deploy/operator.yaml`: the operator Deployment.
pub fn operator_yaml(operator_image: &str, chat_image: Option<&str>) -> String {
    format!(
        "{HEADER}{}",
        doc(&operator_deployment(operator_image, chat_image))
    )
}

/// The root `chatapp.yaml`: CRD, RBAC and the operator, which creates the default ChatApp.
pub fn bundle_yaml(operator_image: &str, chat_image: Option<&str>) -> String {
    format!(
        "{HEADER}# Install: kubectl apply -f chatapp.yaml [-n NAMESPACE]. The operator then creates the ChatApp\n# `default` (NodePort 30222) in its namespace. With your own images:\n#   cargo run -p operator -- bundle --operator-image IMG --chat-image IMG > chatapp.yaml\n# See docs/operator.md.\n{}---\n{}---\n{}---\n{}---\n{}",
        doc(&ChatApp::crd()),
        doc(&service_account()),
        doc(&role()),
        doc(&role_binding()),
        doc(&operator_deployment(operator_image, chat_image)),
    )
}

/// Every generated file of the repository, as (path from the repository root, content), for the
/// `generated` drift test and for regenerating them.
/// `deploy/monitoring/operator-podmonitor.yaml`: a Prometheus Operator PodMonitor for the
/// operator's own `/metrics` (port `http`). Not in the bundle, which must not need the
/// Prometheus Operator's CRDs: apply it beside the bundle where they exist. One per operator
/// namespace, while each ChatApp's `spec.monitoring` covers its chat-servers.
pub fn operator_pod_monitor_yaml() -> String {
    let monitor = serde_json::json!({
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PodMonitor",
        "metadata": {"name": NAME, "labels": labels()},
        "spec": {
            "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "podMetricsEndpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    });
    format!("{HEADER}{}", doc(&monitor))
}

pub fn generated_files() -> Vec<(&'static str, String)> {
    vec![
        ("crds/chatapp.yaml", crd_yaml()),
        ("deploy/rbac.yaml", rbac_yaml()),
        (
            "deploy/operator.yaml",
            operator_yaml(DEFAULT_OPERATOR_IMAGE, None),
        ),
        ("chatapp.yaml", bundle_yaml(DEFAULT_OPERATOR_IMAGE, None)),
        (
            "deploy/monitoring/operator-podmonitor.yaml",
            operator_pod_monitor_yaml(),
        ),
    ]
}

#[cfg(test)]
mod tests;
