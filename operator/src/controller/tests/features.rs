//! The optional children, against the fake API server: network policies, autoscaling and
//! monitoring (discovered, applied, removed when disabled), and a new image or operator version.

use super::*;

#[tokio::test]
async fn network_policies_are_applied_and_removed_when_disabled() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test());
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let policies = "/apis/networking.k8s.io/v1/namespaces/chat/networkpolicies";
    let redis = fake
        .object(&format!("{policies}/demo-redis"))
        .expect("Redis fenced");
    assert_eq!(
        redis["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "chat-server"
    );
    assert_eq!(redis["metadata"]["ownerReferences"][0]["kind"], "ChatApp");
    assert!(fake.object(&format!("{policies}/demo")).is_some());

    let mut off = fake.app("demo");
    off.spec.network_policy.enabled = false;
    fake.insert_app(&off);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(fake.object(&format!("{policies}/demo-redis")).is_none());
    assert!(fake.object(&format!("{policies}/demo")).is_none());
}

/// Autoscaling: the HPA targets the ChatApp; without a custom metrics API it scales on CPU and
/// Ready says why connections are not used; once the API is served, the Pods metric is added.
#[tokio::test]
async fn autoscaling_discovers_the_custom_metrics_api() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_autoscaling(Some(500)));
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let hpa_path = "/apis/autoscaling/v2/namespaces/chat/horizontalpodautoscalers/demo";
    let hpa = fake.object(hpa_path).expect("HPA applied");
    assert_eq!(hpa["spec"]["scaleTargetRef"]["kind"], "ChatApp", "{hpa:#}");
    assert_eq!(
        hpa["spec"]["metrics"].as_array().unwrap().len(),
        1,
        "{hpa:#}"
    );
    let (_, _, message) = condition(&fake.app("demo"), READY);
    assert!(message.contains("custom.metrics.k8s.io"), "{message}");

    fake.serve_api("custom.metrics.k8s.io/v1beta1", &["pods/chat_connections"]);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let hpa = fake.object(hpa_path).unwrap();
    assert_eq!(
        hpa["spec"]["metrics"][1]["pods"]["metric"]["name"],
        "chat_connections"
    );
    let (_, _, message) = condition(&fake.app("demo"), READY);
    assert!(!message.contains("custom.metrics"), "{message}");

    // Switched off: the HPA goes, and spec.replicas (as the HPA last left it) stays.
    let mut off = fake.app("demo");
    off.spec.autoscaling = None;
    fake.insert_app(&off);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(fake.object(hpa_path).is_none());
}

/// Upgrades: a new spec.image rolls the chat pods (a new pod template), and an operator started
/// over the children of a previous one adopts them: the same field manager applies over them,
/// nothing is deleted or created anew.
#[tokio::test]
async fn a_new_image_rolls_the_pods_and_an_upgraded_operator_adopts_the_children() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test());
    let ctx = context(client.clone());
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let dep_path = "/apis/apps/v1/namespaces/chat/deployments/demo";
    let before = fake.object(dep_path).unwrap();

    // A new operator process (fresh context, same field manager) over the same children.
    let ctx = context(client);
    fake.clear_requests();
    let mut upgraded = fake.app("demo");
    upgraded.spec.image = "ghcr.io/chatapp-dev/chat-server:9.9.9".into();
    fake.insert_app(&upgraded);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let after = fake.object(dep_path).unwrap();
    let image = |d: &Value| d["spec"]["template"]["spec"]["containers"][0]["image"].clone();
    assert_eq!(image(&after), "ghcr.io/chatapp-dev/chat-server:9.9.9");
    assert_ne!(
        before["spec"]["template"], after["spec"]["template"],
        "a new pod template is what rolls the pods"
    );
    assert_eq!(before["metadata"]["labels"], after["metadata"]["labels"]);
    assert_eq!(
        before["spec"]["selector"], after["spec"]["selector"],
        "selector unchanged"
    );
    let requests = fake.requests();
    for r in &requests {
        assert!(
            r.method != Method::POST || r.path.contains("/events"),
            "created anew: {r:?}"
        );
    }
    // Every child is still there (a DELETE of one would have removed it from the fake).
    for child in [
        "/apis/networking.k8s.io/v1/namespaces/chat/networkpolicies/demo-redis",
        "/api/v1/namespaces/chat/services/demo-redis",
        "/apis/apps/v1/namespaces/chat/deployments/demo-redis",
        "/apis/networking.k8s.io/v1/namespaces/chat/networkpolicies/demo",
        "/api/v1/namespaces/chat/services/demo",
        dep_path,
        "/apis/policy/v1/namespaces/chat/poddisruptionbudgets/demo",
    ] {
        assert!(fake.object(child).is_some(), "{child} kept");
        assert!(
            !requests
                .iter()
                .any(|r| r.method == Method::DELETE && r.path == child),
            "{child} deleted"
        );
    }
    for r in applies(&requests) {
        assert!(
            r.query.contains(&format!("fieldManager={FIELD_MANAGER}")),
            "{r:?}"
        );
        assert!(r.query.contains("force=true"), "{r:?}");
    }
}

/// Monitoring never stops a chat: without the Prometheus Operator's CRDs it is Ready and says
/// monitoring is unavailable; with them the ServiceMonitor and PrometheusRule are applied, and
/// switching monitoring off removes them.
#[tokio::test]
async fn monitoring_is_optional_and_discovered() {
    let (client, fake) = FakeApi::start();
    let mut app = ChatApp::test();
    app.spec.monitoring.enabled = true;
    fake.insert_app(&app);
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let (status, reason, message) = condition(&fake.app("demo"), READY);
    assert_eq!(
        (status.as_str(), reason.as_str()),
        (TRUE, reason::AVAILABLE)
    );
    assert!(message.contains("monitoring is unavailable"), "{message}");
    let sm = "/apis/monitoring.coreos.com/v1/namespaces/chat/servicemonitors/demo";
    let rule = "/apis/monitoring.coreos.com/v1/namespaces/chat/prometheusrules/demo";
    assert!(fake.object(sm).is_none());

    fake.serve_api(
        "monitoring.coreos.com/v1",
        &["servicemonitors", "prometheusrules", "podmonitors"],
    );
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert_eq!(fake.object(sm).unwrap()["kind"], "ServiceMonitor");
    assert_eq!(fake.object(rule).unwrap()["kind"], "PrometheusRule");
    let (_, _, message) = condition(&fake.app("demo"), READY);
    assert!(!message.contains("monitoring"), "{message}");

    let mut off = fake.app("demo");
    off.spec.monitoring.enabled = false;
    fake.insert_app(&off);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(fake.object(sm).is_none() && fake.object(rule).is_none());
}

/// Discovery failing (a 500 on `GET /apis`) changes nothing and reads as ObserveFailed, retried
/// with backoff like any failed call.
#[tokio::test]
async fn a_failed_discovery_changes_nothing_and_says_so() {
    let (client, fake) = FakeApi::start();
    let mut app = ChatApp::test();
    app.spec.monitoring.enabled = true;
    fake.insert_app(&app);
    fake.fail(Failure {
        method: Method::GET,
        path: "/apis",
        code: 500,
        times: 1,
    });
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap_err();
    assert!(applies(&fake.requests()).is_empty(), "nothing applied");
    let (status, reason, message) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!((status.as_str(), reason.as_str()), (TRUE, "ObserveFailed"));
    assert!(message.contains("discovering"), "{message}");
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
}
