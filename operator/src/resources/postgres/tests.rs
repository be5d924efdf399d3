//! The managed PostgreSQL's builders: retention of the data, security, probes and the Secret.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::*;
use crate::controller::conditions::reason;
use crate::fixtures::TestApp;

fn spec(app: &ChatApp) -> StatefulSetSpec {
    let storage = DataStorage::from_spec(managed(app).unwrap());
    postgres_statefulset(app, storage).unwrap().spec.unwrap()
}

#[test]
fn without_a_managed_database_nothing_is_built() {
    for app in [ChatApp::test(), ChatApp::test().with_external_database()] {
        assert!(postgres_statefulset(&app, DataStorage::Claim).is_none());
        assert!(postgres_service(&app).is_none());
        assert!(data_note(&app, DataStorage::Claim).is_none());
        assert!(storage_probe(&app).is_none());
    }
}

#[test]
fn the_data_is_kept_when_the_chatapp_is_deleted_unless_asked() {
    let kept = spec(&ChatApp::test().with_managed_database(|_| {}));
    let policy = kept.persistent_volume_claim_retention_policy.unwrap();
    assert_eq!(policy.when_deleted.as_deref(), Some("Retain"));
    assert_eq!(policy.when_scaled.as_deref(), Some("Retain"));
    let gone = spec(&ChatApp::test().with_managed_database(|d| d.delete_data_with_chat_app = true));
    let policy = gone.persistent_volume_claim_retention_policy.unwrap();
    assert_eq!(policy.when_deleted.as_deref(), Some("Delete"));
}

#[test]
fn the_claim_template_has_no_owner_and_asks_for_the_spec_size() {
    let app = ChatApp::test().with_managed_database(|d| {
        d.storage.size = Quantity("5Gi".into());
        d.storage.storage_class_name = Some("fast".into());
    });
    let claims = spec(&app).volume_claim_templates.unwrap();
    assert_eq!(claims.len(), 1);
    let claim = &claims[0];
    assert_eq!(claim.metadata.owner_references, None, "{claim:?}");
    assert_eq!(claim.metadata.name.as_deref(), Some("data"));
    let claim_spec = claim.spec.as_ref().unwrap();
    assert_eq!(claim_spec.storage_class_name.as_deref(), Some("fast"));
    let requests = claim_spec
        .resources
        .as_ref()
        .unwrap()
        .requests
        .as_ref()
        .unwrap();
    assert_eq!(requests["storage"], Quantity("5Gi".into()));
    assert_eq!(postgres_pvc_name(&app), "data-demo-pg-0");
    // The StatefulSet itself is owned by the ChatApp like every child.
    let set = postgres_statefulset(&app, DataStorage::Claim).unwrap();
    assert!(set.metadata.owner_references.is_some());
}

#[test]
fn ephemeral_storage_is_an_empty_dir_and_durable_says_it_is_not_durable() {
    let app = ChatApp::test().with_managed_database(|d| d.storage.ephemeral = true);
    let s = spec(&app);
    assert_eq!(s.volume_claim_templates, None);
    let volumes = s.template.spec.unwrap().volumes.unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v.name == "data" && v.empty_dir.is_some())
    );
    let (durable, reason, message) = durability(&app, None);
    assert!(!durable);
    assert_eq!(reason, reason::EPHEMERAL_STORAGE);
    assert!(message.contains("NOT durable"), "{message}");
    assert_eq!(data_note(&app, DataStorage::Ephemeral), None);
    let kept = data_note(
        &ChatApp::test().with_managed_database(|_| {}),
        DataStorage::Claim,
    )
    .unwrap();
    assert!(
        kept.contains("kept in PersistentVolumeClaim data-demo-pg-0"),
        "{kept}"
    );
}

#[test]
fn without_a_default_storage_class_the_data_goes_on_an_empty_dir_and_durable_says_what_to_do() {
    let app = ChatApp::test().with_managed_database(|_| {});
    let set = postgres_statefulset(&app, DataStorage::NoDefaultClass).unwrap();
    let spec = set.spec.unwrap();
    assert_eq!(spec.volume_claim_templates, None);
    let volumes = spec.template.spec.unwrap().volumes.unwrap();
    let data = volumes.iter().find(|v| v.name == "data").unwrap();
    assert!(data.empty_dir.is_some(), "{data:?}");
    // The pod mounts the same volume name either way.
    let (durable, why, message) = durability(&app, Some(DataStorage::NoDefaultClass));
    assert!(!durable);
    assert_eq!(why, reason::NO_DEFAULT_STORAGE_CLASS);
    for words in [
        "no default StorageClass",
        "NOT durable",
        "demo-pg-0 pod is deleted",
        "spec.database.managed.storage.storageClassName",
        "kubectl -n chat delete statefulset demo-pg",
    ] {
        assert!(message.contains(words), "{words:?} not in {message}");
    }
    assert_eq!(data_note(&app, DataStorage::NoDefaultClass), None);
    let (_, why, message) = durability(&app, Some(DataStorage::EmptyDirKept));
    assert_eq!(why, reason::EMPTY_DIR_KEPT);
    assert!(
        message.contains("a StorageClass is available now"),
        "{message}"
    );
}

