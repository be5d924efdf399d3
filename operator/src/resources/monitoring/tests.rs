//! The monitoring objects, and every metric they and the Grafana dashboard name, checked against
//! the chat-server's own `/metrics` exposition.

use std::collections::BTreeSet;

use super::*;
use crate::fixtures::TestApp;

const DASHBOARD: &str = include_str!("../../../../deploy/grafana/chatapp-dashboard.json");

/// Metric families the chat-server exports, from the `# TYPE` lines of its exposition.
fn exported() -> BTreeSet<String> {
    use chat_server::metrics::{CodeLabel, Metrics, ReasonLabel};
    let metrics = Metrics::new();
    // A labelled family appears in the exposition once it has a sample.
    metrics
        .delivery_gaps
        .get_or_create(&ReasonLabel { reason: "test" })
        .inc();
    metrics
        .protocol_errors
        .get_or_create(&CodeLabel { code: "test" })
        .inc();
    let text = metrics.render();
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

/// Names in a PromQL expression that look like chat or process metrics.
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("chat_") || w.starts_with("process_"))
        .map(str::to_owned)
        .collect()
}

/// Whether `name` is a sample of an exported family (`_total` of a counter, `_bucket` of a
/// histogram...).
fn exists(families: &BTreeSet<String>, name: &str) -> bool {
    families.contains(name)
        || ["_total", "_bucket", "_sum", "_count", "_created"]
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(|f| families.contains(f)))
}

fn dashboard_exprs() -> Vec<String> {
    let dash: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let mut out = Vec::new();
    for panel in dash["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            out.push(target["expr"].as_str().unwrap().to_owned());
        }
    }
    for var in dash["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["query"]["query"].as_str() {
            out.push(q.to_owned());
        }
    }
    out
}

#[test]
fn every_metric_of_the_rules_and_the_dashboard_is_exported_by_the_chat_server() {
    let families = exported();
    for must in [
        "chat_connections",
        "chat_delivery_latency_seconds",
        "chat_store_writable",
    ] {
        assert!(families.contains(must), "{must} not in {families:?}");
    }
    let app = ChatApp::test();
    let exprs: Vec<String> = alert_rules(&app)
        .into_iter()
        .map(|r| r.1)
        .chain(dashboard_exprs())
        .collect();
    let mut used = BTreeSet::new();
    for expr in &exprs {
        for name in metric_names(expr) {
            assert!(
                exists(&families, &name),
                "{name} (in {expr}) is not exported: {families:?}"
            );
            used.insert(name);
        }
    }
    // The alerts the issue asks for, each on its metric.
    for metric in [
        "chat_store_writable",
        "chat_slow_consumer_drops_total",
        "chat_delivery_latency_seconds_bucket",
        "chat_delivery_gaps_total",
    ] {
        assert!(
            alert_rules(&app).iter().any(|r| r.1.contains(metric)),
            "no alert on {metric}"
        );
    }
    assert!(used.len() >= 12, "{used:?}");
}

#[test]
fn the_service_monitor_and_rule_select_this_chat() {
    let mut app = ChatApp::test();
    app.spec.monitoring.enabled = true;
    app.spec.monitoring.labels = Some([("release".to_owned(), "prom".to_owned())].into());
    let sm = serde_json::to_value(chat_service_monitor(&app)).unwrap();
    assert_eq!(sm["apiVersion"], "monitoring.coreos.com/v1");
    assert_eq!(sm["kind"], "ServiceMonitor");
    assert_eq!(sm["metadata"]["labels"]["release"], "prom");
    assert_eq!(sm["metadata"]["ownerReferences"][0]["kind"], "ChatApp");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "http");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/instance"],
        "demo"
    );
    let rule = serde_json::to_value(chat_prometheus_rule(&app)).unwrap();
    assert_eq!(rule["kind"], "PrometheusRule");
    let rules = rule["spec"]["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), alert_rules(&app).len());
    for r in rules {
        let expr = r["expr"].as_str().unwrap();
        assert!(expr.contains("namespace=\"chat\",job=\"demo\""), "{expr}");
    }
    let slow = rules
        .iter()
        .find(|r| r["alert"] == "ChatAppDeliverySlow")
        .unwrap();
    assert!(slow["expr"].as_str().unwrap().ends_with("> 0.5"), "{slow}");
    // Only where the Prometheus Operator's kinds are served.
    assert!(Desired::build(&app).chat_service_monitor.is_none());
    let apis = ClusterApis {
        monitoring: true,
        ..Default::default()
    };
    let d = Desired::build_for(&app, apis);
    assert!(d.chat_service_monitor.is_some() && d.chat_prometheus_rule.is_some());
}
