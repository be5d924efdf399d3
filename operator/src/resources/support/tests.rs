//! The support API's children and wiring, built from specs: off by default, the operator's own
//! token Secret or the spec's, the `grpc` port everywhere it must be and nowhere else.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::EnvVar;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::*;
use crate::crd::ChatApp;
use crate::fixtures::TestApp;
use crate::resources::{CHAT_PORT, Desired, chat_env, config_hash};

fn env_named(app: &ChatApp, name: &str) -> Option<EnvVar> {
    chat_env(app).into_iter().find(|v| v.name == name)
}

fn token_source(app: &ChatApp) -> (String, String) {
    let var = env_named(app, "CHATAPP_SUPPORT_API_TOKEN").expect("the token is passed");
    assert_eq!(var.value, None, "never a plain value: {var:?}");
    let key = var.value_from.unwrap().secret_key_ref.unwrap();
    assert_eq!(key.optional, Some(false));
    (key.name, key.key)
}

fn ports_of(d: &Desired) -> Vec<(String, i32)> {
    let pod = d
        .chat_deployment
        .spec
        .clone()
        .unwrap()
        .template
        .spec
        .unwrap();
    (pod.containers[0].ports.clone().unwrap().into_iter())
        .map(|p| (p.name.unwrap(), p.container_port))
        .collect()
}

fn policy_ports(d: &Desired) -> Vec<IntOrString> {
    let spec = d.chat_network_policy.clone().unwrap().spec.unwrap();
    let rules = spec.ingress.unwrap();
    assert_eq!(rules.len(), 1, "{rules:?}");
    rules[0]
        .ports
        .clone()
        .unwrap()
        .into_iter()
        .filter_map(|p| p.port)
        .collect()
}

#[test]
fn off_by_default_nothing_of_it_exists() {
    let app = ChatApp::test();
    let d = Desired::build(&app);
    assert!(d.support_api_secret.is_none() && d.support_api_service.is_none());
    assert_eq!(ports_of(&d), [("http".to_owned(), CHAT_PORT)]);
    assert_eq!(policy_ports(&d), [IntOrString::Int(CHAT_PORT)]);
    assert!(env_named(&app, "CHATAPP_GRPC_LISTEN").is_none());
    assert!(env_named(&app, "CHATAPP_SUPPORT_API_TOKEN").is_none());
    assert!(support_api_token_ref(&app).is_none());
}

#[test]
fn on_it_gets_the_operators_token_secret_a_port_a_service_and_the_fence_opens_that_port() {
    let app = ChatApp::test().with_support_api(None, |_| {});
    let d = Desired::build(&app);

    let secret = d
        .support_api_secret
        .clone()
        .expect("the operator's token Secret");
    assert_eq!(secret.metadata.name.as_deref(), Some("demo-support-api"));
    let owners = secret.metadata.owner_references.clone().unwrap();
    assert_eq!(owners[0].kind, "ChatApp", "owned: it goes with the ChatApp");
    assert!(
        secret.data.is_none() && secret.string_data.is_none(),
        "built without a token: the apply step fills it on the one create"
    );
    let filled = with_token(secret, "abc");
    assert_eq!(
        filled.string_data,
        Some(BTreeMap::from([("token".to_owned(), "abc".to_owned())]))
    );
    assert_eq!(
        token_source(&app),
        ("demo-support-api".to_owned(), "token".to_owned())
    );
    assert_eq!(
        env_named(&app, "CHATAPP_GRPC_LISTEN")
            .unwrap()
            .value
            .as_deref(),
        Some("0.0.0.0:50051")
    );
    assert_eq!(
        ports_of(&d),
        [("http".to_owned(), CHAT_PORT), ("grpc".to_owned(), 50051)]
    );

    let service = d
        .support_api_service
        .clone()
        .expect("the support API Service");
    assert_eq!(service.metadata.name.as_deref(), Some("demo-support-api"));
    let spec = service.spec.unwrap();
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.selector, d.chat_service.spec.clone().unwrap().selector);
    let port = &spec.ports.unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.port, port.target_port.clone()),
        (
            Some("grpc"),
            50051,
            Some(IntOrString::String("grpc".into()))
        )
    );
    assert_eq!(port.node_port, None);

    assert_eq!(
        policy_ports(&d),
        [IntOrString::Int(CHAT_PORT), IntOrString::Int(50051)]
    );
    let mut open = app.clone();
    open.spec.network_policy.enabled = false;
    assert!(Desired::build(&open).chat_network_policy.is_none());
}

#[test]
fn a_token_secret_of_the_spec_is_read_and_none_is_made() {
    let app = ChatApp::test().with_support_api(Some("platform-token"), |a| a.port = 9000);
    let d = Desired::build(&app);
    assert!(d.support_api_secret.is_none());
    assert_eq!(
        token_source(&app),
        ("platform-token".to_owned(), "token".to_owned())
    );
    assert_eq!(ports_of(&d)[1], ("grpc".to_owned(), 9000));
    let service = d.support_api_service.unwrap().spec.unwrap();
    assert_eq!(service.ports.unwrap()[0].port, 9000);
    assert_ne!(
        config_hash(&app),
        config_hash(&ChatApp::test().with_support_api(None, |a| a.port = 9000)),
        "switching the token's Secret rolls the pods"
    );
}

#[test]
fn agents_and_guest_support_reach_the_pods_and_roll_them() {
    let value = |app: &ChatApp, name: &str| env_named(app, name).unwrap().value.unwrap();
    let app = ChatApp::test();
    assert_eq!(value(&app, "CHATAPP_SUPPORT_AGENTS"), "");
    assert_eq!(value(&app, "CHATAPP_GUEST_SUPPORT"), "false");
    let desk = ChatApp::test().with_chat(|c| {
        c.support_agents = vec!["ann".into(), "Bob_2".into()];
        c.guest_support = true;
    });
    assert_eq!(value(&desk, "CHATAPP_SUPPORT_AGENTS"), "ann,Bob_2");
    assert_eq!(value(&desk, "CHATAPP_GUEST_SUPPORT"), "true");
    assert_ne!(config_hash(&desk), config_hash(&app));
}

#[test]
fn tokens_are_256_random_bits_in_hex() {
    let (a, b) = (new_token(), new_token());
    assert_eq!(a.len(), 64, "{a}");
    assert!(
        a.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    assert_ne!(a, b);
}

#[test]
fn the_longest_chatapp_name_still_names_a_service() {
    let app = ChatApp::test()
        .named(&"a".repeat(48))
        .with_support_api(None, |_| {});
    let name = Desired::build(&app)
        .support_api_service
        .unwrap()
        .metadata
        .name
        .unwrap();
    assert!(name.len() <= 63, "{name}");
}
