//! Prometheus Operator objects (`spec.monitoring`): a ServiceMonitor scraping every chat-server's
//! `/metrics` and a PrometheusRule with the alerts that matter for a chat. Their kinds may not
//! exist in the cluster, so they are `DynamicObject`s of [`service_monitor_resource`] and
//! [`prometheus_rule_resource`], built only where discovery found them.

use kube::ResourceExt;
use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
use serde_json::json;

#[cfg(test)]
use super::{ClusterApis, Desired};
use super::{Component, child_meta};
use crate::crd::ChatApp;

/// The Prometheus Operator's API group and version.
pub const MONITORING_API: (&str, &str) = ("monitoring.coreos.com", "v1");

/// `ServiceMonitor`, `servicemonitors`.
pub fn service_monitor_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(MONITORING_API.0, MONITORING_API.1, "ServiceMonitor");
    ApiResource::from_gvk_with_plural(&gvk, "servicemonitors")
}

/// `PrometheusRule`, `prometheusrules`.
pub fn prometheus_rule_resource() -> ApiResource {
    let gvk = GroupVersionKind::gvk(MONITORING_API.0, MONITORING_API.1, "PrometheusRule");
    ApiResource::from_gvk_with_plural(&gvk, "prometheusrules")
}

fn object(app: &ChatApp, resource: &ApiResource, spec: serde_json::Value) -> DynamicObject {
    let mut metadata = child_meta(app, Component::Chat);
    if let Some(extra) = &app.spec.monitoring.labels {
        let labels = metadata.labels.get_or_insert_with(Default::default);
        for (k, v) in extra {
            labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    let mut obj = DynamicObject::new(&app.name_any(), resource);
    obj.metadata = metadata;
    obj.data = json!({ "spec": spec });
    obj
}

/// The ServiceMonitor: the chat Service's `http` port, `/metrics`, every 15 s. Its job label is
/// the Service's name, which the rules below select on.
pub fn chat_service_monitor(app: &ChatApp) -> DynamicObject {
    let spec = json!({
        "selector": {"matchLabels": super::selector_labels(app, Component::Chat)},
        "endpoints": [{"port": "http", "path": "/metrics", "interval": "15s"}],
    });
    object(app, &service_monitor_resource(), spec)
}

/// Alert rules, as `(alert, PromQL, for, severity, summary)`. Every metric named here exists in
/// the chat-server's exposition (`resources/tests.rs` checks that against chat-server itself).
pub fn alert_rules(
    app: &ChatApp,
) -> Vec<(&'static str, String, &'static str, &'static str, String)> {
    let sel = format!(
        "namespace=\"{}\",job=\"{}\"",
        app.namespace().unwrap_or_default(),
        Component::Chat.name(app)
    );
    let name = app.name_any();
    let p99 = app.spec.monitoring.delivery_p99_seconds;
    vec![
        (
            "ChatAppNoReadyReplicas",
            format!("(sum(up{{{sel}}}) or vector(0)) == 0"),
            "5m",
            "critical",
            format!("No chat-server of ChatApp {name} has answered a scrape for 5 minutes"),
        ),
        (
            "ChatAppStoreNotWritable",
            format!("min(chat_store_writable{{{sel}}}) == 0"),
            "2m",
            "critical",
            format!("ChatApp {name}: Redis is unreachable or refuses writes (sends are refused)"),
        ),
        (
            "ChatAppRedisErrors",
            format!("sum(rate(chat_redis_errors_total{{{sel}}}[5m])) > 0"),
            "10m",
            "warning",
            format!("ChatApp {name}: Redis calls keep failing"),
        ),
        (
            "ChatAppSlowConsumerDrops",
            format!("sum(increase(chat_slow_consumer_drops_total{{{sel}}}[10m])) > 10"),
            "10m",
            "warning",
            format!("ChatApp {name}: clients keep being cut off as slow consumers"),
        ),
        (
            "ChatAppDeliverySlow",
            format!(
                "histogram_quantile(0.99, sum by (le) (rate(chat_delivery_latency_seconds_bucket{{{sel}}}[5m]))) > {p99}"
            ),
            "10m",
            "warning",
            format!("ChatApp {name}: delivery latency p99 above {p99} s"),
        ),
        (
            "ChatAppDeliveryGaps",
            format!("sum(increase(chat_delivery_gaps_total{{{sel}}}[10m])) > 0"),
            "0m",
            "warning",
            format!("ChatApp {name}: clients were told messages are missing (recovered: false)"),
        ),
    ]
}

/// The PrometheusRule holding [`alert_rules`].
pub fn chat_prometheus_rule(app: &ChatApp) -> DynamicObject {
    let rules: Vec<serde_json::Value> = alert_rules(app)
        .into_iter()
        .map(|(alert, expr, for_, severity, summary)| {
            json!({
                "alert": alert,
                "expr": expr,
                "for": for_,
                "labels": {"severity": severity},
                "annotations": {"summary": summary},
            })
        })
        .collect();
    let spec = json!({"groups": [{"name": format!("chatapp-{}", app.name_any()), "rules": rules}]});
    object(app, &prometheus_rule_resource(), spec)
}

#[cfg(test)]
mod tests;
