//! The status a person reads: pure functions from what the reconcile saw to `ChatAppStatus`.
//!
//! Conditions keep their `lastTransitionTime` unless their status flips, so an unchanged world
//! yields an identical status and the controller skips the write (no reconcile loop on our own
//! status updates).

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use super::conditions::{DEGRADED, DURABLE, FALSE, PROGRESSING, READY, TRUE, reason};
use crate::controller::validate::Invalid;
use crate::crd::{ChatApp, ChatAppStatus, ServiceType};
use crate::error::Error;
use crate::resources::{CHAT_PORT, ClusterApis, Component, selector_string};

/// Seconds between tries while a NodePort is taken (it is free again as soon as its Service goes).
pub const PORT_RETRY_SECS: u64 = 5;

/// Something a person should know: a condition reason and a message that says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// One of [`reason`]'s words.
    pub reason: &'static str,
    /// What is wrong, naming the object, and what happens next.
    pub message: String,
}

/// What a reconcile ended with, as far as status is concerned.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every child was applied; what they looked like afterwards.
    Applied(Box<Observed>),
    /// The spec cannot be reconciled; nothing was applied.
    Invalid(Vec<Invalid>),
    /// The reconcile stopped short (a call failed, the external Redis's Secret is missing):
    /// nothing more was changed and what runs keeps running.
    Blocked(Problem),
    /// `spec.paused`: nothing was looked at.
    Paused,
}

/// The children as the API server returned them from the apply.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// The managed PostgreSQL StatefulSet (None without `database.managed`).
    pub postgres: Option<StatefulSet>,
    /// The chat-server Deployment.
    pub chat: Deployment,
    /// The chat Service.
    pub service: Service,
    /// The managed Redis Deployment (None with an external Redis).
    pub redis: Option<Deployment>,
    /// The managed Redis's volume claim, with persistence.
    pub redis_pvc: Option<PersistentVolumeClaim>,
    /// Switching to an external Redis: the managed one is kept until the chat pods are ready on
    /// the new store.
    pub redis_retiring: bool,
    /// The Locust web UI Service, when load testing.
    pub locust_service: Option<Service>,
    /// The first real problem of the children (a Pending claim, pods that cannot be scheduled
    /// or pull their image...), when there is one.
    pub problem: Option<Problem>,
    /// The optional APIs the cluster serves, as far as the spec asked.
    pub capabilities: ClusterApis,
}

impl Observed {
    /// True when every wanted chat-server pod is ready and up to date.
    pub fn settled(&self, app: &ChatApp) -> bool {
        let redis_ok = self.redis.as_ref().is_none_or(|r| ready_replicas(r) >= 1);
        redis_ok
            && self.database_ready()
            && !self.redis_retiring
            && rolled_out(&self.chat, app.spec.replicas)
    }
}

impl Observed {
    /// True without a managed database, or when its pod is ready.
    pub fn database_ready(&self) -> bool {
        self.postgres.as_ref().is_none_or(|s| {
            s.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0)
                >= 1
        })
    }
}

/// Whether `d` has seen its current spec and runs exactly `want` pods, all updated and ready.
pub fn rolled_out(d: &Deployment, want: i32) -> bool {
    let status = d.status.clone().unwrap_or_default();
    let current = match (status.observed_generation, d.metadata.generation) {
        (Some(seen), Some(generation)) => seen >= generation,
        _ => true,
    };
    current
        && status.ready_replicas.unwrap_or(0) == want
        && status.updated_replicas.unwrap_or(0) == want
        && status.replicas.unwrap_or(0) == want
}

fn ready_replicas(d: &Deployment) -> i32 {
    d.status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0)
}

fn node_port(svc: &Service) -> Option<i32> {
    svc.spec.as_ref()?.ports.as_ref()?.first()?.node_port
}

fn url(app: &ChatApp, svc: &Service) -> String {
    if let Some(public) = crate::resources::public_url(app) {
        return public;
    }
    let ingress = svc
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref()?.ingress.clone());
    let external = ingress
        .unwrap_or_default()
        .into_iter()
        .find_map(|i| i.hostname.or(i.ip))
        .map(|host| format!("http://{host}:{CHAT_PORT}"));
    external.unwrap_or_else(|| {
        let ns = app.namespace().unwrap_or_default();
        format!("http://{}.{ns}.svc:{CHAT_PORT}", Component::Chat.name(app))
    })
}

