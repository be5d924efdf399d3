//! The optional parts of a chat: `spec.ingress`, `spec.monitoring` and `spec.autoscaling`.

use std::collections::BTreeMap;

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// The Ingress in front of the chat. WebSockets stay open for hours: set the controller's
/// timeouts with annotations (docs/operator.md lists them for ingress-nginx, Traefik, HAProxy).
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("!has(self.tlsSecretName) || has(self.host)")
    .message("ingress.tlsSecretName needs ingress.host")
    .field_path(".tlsSecretName"))]
pub struct IngressSpec {
    /// IngressClass of the controller that serves it (ingressClassName); the cluster's default
    /// class when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub class_name: Option<String>,

    /// Host name people open, e.g. chat.example.com; any host when unset. It makes the chat's
    /// public URL https://host (http://host without TLS) unless chat.publicUrl is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub host: Option<String>,

    /// Secret (type kubernetes.io/tls) holding the certificate for host; cert-manager can create
    /// it from an annotation. Without it the Ingress serves plain HTTP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub tls_secret_name: Option<String>,

    /// Annotations of the Ingress: the controller's WebSocket timeouts, a cert-manager issuer
    /// (cert-manager.io/cluster-issuer), ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,

    /// Path prefix routed to the chat (Prefix match); the UI, /ws and the API live under it.
    #[serde(default = "d_path")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^/"))]
    pub path: String,
}

/// Monitoring with the Prometheus Operator.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringSpec {
    /// Create a ServiceMonitor scraping every chat-server's /metrics and a PrometheusRule with
    /// the chat's alerts. Needs the Prometheus Operator's CRDs; without them status says
    /// monitoring is unavailable and nothing else changes.
    #[serde(default)]
    pub enabled: bool,

    /// Labels added to the ServiceMonitor and PrometheusRule, so a Prometheus whose selectors ask
    /// for them picks them up (e.g. release: kube-prometheus-stack).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,

    /// Delivery latency p99, in seconds, above which the ChatAppDeliverySlow alert fires.
    #[serde(default = "d_p99")]
    #[schemars(range(min = 0.001, max = 60))]
    pub delivery_p99_seconds: f64,
}

impl Default for MonitoringSpec {
    fn default() -> Self {
        serde_json::from_value(serde_json::json!({})).expect("every monitoring field has a default")
    }
}

/// The HorizontalPodAutoscaler of a chat.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.minReplicas <= self.maxReplicas")
    .message("autoscaling.minReplicas must not exceed autoscaling.maxReplicas")
    .field_path(".minReplicas"))]
pub struct AutoscalingSpec {
    /// Fewest chat-server pods (1 to 100).
    #[serde(default = "d_min_replicas")]
    #[schemars(range(min = 1, max = 100))]
    pub min_replicas: i32,

    /// Most chat-server pods (1 to 100).
    #[serde(default = "d_max_replicas")]
    #[schemars(range(min = 1, max = 100))]
    pub max_replicas: i32,

    /// Average CPU use, in percent of the pods' CPU request, to keep (spec.resources must request
    /// CPU for this to work).
    #[serde(default = "d_target_cpu", rename = "targetCPUUtilizationPercentage")]
    #[schemars(range(min = 1, max = 1000))]
    pub target_cpu_utilization_percentage: i32,

    /// Average open WebSockets per pod to keep, from the chat's chat_connections metric (a Pods
    /// metric). Needs a custom metrics API (custom.metrics.k8s.io, e.g. prometheus-adapter);
    /// without one the HPA scales on CPU and status says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 1_000_000))]
    pub target_connections_per_pod: Option<i32>,
}

fn d_p99() -> f64 {
    0.5
}
fn d_path() -> String {
    "/".into()
}
fn d_min_replicas() -> i32 {
    2
}
fn d_max_replicas() -> i32 {
    10
}
fn d_target_cpu() -> i32 {
    70
}
