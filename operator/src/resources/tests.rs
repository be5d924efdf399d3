//! Builder tests over varied specs.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::*;
use crate::crd::ChatApp;
use crate::fixtures::TestApp;
use crate::resources::chat::{CONFIG_HASH_ANNOTATION, HEALTHZ, READYZ, termination_grace};

fn varied() -> Vec<ChatApp> {
    vec![
        ChatApp::test(),
        ChatApp::test().with_replicas(0),
        ChatApp::test().with_replicas(1),
        ChatApp::test().with_replicas(7).with_persistence(),
        ChatApp::test()
            .with_external_redis()
            .with_service("LoadBalancer", Some(30100)),
        ChatApp::test()
            .with_load_test(100, 10)
            .with_service("ClusterIP", None),
        ChatApp::test().with_load_test(100, 10).with_workers(3),
        ChatApp::test().with_managed_database(|_| {}),
        ChatApp::test().with_managed_database(|d| {
            d.delete_data_with_chat_app = true;
            d.storage.ephemeral = true;
        }),
        ChatApp::test().with_external_database(),
    ]
}

/// Every object of `d` as JSON, with its kind.
fn objects(d: &Desired) -> Vec<(String, Value)> {
    d.to_json()
        .into_iter()
        .map(|obj| (obj["kind"].as_str().unwrap().to_owned(), obj))
        .collect()
}

fn pod_specs(d: &Desired) -> Vec<PodSpec> {
    [
        Some(&d.chat_deployment),
        d.redis_deployment.as_ref(),
        d.locust_deployment.as_ref(),
        d.locust_worker_deployment.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|dep| dep.spec.clone().unwrap().template.spec.unwrap())
    .chain(
        d.postgres_statefulset
            .iter()
            .map(|s| s.spec.clone().unwrap().template.spec.unwrap()),
    )
    .collect()
}

#[test]
fn every_pod_meets_restricted_with_read_only_root() {
    for app in varied() {
        for pod in pod_specs(&Desired::build(&app)) {
            let psc = pod.security_context.clone().unwrap();
            assert_eq!(psc.run_as_non_root, Some(true), "{pod:?}");
            assert!(psc.run_as_user.is_some_and(|u| u > 0), "{pod:?}");
            assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
            assert!(pod.host_network.is_none() && pod.host_pid.is_none());
            assert_eq!(pod.enable_service_links, Some(false), "{pod:?}");
            for c in pod
                .containers
                .iter()
                .chain(pod.init_containers.iter().flatten())
            {
                let sc = c
                    .security_context
                    .clone()
                    .unwrap_or_else(|| panic!("{c:?}"));
                assert_eq!(sc.allow_privilege_escalation, Some(false), "{c:?}");
                assert_eq!(sc.read_only_root_filesystem, Some(true), "{c:?}");
                assert_eq!(
                    sc.capabilities.unwrap().drop,
                    Some(vec!["ALL".to_owned()]),
                    "{c:?}"
                );
                assert_eq!(sc.run_as_non_root, Some(true));
                assert_eq!(sc.seccomp_profile.unwrap().type_, "RuntimeDefault");
            }
        }
    }
}

#[test]
fn redis_runs_as_999_with_appendonly_only_when_persistent() {
    let persistent = Desired::build(&ChatApp::test().with_persistence());
    let dep = persistent.redis_deployment.unwrap();
    let spec = dep.spec.unwrap();
    assert_eq!(spec.strategy.unwrap().type_.as_deref(), Some("Recreate"));
    let pod = spec.template.spec.unwrap();
    assert_eq!(pod.security_context.unwrap().run_as_user, Some(999));
    let args = pod.containers[0].args.clone().unwrap().join(" ");
    assert!(args.contains("--appendonly yes"), "{args}");
    let claim = pod.volumes.unwrap()[0]
        .persistent_volume_claim
        .clone()
        .unwrap();
    assert_eq!(claim.claim_name, "demo-redis");
    let pvc = persistent.redis_pvc.unwrap().spec.unwrap();
    assert_eq!(pvc.storage_class_name.as_deref(), Some("fast"));

    let ephemeral = Desired::build(&ChatApp::test());
    assert!(ephemeral.redis_pvc.is_none());
    let args = ephemeral
        .redis_deployment
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap()
        .containers[0]
        .args
        .clone()
        .unwrap()
        .join(" ");
    assert!(args.contains("--appendonly no"), "{args}");
}

