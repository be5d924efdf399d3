//! The reconcile loop against the fake API server (`crate::fixtures::FakeApi`), one scenario per
//! test: what was written, what was not, and what status a person would see.

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use serde_json::{Value, json};

use super::conditions::{DEGRADED, DURABLE, FALSE, PROGRESSING, READY, TRUE, reason};
use super::{Context, FIELD_MANAGER, error_policy, reconcile};
use crate::crd::ChatApp;
use crate::fixtures::{Failure, FakeApi, Recorded, TestApp, app_path};

mod database;
mod features;
mod redis;
mod storage;
mod support;

fn context(client: kube::Client) -> Arc<Context> {
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: Some("test".into()),
    };
    Arc::new(Context::new(client, reporter, Arc::default()))
}

/// Stores `app` in the fake and reconciles what the fake holds, as the controller would after a
/// watch event.
async fn reconcile_stored(
    fake: &FakeApi,
    ctx: &Arc<Context>,
    name: &str,
) -> crate::error::Result<Action> {
    reconcile(Arc::new(fake.app(name)), ctx.clone()).await
}

fn applies(requests: &[Recorded]) -> Vec<&Recorded> {
    requests
        .iter()
        .filter(|r| r.is_apply() && !r.is_status_write())
        .collect()
}

fn condition(app: &ChatApp, type_: &str) -> (String, String, String) {
    let status = app.status.clone().unwrap_or_default();
    let c = status
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} condition in {status:?}"));
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

fn paths(requests: &[&Recorded]) -> Vec<String> {
    requests.iter().map(|r| r.path.clone()).collect()
}

#[tokio::test]
async fn creates_every_child_from_nothing_and_reports_ready() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test());
    let ctx = context(client);

    let action = reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    assert_eq!(action, Action::requeue(super::RESYNC));
    let requests = fake.requests();
    let applied = paths(&applies(&requests));
    let expected = [
        "/apis/networking.k8s.io/v1/namespaces/chat/networkpolicies/demo-redis",
        "/api/v1/namespaces/chat/services/demo-redis",
        "/apis/apps/v1/namespaces/chat/deployments/demo-redis",
        "/apis/networking.k8s.io/v1/namespaces/chat/networkpolicies/demo",
        "/api/v1/namespaces/chat/services/demo",
        "/apis/apps/v1/namespaces/chat/deployments/demo",
        "/apis/policy/v1/namespaces/chat/poddisruptionbudgets/demo",
    ];
    assert_eq!(applied, expected, "apply order");
    for path in expected {
        assert!(fake.object(path).is_some(), "{path} stored");
    }
    let app = fake.app("demo");
    assert_eq!(condition(&app, READY).0, TRUE, "{:?}", app.status);
    let status = app.status.unwrap();
    assert_eq!((status.replicas, status.ready_replicas), (2, 2));
    assert_eq!(status.observed_generation, Some(1));
    assert_eq!(
        status.url.as_deref(),
        Some("http://demo.chat.svc:8080"),
        "in-cluster URL without a load balancer"
    );
    let events = requests
        .iter()
        .filter(|r| r.method == Method::POST && r.path.ends_with("/events"));
    assert_eq!(events.count(), 4, "one event per new condition");
}

#[tokio::test]
async fn a_second_identical_run_writes_no_status() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test());
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let first = fake.requests();
    assert_eq!(first.iter().filter(|r| r.is_status_write()).count(), 1);
    fake.clear_requests();

    reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    let second = fake.requests();
    assert!(!second.iter().any(Recorded::is_status_write), "{second:#?}");
    assert!(
        !second.iter().any(|r| r.path.contains("/events")),
        "no event without a change: {second:#?}"
    );
    let bodies = |rs: &[Recorded]| -> Vec<Value> {
        applies(rs).into_iter().map(|r| r.body.clone()).collect()
    };
    assert_eq!(bodies(&first), bodies(&second), "applies are idempotent");
}

