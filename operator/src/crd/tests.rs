//! The generated CRD: structural, documented, with the names, columns and subresources the issue
//! asks for, and CEL rules that really evaluate (with kube's client-side CEL engine, `kube-cel`)
//! to "allowed" on good specs and to a message naming the field on bad ones.
//!
//! What this does not prove: that a real API server's CEL cost estimator accepts the rules (the
//! e2e suite applies the CRD to a cluster for that), and the schema's own range/enum/pattern
//! checks, which are plain OpenAPI and are exercised on a cluster by `tests/e2e.rs`.

use kube::CustomResourceExt;
use kube::core::cel::{ScopeContext, Validator, WarningKind, analyze_rule, compile_schema};
use serde_json::{Value, json};

use crate::crd::ChatApp;

fn schema() -> Value {
    let crd = ChatApp::crd();
    let version = &crd.spec.versions[0];
    let schema = version.schema.as_ref().unwrap().open_api_v3_schema.as_ref();
    serde_json::to_value(schema.unwrap()).unwrap()
}

/// Every rule in the schema, with the JSON path of the node that holds it.
fn rules(node: &Value, at: &str, out: &mut Vec<(String, String)>) {
    for rule in node["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        out.push((at.to_owned(), rule["rule"].as_str().unwrap().to_owned()));
    }
    for (name, child) in node["properties"].as_object().into_iter().flatten() {
        rules(child, &format!("{at}.{name}"), out);
    }
    for key in ["items", "additionalProperties"] {
        if node[key].is_object() {
            rules(&node[key], &format!("{at}[]"), out);
        }
    }
}

/// Checks Kubernetes' structural-schema rules at every node and collects the violations.
fn structural_violations(node: &Value, at: &str, out: &mut Vec<String>) {
    let obj = node.as_object().unwrap();
    let typed = obj.contains_key("type")
        || obj.get("x-kubernetes-int-or-string") == Some(&json!(true))
        || obj.get("x-kubernetes-preserve-unknown-fields") == Some(&json!(true));
    if !typed {
        out.push(format!("{at}: no type"));
    }
    if obj.contains_key("properties") && obj.contains_key("additionalProperties") {
        out.push(format!("{at}: properties beside additionalProperties"));
    }
    for forbidden in ["$ref", "definitions", "$defs"] {
        if obj.contains_key(forbidden) {
            out.push(format!("{at}: {forbidden}"));
        }
    }
    // Inside anyOf/oneOf/allOf/not, structural schemas allow only value validations.
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
            for field in ["type", "description", "default", "nullable", "properties"] {
                if branch.get(field).is_some() {
                    out.push(format!("{at}.{key}: {field} inside a junctor"));
                }
            }
        }
    }
    for (name, child) in obj
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        structural_violations(child, &format!("{at}.{name}"), out);
    }
    for key in ["items", "additionalProperties"] {
        if let Some(child) = obj.get(key).filter(|c| c.is_object()) {
            structural_violations(child, &format!("{at}.{key}"), out);
        }
    }
}

#[test]
fn schema_is_structural() {
    let mut violations = Vec::new();
    structural_violations(&schema(), "", &mut violations);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn every_spec_and_status_field_is_documented() {
    fn undocumented(node: &Value, at: &str, out: &mut Vec<String>) {
        for (name, child) in node["properties"].as_object().into_iter().flatten() {
            let path = format!("{at}.{name}");
            if child["description"].as_str().is_none_or(str::is_empty) {
                out.push(path.clone());
            }
            undocumented(child, &path, out);
        }
    }
    let mut missing = Vec::new();
    for part in ["spec", "status"] {
        undocumented(&schema()["properties"][part], part, &mut missing);
    }
    assert!(missing.is_empty(), "no kubectl explain text: {missing:?}");
}

#[test]
fn names_columns_and_subresources() {
    let crd = ChatApp::crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("chatapps.chatapp.dev"));
    assert_eq!(crd.spec.scope, "Namespaced");
    assert_eq!(crd.spec.names.short_names, Some(vec!["chat".to_owned()]));
    let version = &crd.spec.versions[0];
    assert_eq!(version.name, "v1alpha1");
    let columns: Vec<&str> = version
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        columns,
        [
            "Replicas", "Ready", "NodePort", "URL", "Status", "Durable", "Age"
        ]
    );
    let sub = version.subresources.as_ref().unwrap();
    assert!(sub.status.is_some());
    let scale = sub.scale.as_ref().unwrap();
    assert_eq!(scale.spec_replicas_path, ".spec.replicas");
    assert_eq!(scale.status_replicas_path, ".status.replicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.selector")
    );
}

