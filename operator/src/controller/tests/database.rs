//! The managed and external database, against the fake API server: its Secret, its one
//! generated password, and a database or claim that is not ready, as status says it.

use super::*;

#[tokio::test]
async fn a_missing_database_secret_changes_nothing() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_external_database());
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(applies(&fake.requests()).is_empty());
    let (status, why, _) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!(
        (status.as_str(), why.as_str()),
        (TRUE, reason::DATABASE_SECRET_MISSING)
    );
}

#[tokio::test]
async fn a_managed_database_gets_one_password_that_a_second_reconcile_keeps() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_managed_database(|_| {}));
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();

    let secret_path = "/api/v1/namespaces/chat/secrets/demo-pg";
    let first = fake.object(secret_path).expect("the Secret is created");
    let uri = first["stringData"]["uri"].as_str().unwrap().to_owned();
    assert!(uri.starts_with("postgres://chat:"), "{uri}");
    // No owner: it is kept with the data's claim (deleteDataWithChatApp is false).
    assert!(first["metadata"]["ownerReferences"].is_null(), "{first:#}");
    let requests = fake.requests();
    let set = requests
        .iter()
        .find(|r| r.is_apply() && r.path.ends_with("/statefulsets/demo-pg"))
        .expect("the StatefulSet is applied");
    assert_eq!(
        set.body["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );
    // The chat pods read the URL from that Secret.
    let chat = fake
        .object("/apis/apps/v1/namespaces/chat/deployments/demo")
        .unwrap();
    let env = chat["spec"]["template"]["spec"]["containers"][0]["env"].clone();
    let url = env
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "CHATAPP_DATABASE_URL")
        .unwrap()
        .clone();
    assert_eq!(
        url["valueFrom"]["secretKeyRef"],
        json!({"name": "demo-pg", "key": "uri", "optional": false})
    );
    let app = fake.app("demo");
    let (_, _, message) = condition(&app, READY);
    assert!(
        message.contains("kept in PersistentVolumeClaim data-demo-pg-0"),
        "{message}"
    );

    fake.clear_requests();
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let again = fake.object(secret_path).unwrap();
    assert_eq!(again, first, "the password is never regenerated");
    let writes: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/secrets") && r.method != Method::GET)
        .map(|r| (r.method.to_string(), r.path))
        .collect();
    // A create answered 409 at most: never an apply or update of the Secret.
    assert!(writes.iter().all(|(m, _)| m == "POST"), "{writes:?}");
}

#[tokio::test]
async fn a_database_that_is_not_ready_says_so() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_managed_database(|_| {}));
    fake.set_pods_ready(false);
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let (status, why, message) = condition(&fake.app("demo"), READY);
    assert_eq!(
        (status.as_str(), why.as_str()),
        (FALSE, reason::DATABASE_NOT_READY)
    );
    assert!(message.contains("demo-pg"), "{message}");
}

#[tokio::test]
async fn a_pending_database_claim_is_reported() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&ChatApp::test().with_managed_database(|_| {}));
    fake.set_pods_ready(false);
    fake.insert(
        "/api/v1/namespaces/chat/persistentvolumeclaims/data-demo-pg-0",
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data-demo-pg-0"}, "status": {"phase": "Pending"}}),
    );
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let (status, why, message) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!((status.as_str(), why.as_str()), (TRUE, reason::PVC_PENDING));
    assert!(
        message.contains("data-demo-pg-0") && message.contains("PostgreSQL"),
        "{message}"
    );
}