#[tokio::test]
async fn a_scale_change_is_one_changed_apply() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_replicas(3));
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let before = fake.requests();
    fake.clear_requests();
    fake.insert_app(&fake.app("demo").with_replicas(5));

    reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    let after = fake.requests();
    let (before, after) = (applies(&before), applies(&after));
    assert_eq!(paths(&before), paths(&after));
    let changed: Vec<_> = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| b.body != a.body)
        .map(|(_, a)| *a)
        .collect();
    assert_eq!(
        paths(&changed),
        ["/apis/apps/v1/namespaces/chat/deployments/demo"]
    );
    let chat = |applied: &[&Recorded]| {
        applied
            .iter()
            .find(|r| r.path == "/apis/apps/v1/namespaces/chat/deployments/demo")
            .map(|r| r.body.clone())
            .unwrap()
    };
    let (old, new) = (&chat(&before), &changed[0].body);
    assert_eq!(new["spec"]["replicas"], 5);
    assert_eq!(
        old["spec"]["template"], new["spec"]["template"],
        "scaling must not roll the pods"
    );
    assert_eq!(fake.app("demo").status.unwrap().replicas, 5);
}

#[tokio::test]
async fn conflicts_and_server_errors_requeue_with_growing_backoff() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test());
    let ctx = context(client);
    for code in [409, 500] {
        fake.fail(Failure {
            method: Method::PATCH,
            path: "/deployments/demo",
            code,
            times: 1,
        });
    }

    let mut delays = Vec::new();
    for _ in 0..2 {
        let app = Arc::new(fake.app("demo"));
        let err = reconcile(app.clone(), ctx.clone()).await.unwrap_err();
        assert!(
            err.detail().contains("injected failure"),
            "{}",
            err.detail()
        );
        delays.push(error_policy(app, &err, ctx.clone()));
    }
    assert_eq!(
        delays,
        [
            Action::requeue(Duration::from_secs(5)),
            Action::requeue(Duration::from_secs(10))
        ]
    );
    let requests = fake.requests();
    let failed_events: Vec<_> = requests
        .iter()
        .filter(|r| r.path.contains("/events") && r.body["reason"] == "ApplyFailed")
        .collect();
    assert_eq!(failed_events.len(), 2, "{requests:#?}");
    assert_eq!(
        failed_events[1].method,
        Method::PATCH,
        "a repeat is a series"
    );

    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let app = Arc::new(fake.app("demo"));
    let err = crate::error::Error::MissingNamespace;
    assert_eq!(
        error_policy(app, &err, ctx),
        Action::requeue(Duration::from_secs(5)),
        "a success resets the backoff"
    );
}

#[tokio::test]
async fn an_invalid_spec_sets_a_condition_and_creates_nothing() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_managed_and_external_redis());
    let ctx = context(client);

    let action = reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    assert_eq!(action, Action::await_change());
    let requests = fake.requests();
    let writes: Vec<_> = requests
        .iter()
        .filter(|r| r.method != Method::GET && !r.path.contains("/events"))
        .collect();
    assert_eq!(
        paths(&writes),
        [format!("{}/status", app_path("demo"))],
        "only the status is written"
    );
    let app = fake.app("demo");
    let (status, why, message) = condition(&app, READY);
    assert_eq!(
        (status.as_str(), why.as_str()),
        (FALSE, reason::INVALID_SPEC)
    );
    assert!(message.contains("spec.redis"), "{message}");
    let warning = requests
        .iter()
        .find(|r| r.path.ends_with("/events") && r.body["type"] == "Warning");
    assert!(warning.is_some(), "a Warning event: {requests:#?}");
}

#[tokio::test]
async fn server_side_apply_carries_type_field_manager_and_no_nulls() {
    fn no_nulls(v: &Value, at: &str) {
        match v {
            Value::Null => panic!("null at {at}"),
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| no_nulls(v, &format!("{at}.{k}"))),
            Value::Array(a) => a.iter().for_each(|v| no_nulls(v, &format!("{at}[]"))),
            _ => {}
        }
    }
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_persistence().with_load_test(10, 2));
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    let requests = fake.requests();
    let all_applies: Vec<_> = requests.iter().filter(|r| r.is_apply()).collect();
    assert_eq!(all_applies.len(), 12, "11 children and the status");
    for r in all_applies {
        assert!(
            r.query.contains(&format!("fieldManager={FIELD_MANAGER}")),
            "{r:?}"
        );
        assert!(r.query.contains("force=true"), "{r:?}");
        let (_, _, name, _) = r.target().expect("namespaced path");
        assert_eq!(r.body["metadata"]["name"], json!(name), "{r:?}");
        assert!(r.body["apiVersion"].is_string(), "{r:?}");
        assert!(r.body["kind"].is_string(), "{r:?}");
        no_nulls(&r.body, &r.path);
    }
}