#[test]
fn the_storage_decision_keeps_what_exists_and_falls_back_only_without_a_class() {
    let unnamed = ManagedDatabase::default();
    let mut named = ManagedDatabase::default();
    named.storage.storage_class_name = Some("fast".into());
    let mut ephemeral = ManagedDatabase::default();
    ephemeral.storage.ephemeral = true;
    use DataStorage::*;
    // (database, existing StatefulSet has a claim, cluster has a default class) -> choice
    let cases = [
        (&unnamed, None, Some(true), Claim),
        (&unnamed, None, Some(false), NoDefaultClass),
        (&named, None, None, Claim),
        (&named, None, Some(false), Claim),
        (&unnamed, Some(true), None, Claim),
        (&unnamed, Some(true), Some(false), Claim),
        (&unnamed, Some(false), Some(false), NoDefaultClass),
        (&unnamed, Some(false), Some(true), EmptyDirKept),
        (&named, Some(false), Some(false), EmptyDirKept),
        (&ephemeral, None, None, Ephemeral),
        (&ephemeral, Some(true), Some(true), Ephemeral),
    ];
    for (db, existing, default_class, want) in cases {
        assert_eq!(
            DataStorage::decide(db, existing, default_class),
            want,
            "{:?} existing {existing:?} default {default_class:?}",
            db.storage
        );
    }
    // The cluster is asked only when its answer can change the choice.
    assert!(DataStorage::needs_default_class(&unnamed, None));
    assert!(DataStorage::needs_default_class(&unnamed, Some(false)));
    assert!(DataStorage::needs_default_class(&named, Some(false)));
    assert!(!DataStorage::needs_default_class(&named, None));
    assert!(!DataStorage::needs_default_class(&unnamed, Some(true)));
    assert!(!DataStorage::needs_default_class(&ephemeral, None));
}

#[test]
fn durable_names_the_store_of_every_mode() {
    let claim = ChatApp::test().with_managed_database(|_| {});
    let (ok, why, message) = durability(&claim, Some(DataStorage::Claim));
    assert!(ok && why == reason::PERSISTENT_VOLUME, "{why}");
    assert!(message.contains("data-demo-pg-0"), "{message}");
    let (ok, why, message) = durability(&ChatApp::test().with_external_database(), None);
    assert!(ok && why == reason::EXTERNAL_DATABASE, "{why}");
    assert!(message.contains("pg-app"), "{message}");
    let (ok, why, message) = durability(&ChatApp::test(), None);
    assert!(!ok && why == reason::REDIS_ONLY, "{why}");
    assert!(message.contains("emptyDir"), "{message}");
    let (_, _, message) = durability(&ChatApp::test().with_persistence(), None);
    assert!(message.contains("on its volume"), "{message}");
}

#[test]
fn the_storage_probe_is_the_claim_without_a_class_under_its_own_name() {
    let app = ChatApp::test().with_managed_database(|d| d.storage.size = Quantity("3Gi".into()));
    let probe = storage_probe(&app).unwrap();
    assert_eq!(
        probe.metadata.name.as_deref(),
        Some("demo-pg-storage-probe")
    );
    assert_eq!(probe.metadata.namespace.as_deref(), Some("chat"));
    let spec = probe.spec.unwrap();
    assert_eq!(spec.storage_class_name, None);
    assert_eq!(
        spec.resources.unwrap().requests.unwrap()["storage"],
        Quantity("3Gi".into())
    );
}

#[test]
fn the_pod_is_restricted_with_writable_volumes_only_where_postgres_writes() {
    let pod = spec(&ChatApp::test().with_managed_database(|_| {}))
        .template
        .spec
        .unwrap();
    let security = pod.security_context.as_ref().unwrap();
    assert_eq!(security.run_as_user, Some(70));
    assert_eq!(security.fs_group, Some(70));
    assert_eq!(security.run_as_non_root, Some(true));
    let c = &pod.containers[0];
    let cs = c.security_context.as_ref().unwrap();
    assert_eq!(cs.read_only_root_filesystem, Some(true));
    assert_eq!(cs.allow_privilege_escalation, Some(false));
    let mounts: Vec<&str> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| m.mount_path.as_str())
        .collect();
    assert_eq!(
        mounts,
        ["/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"]
    );
    for probe in [&c.readiness_probe, &c.liveness_probe] {
        let cmd = probe
            .as_ref()
            .unwrap()
            .exec
            .as_ref()
            .unwrap()
            .command
            .clone()
            .unwrap();
        assert_eq!(cmd[0], "pg_isready", "{cmd:?}");
    }
    let password = c
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "POSTGRES_PASSWORD")
        .unwrap();
    assert_eq!(
        password.value, None,
        "the password is never in the pod spec"
    );
    assert_eq!(pod.automount_service_account_token, Some(false));
}

#[test]
fn the_secret_holds_the_uri_the_chat_pods_read() {
    let app = ChatApp::test().with_managed_database(|_| {});
    let bare = postgres_secret(&app);
    assert_eq!(bare.data, None);
    // Kept with the kept claim: the data directory knows only this password.
    assert_eq!(bare.metadata.owner_references, None);
    let owned = postgres_secret(&ChatApp::test().with_managed_database(|d| {
        d.delete_data_with_chat_app = true;
    }));
    assert!(owned.metadata.owner_references.is_some());
    // Nothing to keep on an emptyDir: the Secret goes with the ChatApp.
    let ephemeral = postgres_secret(&ChatApp::test().with_managed_database(|d| {
        d.storage.ephemeral = true;
    }));
    assert!(ephemeral.metadata.owner_references.is_some());
    assert_eq!(
        bare.string_data, None,
        "the password is made at create time only"
    );
    let secret = with_password(&app, bare, "pw");
    let data = secret.string_data.unwrap();
    assert_eq!(
        data["uri"],
        "postgres://chat:pw@demo-pg:5432/chat?sslmode=disable"
    );
    assert_eq!(data["password"], "pw");
    let (a, b) = (new_password(), new_password());
    assert_ne!(a, b);
    assert_eq!(a.len(), 64);
    assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
}
