//! The status a person reads, from hand-made observations.

use super::*;
use crate::controller::conditions::{DEGRADED, DURABLE, FALSE, PROGRESSING, READY, TRUE, reason};
use crate::fixtures::{TestApp, deployment_with_status};

fn now() -> Time {
    Time(k8s_openapi::jiff::Timestamp::from_second(1_800_000_000).unwrap())
}

fn find<'a>(s: &'a ChatAppStatus, t: &str) -> &'a Condition {
    s.conditions
        .iter()
        .find(|c| c.type_ == t)
        .unwrap_or_else(|| panic!("{t} in {s:?}"))
}

#[test]
fn ready_when_all_pods_ready_and_time_kept_on_rerun() {
    let app = ChatApp::test().with_replicas(2);
    let seen = Observed {
        chat: deployment_with_status(2, 2, 2),
        redis: Some(deployment_with_status(1, 1, 1)),
        ..Default::default()
    };
    let first = desired_status(&app, &Outcome::Applied(Box::new(seen.clone())), now());
    assert_eq!(find(&first, READY).reason, reason::AVAILABLE, "{first:?}");
    assert_eq!(first.ready_replicas, 2);
    assert_eq!(
        first.selector.as_deref(),
        Some(selector_string(&app).as_str())
    );
    let later = Time(k8s_openapi::jiff::Timestamp::from_second(1_900_000_000).unwrap());
    let app = app.with_status(first.clone());
    let second = desired_status(&app, &Outcome::Applied(Box::new(seen)), later);
    assert_eq!(
        first, second,
        "an unchanged world must give an identical status"
    );
}

#[test]
fn redis_not_ready_and_pod_problems_are_explained() {
    let app = ChatApp::test();
    let seen = Observed {
        chat: deployment_with_status(2, 0, 2),
        redis: Some(deployment_with_status(1, 0, 1)),
        problem: Some(Problem {
            reason: reason::IMAGE_PULL_BACK_OFF,
            message: "pod x: ImagePullBackOff".into(),
        }),
        ..Default::default()
    };
    let s = desired_status(&app, &Outcome::Applied(Box::new(seen)), now());
    assert_eq!(find(&s, READY).reason, reason::REDIS_NOT_READY, "{s:?}");
    assert_eq!(find(&s, DEGRADED).status, TRUE);
    assert_eq!(find(&s, DEGRADED).reason, reason::IMAGE_PULL_BACK_OFF);
    assert!(find(&s, DEGRADED).message.contains("ImagePullBackOff"));
    assert_eq!(find(&s, PROGRESSING).status, TRUE);
}

#[test]
fn invalid_and_rejected_keep_counts_and_say_why() {
    let app = ChatApp::test().with_status(ChatAppStatus {
        ready_replicas: 2,
        ..Default::default()
    });
    let invalid = vec![Invalid {
        field: "spec.redis",
        message: "exclusive".into(),
    }];
    let s = desired_status(&app, &Outcome::Invalid(invalid), now());
    assert_eq!(s.ready_replicas, 2);
    assert_eq!(find(&s, READY).reason, reason::INVALID_SPEC);
    assert!(find(&s, DEGRADED).message.contains("spec.redis"), "{s:?}");
    let taken = Problem {
        reason: reason::NODE_PORT_CONFLICT,
        message: "provided port is already allocated".to_owned(),
    };
    let s = desired_status(&app, &Outcome::Blocked(taken), now());
    assert!(
        find(&s, READY).message.contains("already allocated"),
        "{s:?}"
    );
}

#[test]
fn a_failure_keeps_what_runs_and_says_what_failed() {
    let serving = ChatApp::test();
    let seen = Observed {
        chat: deployment_with_status(2, 2, 2),
        ..Default::default()
    };
    let before = desired_status(&serving, &Outcome::Applied(Box::new(seen)), now());
    let app = serving.with_status(before.clone());
    let failed = Problem {
        reason: reason::APPLY_FAILED,
        message: "applying Deployment demo: the API server answered 500".into(),
    };
    let s = desired_status(&app, &Outcome::Blocked(failed), now());
    assert_eq!(
        find(&s, READY),
        find(&before, READY),
        "the chat still serves"
    );
    assert_eq!(find(&s, DEGRADED).reason, reason::APPLY_FAILED);
    assert!(find(&s, DEGRADED).message.contains("500"), "{s:?}");
    assert_eq!(s.observed_generation, Some(1));
}