fn condition(type_: &str, ok: bool, reason: &str, message: String) -> Condition {
    Condition {
        type_: type_.into(),
        status: if ok { TRUE } else { FALSE }.into(),
        reason: reason.into(),
        message,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

/// Ready, Progressing, Degraded and Durable for a reconcile that applied everything.
fn applied_conditions(app: &ChatApp, seen: &Observed) -> [Condition; 4] {
    let status = seen.chat.status.clone().unwrap_or_default();
    let want = app.spec.replicas;
    let ready = status.ready_replicas.unwrap_or(0);
    let redis_ready = seen.redis.as_ref().is_none_or(|r| ready_replicas(r) >= 1);
    let ready_cond = if !seen.database_ready() {
        let msg = format!(
            "the managed database ({}) has no ready pod yet (a first start initialises the data directory); chat servers stay unready until they reach it",
            Component::Postgres.name(app)
        );
        condition(READY, false, reason::DATABASE_NOT_READY, msg)
    } else if !redis_ready {
        let msg = format!(
            "the managed Redis ({}) has no ready pod yet; chat servers stay unready until they reach it",
            Component::Redis.name(app)
        );
        condition(READY, false, reason::REDIS_NOT_READY, msg)
    } else if want == 0 {
        condition(
            READY,
            true,
            reason::SCALED_TO_ZERO,
            "spec.replicas is 0: no chat-server pods".into(),
        )
    } else if ready >= want {
        condition(
            READY,
            true,
            reason::AVAILABLE,
            format!("{ready}/{want} chat-server pods ready"),
        )
    } else {
        condition(
            READY,
            false,
            reason::PODS_NOT_READY,
            format!("{ready}/{want} chat-server pods ready"),
        )
    };
    let ready_cond = Condition {
        message: [ready_cond.message.clone()]
            .into_iter()
            .chain(notes(app, seen.capabilities))
            .collect::<Vec<_>>()
            .join("; "),
        ..ready_cond
    };
    let progressing = if seen.settled(app) {
        condition(
            PROGRESSING,
            false,
            reason::COMPLETE,
            "every pod runs the current spec".into(),
        )
    } else if seen.redis_retiring {
        let msg = format!(
            "moving to the external Redis: {ready}/{want} chat-server pods ready on it; the managed Redis ({}), if it runs, is kept until all are",
            Component::Redis.name(app)
        );
        condition(PROGRESSING, true, reason::SWITCHING_REDIS, msg)
    } else {
        let updated = status.updated_replicas.unwrap_or(0);
        let msg = format!("rolling out: {updated}/{want} pods updated, {ready}/{want} ready");
        condition(PROGRESSING, true, reason::ROLLING_OUT, msg)
    };
    let degraded = match &seen.problem {
        Some(problem) => condition(DEGRADED, true, problem.reason, problem.message.clone()),
        None => condition(
            DEGRADED,
            false,
            reason::AS_EXPECTED,
            "no known problem".into(),
        ),
    };
    let (durable, why, message) =
        crate::resources::postgres::durability(app, seen.capabilities.storage);
    let durable = condition(DURABLE, durable, why, message);
    [ready_cond, progressing, degraded, durable]
}

/// What works differently than a person may expect, said in the Ready message (and so in
/// `kubectl describe`) rather than as a problem: the chat runs.
fn notes(app: &ChatApp, caps: ClusterApis) -> Vec<String> {
    let mut notes = Vec::new();
    let storage = crate::resources::postgres::data_storage(app, caps.storage);
    notes.extend(storage.and_then(|s| crate::resources::postgres::data_note(app, s)));
    let per_pod = app
        .spec
        .autoscaling
        .as_ref()
        .and_then(|a| a.target_connections_per_pod);
    if per_pod.is_some() && !caps.custom_metrics {
        notes.push(
            "autoscaling.targetConnectionsPerPod needs a custom metrics API (custom.metrics.k8s.io, e.g. prometheus-adapter), which this cluster does not serve: the HorizontalPodAutoscaler scales on CPU only".to_owned(),
        );
    }
    if app.spec.monitoring.enabled && !caps.monitoring {
        notes.push(
            "monitoring is unavailable: the Prometheus Operator's CRDs (monitoring.coreos.com/v1 ServiceMonitor, PrometheusRule) are not installed, so no ServiceMonitor or PrometheusRule was made".to_owned(),
        );
    }
    let (lt, chat) = (&app.spec.load_test, &app.spec.chat);
    if lt.enabled && lt.users > chat.max_connections_per_address {
        notes.push(format!(
            "loadTest.users ({}) exceed chat.maxConnectionsPerAddress ({}): Locust's users share its pods' addresses, so handshakes will be refused with 429; raise the per-address limits as deploy/samples/loadtest.yaml does",
            lt.users, chat.max_connections_per_address
        ));
    }
    let exposed = app.spec.service.type_ != ServiceType::ClusterIP;
    if exposed && crate::resources::public_url(app).is_none() {
        notes.push(
            "browsers are accepted on localhost pages only (port-forward) until spec.chat.publicUrl names the URL people open, e.g. http://NODE_IP:NODE_PORT".to_owned(),
        );
    }
    notes
}

/// Conditions when nothing could be applied, with `reason` and a message for people.
fn blocked_conditions(reason: &str, message: String) -> [Condition; 3] {
    [
        condition(READY, false, reason, message.clone()),
        condition(PROGRESSING, false, reason, message.clone()),
        condition(DEGRADED, true, reason, message),
    ]
}

/// The status to write after a reconcile ended with `outcome`.
pub fn desired_status(app: &ChatApp, outcome: &Outcome, now: Time) -> ChatAppStatus {
    let old = app.status.clone().unwrap_or_default();
    let mut status = ChatAppStatus {
        observed_generation: app.metadata.generation,
        selector: Some(selector_string(app)),
        ..old.clone()
    };
    let conditions = match outcome {
        Outcome::Applied(seen) => {
            let chat = seen.chat.status.clone().unwrap_or_default();
            status.replicas = chat.replicas.unwrap_or(0);
            status.ready_replicas = chat.ready_replicas.unwrap_or(0);
            status.node_port = node_port(&seen.service);
            status.url = Some(url(app, &seen.service));
            status.load_test_node_port = seen.locust_service.as_ref().and_then(node_port);
            applied_conditions(app, seen).to_vec()
        }
        Outcome::Invalid(problems) => {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            let msg = format!("invalid spec, nothing applied: {}", list.join("; "));
            blocked_conditions(reason::INVALID_SPEC, msg)
                .into_iter()
                .chain(kept_durable(&old))
                .collect()
        }
        Outcome::Blocked(problem) => {
            // Ready and Progressing still describe what runs: keep them when there are any.
            let kept = |type_: &str| {
                old.conditions
                    .iter()
                    .find(|c| c.type_ == type_)
                    .cloned()
                    .unwrap_or_else(|| {
                        condition(type_, false, problem.reason, problem.message.clone())
                    })
            };
            let degraded = condition(DEGRADED, true, problem.reason, problem.message.clone());
            [kept(READY), kept(PROGRESSING), degraded]
                .into_iter()
                .chain(kept_durable(&old))
                .collect()
        }
        Outcome::Paused => {
            let mut kept = old.conditions.clone();
            kept.retain(|c| c.type_ != PROGRESSING);
            let paused = condition(
                PROGRESSING,
                false,
                reason::PAUSED,
                "spec.paused is true: the operator leaves the children alone".into(),
            );
            kept.push(paused);
            status.conditions = stamp(kept, &old.conditions, app.metadata.generation, now);
            return status;
        }
    };
    status.conditions = stamp(conditions, &old.conditions, app.metadata.generation, now);
    status
}

/// Durable as last seen: a reconcile that stopped short changed nothing about where data lives.
fn kept_durable(old: &ChatAppStatus) -> Option<Condition> {
    old.conditions.iter().find(|c| c.type_ == DURABLE).cloned()
}

/// Sets observedGeneration and lastTransitionTime, keeping the old time when the status did not
/// flip.
fn stamp(
    new: Vec<Condition>,
    old: &[Condition],
    generation: Option<i64>,
    now: Time,
) -> Vec<Condition> {
    new.into_iter()
        .map(|mut c| {
            c.observed_generation = generation;
            c.last_transition_time = match old.iter().find(|o| o.type_ == c.type_) {
                Some(o) if o.status == c.status => o.last_transition_time.clone(),
                _ => now.clone(),
            };
            c
        })
        .collect()
}

/// How a failed reconcile reads in status: a reason for what failed and the whole story.
pub fn failure(err: &Error) -> Problem {
    if let Some(message) = err.rejection() {
        if err.node_port_taken() {
            return Problem {
                reason: reason::NODE_PORT_CONFLICT,
                message: format!(
                    "the node port is taken by another Service ({message}); retrying every {PORT_RETRY_SECS} s until it is free, or choose another nodePort"
                ),
            };
        }
        return Problem {
            reason: reason::APPLY_REJECTED,
            message: format!("the API server refused a child: {message}"),
        };
    }
    let reason = match err {
        Error::Apply { .. } => reason::APPLY_FAILED,
        Error::Delete { .. } => reason::DELETE_FAILED,
        Error::List { .. } | Error::ReadSecret { .. } | Error::Discover(_) | Error::Storage(_) => {
            reason::OBSERVE_FAILED
        }
        _ => reason::RECONCILE_FAILED,
    };
    Problem {
        reason,
        message: format!(
            "{}; the operator retries with backoff, and what runs keeps running",
            err.detail()
        ),
    }
}

/// Conditions whose status or reason changed: each becomes a Kubernetes event.
pub fn changed_conditions<'a>(old: &[Condition], new: &'a [Condition]) -> Vec<&'a Condition> {
    new.iter()
        .filter(|c| {
            !old.iter()
                .any(|o| o.type_ == c.type_ && o.status == c.status && o.reason == c.reason)
        })
        .collect()
}

/// Whether a condition is bad news (a Warning event rather than a Normal one).
pub fn is_warning(c: &Condition) -> bool {
    let surprising_loss = [reason::NO_DEFAULT_STORAGE_CLASS, reason::EMPTY_DIR_KEPT];
    (c.type_ == DEGRADED && c.status == TRUE)
        || (c.type_ == DURABLE && surprising_loss.contains(&c.reason.as_str()))
        || (c.type_ == READY && c.status == FALSE && c.reason != reason::PODS_NOT_READY)
}

#[cfg(test)]
mod tests;