#[test]
fn every_child_has_a_controller_owner_reference_with_uid() {
    for app in varied() {
        for (kind, obj) in objects(&Desired::build(&app)) {
            let owners = &obj["metadata"]["ownerReferences"];
            if kind == "Secret" && postgres::keeps_data(&app) {
                // The managed database's password lives as long as its kept data.
                assert!(owners.is_null(), "{obj}");
                continue;
            }
            assert_eq!(owners.as_array().map(Vec::len), Some(1), "{kind}: {obj}");
            let owner = &owners[0];
            assert_eq!(owner["uid"], app.metadata.uid.clone().unwrap(), "{kind}");
            assert_eq!(owner["controller"], true);
            assert_eq!(owner["kind"], "ChatApp");
            assert_eq!(owner["apiVersion"], "chatapp.dev/v1alpha1");
            assert_eq!(obj["metadata"]["namespace"], "chat", "{kind}");
            assert_eq!(
                obj["metadata"]["labels"]["app.kubernetes.io/managed-by"],
                MANAGED_BY
            );
        }
    }
}

#[test]
fn a_chatapp_without_uid_owns_nothing() {
    let mut app = ChatApp::test();
    app.metadata.uid = None;
    assert_eq!(owner_reference(&app), None);
    for (kind, obj) in objects(&Desired::build(&app)) {
        assert!(
            obj["metadata"]["ownerReferences"].is_null(),
            "{kind}: {obj}"
        );
    }
    let owner = owner_reference(&ChatApp::test()).unwrap();
    assert_eq!(
        owner.block_owner_deletion, None,
        "needs no chatapps/finalizers"
    );
}

#[test]
fn objects_serialize_without_nulls() {
    fn no_nulls(v: &Value, path: &str) {
        match v {
            Value::Null => panic!("null at {path}"),
            Value::Object(m) => m
                .iter()
                .for_each(|(k, v)| no_nulls(v, &format!("{path}.{k}"))),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, v)| no_nulls(v, &format!("{path}[{i}]"))),
            _ => {}
        }
    }
    for app in varied() {
        for (kind, obj) in objects(&Desired::build(&app)) {
            no_nulls(&obj, &kind);
        }
    }
}

#[test]
fn chat_server_probes_env_and_shutdown_match_the_server() {
    let app = ChatApp::test().with_chat(|c| {
        c.drain_delay_secs = 4;
        c.shutdown_grace_secs = 12;
    });
    let dep = chat_deployment(&app);
    let pod = dep.spec.unwrap().template.spec.unwrap();
    let c = &pod.containers[0];
    let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.clone().unwrap().http_get.unwrap().path.unwrap()
    };
    assert_eq!(path(&c.liveness_probe), "/healthz");
    assert_eq!(path(&c.readiness_probe), "/readyz");
    assert_eq!(c.ports.clone().unwrap()[0].container_port, 8080);
    let env: BTreeMap<String, String> = c
        .env
        .clone()
        .unwrap()
        .into_iter()
        .filter_map(|e| Some((e.name, e.value?)))
        .collect();
    assert_eq!(env["CHATAPP_LISTEN"], "0.0.0.0:8080");
    assert_eq!(env["CHATAPP_LOG_FORMAT"], "json");
    assert_eq!(env["CHATAPP_REDIS_URL"], "redis://demo-redis:6379");
    assert_eq!(env["CHATAPP_DRAIN_DELAY_SECS"], "4");
    assert_eq!(env["CHATAPP_SHUTDOWN_GRACE_SECS"], "12");
    let sleep = c
        .lifecycle
        .clone()
        .unwrap()
        .pre_stop
        .unwrap()
        .sleep
        .unwrap();
    assert_eq!(sleep.seconds, 4);
    assert_eq!(
        pod.termination_grace_period_seconds,
        Some(termination_grace(&app))
    );
    assert!(termination_grace(&app) > 4 + 4 + 12);
}