#[test]
fn cel_rules_compile_stay_in_scope_and_within_budget() {
    let schema = schema();
    let compiled = compile_schema(&schema);
    let mut all = Vec::new();
    rules(&schema, "", &mut all);
    assert_eq!(all.len(), 10, "{all:?}");
    fn errors(c: &kube::core::cel::CompiledSchema, out: &mut Vec<String>) {
        out.extend(c.compilation_errors().iter().map(|e| format!("{e:?}")));
        c.properties.values().for_each(|p| errors(p, out));
    }
    let mut compile_errors = Vec::new();
    errors(&compiled, &mut compile_errors);
    assert!(compile_errors.is_empty(), "{compile_errors:#?}");
    for (at, rule) in all {
        let warnings = analyze_rule(&rule, &compiled, ScopeContext::CrdValidation);
        // kube's analyzer does not know comprehension variables (`o` in `self.all(o, ...)`) and
        // calls them out of scope; the API server's compiler does (the e2e suite applies the CRD).
        let bad: Vec<_> = warnings
            .iter()
            .filter(|w| matches!(w.kind, WarningKind::WrongScope | WarningKind::CostExceeded))
            .filter(|w| !w.message.starts_with("variable 'o' is not available"))
            .collect();
        assert!(bad.is_empty(), "{at}: {rule}: {bad:?}");
    }
}

fn object(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "chatapp.dev/v1alpha1",
        "kind": "ChatApp",
        "metadata": {"name": name, "namespace": "chat"},
        "spec": spec,
    })
}

