//! Test helpers: chained ChatApp builders and a fake API server behind kube's `tower-test` mock.
//!
//! The fake keeps the objects it was given (so a second reconcile sees the first one's writes),
//! answers server-side apply with the applied object plus a status, lists collections, holds
//! watches open without events (so the real `Controller` can run against it), records every
//! request for assertions, fails chosen requests on demand, and answers a replace (PUT) whose
//! `resourceVersion` is not the stored one with 409, the optimistic concurrency that leader
//! election relies on. Like controller-rs' `fixtures.rs`, but stateful rather than a fixed
//! script, so scenarios state outcomes rather than call orders. It ignores label selectors and
//! does not merge patches: it is a recorder with memory, not an API server.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::{Body as ReplyBody, Bytes};
use axum::http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus};
use kube::client::Body;
use kube::{Client, ResourceExt};
use serde_json::{Value, json};

use crate::crd::{
    ChatApp, ChatAppSpec, ChatAppStatus, ChatSettings, ExternalRedis, ManagedDatabase, ManagedRedis,
};
use crate::crd::{Persistence, SecretKeyRef, SupportApiSpec};

/// Chained builders for test ChatApps.
pub(crate) trait TestApp: Sized {
    /// `demo` in namespace `chat`, uid set, every default.
    fn test() -> Self;
    fn named(self, name: &str) -> Self;
    fn with_replicas(self, replicas: i32) -> Self;
    fn with_service(self, type_: &str, node_port: Option<i32>) -> Self;
    fn with_chat(self, f: impl FnOnce(&mut ChatSettings)) -> Self;
    fn with_load_test(self, users: i32, spawn_rate: i32) -> Self;
    fn with_workers(self, workers: i32) -> Self;
    fn with_persistence(self) -> Self;
    fn with_external_redis(self) -> Self;
    fn with_external_database(self) -> Self;
    fn with_managed_database(self, f: impl FnOnce(&mut ManagedDatabase)) -> Self;
    fn with_managed_and_external_redis(self) -> Self;
    fn with_status(self, status: ChatAppStatus) -> Self;
    fn with_ingress(self, host: &str) -> Self;
    fn with_autoscaling(self, connections_per_pod: Option<i32>) -> Self;
    /// `supportApi` enabled, reading its token from `token_secret` (None: the operator's own).
    fn with_support_api(
        self,
        token_secret: Option<&str>,
        f: impl FnOnce(&mut SupportApiSpec),
    ) -> Self;
}