#[test]
fn a_pod_waiting_for_redis_is_unready_but_never_restarted() {
    let pod = chat_deployment(&ChatApp::test())
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    let c = &pod.containers[0];
    let get = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        let p = p.clone().unwrap_or_else(|| panic!("{c:?}"));
        let path = p.http_get.clone().unwrap().path.unwrap();
        (path, p)
    };
    let (ready, _) = get(&c.readiness_probe);
    assert_eq!(ready, READYZ, "only readiness depends on Redis");
    for (path, probe) in [get(&c.liveness_probe), get(&c.startup_probe)] {
        assert_eq!(path, HEALTHZ, "a probe that restarts must not need Redis");
        assert!(probe.exec.is_none() && probe.tcp_socket.is_none());
    }
    let (_, startup) = get(&c.startup_probe);
    let budget = startup.period_seconds.unwrap() * startup.failure_threshold.unwrap();
    assert!(
        budget >= 60,
        "a slow first start gets {budget} s before a restart"
    );
}

#[test]
fn external_redis_url_comes_from_the_secret() {
    let app = ChatApp::test().with_external_redis();
    let d = Desired::build(&app);
    assert!(d.redis_deployment.is_none() && d.redis_service.is_none() && d.redis_pvc.is_none());
    let env = chat_env(&app);
    let url = env.iter().find(|e| e.name == "CHATAPP_REDIS_URL").unwrap();
    assert!(url.value.is_none());
    let secret = url.value_from.clone().unwrap().secret_key_ref.unwrap();
    assert_eq!(
        (secret.name.as_str(), secret.key.as_str()),
        ("redis-url", "url")
    );
}

#[test]
fn pdb_only_when_more_than_one_replica_and_replicas_follow_spec() {
    for (replicas, pdb) in [(0, false), (1, false), (2, true), (100, true)] {
        let d = Desired::build(&ChatApp::test().with_replicas(replicas));
        assert_eq!(d.chat_pdb.is_some(), pdb, "replicas {replicas}");
        assert_eq!(d.chat_deployment.spec.unwrap().replicas, Some(replicas));
    }
}

#[test]
fn config_hash_changes_with_settings_only() {
    let base = ChatApp::test();
    let hash = |app: &ChatApp| {
        chat_deployment(app)
            .spec
            .unwrap()
            .template
            .metadata
            .unwrap()
            .annotations
            .unwrap()[CONFIG_HASH_ANNOTATION]
            .clone()
    };
    assert_eq!(
        hash(&base),
        hash(&ChatApp::test()),
        "the hash must be stable"
    );
    assert_eq!(
        hash(&base),
        hash(&ChatApp::test().with_replicas(9)),
        "scaling is not a setting"
    );
    let changed = [
        ChatApp::test().with_chat(|c| c.history_len = 500),
        ChatApp::test().with_chat(|c| c.allowed_origins = vec!["https://chat.example".into()]),
        ChatApp::test().with_external_redis(),
    ];
    for app in changed {
        assert_ne!(hash(&base), hash(&app), "{:?}", app.spec.chat);
    }
}

#[test]
fn service_node_port_and_type() {
    let svc = chat_service(&ChatApp::test().with_service("NodePort", Some(30222)))
        .spec
        .unwrap();
    assert_eq!(svc.type_.as_deref(), Some("NodePort"));
    assert_eq!(svc.ports.unwrap()[0].node_port, Some(30222));
    // Client addresses survive the node port, for the per-address limits.
    assert_eq!(svc.external_traffic_policy.as_deref(), Some("Local"));
    let svc = chat_service(&ChatApp::test().with_service("LoadBalancer", None))
        .spec
        .unwrap();
    assert_eq!(svc.external_traffic_policy.as_deref(), Some("Local"));
    let svc = chat_service(&ChatApp::test().with_service("ClusterIP", None))
        .spec
        .unwrap();
    assert_eq!(svc.ports.unwrap()[0].node_port, None);
    assert_eq!(
        svc.external_traffic_policy, None,
        "not allowed on ClusterIP"
    );
}

#[test]
fn load_test_objects_only_when_enabled() {
    let off = Desired::build(&ChatApp::test());
    assert!(
        off.locust_configmap.is_none()
            && off.locust_deployment.is_none()
            && off.locust_service.is_none()
    );
    let mut app = ChatApp::test().with_load_test(200, 20);
    app.spec.load_test.node_port = Some(30223);
    let on = Desired::build(&app);
    let cm = on.locust_configmap.unwrap();
    assert_eq!(cm.data.unwrap()["locustfile.py"], LOCUSTFILE);
    let svc = on.locust_service.unwrap().spec.unwrap();
    assert_eq!(svc.type_.as_deref(), Some("NodePort"));
    assert_eq!(svc.ports.unwrap()[0].node_port, Some(30223));
    let pod = on
        .locust_deployment
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    let args = pod.containers[0].args.clone().unwrap().join(" ");
    assert!(args.contains("-H http://demo:8080"), "{args}");
    assert!(
        args.contains("--users 200") && args.contains("--spawn-rate 20"),
        "{args}"
    );
    assert!(
        args.contains("--web-port 8089") && !args.contains("--autostart"),
        "{args}"
    );
    assert_eq!(
        pod.containers[0].image.as_deref(),
        Some(crate::crd::DEFAULT_LOCUST_IMAGE)
    );
}

