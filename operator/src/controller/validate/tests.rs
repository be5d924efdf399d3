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
        (
            ChatApp::test().with_chat(|c| c.admins = vec!["ok_admin".into(), "no spaces".into()]),
            "spec.chat.admins",
        ),
        (
            ChatApp::test().with_chat(|c| c.admins = vec!["ab".into()]),
            "spec.chat.admins",
        ),
        (
            ChatApp::test().with_chat(|c| c.session_ttl_hours = 8761),
            "spec.chat.sessionTtlHours",
        ),
        (
            ChatApp::test().with_chat(|c| c.session_ttl_hours = 0),
            "spec.chat.sessionTtlHours",
        ),
    ];
    for (app, field) in cases {
        let problems = validate(&app);
        assert!(
            problems.iter().any(|p| p.field == field),
            "{field} not in {problems:?}"
        );
    }
}

#[test]
fn admins_are_usernames() {
    let ok = ["abc", "Ann-Marie_2", &"x".repeat(32)];
    for name in ok {
        assert!(is_username(name), "{name}");
    }
    for bad in ["ab", &"x".repeat(33), "a b", "émile", "a,b", "", "ann.m"] {
        assert!(!is_username(bad), "{bad}");
    }
    let app = ChatApp::test().with_chat(|c| c.admins = vec!["ann".into(), "bo-b_1".into()]);
    assert!(validate(&app).is_empty());
    let app = ChatApp::test().with_chat(|c| c.admins = vec!["x y".into()]);
    let problems = validate(&app);
    assert!(
        problems[0].message.contains("\"x y\""),
        "the message names the entry: {problems:?}"
    );
}
