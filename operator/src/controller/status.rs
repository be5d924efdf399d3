//! The status a person reads: pure functions from what the reconcile saw to `ChatAppStatus`.
//!
//! Conditions keep their `lastTransitionTime` unless their status flips, so an unchanged world
//! yields an identical status and the controller skips the write (no reconcile loop on our own
//! status updates).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::ResourceExt;

use crate::build::{CHAT_PORT, Component, selector_string};
use crate::crd::{ChatApp, ChatAppStatus};
use crate::validate::Invalid;

/// What a reconcile ended with, as far as status is concerned.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every child was applied; what they looked like afterwards.
    Applied(Box<Observed>),
    /// The spec cannot be reconciled; nothing was applied.
    Invalid(Vec<Invalid>),
    /// The API server refused a child (e.g. a NodePort already taken).
    Rejected(String),
    /// `spec.paused`: nothing was looked at.
    Paused,
}

/// The children as the API server returned them from the apply.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// The chat-server Deployment.
    pub chat: Deployment,
    /// The chat Service.
    pub service: Service,
    /// The managed Redis Deployment (None with an external Redis).
    pub redis: Option<Deployment>,
    /// The Locust web UI Service, when load testing.
    pub locust_service: Option<Service>,
    /// Why pods are stuck (image pull failing, crash loop...), when they are.
    pub pod_problem: Option<String>,
}

impl Observed {
    /// True when every wanted chat-server pod is ready and up to date.
    pub fn settled(&self, app: &ChatApp) -> bool {
        let status = self.chat.status.clone().unwrap_or_default();
        let want = app.spec.replicas;
        let redis_ok = self.redis.as_ref().is_none_or(|r| ready_replicas(r) >= 1);
        redis_ok
            && status.ready_replicas.unwrap_or(0) == want
            && status.updated_replicas.unwrap_or(0) == want
            && status.replicas.unwrap_or(0) == want
    }
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
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message,
        last_transition_time: Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
        observed_generation: None,
    }
}

/// Ready, Progressing and Degraded for a reconcile that applied everything.
fn applied_conditions(app: &ChatApp, seen: &Observed) -> [Condition; 3] {
    let status = seen.chat.status.clone().unwrap_or_default();
    let want = app.spec.replicas;
    let ready = status.ready_replicas.unwrap_or(0);
    let redis_ready = seen.redis.as_ref().is_none_or(|r| ready_replicas(r) >= 1);
    let ready_cond = if !redis_ready {
        let msg = format!(
            "the managed Redis ({}) has no ready pod yet; chat servers stay unready until they reach it",
            Component::Redis.name(app)
        );
        condition("Ready", false, "RedisNotReady", msg)
    } else if want == 0 {
        condition(
            "Ready",
            true,
            "ScaledToZero",
            "spec.replicas is 0: no chat-server pods".into(),
        )
    } else if ready >= want {
        condition(
            "Ready",
            true,
            "Available",
            format!("{ready}/{want} chat-server pods ready"),
        )
    } else {
        condition(
            "Ready",
            false,
            "PodsNotReady",
            format!("{ready}/{want} chat-server pods ready"),
        )
    };
    let progressing = if seen.settled(app) {
        condition(
            "Progressing",
            false,
            "Complete",
            "every pod runs the current spec".into(),
        )
    } else {
        let updated = status.updated_replicas.unwrap_or(0);
        let msg = format!("rolling out: {updated}/{want} pods updated, {ready}/{want} ready");
        condition("Progressing", true, "RollingOut", msg)
    };
    let degraded = match &seen.pod_problem {
        Some(problem) => condition("Degraded", true, "PodsFailing", problem.clone()),
        None => condition("Degraded", false, "AsExpected", "no known problem".into()),
    };
    [ready_cond, progressing, degraded]
}

/// Conditions when nothing could be applied, with `reason` and a message for people.
fn blocked_conditions(reason: &str, message: String) -> [Condition; 3] {
    [
        condition("Ready", false, reason, message.clone()),
        condition("Progressing", false, reason, message.clone()),
        condition("Degraded", true, reason, message),
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
            applied_conditions(app, seen)
        }
        Outcome::Invalid(problems) => {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            let msg = format!("invalid spec, nothing applied: {}", list.join("; "));
            blocked_conditions("InvalidSpec", msg)
        }
        Outcome::Rejected(message) => blocked_conditions(
            "ApplyRejected",
            format!("the API server refused a child: {message}"),
        ),
        Outcome::Paused => {
            let mut kept = old.conditions.clone();
            kept.retain(|c| c.type_ != "Progressing");
            let paused = condition(
                "Progressing",
                false,
                "Paused",
                "spec.paused is true: the operator leaves the children alone".into(),
            );
            kept.push(paused);
            status.conditions = stamp(kept, &old.conditions, app.metadata.generation, now);
            return status;
        }
    };
    status.conditions = stamp(
        conditions.to_vec(),
        &old.conditions,
        app.metadata.generation,
        now,
    );
    status
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
    (c.type_ == "Degraded" && c.status == "True")
        || (c.type_ == "Ready" && c.status == "False" && c.reason != "PodsNotReady")
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert_eq!(find(&first, "Ready").reason, "Available", "{first:?}");
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
            pod_problem: Some("pod x: ImagePullBackOff".into()),
            ..Default::default()
        };
        let s = desired_status(&app, &Outcome::Applied(Box::new(seen)), now());
        assert_eq!(find(&s, "Ready").reason, "RedisNotReady", "{s:?}");
        assert_eq!(find(&s, "Degraded").status, "True");
        assert!(find(&s, "Degraded").message.contains("ImagePullBackOff"));
        assert_eq!(find(&s, "Progressing").status, "True");
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
        assert_eq!(find(&s, "Ready").reason, "InvalidSpec");
        assert!(find(&s, "Degraded").message.contains("spec.redis"), "{s:?}");
        let taken = "provided port is already allocated".to_owned();
        let s = desired_status(&app, &Outcome::Rejected(taken), now());
        assert!(
            find(&s, "Ready").message.contains("already allocated"),
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
        assert_eq!(changed_conditions(&[], &s.conditions).len(), 3);
        assert!(changed_conditions(&s.conditions, &s.conditions).is_empty());
        assert!(!is_warning(find(&s, "Ready")));
    }
}