/// The CEL verdict on `obj`: the messages of the rules that failed.
fn cel(obj: &Value) -> Vec<String> {
    match Validator::new().validate(&schema(), obj, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn cel_allows_good_specs() {
    let good = [
        object("default", json!({})),
        object(
            "c1",
            json!({"service": {"type": "NodePort", "nodePort": 30222}}),
        ),
        object("c2", json!({"service": {"type": "ClusterIP"}})),
        object(
            "c3",
            json!({"redis": {"external": {"urlSecretRef": {"name": "r"}}}}),
        ),
        object(
            "c4",
            json!({"redis": {"managed": {"persistence": {"size": "2Gi"}}}}),
        ),
        object("c5", json!({"chat": {"maxContentBytes": 65536}})),
        object(
            "c6",
            json!({"loadTest": {"enabled": true, "users": 5, "spawnRate": 5}}),
        ),
        object(&"a".repeat(48), json!({})),
        object(
            "c7",
            json!({"autoscaling": {"minReplicas": 3, "maxReplicas": 3}}),
        ),
        object(
            "c8",
            json!({"ingress": {"host": "chat.example.com", "tlsSecretName": "t"}}),
        ),
        object("c9", json!({"database": {"managed": {}}})),
        object(
            "c10",
            json!({"database": {"external": {"secretName": "pg-app"}, "retentionDays": 30}}),
        ),
        object(
            "c12",
            json!({"redis": {"external": {"urlSecretRef": {"name": "r"}, "cluster": true}},
                "database": {"external": {"secretName": "pg-app"}}}),
        ),
        // A Redis Cluster without a database: the Redis-only store runs on it too.
        object(
            "c13",
            json!({"redis": {"external": {"urlSecretRef": {"name": "r"}, "cluster": true}}}),
        ),
        object(
            "c11",
            json!({"supportApi": {"enabled": true, "port": 9090, "tokenSecret": "platform-token"},
                "chat": {"supportAgents": ["ann", "Bob_2"], "guestSupport": true}}),
        ),
    ];
    for obj in good {
        assert_eq!(cel(&obj), Vec::<String>::new(), "{obj}");
    }
}

#[test]
fn cel_refuses_bad_specs_naming_the_field() {
    let bad = [
        (
            object(
                "c",
                json!({"service": {"type": "ClusterIP", "nodePort": 30222}}),
            ),
            "service.nodePort",
        ),
        (
            object(
                "c",
                json!({"redis": {"managed": {}, "external": {"urlSecretRef": {"name": "r"}}}}),
            ),
            "redis.managed and redis.external",
        ),
        (
            // The default maxFrameBytes (65536) is applied before the rule runs, as on a server.
            object("c", json!({"chat": {"maxContentBytes": 100000}})),
            "chat.maxFrameBytes",
        ),
        (
            object("c", json!({"loadTest": {"users": 10, "spawnRate": 20}})),
            "loadTest.spawnRate",
        ),
        (
            object(
                "c",
                json!({"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}),
            ),
            "autoscaling.minReplicas",
        ),
        (
            object("c", json!({"ingress": {"tlsSecretName": "t"}})),
            "ingress.tlsSecretName",
        ),
        (
            object("c", json!({"database": {"retentionDays": 30}})),
            "exactly one of database.managed and database.external",
        ),
        (
            object(
                "c",
                json!({"database": {"managed": {}, "external": {"secretName": "pg-app"}}}),
            ),
            "exactly one of database.managed and database.external",
        ),
        (
            object("c", json!({"supportApi": {"enabled": true, "port": 8080}})),
            "supportApi.port",
        ),
        (object(&"a".repeat(49), json!({})), "metadata.name"),
        (object("1chat", json!({})), "metadata.name"),
        (object("chat.app", json!({})), "metadata.name"),
    ];
    for (obj, field) in bad {
        let errors = cel(&obj);
        assert!(
            errors.iter().any(|e| e.contains(field)),
            "{field} not named in {errors:?} for {obj}"
        );
    }
}

/// The controller's own checks (crate::controller::validate) agree with the CEL rules on the same specs,
/// so a ChatApp stored under an older CRD is judged the same way.
#[test]
fn controller_validation_agrees_with_cel() {
    let specs = [
        json!({}),
        json!({"service": {"type": "ClusterIP", "nodePort": 30222}}),
        json!({"redis": {"managed": {}, "external": {"urlSecretRef": {"name": "r"}}}}),
        json!({"redis": {"external": {"urlSecretRef": {"name": "r"}, "cluster": true}}}),
        json!({"redis": {"external": {"urlSecretRef": {"name": "r"}, "cluster": true}},
            "database": {"external": {"secretName": "pg-app"}}}),
        json!({"chat": {"maxContentBytes": 100000}}),
        json!({"loadTest": {"users": 10, "spawnRate": 20}}),
        json!({"loadTest": {"users": 10, "spawnRate": 10}}),
        json!({"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}),
        json!({"ingress": {"tlsSecretName": "t"}}),
        json!({"ingress": {"host": "h", "tlsSecretName": "t"}}),
        json!({"supportApi": {"enabled": true, "port": 8080}}),
        json!({"supportApi": {"enabled": true, "port": 50051, "tokenSecret": "t"}}),
    ];
    for spec in specs {
        let obj = object("c", spec);
        let app: ChatApp = serde_json::from_value(obj.clone()).unwrap();
        assert_eq!(
            cel(&obj).is_empty(),
            crate::controller::validate::validate(&app).is_empty(),
            "{obj}"
        );
    }
}

/// `chat.allowedOrigins` entries: what the CEL rule and the controller let through, the
/// chat-server accepts at start (a bad entry would stop every pod), and real origins pass all
/// three.
#[test]
fn allowed_origins_the_crd_accepts_start_the_server() {
    use clap::Parser;
    let server = |o: &str| {
        chat_server::Config::try_parse_from(["chat-server", &format!("--allowed-origins={o}")])
            .is_ok()
    };
    let good = [
        "*",
        "http://localhost:3000",
        "https://chat.example.com",
        "HTTPS://Chat.Example.com:8443",
        "http://10.0.0.7:30222/",
    ];
    let bad = [
        "chat.example.com",
        "ftp://chat.example.com",
        "http://",
        "/relative",
        "null",
        "http://a b",
        "https://x.example/path",
        "http://user@x.example",
        "",
        "**",
    ];
    for o in good {
        let obj = object("c", json!({"chat": {"allowedOrigins": [o]}}));
        assert_eq!(cel(&obj), Vec::<String>::new(), "{o}");
        assert!(o == "*" || crate::controller::validate::is_origin(o), "{o}");
        assert!(server(o), "{o}");
    }
    for o in bad {
        let obj = object("c", json!({"chat": {"allowedOrigins": [o]}}));
        let errors = cel(&obj);
        assert!(
            errors.iter().any(|e| e.contains("chat.allowedOrigins")),
            "{o}: {errors:?}"
        );
        assert!(!crate::controller::validate::is_origin(o), "{o}");
    }
}

/// `chat.publicUrl`: the controller's check is the server's parser.
#[test]
fn public_urls_the_controller_accepts_start_the_server() {
    use clap::Parser;
    let server = |u: &str| {
        chat_server::Config::try_parse_from(["chat-server", &format!("--public-url={u}")]).is_ok()
    };
    for u in [
        "http://10.0.0.7:30222",
        "https://chat.example.com/chat",
        "node:30222",
        "ftp://x",
        "http://",
        "/x",
    ] {
        assert_eq!(
            crate::controller::validate::is_http_url(u),
            server(u),
            "{u}"
        );
    }
}

/// Field names fixed by issue #11 (outside checks rely on them).
#[test]
fn issue_11_field_names() {
    let spec = &schema()["properties"]["spec"]["properties"];
    let fields = [
        ("autoscaling", "minReplicas"),
        ("autoscaling", "maxReplicas"),
        ("autoscaling", "targetCPUUtilizationPercentage"),
        ("autoscaling", "targetConnectionsPerPod"),
        ("monitoring", "enabled"),
        ("ingress", "className"),
        ("ingress", "host"),
        ("ingress", "tlsSecretName"),
        ("ingress", "annotations"),
        ("ingress", "path"),
    ];
    for (parent, field) in fields {
        assert!(
            spec[parent]["properties"][field].is_object(),
            "spec.{parent}.{field} missing"
        );
    }
}

/// Field names fixed by issue #15 and its plan (outside checks rely on them), with their defaults.
#[test]
fn issue_15_field_names() {
    let spec = &schema()["properties"]["spec"]["properties"];
    let chat = &spec["chat"]["properties"];
    assert_eq!(chat["supportAgents"]["type"], "array", "{chat:#}");
    assert_eq!(chat["guestSupport"]["default"], false);
    let api = &spec["supportApi"]["properties"];
    assert_eq!(api["enabled"]["default"], false, "{api:#}");
    assert_eq!(api["port"]["default"], 50051);
    assert_eq!(api["tokenSecret"]["type"], "string");
    assert!(
        api["tokenSecret"]["default"].is_null(),
        "unset: the operator's own Secret"
    );
}
