//! Least privilege, derived: the operator runs against the fake API server (the real
//! `crate::run`, with leader election, its watches and the default-ChatApp creation, and the
//! lease released at shutdown; then reconciles that exercise
//! deletes, pod listing and event series), every request it made is turned into the
//! (API group, resource, verb) the API server would authorize, and that set must equal what
//! `bundle::RULES` grants — nothing missing, nothing extra.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use kube::runtime::events::Reporter;

use super::{DEFAULT_OPERATOR_IMAGE, RULES, bundle_yaml, role};
use crate::controller::{Context, FIELD_MANAGER, WATCHED, reconcile};
use crate::crd::ChatApp;
use crate::fixtures::{Failure, FakeApi, Recorded, TestApp};

type Permission = (String, String, String);

/// What the API server checks for one request.
fn permissions(r: &Recorded) -> Vec<Permission> {
    if crate::fixtures::is_discovery(&r.path) {
        // Discovery needs no Role rule (system:discovery grants it to every user).
        return Vec::new();
    }
    let (group, resource, name, sub) = r.target().unwrap_or_else(|| panic!("{r:?}"));
    let resource = match sub {
        Some(sub) => format!("{resource}/{sub}"),
        None => resource.to_owned(),
    };
    let verbs: &[&str] = match (&r.method, name) {
        (&Method::GET, None) if r.is_watch() => &["watch"],
        (&Method::GET, None) => &["list"],
        (&Method::GET, Some(_)) => &["get"],
        (&Method::POST, _) => &["create"],
        (&Method::PUT, _) => &["update"],
        // Server-side apply of an object that does not exist yet is authorized as a create.
        (&Method::PATCH, _) if r.is_apply() && sub.is_none() => &["patch", "create"],
        (&Method::PATCH, _) => &["patch"],
        (&Method::DELETE, _) => &["delete"],
        (m, _) => panic!("unexpected method {m} in {r:?}"),
    };
    let mut out: Vec<Permission> = verbs
        .iter()
        .map(|v| (group.to_owned(), resource.clone(), (*v).to_owned()))
        .collect();
    // An owner reference that blocks the owner's deletion needs update on chatapps/finalizers.
    let blocks = r.body["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|refs| refs.iter().any(|o| o["blockOwnerDeletion"] == true));
    if blocks {
        out.push((
            "chatapp.dev".into(),
            "chatapps/finalizers".into(),
            "update".into(),
        ));
    }
    out
}

fn granted() -> BTreeSet<Permission> {
    RULES
        .iter()
        .flat_map(|(group, resource, verbs)| {
            verbs
                .iter()
                .map(|v| ((*group).to_owned(), (*resource).to_owned(), (*v).to_owned()))
        })
        .collect()
}

/// Runs the whole operator until it has listed and watched every kind and reconciled `demo`.
async fn run_operator(fake: &FakeApi, client: kube::Client) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let settings = crate::Settings {
        namespace: "chat".into(),
        ensure_default: true,
        default_image: None,
        concurrency: 2,
        instance: Some("test".into()),
        leader_elect: true,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let shutdown = async move {
        let _ = stopped.await;
    };
    let operator = tokio::spawn(crate::run(settings, client, listener, shutdown));
    let done = |requests: &[Recorded]| {
        let watched = WATCHED.iter().all(|(group, resource)| {
            let seen = |watch: bool| {
                requests.iter().any(|r| {
                    r.is_watch() == watch
                        && r.method == Method::GET
                        && r.target().is_some_and(|(g, res, name, _)| {
                            g == *group && res == *resource && name.is_none()
                        })
                })
            };
            seen(false) && seen(true)
        });
        let created_default = requests
            .iter()
            .any(|r| r.method == Method::POST && r.path.ends_with("/chatapps"));
        let reconciled = requests
            .iter()
            .any(|r| r.is_status_write() && r.path.contains("/chatapps/demo/"));
        let leading = requests
            .iter()
            .any(|r| r.method == Method::POST && r.path.ends_with("/leases"));
        leading && watched && created_default && reconciled
    };
    // A bound, not a timing assertion: the operator gets a minute to do a few dozen requests.
    let mut waited = Duration::ZERO;
    while !done(&fake.requests()) {
        assert!(
            waited < Duration::from_secs(60),
            "the operator never listed, watched and reconciled: {:#?}",
            fake.requests()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), operator)
        .await
        .expect("the operator stops on shutdown")
        .expect("operator task")
        .expect("operator result");
    let lease = fake
        .object("/apis/coordination.k8s.io/v1/namespaces/chat/leases/chatapp-operator")
        .expect("the lease exists");
    assert!(
        lease["spec"]["holderIdentity"].is_null(),
        "released at shutdown: {lease:#}"
    );
}

#[tokio::test]
async fn rbac_is_derived_from_what_the_operator_calls() {
    let (client, fake) = FakeApi::start();
    let mut app = ChatApp::test()
        .with_persistence()
        .with_load_test(10, 2)
        .with_ingress("chat.example.com")
        .with_autoscaling(Some(500))
        .with_support_api(None, |_| {});
    app.spec.load_test.node_port = Some(30223);
    app.spec.monitoring.enabled = true;
    fake.serve_api("custom.metrics.k8s.io/v1beta1", &["pods/chat_connections"]);
    fake.serve_api(
        "monitoring.coreos.com/v1",
        &["servicemonitors", "prometheusrules"],
    );
    fake.insert_app(&app);
    run_operator(&fake, client.clone()).await;

    // What the watches do not trigger here: removing children (NetworkPolicies included),
    // explaining stuck pods, and an
    // event repeated within its series window (a PATCH of the event).
    let reporter = Reporter {
        controller: FIELD_MANAGER.into(),
        instance: None,
    };
    let ctx = Arc::new(Context::new(client, reporter, Arc::default()));
    let mut smaller = fake.app("demo").with_replicas(1);
    smaller.spec.load_test.enabled = false;
    smaller.spec.network_policy.enabled = false;
    smaller.spec.ingress = None;
    smaller.spec.autoscaling = None;
    smaller.spec.monitoring.enabled = false;
    smaller.spec.support_api.enabled = false;
    fake.insert_app(&smaller);
    fake.set_pods_ready(false);
    reconcile(Arc::new(fake.app("demo")), ctx.clone())
        .await
        .unwrap();
    fake.fail(Failure {
        method: Method::PATCH,
        path: "/deployments/demo",
        code: 500,
        times: 2,
    });
    for _ in 0..2 {
        reconcile(Arc::new(fake.app("demo")), ctx.clone())
            .await
            .unwrap_err();
    }

    // A managed database whose claim is Pending: its Secret is created once, its claim read.
    let durable = fake.app("demo").with_managed_database(|_| {});
    fake.insert_app(&durable);
    fake.insert(
        "/api/v1/namespaces/chat/persistentvolumeclaims/data-demo-pg-0",
        serde_json::json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data-demo-pg-0"}, "status": {"phase": "Pending"}}),
    );
    reconcile(Arc::new(fake.app("demo")), ctx.clone())
        .await
        .unwrap();
    let mut durable = fake.app("demo");
    durable.spec.database = None;
    fake.insert_app(&durable);

    // An external Redis: its Secret is read before anything is switched.
    fake.insert(
        "/api/v1/namespaces/chat/secrets/redis-url",
        serde_json::json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "redis-url"}, "data": {"url": "cmVkaXM6Ly9yOjYzNzk="}}),
    );
    let mut external = fake.app("demo").with_external_redis();
    external.spec.redis.managed = None;
    fake.insert_app(&external);
    reconcile(Arc::new(fake.app("demo")), ctx.clone())
        .await
        .unwrap();

    let requests = fake.requests();
    let used: BTreeSet<Permission> = requests.iter().flat_map(permissions).collect();
    let granted = granted();
    let missing: Vec<_> = used.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&used).collect();
    assert!(missing.is_empty(), "used but not granted: {missing:?}");
    assert!(unused.is_empty(), "granted but never used: {unused:?}");
}

