//! Where the managed database's data goes, against the fake API server: on a claim where the
//! cluster has a default StorageClass, on an emptyDir (said in `Durable`, with a Warning event)
//! where it has none, and what an existing StatefulSet has stays.

use super::*;

const SET: &str = "/apis/apps/v1/namespaces/chat/statefulsets/demo-pg";

/// The default ChatApp's spec (a managed database naming no StorageClass), as `demo`.
fn default_app() -> ChatApp {
    let mut app = ChatApp::test();
    app.spec = crate::default_chatapp(None).spec;
    assert!(
        crate::resources::postgres::managed(&app).is_some_and(|db| db
            .storage
            .storage_class_name
            .is_none()
            && !db.storage.ephemeral),
        "the default ChatApp is durable by default: {:?}",
        app.spec.database
    );
    app
}

fn dry_runs(requests: &[Recorded]) -> Vec<&Recorded> {
    requests
        .iter()
        .filter(|r| r.method == Method::POST && r.query.contains("dryRun=All"))
        .collect()
}

fn data_volume(fake: &FakeApi) -> (bool, bool) {
    let set = fake.object(SET).expect("the StatefulSet was applied");
    let spec = &set["spec"];
    let claims = spec["volumeClaimTemplates"]
        .as_array()
        .is_some_and(|c| !c.is_empty());
    let volumes = spec["template"]["spec"]["volumes"].as_array().unwrap();
    let empty_dir = volumes
        .iter()
        .any(|v| v["name"] == "data" && v["emptyDir"].is_object());
    (claims, empty_dir)
}

fn durable_events(requests: &[Recorded]) -> Vec<&Recorded> {
    requests
        .iter()
        .filter(|r| {
            r.path.ends_with("/events")
                && r.body["reason"]
                    .as_str()
                    .is_some_and(|s| s.starts_with("Durable"))
        })
        .collect()
}

#[tokio::test]
async fn with_a_default_storage_class_the_default_chat_is_durable_on_a_claim() {
    let (client, fake) = FakeApi::start();
    fake.insert_app(&default_app());
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    let requests = fake.requests();
    let probes = dry_runs(&requests);
    assert_eq!(probes.len(), 1, "{:#?}", paths(&probes));
    assert!(probes[0].path.ends_with("/persistentvolumeclaims"));
    assert!(probes[0].body["spec"]["storageClassName"].is_null());
    assert!(
        fake.object("/api/v1/namespaces/chat/persistentvolumeclaims/demo-pg-storage-probe")
            .is_none(),
        "a dry run stores nothing"
    );
    assert_eq!(data_volume(&fake), (true, false));
    let (status, why, message) = condition(&fake.app("demo"), DURABLE);
    assert_eq!(
        (status.as_str(), why.as_str()),
        (TRUE, reason::PERSISTENT_VOLUME)
    );
    assert!(message.contains("data-demo-pg-0"), "{message}");
    let events = durable_events(&requests);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].body["type"], "Normal");

    // The StatefulSet exists with its claim now: it is kept without asking the cluster again.
    fake.clear_requests();
    fake.set_default_storage_class(None);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(dry_runs(&fake.requests()).is_empty());
    assert_eq!(data_volume(&fake), (true, false));
    assert_eq!(
        condition(&fake.app("demo"), DURABLE).1,
        reason::PERSISTENT_VOLUME
    );
}