#[test]
fn locust_workers_reach_a_master_that_keeps_its_port_off_the_nodes() {
    let standalone = Desired::build(&ChatApp::test().with_load_test(10, 2));
    assert!(standalone.locust_worker_deployment.is_none());
    assert!(standalone.locust_master_service.is_none());

    let d = Desired::build(&ChatApp::test().with_load_test(300, 30).with_workers(3));
    let master = d
        .locust_deployment
        .unwrap()
        .spec
        .unwrap()
        .template
        .spec
        .unwrap();
    let args = master.containers[0].args.clone().unwrap().join(" ");
    assert!(
        args.contains("--master --master-bind-port 5557 --expect-workers 3"),
        "{args}"
    );
    let workers = d.locust_worker_deployment.unwrap();
    assert_eq!(workers.metadata.name.as_deref(), Some("demo-locust-worker"));
    let spec = workers.spec.unwrap();
    assert_eq!(spec.replicas, Some(3));
    let worker = &spec.template.spec.unwrap().containers[0];
    let args = worker.args.clone().unwrap().join(" ");
    assert!(
        args.contains("--worker --master-host demo-locust-master --master-port 5557"),
        "{args}"
    );
    let svc = d.locust_master_service.unwrap();
    assert_eq!(svc.metadata.name.as_deref(), Some("demo-locust-master"));
    let svc = svc.spec.unwrap();
    assert_eq!(svc.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(
        svc.selector,
        Some(selector_labels(&ChatApp::test(), Component::Locust)),
        "the master pod, not the workers"
    );
    let web = d.locust_service.unwrap().spec.unwrap().ports.unwrap();
    assert_eq!(web.len(), 1, "only the web UI on the NodePort: {web:?}");
}

#[test]
fn network_policies_fence_redis_to_its_chat_and_the_chat_to_its_port() {
    let app = ChatApp::test();
    let d = Desired::build(&app);
    let redis = d.redis_network_policy.expect("on by default").spec.unwrap();
    assert_eq!(
        redis.pod_selector.unwrap().match_labels,
        Some(selector_labels(&app, Component::Redis))
    );
    assert_eq!(redis.policy_types, Some(vec!["Ingress".to_owned()]));
    let rules = redis.ingress.unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    let from = rules[0].from.clone().unwrap();
    assert_eq!(from.len(), 1, "only the chat pods: {from:?}");
    let chat_pods = from[0].pod_selector.clone().unwrap().match_labels.unwrap();
    assert_eq!(chat_pods, selector_labels(&app, Component::Chat));
    assert_eq!(
        chat_pods["app.kubernetes.io/instance"], "demo",
        "not another ChatApp's"
    );
    assert!(from[0].namespace_selector.is_none() && from[0].ip_block.is_none());
    let port = rules[0].ports.clone().unwrap()[0].port.clone();
    assert_eq!(port, Some(IntOrString::Int(REDIS_PORT)));

    let chat = d.chat_network_policy.unwrap().spec.unwrap();
    assert_eq!(
        chat.pod_selector.unwrap().match_labels,
        Some(selector_labels(&app, Component::Chat))
    );
    let rules = chat.ingress.unwrap();
    assert_eq!(rules[0].from, None, "the chat port is open to every client");
    let port = rules[0].ports.clone().unwrap()[0].port.clone();
    assert_eq!(port, Some(IntOrString::Int(CHAT_PORT)));

    let external = Desired::build(&ChatApp::test().with_external_redis());
    assert!(external.redis_network_policy.is_none() && external.chat_network_policy.is_some());
    let mut off = ChatApp::test();
    off.spec.network_policy.enabled = false;
    let off = Desired::build(&off);
    assert!(off.redis_network_policy.is_none() && off.chat_network_policy.is_none());
}

#[test]
fn quantities_are_read_as_kubernetes_writes_them() {
    use crate::resources::redis::quantity_bytes;
    for (q, bytes) in [
        ("1000", 1000),
        ("512Mi", 512 << 20),
        ("1Gi", 1 << 30),
        ("1.5Gi", 3 << 29),
        ("1G", 1_000_000_000),
        ("1e3", 1000),
        ("128k", 128_000),
        ("1E", 1_000_000_000_000_000_000),
    ] {
        assert_eq!(quantity_bytes(q), Some(bytes), "{q}");
    }
    for bad in ["", "Mi", "1Xi", "-1Gi", "one"] {
        assert_eq!(quantity_bytes(bad), None, "{bad}");
    }
}

/// The managed Redis never evicts (the chat-server refuses to be ready on one that may), and
/// with a memory limit it refuses writes at 80 % of it, before the kubelet OOM-kills it.
#[test]
fn managed_redis_refuses_writes_before_its_memory_limit() {
    use k8s_openapi::api::core::v1::ResourceRequirements;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    fn args(app: &ChatApp) -> Vec<String> {
        let dep = Desired::build(app).redis_deployment.unwrap();
        dep.spec.unwrap().template.spec.unwrap().containers[0]
            .args
            .clone()
            .unwrap()
    }
    fn flag(args: &[String], name: &str) -> String {
        let at = args
            .iter()
            .position(|a| a == name)
            .unwrap_or_else(|| panic!("{name} in {args:?}"));
        args[at + 1].clone()
    }
    let unlimited = args(&ChatApp::test());
    assert_eq!(flag(&unlimited, "--maxmemory-policy"), "noeviction");
    assert_eq!(
        flag(&unlimited, "--maxmemory"),
        "0",
        "no limit, no maxmemory"
    );
    let mut app = ChatApp::test().with_persistence();
    app.spec.redis.managed.as_mut().unwrap().resources = Some(ResourceRequirements {
        limits: Some([("memory".to_owned(), Quantity("1Gi".into()))].into()),
        ..Default::default()
    });
    let limited = args(&app);
    assert_eq!(flag(&limited, "--maxmemory-policy"), "noeviction");
    assert_eq!(
        flag(&limited, "--maxmemory"),
        ((1u64 << 30) / 100 * 80).to_string()
    );
}

/// The Ingress routes host/path to the chat Service's port, with TLS when asked, and its host
/// becomes the server's public URL (https with TLS) unless chat.publicUrl is set.
#[test]
fn ingress_routes_to_the_chat_and_sets_the_public_url() {
    assert!(Desired::build(&ChatApp::test()).chat_ingress.is_none());
    let env = |app: &ChatApp| {
        chat_env(app)
            .into_iter()
            .find(|e| e.name == "CHATAPP_PUBLIC_URL")
            .and_then(|e| e.value)
    };
    assert_eq!(env(&ChatApp::test()), None);
    let app = ChatApp::test().with_ingress("chat.example.com");
    let ing = Desired::build(&app).chat_ingress.unwrap();
    let spec = ing.spec.clone().unwrap();
    assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
    let rule = &spec.rules.unwrap()[0];
    assert_eq!(rule.host.as_deref(), Some("chat.example.com"));
    let path = &rule.http.as_ref().unwrap().paths[0];
    assert_eq!(
        (path.path.as_deref(), path.path_type.as_str()),
        (Some("/"), "Prefix")
    );
    let backend = path.backend.service.as_ref().unwrap();
    assert_eq!(backend.name, "demo");
    assert_eq!(backend.port.as_ref().unwrap().number, Some(CHAT_PORT));
    assert!(spec.tls.is_none());
    assert_eq!(env(&app).as_deref(), Some("http://chat.example.com"));

    let mut tls = app.clone();
    tls.spec.ingress.as_mut().unwrap().tls_secret_name = Some("chat-cert".into());
    let spec = chat_ingress(&tls).unwrap().spec.unwrap();
    let t = &spec.tls.unwrap()[0];
    assert_eq!(t.secret_name.as_deref(), Some("chat-cert"));
    assert_eq!(t.hosts, Some(vec!["chat.example.com".to_owned()]));
    assert_eq!(env(&tls).as_deref(), Some("https://chat.example.com"));

    // A cert-manager issuer annotation alone: TLS from NAME-tls, which cert-manager fills.
    let mut issuer = app.clone();
    issuer.spec.ingress.as_mut().unwrap().annotations = Some(
        [(
            "cert-manager.io/cluster-issuer".to_owned(),
            "letsencrypt".to_owned(),
        )]
        .into(),
    );
    let ing = chat_ingress(&issuer).unwrap();
    assert_eq!(
        ing.metadata.annotations.unwrap()["cert-manager.io/cluster-issuer"],
        "letsencrypt"
    );
    assert_eq!(
        ing.spec.unwrap().tls.unwrap()[0].secret_name.as_deref(),
        Some("demo-tls")
    );
    assert_eq!(env(&issuer).as_deref(), Some("https://chat.example.com"));

    let own = app.with_chat(|c| c.public_url = Some("https://other.example".into()));
    assert_eq!(env(&own).as_deref(), Some("https://other.example"));
}

/// The HPA scales the ChatApp (its scale subresource), never the Deployment, on CPU, and on
/// connections per pod only where a custom metrics API serves them.
#[test]
fn autoscaling_targets_the_chatapp_and_uses_connections_only_when_served() {
    assert!(Desired::build(&ChatApp::test()).chat_hpa.is_none());
    let app = ChatApp::test().with_autoscaling(Some(500));
    let hpa = Desired::build(&app).chat_hpa.unwrap();
    let spec = hpa.spec.unwrap();
    assert_eq!(spec.scale_target_ref.kind, "ChatApp");
    assert_eq!(
        spec.scale_target_ref.api_version.as_deref(),
        Some("chatapp.dev/v1alpha1")
    );
    assert_eq!(spec.scale_target_ref.name, "demo");
    assert_eq!((spec.min_replicas, spec.max_replicas), (Some(2), 10));
    let metrics = spec.metrics.unwrap();
    assert_eq!(metrics.len(), 1, "no custom metrics API: CPU only");
    let cpu = metrics[0].resource.as_ref().unwrap();
    assert_eq!(
        (cpu.name.as_str(), cpu.target.average_utilization),
        ("cpu", Some(70))
    );

    let apis = ClusterApis {
        custom_metrics: true,
        ..Default::default()
    };
    let metrics = Desired::build_for(&app, apis)
        .chat_hpa
        .unwrap()
        .spec
        .unwrap()
        .metrics
        .unwrap();
    let pods = metrics[1].pods.as_ref().unwrap();
    assert_eq!(pods.metric.name, CONNECTIONS_METRIC);
    assert_eq!(pods.target.type_, "AverageValue");
    assert_eq!(pods.target.average_value.as_ref().unwrap().0, "500");
    // The Deployment follows spec.replicas, which the HPA writes through the scale subresource.
    let mut scaled = app.clone();
    scaled.spec.replicas = 7;
    let dep = Desired::build_for(&scaled, apis).chat_deployment;
    assert_eq!(dep.spec.unwrap().replicas, Some(7));
}

#[test]
fn the_account_settings_reach_the_chat_pods_and_roll_them() {
    let env_of = |app: &ChatApp| -> BTreeMap<String, String> {
        chat_env(app)
            .into_iter()
            .filter_map(|v| Some((v.name, v.value?)))
            .collect()
    };
    let defaults = env_of(&ChatApp::test());
    assert_eq!(defaults["CHATAPP_ADMINS"], "");
    assert_eq!(defaults["CHATAPP_GUEST_POSTING"], "false");
    assert_eq!(defaults["CHATAPP_COOKIE_SECURE"], "auto");
    assert_eq!(defaults["CHATAPP_SESSION_TTL_HOURS"], "720");
    let app = ChatApp::test().with_chat(|c| {
        c.admins = vec!["ann".into(), "Bob_2".into()];
        c.guest_posting = true;
        c.cookie_secure = crate::crd::CookieSecure::Always;
        c.session_ttl_hours = 48;
    });
    let env = env_of(&app);
    assert_eq!(env["CHATAPP_ADMINS"], "ann,Bob_2");
    assert_eq!(env["CHATAPP_GUEST_POSTING"], "true");
    assert_eq!(env["CHATAPP_COOKIE_SECURE"], "always");
    assert_eq!(env["CHATAPP_SESSION_TTL_HOURS"], "48");
    assert_ne!(
        config_hash(&app),
        config_hash(&ChatApp::test()),
        "a change rolls the pods"
    );
}