impl TestApp for ChatApp {
    fn test() -> Self {
        let mut app = ChatApp::new("demo", ChatAppSpec::defaulted());
        app.metadata.namespace = Some("chat".into());
        app.metadata.uid = Some("5b1c1d7e-0000-4000-8000-000000000001".into());
        app.metadata.generation = Some(1);
        app
    }
    fn named(mut self, name: &str) -> Self {
        self.metadata.name = Some(name.into());
        self
    }
    fn with_replicas(mut self, replicas: i32) -> Self {
        self.spec.replicas = replicas;
        self
    }
    fn with_service(mut self, type_: &str, node_port: Option<i32>) -> Self {
        self.spec.service.type_ = serde_json::from_value(json!(type_)).expect("service type");
        self.spec.service.node_port = node_port;
        self
    }
    fn with_chat(mut self, f: impl FnOnce(&mut ChatSettings)) -> Self {
        f(&mut self.spec.chat);
        self
    }
    fn with_load_test(mut self, users: i32, spawn_rate: i32) -> Self {
        self.spec.load_test.enabled = true;
        self.spec.load_test.users = users;
        self.spec.load_test.spawn_rate = spawn_rate;
        self
    }
    fn with_workers(mut self, workers: i32) -> Self {
        self.spec.load_test.workers = workers;
        self
    }
    fn with_persistence(mut self) -> Self {
        let persistence = Persistence {
            size: k8s_openapi::apimachinery::pkg::api::resource::Quantity("2Gi".into()),
            storage_class_name: Some("fast".into()),
        };
        self.spec.redis.managed = Some(ManagedRedis {
            persistence: Some(persistence),
            ..Default::default()
        });
        self
    }
    fn with_external_redis(mut self) -> Self {
        let url_secret_ref = SecretKeyRef {
            name: "redis-url".into(),
            key: "url".into(),
        };
        self.spec.redis.external = Some(ExternalRedis {
            url_secret_ref,
            cluster: false,
        });
        self
    }
    fn with_external_database(mut self) -> Self {
        self.spec.database =
            Some(serde_json::from_value(json!({"external": {"secretName": "pg-app"}})).unwrap());
        self
    }
    fn with_managed_database(mut self, f: impl FnOnce(&mut ManagedDatabase)) -> Self {
        let mut managed = ManagedDatabase::default();
        f(&mut managed);
        let mut db: crate::crd::DatabaseSpec =
            serde_json::from_value(json!({"managed": {}})).unwrap();
        db.managed = Some(managed);
        self.spec.database = Some(db);
        self
    }
    fn with_managed_and_external_redis(self) -> Self {
        let mut app = self.with_external_redis();
        app.spec.redis.managed = Some(ManagedRedis::default());
        app
    }
    fn with_status(mut self, status: ChatAppStatus) -> Self {
        self.status = Some(status);
        self
    }
    fn with_ingress(mut self, host: &str) -> Self {
        self.spec.ingress =
            Some(serde_json::from_value(json!({"host": host, "className": "nginx"})).unwrap());
        self
    }
    fn with_autoscaling(mut self, connections_per_pod: Option<i32>) -> Self {
        let mut a: crate::crd::AutoscalingSpec = serde_json::from_value(json!({})).unwrap();
        a.target_connections_per_pod = connections_per_pod;
        self.spec.autoscaling = Some(a);
        self
    }
    fn with_support_api(
        mut self,
        token_secret: Option<&str>,
        f: impl FnOnce(&mut SupportApiSpec),
    ) -> Self {
        let api = &mut self.spec.support_api;
        api.enabled = true;
        api.token_secret = token_secret.map(str::to_owned);
        f(api);
        self
    }
}

/// A Deployment whose status reports these counts.
pub(crate) fn deployment_with_status(replicas: i32, ready: i32, updated: i32) -> Deployment {
    Deployment {
        status: Some(DeploymentStatus {
            replicas: Some(replicas),
            ready_replicas: Some(ready),
            updated_replicas: Some(updated),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// One request the fake API server received.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    pub method: Method,
    pub path: String,
    pub query: String,
    pub body: Value,
}

/// Where a request points: `(group, resource, name, subresource)`, e.g.
/// `("apps", "deployments", Some("demo"), None)` for `/apis/apps/v1/namespaces/chat/deployments/demo`.
pub(crate) type Target<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>);

impl Recorded {
    /// A server-side apply (a PATCH naming a field manager), of an object or of its status.
    pub fn is_apply(&self) -> bool {
        self.method == Method::PATCH && self.query.contains("fieldManager=")
    }
    pub fn is_status_write(&self) -> bool {
        self.method == Method::PATCH && self.path.ends_with("/status")
    }
    pub fn is_watch(&self) -> bool {
        self.query.contains("watch=true")
    }
    pub fn target(&self) -> Option<Target<'_>> {
        target(&self.path)
    }
}

/// Splits a namespaced API path into its group, resource, name and subresource.
pub(crate) fn target(path: &str) -> Option<Target<'_>> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = match parts.as_slice() {
        ["api", "v1", "namespaces", _ns, rest @ ..] => ("", rest),
        ["apis", group, _version, "namespaces", _ns, rest @ ..] => (*group, rest),
        _ => return None,
    };
    match rest {
        [resource] => Some((group, resource, None, None)),
        [resource, name] => Some((group, resource, Some(name), None)),
        [resource, name, sub] => Some((group, resource, Some(name), Some(sub))),
        _ => None,
    }
}

