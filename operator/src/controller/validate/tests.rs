//! The controller's spec checks, each naming its field.

use super::*;
use crate::fixtures::TestApp;

#[test]
fn defaults_are_valid() {
    let problems = validate(&ChatApp::test());
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn each_rule_names_its_field() {
    let cases: Vec<(ChatApp, &str)> = vec![
        (ChatApp::test().with_replicas(101), "spec.replicas"),
        (
            ChatApp::test().with_service("ClusterIP", Some(30222)),
            "spec.service.nodePort",
        ),
        (
            ChatApp::test().with_service("NodePort", Some(80)),
            "spec.service.nodePort",
        ),
        (
            ChatApp::test().with_managed_and_external_redis(),
            "spec.redis",
        ),
        (
            ChatApp::test().with_chat(|c| c.max_frame_bytes = 1024),
            "spec.chat.maxFrameBytes",
        ),
        (
            ChatApp::test().with_load_test(10, 20),
            "spec.loadTest.spawnRate",
        ),
        (ChatApp::test().named("Bad_Name"), "metadata.name"),
    ];
    for (app, field) in cases {
        let problems = validate(&app);
        assert!(
            problems.iter().any(|p| p.field == field),
            "{field} not in {problems:?}"
        );
    }
}