#[tokio::test]
async fn a_rejected_child_is_explained_in_status() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_service("NodePort", Some(30222)));
    fake.fail(Failure {
        method: Method::PATCH,
        path: "/services/demo",
        code: 422,
        times: 1,
    });
    let ctx = context(client);

    let err = reconcile_stored(&fake, &ctx, "demo").await.unwrap_err();

    assert_eq!(err.rejection().as_deref(), Some("injected failure 422"));
    let (status, why, message) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!(
        (status.as_str(), why.as_str()),
        (TRUE, reason::APPLY_REJECTED)
    );
    assert!(message.contains("injected failure 422"), "{message}");
}

#[tokio::test]
async fn stuck_pods_make_the_chat_degraded() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test());
    fake.set_pods_ready(false);
    fake.set_pods(vec![json!({
        "metadata": {"name": "demo-abc"},
        "status": {"containerStatuses": [{
            "name": "chat-server", "image": "x", "imageID": "", "ready": false,
            "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "pull access denied"}}
        }]}
    })]);
    let ctx = context(client);

    let action = reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    assert_eq!(action, Action::requeue(super::WHILE_PROGRESSING));
    let app = fake.app("demo");
    let (status, why, message) = condition(&app, DEGRADED);
    assert_eq!(
        (status.as_str(), why.as_str()),
        (TRUE, reason::IMAGE_PULL_BACK_OFF)
    );
    assert!(
        message.contains("demo-abc") && message.contains("ImagePullBackOff"),
        "{message}"
    );
    assert_eq!(condition(&app, READY).1, reason::REDIS_NOT_READY);
}

#[tokio::test]
async fn load_test_is_deployed_on_its_node_port_and_removed_when_disabled() {
    let (client, fake) = FakeApi::start();
    let mut app = ChatApp::test().with_load_test(20, 5).with_workers(2);
    app.spec.load_test.node_port = Some(30223);
    fake.insert_app(&app);
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    let cm = fake
        .object("/api/v1/namespaces/chat/configmaps/demo-locust")
        .expect("locustfile ConfigMap");
    assert_eq!(
        cm["data"]["locustfile.py"].as_str(),
        Some(crate::resources::LOCUSTFILE)
    );
    let svc = fake
        .object("/api/v1/namespaces/chat/services/demo-locust")
        .expect("Locust Service");
    assert_eq!(svc["spec"]["ports"][0]["nodePort"], 30223);
    let dep = fake
        .object("/apis/apps/v1/namespaces/chat/deployments/demo-locust")
        .expect("Locust Deployment");
    let args = &dep["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(
        args.as_array()
            .unwrap()
            .contains(&json!("http://demo:8080")),
        "{args}"
    );
    assert_eq!(
        fake.app("demo").status.unwrap().load_test_node_port,
        Some(30223)
    );
    let workers = fake
        .object("/apis/apps/v1/namespaces/chat/deployments/demo-locust-worker")
        .expect("Locust workers");
    assert_eq!(workers["spec"]["replicas"], 2);
    assert!(
        fake.object("/api/v1/namespaces/chat/services/demo-locust-master")
            .is_some()
    );

    let mut stored = fake.app("demo");
    stored.spec.load_test.enabled = false;
    fake.insert_app(&stored);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let gone = [
        "/api/v1/namespaces/chat/configmaps/demo-locust",
        "/api/v1/namespaces/chat/services/demo-locust",
        "/api/v1/namespaces/chat/services/demo-locust-master",
        "/apis/apps/v1/namespaces/chat/deployments/demo-locust",
        "/apis/apps/v1/namespaces/chat/deployments/demo-locust-worker",
    ];
    for path in gone {
        assert!(fake.object(path).is_none(), "{path} deleted");
    }
    assert_eq!(fake.app("demo").status.unwrap().load_test_node_port, None);
}

#[tokio::test]
async fn a_paused_chat_is_left_alone() {
    let (client, fake) = FakeApi::start();
    let mut app = ChatApp::test();
    app.spec.paused = true;
    fake.insert_app(&app);
    let ctx = context(client);

    let action = reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    assert_eq!(action, Action::await_change());
    assert!(applies(&fake.requests()).is_empty());
    assert_eq!(condition(&fake.app("demo"), PROGRESSING).1, reason::PAUSED);
}