#[test]
fn switching_redis_is_progress_not_settled() {
    let app = ChatApp::test().with_external_redis();
    let seen = Observed {
        chat: deployment_with_status(2, 2, 2),
        redis_retiring: true,
        ..Default::default()
    };
    assert!(!seen.settled(&app));
    let s = desired_status(&app, &Outcome::Applied(Box::new(seen)), now());
    assert_eq!(
        find(&s, PROGRESSING).reason,
        reason::SWITCHING_REDIS,
        "{s:?}"
    );
}

#[test]
fn events_follow_condition_changes_only() {
    let app = ChatApp::test();
    let seen = Observed {
        chat: deployment_with_status(2, 2, 2),
        ..Default::default()
    };
    let s = desired_status(&app, &Outcome::Applied(Box::new(seen)), now());
    assert_eq!(changed_conditions(&[], &s.conditions).len(), 4);
    assert!(changed_conditions(&s.conditions, &s.conditions).is_empty());
    assert!(!is_warning(find(&s, READY)));
    // Redis-only is a choice, said in Durable without a warning; a surprise fallback warns.
    assert_eq!(find(&s, DURABLE).reason, reason::REDIS_ONLY);
    assert!(!is_warning(find(&s, DURABLE)));
    let fallback = ChatApp::test().with_managed_database(|_| {});
    let seen = Observed {
        chat: deployment_with_status(2, 2, 2),
        capabilities: ClusterApis {
            storage: Some(crate::resources::DataStorage::NoDefaultClass),
            ..Default::default()
        },
        ..Default::default()
    };
    let s = desired_status(&fallback, &Outcome::Applied(Box::new(seen)), now());
    let durable = find(&s, DURABLE);
    assert_eq!(durable.status, FALSE);
    assert_eq!(durable.reason, reason::NO_DEFAULT_STORAGE_CLASS);
    assert!(is_warning(durable));
}

/// A chat on a node port without `chat.publicUrl` runs, but browsers on node addresses are
/// refused: Ready says so; with the URL set it is the status URL and the note goes.
#[test]
fn a_node_port_chat_without_public_url_says_browsers_need_it() {
    let seen = Observed {
        chat: deployment_with_status(2, 2, 2),
        redis: Some(deployment_with_status(1, 1, 1)),
        ..Default::default()
    };
    let applied = Outcome::Applied(Box::new(seen));
    let s = desired_status(&ChatApp::test(), &applied, now());
    let ready = find(&s, READY);
    assert_eq!(ready.reason, reason::AVAILABLE);
    assert!(ready.message.contains("spec.chat.publicUrl"), "{ready:?}");
    let app = ChatApp::test().with_chat(|c| c.public_url = Some("http://10.0.0.7:30222".into()));
    let s = desired_status(&app, &applied, now());
    assert!(!find(&s, READY).message.contains("publicUrl"), "{s:?}");
    assert_eq!(s.url.as_deref(), Some("http://10.0.0.7:30222"));
    let internal = ChatApp::test().with_service("ClusterIP", None);
    let s = desired_status(&internal, &applied, now());
    assert!(!find(&s, READY).message.contains("publicUrl"), "{s:?}");
}

/// Locust's users all come from its pods' addresses: more users than one address may open
/// connections is said in Ready; the load-test sample's raised limits make the note go.
#[test]
fn a_load_test_above_the_per_address_limit_is_noted() {
    let seen = Observed {
        chat: deployment_with_status(2, 2, 2),
        redis: Some(deployment_with_status(1, 1, 1)),
        ..Default::default()
    };
    let applied = Outcome::Applied(Box::new(seen));
    let app = ChatApp::test().with_load_test(500, 10);
    let s = desired_status(&app, &applied, now());
    assert!(
        find(&s, READY).message.contains("maxConnectionsPerAddress"),
        "{s:?}"
    );
    let raised = app.with_chat(|c| c.max_connections_per_address = 100_000);
    let s = desired_status(&raised, &applied, now());
    assert!(
        !find(&s, READY).message.contains("maxConnectionsPerAddress"),
        "{s:?}"
    );
}
