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
            ChatApp::test().with_chat(|c| c.support_agents = vec!["ok".into()]),
            "spec.chat.supportAgents",
        ),
        (
            ChatApp::test().with_support_api(None, |a| a.port = 8080),
            "spec.supportApi.port",
        ),
        (
            ChatApp::test().with_support_api(None, |a| a.port = 1023),
            "spec.supportApi.port",
        ),
        (
            ChatApp::test().with_support_api(None, |a| a.port = 65_536),
            "spec.supportApi.port",
        ),
        (
            ChatApp::test().with_support_api(Some("Not_A_Secret"), |_| {}),
            "spec.supportApi.tokenSecret",
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

#[test]
fn support_agents_follow_the_admin_rule_and_ports_their_range() {
    let app = ChatApp::test()
        .with_chat(|c| c.support_agents = vec!["ann".into(), "Bo-b_1".into()])
        .with_support_api(Some("platform.token-1"), |a| a.port = 1024);
    assert!(validate(&app).is_empty(), "{:?}", validate(&app));
    let app = ChatApp::test().with_support_api(None, |a| a.port = 65_535);
    assert!(validate(&app).is_empty());
    let app = ChatApp::test().with_chat(|c| c.support_agents = vec!["ann".into(), "x y".into()]);
    let problems = validate(&app);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].field, "spec.chat.supportAgents");
    assert!(
        problems[0].message.contains("\"x y\"") && !problems[0].message.contains("ann"),
        "the message names the bad entry only: {problems:?}"
    );
    let problems = validate(&ChatApp::test().with_support_api(None, |a| a.port = 8080));
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("chat port 8080")),
        "{problems:?}"
    );
}
