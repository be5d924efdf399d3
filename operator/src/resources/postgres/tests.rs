//! The managed PostgreSQL's builders: retention of the data, security, probes and the Secret.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::*;
use crate::fixtures::TestApp;

fn spec(app: &ChatApp) -> StatefulSetSpec {
    postgres_statefulset(app).unwrap().spec.unwrap()
}

#[test]
fn without_a_managed_database_nothing_is_built() {
    for app in [ChatApp::test(), ChatApp::test().with_external_database()] {
        assert!(postgres_statefulset(&app).is_none());
        assert!(postgres_service(&app).is_none());
        assert!(data_note(&app).is_none());
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
    let set = postgres_statefulset(&app).unwrap();
    assert!(set.metadata.owner_references.is_some());
}

#[test]
fn ephemeral_storage_is_an_empty_dir_and_the_note_says_it_is_not_durable() {
    let app = ChatApp::test().with_managed_database(|d| d.storage.ephemeral = true);
    let s = spec(&app);
    assert_eq!(s.volume_claim_templates, None);
    let volumes = s.template.spec.unwrap().volumes.unwrap();
    assert!(
        volumes
            .iter()
            .any(|v| v.name == "data" && v.empty_dir.is_some())
    );
    let note = data_note(&app).unwrap();
    assert!(note.contains("NOT durable"), "{note}");
    let kept = data_note(&ChatApp::test().with_managed_database(|_| {})).unwrap();
    assert!(
        kept.contains("kept in PersistentVolumeClaim data-demo-pg-0"),
        "{kept}"
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