#[tokio::test]
async fn without_a_default_storage_class_the_chat_comes_up_on_an_empty_dir_and_says_so() {
    let (client, fake) = FakeApi::start();
    fake.set_default_storage_class(None);
    fake.insert_app(&default_app());
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert_eq!(
        data_volume(&fake),
        (false, true),
        "no claim that would stay Pending"
    );
    let app = fake.app("demo");
    assert_eq!(
        condition(&app, READY).0,
        TRUE,
        "the chat comes up: {:?}",
        app.status
    );
    let (status, why, message) = condition(&app, DURABLE);
    assert_eq!(
        (status.as_str(), why.as_str()),
        (FALSE, reason::NO_DEFAULT_STORAGE_CLASS)
    );
    assert!(
        message.contains("NOT durable") && message.contains("storageClassName"),
        "{message}"
    );
    let requests = fake.requests();
    let events = durable_events(&requests);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(events[0].body["type"], "Warning");
    assert_eq!(events[0].body["reason"], "DurableFalse");
    let note = events[0].body["note"].as_str().unwrap();
    assert!(note.starts_with("NoDefaultStorageClass: "), "{note}");

    // A default class appears: the StatefulSet keeps its emptyDir (volumes cannot change in
    // place, and deleting it would lose the messages), and Durable says how to move.
    fake.clear_requests();
    fake.set_default_storage_class(Some("standard"));
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert_eq!(data_volume(&fake), (false, true));
    let (status, why, message) = condition(&fake.app("demo"), DURABLE);
    assert_eq!(
        (status.as_str(), why.as_str()),
        (FALSE, reason::EMPTY_DIR_KEPT)
    );
    assert!(message.contains("delete statefulset demo-pg"), "{message}");
    let requests = fake.requests();
    // The new reason is an event (DurableFalse again: the recorder may patch its series).
    assert!(
        requests.iter().any(|r| r.path.contains("/events")),
        "{:#?}",
        paths(&requests.iter().collect::<Vec<_>>())
    );
    assert!(
        !requests.iter().any(|r| r.method == Method::DELETE
            && (r.path.contains("/statefulsets/") || r.path.contains("/persistentvolumeclaims/"))),
        "nothing is deleted to move the data"
    );
}

#[tokio::test]
async fn a_named_class_is_used_without_asking_the_cluster() {
    let (client, fake) = FakeApi::start();
    fake.set_default_storage_class(None);
    let app = ChatApp::test()
        .with_managed_database(|d| d.storage.storage_class_name = Some("fast".into()));
    fake.insert_app(&app);
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    assert!(dry_runs(&fake.requests()).is_empty());
    assert_eq!(data_volume(&fake), (true, false));
    let set = fake.object(SET).unwrap();
    assert_eq!(
        set["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
        "fast"
    );
}

#[tokio::test]
async fn a_refused_probe_keeps_the_claim_and_a_failing_one_is_retried() {
    let (client, fake) = FakeApi::start();
    fake.set_default_storage_class(None);
    fake.insert_app(&default_app());
    fake.fail(Failure {
        method: Method::POST,
        path: "/persistentvolumeclaims",
        code: 403,
        times: 1,
    });
    let ctx = context(client);
    reconcile_stored(&fake, &ctx, "demo").await.unwrap();
    // A quota or policy refused the dry run: the spec's claim, whose Pending state explains.
    assert_eq!(data_volume(&fake), (true, false));

    let (client, fake) = FakeApi::start();
    fake.insert_app(&default_app());
    fake.fail(Failure {
        method: Method::POST,
        path: "/persistentvolumeclaims",
        code: 500,
        times: 1,
    });
    let ctx = context(client);
    let err = reconcile_stored(&fake, &ctx, "demo").await.unwrap_err();
    assert!(matches!(err, crate::error::Error::Storage(_)), "{err:?}");
    assert!(fake.object(SET).is_none(), "nothing applied on a guess");
    let (_, why, _) = condition(&fake.app("demo"), DEGRADED);
    assert_eq!(why, reason::OBSERVE_FAILED);
}

#[test]
fn render_shows_the_claim_the_spec_asks_for() {
    // `operator render` knows no cluster: the builders follow the spec.
    let desired = crate::resources::Desired::build(&default_app());
    let set = desired.postgres_statefulset.unwrap();
    assert!(set.spec.unwrap().volume_claim_templates.is_some());
}