#[tokio::test]
async fn the_default_chatapp_is_created_once() {
    let (client, fake) = FakeApi::start();
    assert!(
        crate::ensure_default(&client, "chat", Some("reg.example/chat:1"))
            .await
            .unwrap()
    );
    assert!(!crate::ensure_default(&client, "chat", None).await.unwrap());
    let app = fake.app(crate::DEFAULT_NAME);
    assert_eq!(app.spec.service.node_port, Some(crate::DEFAULT_NODE_PORT));
    assert_eq!(
        app.spec.load_test.node_port,
        Some(crate::DEFAULT_LOCUST_NODE_PORT)
    );
    assert!(!app.spec.load_test.enabled, "Locust is off by default");
    assert_eq!(app.spec.image, "reg.example/chat:1");
}

#[tokio::test]
async fn a_child_deleted_by_hand_is_applied_again() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test());
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let path = "/api/v1/namespaces/chat/services/demo";
    let before = fake.remove(path).expect("the chat Service was created");

    // The Service watch (Controller::owns) maps the deletion to its owner: one more reconcile.
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    let after = fake.object(path).expect("the chat Service is back");
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(
        after["metadata"]["ownerReferences"],
        before["metadata"]["ownerReferences"]
    );
}

#[tokio::test]
async fn a_chatapp_without_uid_gets_no_children() {
    let (client, fake) = FakeApi::start();
    let mut app = ChatApp::test();
    app.metadata.uid = None;
    fake.insert_app(&app);
    let ctx = context(client);

    let err = reconcile_stored(&fake, &ctx, "demo").await.unwrap_err();

    assert!(
        matches!(err, crate::error::Error::MissingUid),
        "{}",
        err.detail()
    );
    assert!(
        applies(&fake.requests()).is_empty(),
        "{:#?}",
        fake.requests()
    );
}

#[tokio::test]
async fn a_failed_apply_lands_in_status_with_reason_message_and_generation() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test());
    fake.fail(Failure {
        method: Method::PATCH,
        path: "/deployments/demo",
        code: 500,
        times: 1,
    });
    let ctx = context(client);

    reconcile_stored(&fake, &ctx, "demo").await.unwrap_err();

    let app = fake.app("demo");
    let status = app.status.clone().expect("a status, not only events");
    assert_eq!(status.observed_generation, Some(1));
    let (degraded, why, message) = condition(&app, DEGRADED);
    assert_eq!(
        (degraded.as_str(), why.as_str()),
        (TRUE, reason::APPLY_FAILED)
    );
    assert!(
        message.contains("Deployment demo") && message.contains("500"),
        "{message}"
    );
    assert_eq!(condition(&app, READY).1, reason::APPLY_FAILED);
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(1))
    );
}

#[tokio::test]
async fn a_taken_node_port_is_retried_every_few_seconds() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_service("NodePort", Some(30222)));
    let taken = "Service \"demo\" is invalid: spec.ports[0].nodePort: Invalid value: 30222: provided port is already allocated";
    let failure = Failure {
        method: Method::PATCH,
        path: "/services/demo",
        code: 422,
        times: 3,
    };
    fake.fail_with(failure, taken);
    let ctx = context(client);

    let mut delays = Vec::new();
    for _ in 0..3 {
        let app = Arc::new(fake.app("demo"));
        let err = reconcile(app.clone(), ctx.clone()).await.unwrap_err();
        delays.push(error_policy(app, &err, ctx.clone()));
    }

    let retry = Action::requeue(Duration::from_secs(super::status::PORT_RETRY_SECS));
    assert_eq!(
        delays,
        [retry.clone(), retry.clone(), retry],
        "no growing backoff"
    );
    const { assert!(super::status::PORT_RETRY_SECS <= 10) };
    let (_, why, message) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!(why, reason::NODE_PORT_CONFLICT);
    assert!(message.contains("30222"), "{message}");
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert_eq!(
        condition(&fake.app("demo"), DEGRADED).1,
        reason::AS_EXPECTED
    );
}

#[tokio::test]
async fn a_pending_claim_is_the_problem_reported() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_persistence());
    fake.set_status(
        "/api/v1/namespaces/chat/persistentvolumeclaims/demo-redis",
        json!({"phase": "Pending"}),
    );
    fake.set_pods_ready(false);
    let ctx = context(client);

    reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    let (degraded, why, message) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!(
        (degraded.as_str(), why.as_str()),
        (TRUE, reason::PVC_PENDING)
    );
    assert!(message.contains("demo-redis"), "{message}");
}
