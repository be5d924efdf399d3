//! NetworkPolicies: the managed Redis accepts connections only from the chat pods of its own
//! ChatApp, and the chat pods accept traffic on the chat port only (from anywhere: the Service,
//! its NodePort, Locust, a metrics scraper), plus the support API's gRPC port while it is on
//! (from anywhere too: platforms in other namespaces call it, with its token). Only ingress is fenced; the operator itself talks to
//! the API server, never to these pods, so it needs no rule.

use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{CHAT_PORT, Component, POSTGRES_PORT, REDIS_PORT, child_meta, selector_labels};
use crate::crd::ChatApp;

fn selecting(app: &ChatApp, component: Component) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector_labels(app, component)),
        ..Default::default()
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".into()),
        ..Default::default()
    }
}

/// Ingress to `component`'s pods on `ports`, from `from` (None: from anywhere).
fn policy(
    app: &ChatApp,
    component: Component,
    ports: &[i32],
    from: Option<Vec<NetworkPolicyPeer>>,
) -> NetworkPolicy {
    NetworkPolicy {
        metadata: child_meta(app, component),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selecting(app, component)),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from,
                ports: Some(ports.iter().copied().map(tcp).collect()),
            }]),
            ..Default::default()
        }),
    }
}

/// The managed Redis accepts only this ChatApp's chat-server pods, on the Redis port.
pub fn redis_network_policy(app: &ChatApp) -> NetworkPolicy {
    let chat_pods = NetworkPolicyPeer {
        pod_selector: Some(selecting(app, Component::Chat)),
        ..Default::default()
    };
    policy(app, Component::Redis, &[REDIS_PORT], Some(vec![chat_pods]))
}

/// The managed PostgreSQL accepts only this ChatApp's chat-server pods, on the PostgreSQL port.
pub fn postgres_network_policy(app: &ChatApp) -> NetworkPolicy {
    let chat_pods = NetworkPolicyPeer {
        pod_selector: Some(selecting(app, Component::Chat)),
        ..Default::default()
    };
    policy(
        app,
        Component::Postgres,
        &[POSTGRES_PORT],
        Some(vec![chat_pods]),
    )
}

/// The chat-server pods accept traffic on the chat port only, and on the support API's port
/// while it is on.
pub fn chat_network_policy(app: &ChatApp) -> NetworkPolicy {
    let support = &app.spec.support_api;
    let ports: &[i32] = if support.enabled {
        &[CHAT_PORT, support.port]
    } else {
        &[CHAT_PORT]
    };
    policy(app, Component::Chat, ports, None)
}
