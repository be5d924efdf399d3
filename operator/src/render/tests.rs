//! `operator render` over the samples.

use super::*;

fn kinds(out: &str) -> Vec<String> {
    out.lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn renders_every_child_of_the_samples() {
    let default = render(include_str!("../../../deploy/samples/default.yaml")).unwrap();
    assert_eq!(
        kinds(&default),
        [
            "NetworkPolicy",
            "Deployment",
            "Service",
            "NetworkPolicy",
            "Deployment",
            "Service",
            "PodDisruptionBudget"
        ],
        "{default}"
    );
    let load = render(include_str!("../../../deploy/samples/loadtest.yaml")).unwrap();
    assert!(kinds(&load).contains(&"ConfigMap".to_owned()), "{load}");
}

/// Locust's users all come from its pods' addresses: the load-test sample lifts the per-address
/// limits above what its users can reach, so the test measures the chat, not those limits.
#[test]
fn the_load_test_sample_lifts_the_per_address_limits() {
    let app: crate::crd::ChatApp =
        serde_norway::from_str(include_str!("../../../deploy/samples/loadtest.yaml")).unwrap();
    let (c, lt) = (&app.spec.chat, &app.spec.load_test);
    assert!(c.max_connections_per_address >= lt.users, "{c:?}");
    // A Locust user sends at most a few messages a second (loadtest/locustfile.py's wait).
    assert!(c.address_send_rate >= 10.0 * f64::from(lt.users), "{c:?}");
    assert!(c.address_send_burst >= lt.users, "{c:?}");
}

#[test]
fn yaml_1_1_booleans_stay_strings() {
    let out = render(include_str!("../../../deploy/samples/default.yaml")).unwrap();
    assert!(out.contains("- --appendonly\n        - 'no'\n"), "{out}");
    let doc =
        crate::bundle::yaml_doc(&serde_json::json!({"a": "on", "b": ["yes", "x"], "c": true}));
    assert_eq!(doc, "a: 'on'\nb:\n- 'yes'\n- x\nc: true\n");
}

#[test]
fn a_bad_spec_is_refused_with_the_field_named() {
    let err = render("apiVersion: chatapp.dev/v1alpha1\nkind: ChatApp\nmetadata:\n  name: x\nspec:\n  replicas: 500\n").unwrap_err();
    assert!(err.contains("spec.replicas"), "{err}");
    assert!(render("kind: [").unwrap_err().starts_with("not a ChatApp"));
}

/// The production sample: Ingress with TLS from cert-manager, an HPA on the ChatApp, the public
/// URL from the Ingress host, and Redis capped below its memory limit as its comment says.
#[test]
fn the_production_sample_renders_ingress_hpa_and_a_capped_redis() {
    let yaml = include_str!("../../../deploy/samples/production.yaml");
    let out = render(yaml).unwrap();
    let kinds = kinds(&out);
    for kind in [
        "Ingress",
        "HorizontalPodAutoscaler",
        "PersistentVolumeClaim",
    ] {
        assert!(kinds.contains(&kind.to_owned()), "{kind} in {kinds:?}");
    }
    assert!(out.contains("value: https://chat.example.com\n"), "{out}");
    assert!(out.contains("secretName: chat-tls"), "{out}");
    let app: crate::crd::ChatApp = serde_norway::from_str(yaml).unwrap();
    let max = crate::resources::redis::redis_maxmemory(app.spec.redis.managed.as_ref().unwrap());
    assert!(
        yaml.contains(&format!("--maxmemory {max}")),
        "the comment says {max}"
    );
}

/// The support sample: the gRPC API's Service and token Secret, the port in the pods and in the
/// fence, the token read from that Secret.
#[test]
fn the_support_sample_renders_the_api_service_and_its_token_secret() {
    let out = render(include_str!("../../../deploy/samples/support.yaml")).unwrap();
    for needle in [
        "name: support-support-api\n",
        "name: CHATAPP_GRPC_LISTEN\n          value: 0.0.0.0:50051\n",
        "name: CHATAPP_SUPPORT_AGENTS\n          value: ann,bob\n",
        "name: CHATAPP_GUEST_SUPPORT\n          value: 'true'\n",
        "name: grpc\n",
    ] {
        assert!(out.contains(needle), "{needle:?} not in {out}");
    }
    let kinds = kinds(&out);
    assert!(kinds.contains(&"Secret".to_owned()), "{kinds:?}");
    assert!(!out.contains("token:"), "no token is rendered: {out}");
}
