//! The observe checks over hand-made objects, as the API server would report them.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use serde_json::json;

use super::*;
use crate::fixtures::TestApp;

fn pod(status: serde_json::Value) -> Pod {
    serde_json::from_value(json!({"metadata": {"name": "demo-abc"}, "status": status})).unwrap()
}

fn waiting(reason: &str) -> serde_json::Value {
    json!({"containerStatuses": [{
        "name": "chat-server", "image": "x", "imageID": "", "ready": false, "restartCount": 0,
        "state": {"waiting": {"reason": reason, "message": "details"}}
    }]})
}

#[test]
fn a_missing_secret_or_key_blocks_the_switch() {
    let app = ChatApp::test().with_external_redis();
    let redis = &secret_uses(&app)[0];
    let problem = missing_key(None, "chat", redis).unwrap();
    assert_eq!(problem.reason, reason::REDIS_SECRET_MISSING);
    assert!(
        problem.message.contains("redis-url does not exist"),
        "{problem:?}"
    );
    let secret = |key: &str| Secret {
        data: Some(BTreeMap::from([(
            key.to_owned(),
            ByteString(b"redis://r".to_vec()),
        )])),
        ..Default::default()
    };
    let problem = missing_key(Some(&secret("other")), "chat", redis).unwrap();
    assert!(problem.message.contains("has no key url"), "{problem:?}");
    assert_eq!(missing_key(Some(&secret("url")), "chat", redis), None);
}

#[test]
fn the_database_secret_is_checked_the_same_way_with_its_own_reason() {
    let app = ChatApp::test()
        .with_external_redis()
        .with_external_database();
    let uses = secret_uses(&app);
    assert_eq!(uses.len(), 2, "{uses:?}");
    let db = &uses[1];
    assert_eq!((db.name.as_str(), db.key.as_str()), ("pg-app", "uri"));
    let problem = missing_key(None, "chat", db).unwrap();
    assert_eq!(problem.reason, reason::DATABASE_SECRET_MISSING);
    assert!(
        problem.message.contains("spec.database.external")
            && problem.message.contains("current database"),
        "{problem:?}"
    );
    assert!(secret_uses(&ChatApp::test()).is_empty());
}

#[test]
fn a_pending_claim_is_a_problem_a_bound_one_is_not() {
    let pvc = |phase: &str| -> PersistentVolumeClaim {
        serde_json::from_value(
            json!({"metadata": {"name": "demo-redis"}, "status": {"phase": phase}}),
        )
        .unwrap()
    };
    let problem = pvc_problem(&pvc("Pending"), "Redis").unwrap();
    assert_eq!(problem.reason, reason::PVC_PENDING);
    assert!(problem.message.contains("demo-redis"), "{problem:?}");
    assert_eq!(pvc_problem(&pvc("Bound"), "Redis"), None);
}

#[test]
fn pods_say_what_stops_them() {
    let cases = [
        (waiting("ImagePullBackOff"), reason::IMAGE_PULL_BACK_OFF),
        (waiting("ErrImagePull"), reason::IMAGE_PULL_BACK_OFF),
        (waiting("CrashLoopBackOff"), reason::CRASH_LOOP_BACK_OFF),
        (waiting("CreateContainerConfigError"), reason::PODS_FAILING),
        (
            json!({"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/1 nodes are available: 1 Insufficient cpu."}]}),
            reason::UNSCHEDULABLE,
        ),
    ];
    for (status, want) in cases {
        let problem = pods_problem(&[pod(status.clone())]).unwrap_or_else(|| panic!("{status}"));
        assert_eq!(problem.reason, want, "{status}");
        assert!(problem.message.contains("demo-abc"), "{problem:?}");
    }
    assert_eq!(pods_problem(&[pod(waiting("ContainerCreating"))]), None);
    // Scheduling is looked at before the containers of any pod.
    let unschedulable = pod(
        json!({"conditions": [{"type": "PodScheduled", "status": "False",
        "reason": "Unschedulable"}]}),
    );
    let both = [pod(waiting("CrashLoopBackOff")), unschedulable];
    assert_eq!(pods_problem(&both).unwrap().reason, reason::UNSCHEDULABLE);
}
