//! End to end against a real cluster, opt-in: `CHATAPP_E2E_KUBECONFIG=~/.kube/config cargo test -p
//! operator --test e2e`. Without it this prints "skipped" and checks nothing (it is a
//! `harness = false` test, so a skip is not reported as a passed test).
//!
//! It applies the CRD (server-side apply, left installed afterwards), makes a fresh namespace with
//! the bundle's ServiceAccount/Role/RoleBinding, and runs the operator binary out of the cluster
//! *impersonating that ServiceAccount*, so the least-privilege RBAC is what is exercised, with
//! leader election on as in the bundle. Then: the operator holds the Lease, survives losing it
//! (stays up as a standby, leads again after a release), the default ChatApp appears, a
//! ChatApp's children (NetworkPolicies included) appear with owner references, status is
//! written, the scale subresource scales it and removes the PDB at one replica, a deleted child
//! comes back, a settings change changes the pod template's config hash, a taken NodePort shows
//! in status and is taken within seconds once freed, a Redis claim that cannot bind is reported
//! as PVCPending, a switch to an external Redis whose Secret is missing keeps the managed Redis
//! (which goes once the Secret exists), invalid specs are refused by the API server, and
//! deleting the ChatApp garbage-collects its children. Issue #12: the default ChatApp is durable
//! and its Durable condition matches the cluster (True on a claim where a default StorageClass
//! exists, False NoDefaultStorageClass on an emptyDir where none does); a managed database's
//! StatefulSet retains its claim, its password survives a spec change, and (with pods) the chat
//! is Available on it and the claim outlives the ChatApp. Issue #11: an Ingress (its host the chat's
//! public URL) and an HPA on the ChatApp appear and go with their fields, monitoring is applied
//! or said unavailable as discovery finds the Prometheus Operator, a new image rolls the pods and
//! a restarted operator adopts the children; the NodePort keeps client addresses and Redis never
//! evicts. Issue #15: with `supportApi.enabled` the Service and the token Secret NAME-support-api
//! exist, owned by the ChatApp, the chat's NetworkPolicy opens the gRPC port, a spec change keeps
//! the token, and a `tokenSecret` naming a missing Secret says SupportApiSecretMissing. With `CHATAPP_E2E_PODS=1` it also waits for pods to be ready
//! (a fresh ChatApp reaching Available with no chat pod restarted, though its Redis starts with
//! it) and for the chat and Locust to answer through the API server's service proxy; images come from
//! `CHATAPP_E2E_CHAT_IMAGE` / `CHATAPP_E2E_LOCUST_IMAGE` (kind/minikube: load them first).
//! The kubeconfig's user needs cluster-admin (to create the CRD and to impersonate).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, Secret, Service,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, CustomResourceExt, Resource, ResourceExt};
use operator::bundle::{NAME as OPERATOR, role, role_binding, service_account};
use operator::crd::ChatApp;
use serde_json::{Value, json};

const SKIP: &str =
    "skipped: CHATAPP_E2E_KUBECONFIG not set (nothing was checked against a cluster)";

fn main() {
    let Some(kubeconfig) = std::env::var_os("CHATAPP_E2E_KUBECONFIG") else {
        println!("{SKIP}");
        return;
    };
    let pods = std::env::var("CHATAPP_E2E_PODS").is_ok_and(|v| v == "1");
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let outcome = runtime.block_on(async move {
        let e2e = E2e::start(PathBuf::from(kubeconfig), pods).await;
        let ns = e2e.ns.clone();
        let client = e2e.client.clone();
        // Run the checks in a task so an assertion failure still lets us clean up.
        let result = tokio::spawn(e2e.run()).await;
        let namespaces: Api<Namespace> = Api::all(client);
        let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
        println!("cleanup: namespace {ns} deleted; the CRD chatapps.chatapp.dev is left installed");
        result
    });
    match outcome {
        Ok(()) => println!("e2e: all checks passed"),
        Err(err) => {
            eprintln!("e2e: FAILED: {err}");
            std::process::exit(1);
        }
    }
}

/// The operator process; killed when dropped.
struct OperatorProcess(Child);

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct E2e {
    client: Client,
    ns: String,
    kubeconfig: PathBuf,
    pods: bool,
    limit: Duration,
}

fn ok(what: &str) {
    println!("ok: {what}");
}