#[test]
fn the_role_has_no_wildcards_and_only_gets_secrets() {
    for rule in role().rules.unwrap() {
        let words = rule
            .api_groups
            .iter()
            .flatten()
            .chain(rule.resources.iter().flatten())
            .chain(&rule.verbs);
        for word in words {
            assert_ne!(word, "*", "{rule:?}");
        }
        // Secrets: `get` of the ones the spec names and `create` of the managed database's and
        // the support API's,
        // never list or watch (which would hand every Secret of the namespace to the operator).
        if rule
            .resources
            .iter()
            .flatten()
            .any(|r| r.starts_with("secrets"))
        {
            assert_eq!(rule.verbs, ["create", "get"], "{rule:?}");
        }
        assert!(rule.resource_names.is_none() && rule.non_resource_urls.is_none());
    }
}

#[test]
fn the_bundle_grants_nothing_cluster_scoped_not_even_storage_classes() {
    // Whether the cluster has a default StorageClass is learned with a dry-run claim (create on
    // persistentvolumeclaims, granted for Redis anyway): a ClusterRoleBinding would have to name
    // the operator's namespace, which the bundle leaves to `kubectl apply -n`.
    assert!(
        RULES
            .iter()
            .all(|(_, resource, _)| *resource != "storageclasses"),
        "{RULES:?}"
    );
    let bundle = bundle_yaml(DEFAULT_OPERATOR_IMAGE, None);
    assert!(
        !bundle.contains("kind: ClusterRole"),
        "cluster-scoped RBAC in the bundle"
    );
}