/// A failure to inject: requests whose method matches and path contains `path` get `code`, the
/// first `times` times.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub method: Method,
    pub path: &'static str,
    pub code: u16,
    pub times: usize,
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    requests: Vec<Recorded>,
    /// Failures to inject, each with the message the API server would give.
    failures: Vec<(Failure, String)>,
    /// Statuses the API server reports for objects at these paths, whatever is applied.
    statuses: BTreeMap<String, Value>,
    /// Whether Deployments report every pod ready.
    pods_ready: bool,
    /// Pods returned by list calls.
    pods: Vec<Value>,
    /// Counter behind uids and resourceVersions.
    serial: u64,
    /// Optional API groups the fake serves in discovery, with their resources: `(group/version,
    /// resources)`.
    api_groups: Vec<(String, Vec<String>)>,
    /// The cluster's default StorageClass, which a claim created without one gets (the
    /// DefaultStorageClass admission plugin); None: the cluster has none.
    default_storage_class: Option<String>,
}

/// The fake API server: a `Client` wired to it and the shared state it keeps.
#[derive(Clone)]
pub(crate) struct FakeApi {
    state: Arc<Mutex<State>>,
}

/// Path of a ChatApp in the fake's namespace `chat`.
pub(crate) fn app_path(name: &str) -> String {
    format!("/apis/chatapp.dev/v1alpha1/namespaces/chat/chatapps/{name}")
}