/// Polls `probe` every second until it returns Ok, or panics with its last error after `limit`.
/// A bound for a real cluster, not a timing assertion.
async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let start = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if start.elapsed() > limit => {
                panic!("{what}: still not true after {limit:?}: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

fn chatapp(name: &str, spec: Value) -> ChatApp {
    serde_json::from_value(json!({
        "apiVersion": "chatapp.dev/v1alpha1",
        "kind": "ChatApp",
        "metadata": {"name": name},
        "spec": spec,
    }))
    .expect("a ChatApp")
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

impl E2e {
    async fn start(kubeconfig: PathBuf, pods: bool) -> Self {
        let config = Kubeconfig::read_from(&kubeconfig).expect("CHATAPP_E2E_KUBECONFIG readable");
        let config = kube::Config::from_custom_kubeconfig(config, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig usable");
        let client = Client::try_from(config).expect("client");
        let ns = format!("chatapp-e2e-{}", std::process::id());
        let limit = Duration::from_secs(if pods { 300 } else { 120 });
        E2e {
            client,
            ns,
            kubeconfig,
            pods,
            limit,
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn run(self) {
        self.install().await;
        let log = std::env::temp_dir().join(format!("{}-operator.log", self.ns));
        let mut operator = self.spawn_operator(&log);
        println!("operator log: {}", log.display());
        let leader = self.lease_is_held().await;
        self.a_lost_lease_is_survived(&mut operator, &leader).await;
        self.default_chatapp_is_created().await;
        self.children_appear().await;
        self.scale_subresource_works().await;
        self.deleted_child_comes_back().await;
        self.settings_change_rolls_pods().await;
        self.next_level_children().await;
        self.upgrade_rolls_and_a_new_operator_adopts(&mut operator, &log)
            .await;
        self.taken_node_port_is_explained().await;
        self.a_pending_claim_is_explained().await;
        self.a_missing_redis_secret_changes_nothing().await;
        self.a_managed_database_is_kept().await;
        self.the_support_api_gets_its_service_and_token().await;
        self.invalid_specs_are_refused().await;
        if self.pods {
            self.fresh_install_needs_no_restart().await;
            self.chat_and_locust_answer().await;
        } else {
            println!(
                "not checked: pod readiness and reachability (set CHATAPP_E2E_PODS=1 on a cluster whose nodes can run the images)"
            );
        }
        self.deletion_collects_children().await;
    }

    async fn install(&self) {
        let crds: Api<CustomResourceDefinition> = Api::all(self.client.clone());
        let params = PatchParams::apply("chatapp-e2e").force();
        let crd = ChatApp::crd();
        let name = crd.name_any();
        crds.patch(&name, &params, &Patch::Apply(&crd))
            .await
            .expect("the CRD is accepted (structural schema, CEL rules within cost budget)");
        eventually("CRD established", self.limit, || async {
            let crd = crds.get(&name).await.map_err(|e| e.to_string())?;
            let established = crd.status.and_then(|s| s.conditions).is_some_and(|cs| {
                cs.iter()
                    .any(|c| c.type_ == "Established" && c.status == "True")
            });
            established
                .then_some(())
                .ok_or_else(|| "not yet".to_owned())
        })
        .await;
        ok("CRD applied and established");

        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let mut namespace = Namespace::default();
        namespace.metadata.name = Some(self.ns.clone());
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("create the test namespace");
        let pp = PostParams::default();
        self.api().create(&pp, &service_account()).await.unwrap();
        self.api().create(&pp, &role()).await.unwrap();
        self.api().create(&pp, &role_binding()).await.unwrap();
        ok(&format!(
            "namespace {} with the bundle's RBAC (RoleBinding subject without namespace)",
            self.ns
        ));
    }

    fn spawn_operator(&self, log: &Path) -> OperatorProcess {
        let log = std::fs::File::create(log).expect("operator log file");
        let user = format!("system:serviceaccount:{}:{OPERATOR}", self.ns);
        let child = Command::new(env!("CARGO_BIN_EXE_operator"))
            .args(["run", "--namespace", &self.ns, "--listen", "127.0.0.1:0"])
            .args([
                "--ensure-default",
                "--leader-elect",
                "--log-format",
                "pretty",
            ])
            .env("KUBECONFIG", &self.kubeconfig)
            .env("KUBE_RS_DEBUG_IMPERSONATE_USER", &user)
            .env("RUST_LOG", "info,operator=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start the operator binary");
        ok(&format!("operator running out of cluster as {user}"));
        OperatorProcess(child)
    }

    async fn lease_is_held(&self) -> String {
        let leases: Api<Lease> = self.api();
        let holder = eventually("the operator holds the Lease", self.limit, || async {
            let lease = leases.get_opt(OPERATOR).await.map_err(|e| e.to_string())?;
            lease
                .and_then(|l| l.spec?.holder_identity)
                .filter(|h| !h.is_empty())
                .ok_or_else(|| "no holder yet".to_owned())
        })
        .await;
        ok(&format!("Lease {OPERATOR} held by {holder}"));
        holder
    }

    /// Another holder takes the Lease: the leader steps down without exiting, and leads again
    /// once the Lease is released.
    async fn a_lost_lease_is_survived(&self, operator: &mut OperatorProcess, leader: &str) {
        let leases: Api<Lease> = self.api();
        // A replace carries the resourceVersion just read: when the leader renews in between,
        // the API server answers 409 and the write is tried again.
        let write = |holder: Option<&'static str>| {
            let leases = leases.clone();
            async move {
                let mut lease = leases.get(OPERATOR).await.map_err(|e| e.to_string())?;
                let spec = lease.spec.get_or_insert_with(Default::default);
                spec.holder_identity = holder.map(str::to_owned);
                spec.renew_time = Some(MicroTime(k8s_openapi::jiff::Timestamp::now()));
                leases
                    .replace(OPERATOR, &PostParams::default(), &lease)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        };
        eventually("the Lease taken by another holder", self.limit, || {
            write(Some("e2e-thief"))
        })
        .await;
        // The leader notices at its next renewal (every 5 s) and steps down.
        tokio::time::sleep(Duration::from_secs(12)).await;
        let running = |operator: &mut OperatorProcess| operator.0.try_wait().unwrap().is_none();
        assert!(
            running(operator),
            "the operator exited after losing the Lease"
        );
        eventually("the Lease released", self.limit, || write(None)).await;
        eventually("the operator leads again", self.limit, || async {
            let lease = leases.get(OPERATOR).await.map_err(|e| e.to_string())?;
            let holder = lease.spec.and_then(|s| s.holder_identity);
            (holder.as_deref() == Some(leader))
                .then_some(())
                .ok_or(format!("holder {holder:?}"))
        })
        .await;
        assert!(running(operator), "the operator exited");
        ok("a leader that loses the Lease stays up as a standby and leads again after a release");
    }

    async fn default_chatapp_is_created(&self) {
        let apps: Api<ChatApp> = self.api();
        let app = eventually(
            "the operator creates ChatApp default",
            self.limit,
            || async {
                apps.get_opt("default")
                    .await
                    .map_err(|e| e.to_string())?
                    .ok_or_else(|| "absent".to_owned())
            },
        )
        .await;
        assert_eq!(app.spec.service.node_port, Some(30222), "{:?}", app.spec);
        ok("default ChatApp created by the operator (NodePort 30222)");
        // Durable by default, and it says whether it is: on a claim of the default StorageClass,
        // or on an emptyDir where the cluster has none (this test's user may read StorageClasses;
        // the operator learns it with a dry-run claim instead).
        let (want_status, want_reason) = if self.has_default_storage_class().await {
            ("True", "PersistentVolume")
        } else {
            ("False", "NoDefaultStorageClass")
        };
        let (status, reason, message) = self.durable("default").await;
        assert_eq!(
            (status.as_str(), reason.as_str()),
            (want_status, want_reason),
            "{message}"
        );
        let set = self.api::<StatefulSet>().get("default-pg").await.unwrap();
        let claims = set
            .spec
            .and_then(|s| s.volume_claim_templates)
            .unwrap_or_default();
        assert_eq!(!claims.is_empty(), want_status == "True", "{claims:?}");
        ok(&format!(
            "the default ChatApp's Durable condition is {status} {reason}: {message}"
        ));
        // Not needed further; it may even clash with an installed chatapp on 30222.
        apps.delete("default", &DeleteParams::default())
            .await
            .unwrap();
    }

    /// Whether the cluster has a StorageClass marked as its default.
    async fn has_default_storage_class(&self) -> bool {
        let classes: Api<k8s_openapi::api::storage::v1::StorageClass> =
            Api::all(self.client.clone());
        let list = classes.list(&ListParams::default()).await.unwrap();
        list.items.iter().any(|c| {
            c.annotations()
                .get("storageclass.kubernetes.io/is-default-class")
                .is_some_and(|v| v == "true")
        })
    }

    /// The `Durable` condition of ChatApp `name` once written: (status, reason, message).
    async fn durable(&self, name: &str) -> (String, String, String) {
        let apps: Api<ChatApp> = self.api();
        eventually(&format!("Durable of {name}"), self.limit, || async {
            let app = apps.get(name).await.map_err(|e| e.to_string())?;
            let status = app.status.unwrap_or_default();
            let c = status.conditions.iter().find(|c| c.type_ == "Durable");
            c.map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
                .ok_or(format!("{:?}", status.conditions))
        })
        .await
    }

    fn e2e_spec(&self) -> Value {
        json!({
            "replicas": 2,
            "image": env_or("CHATAPP_E2E_CHAT_IMAGE", operator::crd::DEFAULT_CHAT_IMAGE),
            "imagePullPolicy": env_or("CHATAPP_E2E_PULL_POLICY", "IfNotPresent"),
            "loadTest": {
                "enabled": true, "users": 5, "spawnRate": 1, "workers": 1,
                "image": env_or("CHATAPP_E2E_LOCUST_IMAGE", operator::crd::DEFAULT_LOCUST_IMAGE),
            },
        })
    }

    /// Creates ChatApp `e2e` and waits until every child exists, owned by it, and status is written.
    async fn children_appear(&self) {
        let apps: Api<ChatApp> = self.api();
        let app = apps
            .create(&PostParams::default(), &chatapp("e2e", self.e2e_spec()))
            .await
            .expect("create ChatApp e2e");
        let uid = app.uid().unwrap();
        let owned = |meta: &kube::api::ObjectMeta| -> Result<(), String> {
            let owner = meta.owner_references.iter().flatten().next();
            match owner {
                Some(o) if o.uid == uid && o.controller == Some(true) => Ok(()),
                other => Err(format!("{:?}: owner {other:?}", meta.name)),
            }
        };
        eventually("children of e2e", self.limit, || async {
            let e = |err: kube::Error| err.to_string();
            for name in ["e2e", "e2e-redis", "e2e-locust"] {
                let d = self.api::<Deployment>().get(name).await.map_err(e)?;
                owned(&d.metadata)?;
                let s = self.api::<Service>().get(name).await.map_err(e)?;
                owned(&s.metadata)?;
            }
            owned(
                &self
                    .api::<PodDisruptionBudget>()
                    .get("e2e")
                    .await
                    .map_err(e)?
                    .metadata,
            )?;
            let cm = self.api::<ConfigMap>().get("e2e-locust").await.map_err(e)?;
            owned(&cm.metadata)?;
            let workers = self.api::<Deployment>().get("e2e-locust-worker").await;
            owned(&workers.map_err(e)?.metadata)?;
            let master = self.api::<Service>().get("e2e-locust-master").await;
            owned(&master.map_err(e)?.metadata)?;
            for name in ["e2e", "e2e-redis"] {
                let policy = self.api::<NetworkPolicy>().get(name).await;
                owned(&policy.map_err(e)?.metadata)?;
            }
            Ok(())
        })
        .await;
        ok(
            "children created with controller owner references (chat, redis, PDB, NetworkPolicies, Locust master and worker)",
        );
        let status = eventually("status of e2e", self.limit, || async {
            let app = apps.get("e2e").await.map_err(|e| e.to_string())?;
            let status = app.status.clone().unwrap_or_default();
            let types: Vec<&str> = status.conditions.iter().map(|c| c.type_.as_str()).collect();
            let complete = status.observed_generation == app.metadata.generation
                && status.selector.is_some()
                && status.node_port.is_some()
                && status.load_test_node_port.is_some()
                && ["Ready", "Progressing", "Degraded", "Durable"]
                    .iter()
                    .all(|t| types.contains(t));
            complete
                .then_some(status.clone())
                .ok_or(format!("{status:?}"))
        })
        .await;
        ok(&format!(
            "status written: nodePort {:?}, Locust nodePort {:?}, selector {:?}",
            status.node_port, status.load_test_node_port, status.selector
        ));
    }

    async fn deployment_replicas(&self, want: i32) {
        eventually(&format!("Deployment e2e at {want}"), self.limit, || async {
            let d = self.api::<Deployment>().get("e2e").await;
            let replicas = d.map_err(|e| e.to_string())?.spec.and_then(|s| s.replicas);
            (replicas == Some(want))
                .then_some(())
                .ok_or(format!("{replicas:?}"))
        })
        .await;
    }

    async fn scale_subresource_works(&self) {
        let apps: Api<ChatApp> = self.api();
        let scale = |n: i32| json!({"spec": {"replicas": n}});
        // What `kubectl scale chatapp/e2e --replicas=3` and an HPA do.
        apps.patch_scale("e2e", &PatchParams::default(), &Patch::Merge(scale(3)))
            .await
            .expect("scale subresource");
        self.deployment_replicas(3).await;
        let s = apps.get_scale("e2e").await.unwrap();
        let selector = s.status.and_then(|st| st.selector).unwrap_or_default();
        assert!(
            selector.contains("app.kubernetes.io/instance=e2e"),
            "{selector}"
        );
        ok("scale subresource: 3 replicas, selector for HPAs");
        apps.patch_scale("e2e", &PatchParams::default(), &Patch::Merge(scale(1)))
            .await
            .unwrap();
        self.deployment_replicas(1).await;
        eventually("PDB removed at one replica", self.limit, || async {
            let pdb = self.api::<PodDisruptionBudget>().get_opt("e2e").await;
            match pdb.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(_) => Err("still there".to_owned()),
            }
        })
        .await;
        apps.patch_scale("e2e", &PatchParams::default(), &Patch::Merge(scale(2)))
            .await
            .unwrap();
        self.deployment_replicas(2).await;
        ok("scaled to 1 (PDB removed) and back to 2");
    }

    async fn deleted_child_comes_back(&self) {
        let services: Api<Service> = self.api();
        let old = services.get("e2e").await.unwrap().uid();
        services
            .delete("e2e", &DeleteParams::default())
            .await
            .unwrap();
        eventually("Service e2e recreated", self.limit, || async {
            let svc = services.get_opt("e2e").await.map_err(|e| e.to_string())?;
            match svc {
                Some(s) if s.uid() != old && s.metadata.deletion_timestamp.is_none() => Ok(()),
                other => Err(format!("{:?}", other.map(|s| s.uid()))),
            }
        })
        .await;
        ok("a Service deleted by hand is recreated");
    }

    fn config_hash(d: &Deployment) -> Option<String> {
        let template = d.spec.as_ref()?.template.metadata.as_ref()?;
        template
            .annotations
            .as_ref()?
            .get("chatapp.dev/config-hash")
            .cloned()
    }

    async fn settings_change_rolls_pods(&self) {
        let deployments: Api<Deployment> = self.api();
        let before = Self::config_hash(&deployments.get("e2e").await.unwrap());
        assert!(before.is_some(), "the pod template carries a config hash");
        let apps: Api<ChatApp> = self.api();
        let patch = json!({"spec": {"chat": {"historyLen": 500}}});
        apps.patch("e2e", &PatchParams::default(), &Patch::Merge(patch))
            .await
            .unwrap();
        let after = eventually("config hash changes", self.limit, || async {
            let d = deployments.get("e2e").await.map_err(|e| e.to_string())?;
            let hash = Self::config_hash(&d);
            (hash != before).then_some(d).ok_or(format!("{hash:?}"))
        })
        .await;
        let env = after.spec.unwrap().template.spec.unwrap().containers[0]
            .env
            .clone()
            .unwrap_or_default();
        let history = env.iter().find(|e| e.name == "CHATAPP_HISTORY_LEN");
        assert_eq!(
            history.and_then(|e| e.value.as_deref()),
            Some("500"),
            "{env:?}"
        );
        ok("a settings change changes the pod template (config hash, env): the pods roll");
    }

    async fn ready_message(&self, name: &str) -> String {
        let app = self.api::<ChatApp>().get(name).await.unwrap();
        let status = app.status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        ready.map(|c| c.message.clone()).unwrap_or_default()
    }

    /// Issue #11's children and item 1's settings on a real API server: an Ingress whose host is
    /// the public URL, an HPA on the ChatApp, monitoring (or its absence said in status), the
    /// NodePort keeping client addresses, Redis never evicting; then all of it switched off.
    async fn next_level_children(&self) {
        let apps: Api<ChatApp> = self.api();
        let patch = json!({"spec": {
            "ingress": {"host": "e2e.example.test", "annotations": {
                "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"}},
            "autoscaling": {"minReplicas": 2, "maxReplicas": 3, "targetConnectionsPerPod": 100},
            "monitoring": {"enabled": true},
            "chat": {"maxConnectionsPerAddress": 500, "requestRate": 5.5},
        }});
        apps.patch("e2e", &PatchParams::default(), &Patch::Merge(patch))
            .await
            .expect("patch e2e with ingress, autoscaling, monitoring");
        let ingresses: Api<Ingress> = self.api();
        let hpas: Api<HorizontalPodAutoscaler> = self.api();
        eventually("Ingress and HPA of e2e", self.limit, || async {
            let e = |err: kube::Error| err.to_string();
            let ing = ingresses.get("e2e").await.map_err(e)?;
            let rule = &ing.spec.clone().unwrap().rules.unwrap()[0];
            if rule.host.as_deref() != Some("e2e.example.test") {
                return Err(format!("{rule:?}"));
            }
            let hpa = hpas.get("e2e").await.map_err(e)?;
            let target = hpa.spec.unwrap().scale_target_ref;
            (target.kind == "ChatApp" && target.name == "e2e")
                .then_some(())
                .ok_or(format!("{target:?}"))
        })
        .await;
        let env = eventually("public URL from the Ingress host", self.limit, || async {
            let d = self.api::<Deployment>().get("e2e").await;
            let pod = d
                .map_err(|e| e.to_string())?
                .spec
                .unwrap()
                .template
                .spec
                .unwrap();
            let env = pod.containers[0].env.clone().unwrap_or_default();
            let url = env.iter().find(|v| v.name == "CHATAPP_PUBLIC_URL");
            (url.and_then(|v| v.value.as_deref()) == Some("http://e2e.example.test"))
                .then_some(env.clone())
                .ok_or(format!("{env:?}"))
        })
        .await;
        assert!(
            env.iter()
                .any(|v| v.name == "CHATAPP_MAX_CONNECTIONS_PER_ADDRESS"
                    && v.value.as_deref() == Some("500")),
            "{env:?}"
        );
        let svc = self.api::<Service>().get("e2e").await.unwrap();
        assert_eq!(
            svc.spec.unwrap().external_traffic_policy.as_deref(),
            Some("Local")
        );
        let redis = self.api::<Deployment>().get("e2e-redis").await.unwrap();
        let args = redis.spec.unwrap().template.spec.unwrap().containers[0]
            .args
            .clone()
            .unwrap_or_default()
            .join(" ");
        assert!(args.contains("--maxmemory-policy noeviction"), "{args}");
        ok(
            "Ingress (public URL from its host), HPA on the ChatApp, per-address settings, externalTrafficPolicy Local, Redis noeviction",
        );

        let groups = self.client.list_api_groups().await.unwrap();
        let served = |g: &str| groups.groups.iter().any(|x| x.name == g);
        let monitoring = served("monitoring.coreos.com");
        let custom_metrics = served("custom.metrics.k8s.io");
        eventually(
            "monitoring applied or said unavailable",
            self.limit,
            || async {
                let message = self.ready_message("e2e").await;
                let metrics_note = message.contains("custom.metrics.k8s.io");
                if metrics_note == custom_metrics {
                    return Err(format!("custom metrics served {custom_metrics}: {message}"));
                }
                if monitoring {
                    let gvk = kube::api::GroupVersionKind::gvk(
                        "monitoring.coreos.com",
                        "v1",
                        "ServiceMonitor",
                    );
                    let resource =
                        kube::api::ApiResource::from_gvk_with_plural(&gvk, "servicemonitors");
                    let api: Api<kube::api::DynamicObject> =
                        Api::namespaced_with(self.client.clone(), &self.ns, &resource);
                    api.get("e2e").await.map(|_| ()).map_err(|e| e.to_string())
                } else if message.contains("monitoring is unavailable") {
                    Ok(())
                } else {
                    Err(message)
                }
            },
        )
        .await;
        ok(&format!(
            "monitoring {} and custom metrics {} as discovered",
            if monitoring {
                "applied"
            } else {
                "said unavailable"
            },
            if custom_metrics {
                "used"
            } else {
                "said absent"
            }
        ));

        let off = json!({"spec": {"ingress": null, "autoscaling": null, "monitoring": {"enabled": false}}});
        apps.patch("e2e", &PatchParams::default(), &Patch::Merge(off))
            .await
            .unwrap();
        eventually("Ingress and HPA removed", self.limit, || async {
            let ing = ingresses.get_opt("e2e").await.map_err(|e| e.to_string())?;
            let hpa = hpas.get_opt("e2e").await.map_err(|e| e.to_string())?;
            (ing.is_none() && hpa.is_none())
                .then_some(())
                .ok_or("still there".to_owned())
        })
        .await;
        apps.patch_scale(
            "e2e",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
        self.deployment_replicas(2).await;
        ok("Ingress and HPA removed when their fields go");
    }

    /// A new image rolls the chat pods; a new operator process (an upgrade) adopts the children:
    /// same objects (uids), same field manager, nothing recreated.
    async fn upgrade_rolls_and_a_new_operator_adopts(
        &self,
        operator: &mut OperatorProcess,
        log: &Path,
    ) {
        let deployments: Api<Deployment> = self.api();
        let uids = |names: &[&str]| {
            let deployments = deployments.clone();
            let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
            async move {
                let mut out = Vec::new();
                for n in names {
                    out.push(deployments.get(&n).await.unwrap().uid());
                }
                out
            }
        };
        let before = uids(&["e2e", "e2e-redis"]).await;
        // The old process goes first (killed, its Lease expires), as in a rolling upgrade.
        let _ = operator.0.kill();
        let _ = operator.0.wait();
        *operator = self.spawn_operator(log);
        self.lease_is_held().await;
        let image = format!(
            "{}-e2e-upgrade",
            env_or("CHATAPP_E2E_CHAT_IMAGE", operator::crd::DEFAULT_CHAT_IMAGE)
        );
        let apps: Api<ChatApp> = self.api();
        apps.patch(
            "e2e",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"image": image}})),
        )
        .await
        .unwrap();
        let d = eventually("the new image in the pod template", self.limit, || async {
            let d = deployments.get("e2e").await.map_err(|e| e.to_string())?;
            let have = d.spec.clone().unwrap().template.spec.unwrap().containers[0]
                .image
                .clone();
            (have.as_deref() == Some(image.as_str()))
                .then_some(d)
                .ok_or(format!("{have:?}"))
        })
        .await;
        assert_eq!(
            uids(&["e2e", "e2e-redis"]).await,
            before,
            "children adopted, not recreated"
        );
        let managers: Vec<String> = d
            .metadata
            .managed_fields
            .iter()
            .flatten()
            .filter(|m| m.operation.as_deref() == Some("Apply"))
            .filter_map(|m| m.manager.clone())
            .collect();
        assert_eq!(managers, ["chatapp-operator"], "one field manager applies");
        // Back to the image under test, for the checks that follow.
        apps.patch("e2e", &PatchParams::default(), &Patch::Merge(json!({"spec": {"image": env_or("CHATAPP_E2E_CHAT_IMAGE", operator::crd::DEFAULT_CHAT_IMAGE)}})))
            .await
            .unwrap();
        ok(
            "a new image rolls the pods; a restarted (upgraded) operator adopts the children under the same field manager",
        );
    }

    async fn taken_node_port_is_explained(&self) {
        let apps: Api<ChatApp> = self.api();
        // From the Service itself: status may still show the port of the Service deleted above.
        let service = self.api::<Service>().get("e2e").await.unwrap();
        let taken = service.spec.unwrap().ports.unwrap()[0].node_port;
        assert!(taken.is_some(), "the e2e Service has a node port");
        let spec = json!({"replicas": 0, "service": {"type": "NodePort", "nodePort": taken}});
        apps.create(&PostParams::default(), &chatapp("clash", spec))
            .await
            .unwrap();
        let message = eventually("Degraded on a taken NodePort", self.limit, || async {
            let app = apps.get("clash").await.map_err(|e| e.to_string())?;
            let status = app.status.unwrap_or_default();
            let degraded = status
                .conditions
                .iter()
                .find(|c| c.type_ == "Degraded" && c.status == "True");
            degraded
                .map(|c| c.message.clone())
                .ok_or(format!("{:?}", status.conditions))
        })
        .await;
        assert!(message.contains("allocated"), "{message}");
        // Free the port (e2e's Service becomes ClusterIP): the operator retries a taken port
        // every 5 s, so the clash gets it within seconds, not after a growing backoff.
        let cluster_ip = json!({"spec": {"service": {"type": "ClusterIP"}}});
        apps.patch("e2e", &PatchParams::default(), &Patch::Merge(&cluster_ip))
            .await
            .unwrap();
        let freed = Instant::now();
        eventually("the freed NodePort taken", self.limit, || async {
            let svc = self.api::<Service>().get_opt("clash").await;
            let svc = svc.map_err(|e| e.to_string())?;
            let port = svc.and_then(|s| s.spec?.ports?.first()?.node_port);
            (port == taken)
                .then_some(())
                .ok_or(format!("clash has node port {port:?}"))
        })
        .await;
        let took = freed.elapsed();
        assert!(took < Duration::from_secs(20), "took {took:?}");
        apps.delete("clash", &DeleteParams::default())
            .await
            .unwrap();
        ok(&format!(
            "a taken NodePort shows in status ({message}) and is taken {took:?} after it frees"
        ));
    }

    /// A Redis volume claim that cannot bind (no such StorageClass) is the reported problem.
    async fn a_pending_claim_is_explained(&self) {
        let apps: Api<ChatApp> = self.api();
        let spec = json!({"replicas": 0, "service": {"type": "ClusterIP"},
            "redis": {"managed": {"persistence": {"storageClassName": "chatapp-e2e-missing"}}}});
        apps.create(&PostParams::default(), &chatapp("unbound", spec))
            .await
            .unwrap();
        let message = self.degraded("unbound", "PVCPending").await;
        apps.delete("unbound", &DeleteParams::default())
            .await
            .unwrap();
        ok(&format!("a Pending claim is reported: {message}"));
    }

    /// Waits until ChatApp `name` is Degraded with `reason`, and returns the message.
    async fn degraded(&self, name: &str, reason: &str) -> String {
        let apps: Api<ChatApp> = self.api();
        eventually(&format!("{name} Degraded {reason}"), self.limit, || async {
            let app = apps.get(name).await.map_err(|e| e.to_string())?;
            let status = app.status.unwrap_or_default();
            let degraded = status
                .conditions
                .iter()
                .find(|c| c.type_ == "Degraded" && c.status == "True" && c.reason == reason);
            degraded
                .map(|c| c.message.clone())
                .ok_or(format!("{:?}", status.conditions))
        })
        .await
    }

    /// Switching to an external Redis whose Secret does not exist keeps the managed Redis; once
    /// the Secret exists, the managed Redis goes (at 0 replicas, every chat pod is "ready").
    async fn a_missing_redis_secret_changes_nothing(&self) {
        let apps: Api<ChatApp> = self.api();
        let spec = json!({"replicas": 0, "service": {"type": "ClusterIP"}});
        apps.create(&PostParams::default(), &chatapp("switch", spec))
            .await
            .unwrap();
        let deployments = self.api::<Deployment>();
        eventually("switch-redis created", self.limit, || async {
            let d = deployments.get_opt("switch-redis").await;
            d.map_err(|e| e.to_string())?.ok_or("absent".to_owned())
        })
        .await;
        let external =
            json!({"spec": {"redis": {"external": {"urlSecretRef": {"name": "switch-url"}}}}});
        apps.patch("switch", &PatchParams::default(), &Patch::Merge(&external))
            .await
            .unwrap();
        let message = self.degraded("switch", "RedisSecretMissing").await;
        let kept = deployments.get_opt("switch-redis").await.unwrap();
        assert!(kept.is_some(), "the managed Redis was removed: {message}");
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "switch-url"},
            "stringData": {"url": "redis://redis.invalid:6379"},
        }))
        .unwrap();
        self.api::<Secret>()
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
        eventually("switch-redis retired", self.limit, || async {
            let d = deployments.get_opt("switch-redis").await;
            match d.map_err(|e| e.to_string())? {
                None => Ok(()),
                Some(_) => Err("still there".to_owned()),
            }
        })
        .await;
        apps.delete("switch", &DeleteParams::default())
            .await
            .unwrap();
        ok(&format!(
            "a missing Redis Secret keeps the managed Redis ({message}); it goes once the Secret exists"
        ));
    }

    /// Issue #15: `supportApi.enabled` gives the chat a ClusterIP Service NAME-support-api and a
    /// token Secret of the same name, owned by the ChatApp, whose token a spec change keeps; a
    /// `tokenSecret` naming a missing Secret is explained and changes nothing.
    async fn the_support_api_gets_its_service_and_token(&self) {
        let apps: Api<ChatApp> = self.api();
        let spec = json!({"replicas": 0, "service": {"type": "ClusterIP"},
            "chat": {"supportAgents": ["ann"]}, "supportApi": {"enabled": true}});
        let app = apps
            .create(&PostParams::default(), &chatapp("desk", spec))
            .await
            .unwrap();
        let uid = app.uid().unwrap();
        let owned = |meta: &kube::api::ObjectMeta| {
            let owner = meta.owner_references.iter().flatten().next();
            owner.is_some_and(|o| o.uid == uid && o.controller == Some(true))
        };
        let (service, secret) = eventually("desk-support-api", self.limit, || async {
            let e = |err: kube::Error| err.to_string();
            let service = self.api::<Service>().get_opt("desk-support-api").await;
            let service = service.map_err(e)?.ok_or("no Service yet")?;
            let secret = self.api::<Secret>().get_opt("desk-support-api").await;
            let secret = secret.map_err(e)?.ok_or("no Secret yet")?;
            Ok::<_, String>((service, secret))
        })
        .await;
        assert!(owned(&service.metadata) && owned(&secret.metadata));
        let spec = service.spec.clone().unwrap();
        assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
        let port = &spec.ports.unwrap()[0];
        assert_eq!((port.name.as_deref(), port.port), (Some("grpc"), 50051));
        let token = secret.data.clone().unwrap()["token"].clone();
        assert_eq!(token.0.len(), 64, "a 256-bit token in hex");
        let policy = self.api::<NetworkPolicy>().get("desk").await.unwrap();
        let rules = policy.spec.unwrap().ingress.unwrap();
        let ports = format!("{:?}", rules[0].ports);
        assert!(ports.contains("50051"), "{ports}");

        let change = json!({"spec": {"chat": {"guestSupport": true}}});
        apps.patch("desk", &PatchParams::default(), &Patch::Merge(&change))
            .await
            .unwrap();
        eventually("desk rolled to guestSupport", self.limit, || async {
            let d = self.api::<Deployment>().get("desk").await;
            let d = d.map_err(|e| e.to_string())?;
            let env = format!(
                "{:?}",
                d.spec.unwrap().template.spec.unwrap().containers[0].env
            );
            env.contains("CHATAPP_GUEST_SUPPORT")
                .then_some(())
                .ok_or(env)
        })
        .await;
        let again = self.api::<Secret>().get("desk-support-api").await.unwrap();
        assert_eq!(
            again.data.unwrap()["token"],
            token,
            "the token is never changed"
        );

        let given = json!({"spec": {"supportApi": {"tokenSecret": "desk-platform"}}});
        apps.patch("desk", &PatchParams::default(), &Patch::Merge(&given))
            .await
            .unwrap();
        let message = self.degraded("desk", "SupportApiSecretMissing").await;
        assert!(message.contains("desk-platform"), "{message}");
        apps.delete("desk", &DeleteParams::default()).await.unwrap();
        ok(&format!(
            "support API: Service and token Secret owned by the ChatApp, the token kept across a change; a missing tokenSecret is explained ({message})"
        ));
    }

    /// Issue #12: a managed database. Its StatefulSet keeps the claim on deletion, its Secret's
    /// password survives a spec change; with pods, the chat becomes Available on it and the
    /// claim outlives the ChatApp.
    async fn a_managed_database_is_kept(&self) {
        let apps: Api<ChatApp> = self.api();
        let spec = json!({"replicas": if self.pods { 1 } else { 0 },
            "image": env_or("CHATAPP_E2E_CHAT_IMAGE", operator::crd::DEFAULT_CHAT_IMAGE),
            "service": {"type": "ClusterIP"},
            "database": {"managed": {}, "retentionDays": 30}});
        apps.create(&PostParams::default(), &chatapp("durable", spec))
            .await
            .unwrap();
        let sets = self.api::<StatefulSet>();
        let set = eventually("durable-pg created", self.limit, || async {
            let s = sets.get_opt("durable-pg").await;
            s.map_err(|e| e.to_string())?.ok_or("absent".to_owned())
        })
        .await;
        // Without a default StorageClass the data is on an emptyDir (checked with the default
        // ChatApp): what follows is about the claim.
        let (durable, reason, durable_message) = self.durable("durable").await;
        let on_claim = durable == "True";
        if !on_claim {
            assert_eq!(reason, "NoDefaultStorageClass", "{durable_message}");
            println!(
                "not checked: a managed database's claim (the cluster has no default StorageClass: {durable_message})"
            );
        }
        let policy = set
            .spec
            .and_then(|s| s.persistent_volume_claim_retention_policy)
            .and_then(|p| p.when_deleted);
        assert_eq!(policy.as_deref(), Some("Retain"));
        let secrets = self.api::<Secret>();
        let first = secrets.get("durable-pg").await.unwrap().data;
        assert!(first.as_ref().is_some_and(|d| d.contains_key("uri")));
        let change = json!({"spec": {"database": {"retentionDays": 31}}});
        apps.patch("durable", &PatchParams::default(), &Patch::Merge(&change))
            .await
            .unwrap();
        eventually("the change reconciled", self.limit, || async {
            let app = apps.get("durable").await.map_err(|e| e.to_string())?;
            let seen = app.status.and_then(|s| s.observed_generation);
            (seen == app.metadata.generation)
                .then_some(())
                .ok_or(format!("{seen:?}"))
        })
        .await;
        let again = secrets.get("durable-pg").await.unwrap().data;
        assert_eq!(again, first, "the database password changed");
        let message = self.ready_message("durable").await;
        assert!(
            !on_claim || message.contains("data-durable-pg-0"),
            "{message}"
        );
        if self.pods {
            self.available("durable").await;
        }
        apps.delete("durable", &DeleteParams::default())
            .await
            .unwrap();
        if self.pods {
            let claims = self.api::<PersistentVolumeClaim>();
            // The StatefulSet goes with the ChatApp; the claim must stay.
            eventually("durable-pg collected", self.limit, || async {
                match sets
                    .get_opt("durable-pg")
                    .await
                    .map_err(|e| e.to_string())?
                {
                    None => Ok(()),
                    Some(_) => Err("still there".to_owned()),
                }
            })
            .await;
            if on_claim {
                let kept = claims.get_opt("data-durable-pg-0").await.unwrap();
                assert!(kept.is_some(), "the database claim went with the ChatApp");
                claims
                    .delete("data-durable-pg-0", &DeleteParams::default())
                    .await
                    .unwrap();
            }
            let kept = secrets.get_opt("durable-pg").await.unwrap();
            assert!(
                kept.is_some(),
                "the database password went with the ChatApp"
            );
            secrets
                .delete("durable-pg", &DeleteParams::default())
                .await
                .unwrap();
        }
        ok(&format!(
            "a managed database keeps its password and its data: {message}"
        ));
    }

    async fn invalid_specs_are_refused(&self) {
        let apps: Api<ChatApp> = self.api();
        let cases = [
            ("bad-replicas", json!({"replicas": 101}), "replicas"),
            (
                "bad-port",
                json!({"service": {"type": "ClusterIP", "nodePort": 30500}}),
                "service.nodePort",
            ),
            (
                "bad-redis",
                json!({"redis": {"managed": {}, "external": {"urlSecretRef": {"name": "x"}}}}),
                "mutually exclusive",
            ),
            (
                "bad-frames",
                json!({"chat": {"maxContentBytes": 100000, "maxFrameBytes": 65536}}),
                "maxFrameBytes",
            ),
            (
                "bad-locust",
                json!({"loadTest": {"users": 1, "spawnRate": 2}}),
                "spawnRate",
            ),
            ("1-bad-name", json!({}), "metadata.name"),
            (
                "bad-origin",
                json!({"chat": {"allowedOrigins": ["chat.example.com"]}}),
                "chat.allowedOrigins",
            ),
            (
                "bad-scaling",
                json!({"autoscaling": {"minReplicas": 4, "maxReplicas": 2}}),
                "autoscaling.minReplicas",
            ),
            (
                "bad-ingress",
                json!({"ingress": {"tlsSecretName": "cert"}}),
                "ingress.tlsSecretName",
            ),
            (
                "bad-public-url",
                json!({"chat": {"publicUrl": "node:30222"}}),
                "publicUrl",
            ),
        ];
        for (name, spec, field) in cases {
            match apps
                .create(&PostParams::default(), &chatapp(name, spec))
                .await
            {
                Err(kube::Error::Api(status)) if status.code == 422 => {
                    assert!(status.message.contains(field), "{name}: {}", status.message);
                }
                other => panic!("{name} was not refused: {other:?}"),
            }
        }
        ok("invalid specs refused by the API server with the field named");
    }

    /// A new ChatApp starts its chat pods and its Redis together, so the chat servers come up
    /// before Redis: they must wait unready (readiness on /readyz) and never be restarted
    /// (liveness and startup on /healthz), reaching Available with every restart count at 0.
    async fn fresh_install_needs_no_restart(&self) {
        let apps: Api<ChatApp> = self.api();
        let spec = json!({
            "replicas": 2,
            "image": env_or("CHATAPP_E2E_CHAT_IMAGE", operator::crd::DEFAULT_CHAT_IMAGE),
            "imagePullPolicy": env_or("CHATAPP_E2E_PULL_POLICY", "IfNotPresent"),
            "service": {"type": "ClusterIP"},
        });
        apps.create(&PostParams::default(), &chatapp("fresh", spec))
            .await
            .expect("create ChatApp fresh");
        self.available("fresh").await;
        let selector = ListParams::default()
            .labels("app.kubernetes.io/instance=fresh,app.kubernetes.io/component=chat-server");
        let pods = self.api::<Pod>().list(&selector).await.unwrap().items;
        assert_eq!(pods.len(), 2, "{pods:?}");
        for pod in &pods {
            let statuses = pod
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.clone());
            for c in statuses.unwrap_or_default() {
                assert_eq!(
                    c.restart_count,
                    0,
                    "{} restarted on a fresh install: {:?}",
                    pod.name_any(),
                    c.last_state
                );
            }
        }
        apps.delete("fresh", &DeleteParams::default())
            .await
            .unwrap();
        ok("fresh install: chat pods Available with no restart, though Redis started with them");
    }

    /// Waits until ChatApp `name` is Ready with reason Available: every wanted pod ready.
    async fn available(&self, name: &str) {
        let apps: Api<ChatApp> = self.api();
        eventually(&format!("ChatApp {name} Available"), self.limit, || async {
            let app = apps.get(name).await.map_err(|e| e.to_string())?;
            let status = app.status.unwrap_or_default();
            let available = status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True" && c.reason == "Available");
            available
                .then_some(())
                .ok_or(format!("{:?}", status.conditions))
        })
        .await;
    }

    async fn chat_and_locust_answer(&self) {
        self.available("e2e").await;
        ok("ChatApp Ready: chat-server pods ready on the managed Redis");
        let proxy = |service: &str, path: &str| {
            format!(
                "/api/v1/namespaces/{}/services/{service}/proxy{path}",
                self.ns
            )
        };
        for path in ["/healthz", "/readyz", "/api/rooms"] {
            let url = proxy("e2e:http", path);
            let body = eventually(&format!("GET {url}"), self.limit, || async {
                let request = axum::http::Request::get(url.clone())
                    .body(Vec::new())
                    .unwrap();
                self.client
                    .request_text(request)
                    .await
                    .map_err(|e| e.to_string())
            })
            .await;
            if path == "/api/rooms" {
                assert!(body.contains("rooms"), "{body}");
            }
        }
        ok("the chat answers /healthz, /readyz and /api/rooms through its Service");
        let url = proxy("e2e-locust:web", "/");
        eventually("Locust web UI", self.limit, || async {
            let request = axum::http::Request::get(url.clone())
                .body(Vec::new())
                .unwrap();
            self.client
                .request_text(request)
                .await
                .map_err(|e| e.to_string())
        })
        .await;
        ok("the Locust web UI answers through its Service");
    }

    async fn deletion_collects_children(&self) {
        let apps: Api<ChatApp> = self.api();
        apps.delete("e2e", &DeleteParams::default()).await.unwrap();
        let selector = ListParams::default().labels("app.kubernetes.io/instance=e2e");
        eventually("children garbage-collected", self.limit, || async {
            let e = |err: kube::Error| err.to_string();
            let left = [
                self.api::<Deployment>()
                    .list(&selector)
                    .await
                    .map_err(e)?
                    .items
                    .len(),
                self.api::<Service>()
                    .list(&selector)
                    .await
                    .map_err(e)?
                    .items
                    .len(),
                self.api::<ConfigMap>()
                    .list(&selector)
                    .await
                    .map_err(e)?
                    .items
                    .len(),
                self.api::<PodDisruptionBudget>()
                    .list(&selector)
                    .await
                    .map_err(e)?
                    .items
                    .len(),
            ];
            (left == [0; 4])
                .then_some(())
                .ok_or(format!("{left:?} left"))
        })
        .await;
        ok("deleting the ChatApp garbage-collects every child");
    }
}
