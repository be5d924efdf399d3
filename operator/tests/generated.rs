//! Generated files are checked, not trusted: `crds/chatapp.yaml`, `deploy/rbac.yaml`,
//! `deploy/operator.yaml` and the root `chatapp.yaml` must equal what the code generates now.
//! `UPDATE_SNAPSHOTS=1 cargo test -p operator --test generated` rewrites them. The hand-written
//! samples in `deploy/samples/` must be ChatApps that the schema, its CEL rules and the
//! controller all accept, without unknown fields (which `kubectl apply` refuses).

use std::path::{Path, PathBuf};
use std::process::Command;

use kube::CustomResourceExt;
use operator::bundle::generated_files;
use operator::crd::ChatApp;
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn generated_files_match_the_code() {
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    let mut drifted = Vec::new();
    for (path, want) in generated_files() {
        let file = root().join(path);
        let have = std::fs::read_to_string(&file).unwrap_or_default();
        if have == want {
            continue;
        }
        if update {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, want).unwrap();
            eprintln!("rewrote {path}");
        } else {
            drifted.push(path);
        }
    }
    assert!(
        drifted.is_empty(),
        "{drifted:?} differ from the code: run UPDATE_SNAPSHOTS=1 cargo test -p operator --test generated and commit"
    );
}

#[test]
fn the_crd_subcommand_prints_the_committed_crd() {
    let out = Command::new(env!("CARGO_BIN_EXE_operator"))
        .arg("crd")
        .output()
        .expect("run operator crd");
    assert!(out.status.success(), "{out:?}");
    let committed = std::fs::read_to_string(root().join("crds/chatapp.yaml")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}

fn documents(yaml: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect()
}

#[test]
fn the_bundle_names_no_namespace_and_holds_the_operator() {
    let bundle = std::fs::read_to_string(root().join("chatapp.yaml")).unwrap();
    let docs = documents(&bundle);
    let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
    assert_eq!(
        kinds,
        [
            "CustomResourceDefinition",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Deployment"
        ]
    );
    for doc in &docs {
        assert!(
            doc["metadata"]["namespace"].is_null(),
            "{} must work with and without -n: {doc}",
            doc["kind"]
        );
    }
    let binding = &docs[3];
    assert!(
        binding["subjects"][0]["namespace"].is_null(),
        "a RoleBinding's ServiceAccount subject without namespace means the binding's own"
    );
    let container = &docs[4]["spec"]["template"]["spec"]["containers"][0];
    let env = container["env"].as_array().unwrap();
    let from_downward_api = env.iter().any(|e| {
        e["name"] == "CHATAPP_OPERATOR_NAMESPACE"
            && e["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    });
    assert!(from_downward_api, "{env:?}");
    assert!(
        env.iter()
            .any(|e| e["name"] == "CHATAPP_ENSURE_DEFAULT" && e["value"] == "true"),
        "the operator creates the default ChatApp, since kubectl cannot in the same apply: {env:?}"
    );
    let deployment = &docs[4]["spec"];
    assert_eq!(deployment["replicas"], 2, "a leader and a standby");
    let spread = &deployment["template"]["spec"]["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        [0]["podAffinityTerm"];
    assert_eq!(
        spread["topologyKey"], "kubernetes.io/hostname",
        "{deployment}"
    );
    assert_eq!(
        spread["labelSelector"]["matchLabels"], deployment["selector"]["matchLabels"],
        "the replicas avoid each other's node: {deployment}"
    );
}

/// Leaves of `v` as JSON pointers (keys escaped, so annotation keys such as
/// `cert-manager.io/cluster-issuer` stay one segment).
fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, v)| {
            let key = k.replace('~', "~0").replace('/', "~1");
            leaves(v, format!("{at}/{key}"), out)
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, v)| leaves(v, format!("{at}/{i}"), out)),
        _ => out.push(at),
    }
}

#[test]
fn samples_are_valid_chatapps_without_unknown_fields() {
    let crd = ChatApp::crd();
    let schema = serde_json::to_value(
        crd.spec.versions[0]
            .schema
            .as_ref()
            .unwrap()
            .open_api_v3_schema
            .as_ref()
            .unwrap(),
    )
    .unwrap();
    let dir = root().join("deploy/samples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let raw: Value = serde_norway::from_str(&text).unwrap();
        let mut app: ChatApp = serde_json::from_value(raw.clone())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        app.metadata.namespace = Some("chat".into());
        let problems = operator::controller::validate::validate(&app);
        assert!(problems.is_empty(), "{}: {problems:?}", path.display());
        if let Err(errors) = kube::core::cel::Validator::new().validate(&schema, &raw, None) {
            panic!("{}: CEL refuses it: {errors:?}", path.display());
        }
        let typed = serde_json::to_value(&app).unwrap();
        let mut paths = Vec::new();
        leaves(&raw, String::new(), &mut paths);
        for leaf in paths {
            assert!(
                typed.pointer(&leaf).is_some(),
                "{}: unknown field {leaf}",
                path.display()
            );
        }
        seen += 1;
    }
    assert!(seen >= 5, "samples in {}", dir.display());
}

/// `[workspace.package] version` of the root Cargo.toml.
fn workspace_version() -> String {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    let section = manifest
        .split("[workspace.package]")
        .nth(1)
        .expect("a [workspace.package] section");
    section
        .lines()
        .take_while(|l| !l.starts_with('['))
        .find_map(|l| l.strip_prefix("version = "))
        .map(|v| v.trim().trim_matches('"').to_owned())
        .expect("a workspace version")
}

/// The images a user pulls are the ones the release workflow pushes for this version: every
/// `ghcr.io/chatapp-dev/...` image in the bundle, the operator's defaults, the samples and the
/// README is tagged with the workspace version, and the workflow builds each of them.
#[test]
fn image_tags_are_the_workspace_version() {
    let version = workspace_version();
    let defaults = [
        operator::bundle::DEFAULT_OPERATOR_IMAGE,
        operator::crd::DEFAULT_CHAT_IMAGE,
        operator::crd::DEFAULT_LOCUST_IMAGE,
    ];
    for image in defaults {
        assert!(
            image.ends_with(&format!(":{version}")),
            "{image} vs {version}"
        );
    }
    let workflow = std::fs::read_to_string(root().join(".github/workflows/release.yml")).unwrap();
    for name in ["operator", "chat-server", "locust"] {
        assert!(
            workflow.contains(&format!("- name: {name}\n")),
            "release.yml builds {name}"
        );
    }
    assert!(workflow.contains("linux/amd64,linux/arm64"));
    let mut files = vec![
        "chatapp.yaml".to_owned(),
        "deploy/operator.yaml".to_owned(),
        "README.md".to_owned(),
    ];
    for entry in std::fs::read_dir(root().join("deploy/samples")).unwrap() {
        let path = entry.unwrap().path();
        files.push(format!(
            "deploy/samples/{}",
            path.file_name().unwrap().to_string_lossy()
        ));
    }
    let mut seen = 0;
    for file in files {
        let text = std::fs::read_to_string(root().join(&file)).unwrap();
        for (at, _) in text.match_indices("ghcr.io/chatapp-dev/") {
            let image: String = text[at..]
                .chars()
                .take_while(|c| !c.is_whitespace() && !"`'\",)".contains(*c))
                .collect();
            let tag = image.rsplit_once(':').map(|(_, t)| t);
            assert_eq!(tag, Some(version.as_str()), "{file}: {image}");
            seen += 1;
        }
    }
    assert!(seen >= 5, "only {seen} image references");
}