impl FakeApi {
    /// Starts the fake; Deployments report ready pods unless told otherwise.
    pub fn start() -> (Client, FakeApi) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<ReplyBody>>();
        let fake = FakeApi {
            state: Arc::new(Mutex::new(State {
                pods_ready: true,
                default_storage_class: Some("standard".into()),
                ..Default::default()
            })),
        };
        let server = fake.clone();
        tokio::spawn(async move {
            while let Some((request, send)) = handle.next_request().await {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.expect("request body");
                let body = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).expect("JSON body")
                };
                let recorded = Recorded {
                    method: parts.method.clone(),
                    path: parts.uri.path().to_owned(),
                    query: parts.uri.query().unwrap_or("").to_owned(),
                    body,
                };
                let watch = recorded.is_watch();
                let (code, reply) = server.answer(recorded);
                let body = if watch && code == 200 {
                    // An open watch that never sends an event: the controller waits on it.
                    let never = futures_util::stream::pending::<Result<Bytes, std::io::Error>>();
                    ReplyBody::from_stream(never)
                } else {
                    ReplyBody::from(serde_json::to_vec(&reply).expect("reply"))
                };
                let response = Response::builder()
                    .status(StatusCode::from_u16(code).expect("status code"))
                    .header("content-type", "application/json")
                    .body(body)
                    .expect("response");
                send.send_response(response);
            }
        });
        (Client::new(service, "chat"), fake)
    }

    pub fn fail(&self, failure: Failure) {
        let message = format!("injected failure {}", failure.code);
        self.fail_with(failure, &message);
    }
    /// Like [`FakeApi::fail`], answering with `message`.
    pub fn fail_with(&self, failure: Failure, message: &str) {
        let mut state = self.state.lock().unwrap();
        state.failures.push((failure, message.to_owned()));
    }
    /// Makes the object at `path` report `status` from its next apply on (a Pending claim...).
    pub fn set_status(&self, path: &str, status: Value) {
        let mut state = self.state.lock().unwrap();
        state.statuses.insert(path.to_owned(), status);
    }
    /// Makes discovery report `group_version` (e.g. `custom.metrics.k8s.io/v1beta1`) as served,
    /// with these resources.
    pub fn serve_api(&self, group_version: &str, resources: &[&str]) {
        let resources = resources.iter().map(|r| (*r).to_owned()).collect();
        let mut state = self.state.lock().unwrap();
        state.api_groups.push((group_version.to_owned(), resources));
    }
    /// Sets the cluster's default StorageClass (None: a cluster without one). `standard` at start.
    pub fn set_default_storage_class(&self, class: Option<&str>) {
        self.state.lock().unwrap().default_storage_class = class.map(str::to_owned);
    }
    pub fn set_pods_ready(&self, ready: bool) {
        self.state.lock().unwrap().pods_ready = ready;
    }
    pub fn set_pods(&self, pods: Vec<Value>) {
        self.state.lock().unwrap().pods = pods;
    }
    /// Stores `app` as if it had been created.
    pub fn insert_app(&self, app: &ChatApp) {
        let mut value = serde_json::to_value(app).unwrap();
        value["metadata"]["resourceVersion"] = json!("1");
        let mut state = self.state.lock().unwrap();
        state.objects.insert(app_path(&app.name_any()), value);
    }
    /// The stored ChatApp, with every status write applied.
    pub fn app(&self, name: &str) -> ChatApp {
        serde_json::from_value(self.state.lock().unwrap().objects[&app_path(name)].clone()).unwrap()
    }
    pub fn requests(&self) -> Vec<Recorded> {
        self.state.lock().unwrap().requests.clone()
    }
    pub fn clear_requests(&self) {
        self.state.lock().unwrap().requests.clear();
    }
    /// Removes a stored object, as someone deleting it by hand would.
    pub fn remove(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.remove(path)
    }
    /// Stores `value` at `path` as it is (resourceVersion included).
    pub fn insert(&self, path: &str, value: Value) {
        self.state
            .lock()
            .unwrap()
            .objects
            .insert(path.to_owned(), value);
    }
    pub fn object(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    fn answer(&self, req: Recorded) -> (u16, Value) {
        let mut state = self.state.lock().unwrap();
        state.requests.push(req.clone());
        state.serial += 1;
        let serial = state.serial;
        if let Some((f, message)) = state
            .failures
            .iter_mut()
            .find(|(f, _)| f.times > 0 && f.method == req.method && req.path.contains(f.path))
        {
            f.times -= 1;
            return (f.code, status_body(f.code, message));
        }
        let path = req.path.clone();
        if let Some(reply) = discovery(&state.api_groups, &path) {
            return reply;
        }
        let Some((_, resource, name, sub)) = target(&path) else {
            return (404, status_body(404, "not a namespaced path"));
        };
        match (req.method.clone(), name) {
            (Method::GET, None) if req.is_watch() => (200, Value::Null),
            (Method::GET, None) => {
                let items: Vec<Value> = if resource == "pods" {
                    state.pods.clone()
                } else {
                    let prefix = format!("{path}/");
                    state
                        .objects
                        .iter()
                        .filter(|(k, _)| k.strip_prefix(&prefix).is_some_and(|n| !n.contains('/')))
                        .map(|(_, v)| v.clone())
                        .collect()
                };
                let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": serial.to_string()}, "items": items});
                (200, list)
            }
            (Method::GET, Some(_)) => match state.objects.get(&path) {
                Some(obj) => (200, obj.clone()),
                None => (404, status_body(404, "not found")),
            },
            (Method::POST, None) => {
                let name = req.body["metadata"]["name"].as_str().unwrap_or_default();
                let key = format!("{path}/{name}");
                if state.objects.contains_key(&key) {
                    return (409, status_body(409, "already exists"));
                }
                let mut obj = req.body.clone();
                let class = &mut obj["spec"]["storageClassName"];
                if resource == "persistentvolumeclaims" && class.is_null() {
                    *class = json!(state.default_storage_class);
                }
                if req.query.contains("dryRun=All") {
                    return (201, obj); // admitted, not stored
                }
                obj["metadata"]["uid"] = json!(format!("uid-{serial}"));
                obj["metadata"]["resourceVersion"] = json!(serial.to_string());
                obj["metadata"]["generation"] = json!(1);
                state.objects.insert(key, obj.clone());
                (201, obj)
            }
            (Method::PATCH, Some(_)) if sub == Some("status") => {
                let key = path.trim_end_matches("/status").to_owned();
                let Some(obj) = state.objects.get_mut(&key) else {
                    return (404, status_body(404, "not found"));
                };
                obj["status"] = req.body["status"].clone();
                (200, obj.clone())
            }
            (Method::PATCH, Some(_)) => {
                let mut obj = req.body.clone();
                obj["metadata"]["uid"] = json!(format!("uid-{path}"));
                obj["metadata"]["resourceVersion"] = json!(serial.to_string());
                if obj["kind"] == "StatefulSet" {
                    let ready = if state.pods_ready { 1 } else { 0 };
                    obj["status"] = json!({"replicas": 1, "readyReplicas": ready});
                }
                if obj["kind"] == "Deployment" {
                    let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
                    let ready = if state.pods_ready { want } else { 0 };
                    obj["status"] =
                        json!({"replicas": want, "readyReplicas": ready, "updatedReplicas": want});
                }
                if let Some(status) = state.statuses.get(&path) {
                    obj["status"] = status.clone();
                }
                state.objects.insert(path, obj.clone());
                (200, obj)
            }
            (Method::PUT, Some(_)) => {
                let Some(stored) = state.objects.get(&path) else {
                    return (404, status_body(404, "not found"));
                };
                let version = &req.body["metadata"]["resourceVersion"];
                if *version != stored["metadata"]["resourceVersion"] {
                    return (409, status_body(409, "the object has been modified"));
                }
                let mut obj = req.body.clone();
                obj["metadata"]["resourceVersion"] = json!(serial.to_string());
                state.objects.insert(path, obj.clone());
                (200, obj)
            }
            (Method::DELETE, Some(_)) => match state.objects.remove(&path) {
                Some(obj) => (200, obj),
                None => (404, status_body(404, "not found")),
            },
            _ => (405, status_body(405, "unsupported by the fake")),
        }
    }
}

/// Discovery: `/apis` lists the groups served, `/apis/GROUP/VERSION` their resources.
fn discovery(groups: &[(String, Vec<String>)], path: &str) -> Option<(u16, Value)> {
    if path == "/apis" {
        let groups: Vec<Value> = groups
            .iter()
            .map(|(gv, _)| {
                let (group, version) = gv.split_once('/').unwrap();
                let v = json!({"groupVersion": gv, "version": version});
                json!({"name": group, "versions": [v.clone()], "preferredVersion": v})
            })
            .collect();
        return Some((
            200,
            json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
        ));
    }
    let gv = path.strip_prefix("/apis/")?;
    if gv.split('/').count() != 2 {
        return None;
    }
    let Some((_, resources)) = groups.iter().find(|(g, _)| g == gv) else {
        return Some((404, status_body(404, "not found")));
    };
    let resources: Vec<Value> = resources
        .iter()
        .map(|r| json!({"name": r, "singularName": "", "namespaced": true, "kind": r, "verbs": ["create", "delete", "list", "patch", "watch"]}))
        .collect();
    Some((
        200,
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    ))
}

/// Whether `path` is a discovery read (allowed to every authenticated user: no Role rule).
pub(crate) fn is_discovery(path: &str) -> bool {
    path == "/apis"
        || path
            .strip_prefix("/apis/")
            .is_some_and(|gv| gv.split('/').count() <= 2)
}

fn status_body(code: u16, message: &str) -> Value {
    let reason = match code {
        404 => "NotFound",
        409 => "Conflict",
        422 => "Invalid",
        _ => "InternalError",
    };
    json!({"apiVersion": "v1", "kind": "Status", "status": "Failure", "message": message, "reason": reason, "code": code})
}
