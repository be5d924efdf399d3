//! The ChatApp controller: `reconcile` reads as the story of one pass (validate, build, apply,
//! observe, report), `error_policy` decides when to try again, and [`controller`] wires the
//! watches.

mod apply;
pub mod conditions;
mod observe;
pub mod status;
#[cfg(test)]
mod tests;
pub mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::watcher;
use kube::{Client, Resource, ResourceExt};
use serde_json::json;
use tracing::{info, warn};

pub use apply::FIELD_MANAGER;
use conditions::{FALSE, TRUE};
use status::{Outcome, PORT_RETRY_SECS, changed_conditions, desired_status, failure, is_warning};
use validate::validate;

use crate::crd::ChatApp;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::resources::{Desired, MANAGED_SELECTOR};

/// Requeue period of a settled chat (a safety net: watches bring every change sooner).
const RESYNC: Duration = Duration::from_secs(300);
/// Requeue period while pods come up: pod states are not watched, so look again soon.
const WHILE_PROGRESSING: Duration = Duration::from_secs(15);
/// First and largest delay of the per-object exponential backoff.
const BACKOFF_BASE: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// What every reconcile shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Publishes Kubernetes events about ChatApps.
    pub recorder: Recorder,
    /// Reconcile counters and timings.
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per ChatApp (namespace/name), for the backoff.
    failures: Mutex<HashMap<String, u32>>,
}

impl Context {
    /// A context for `client`, reporting events as `reporter`.
    pub fn new(client: Client, reporter: Reporter, metrics: Arc<Metrics>) -> Self {
        let recorder = Recorder::new(client.clone(), reporter);
        Self {
            client,
            recorder,
            metrics,
            failures: Mutex::default(),
        }
    }

    fn reset_failures(&self, key: &str) {
        self.failures.lock().expect("failures lock").remove(key);
    }

    /// Records one more failure of `key` and returns the delay before the next try.
    fn next_backoff(&self, key: &str) -> Duration {
        let mut failures = self.failures.lock().expect("failures lock");
        let n = failures.entry(key.to_owned()).or_insert(0);
        let delay = BACKOFF_BASE
            .saturating_mul(2u32.saturating_pow(*n))
            .min(BACKOFF_MAX);
        *n = n.saturating_add(1);
        delay
    }
}

fn key(app: &ChatApp) -> String {
    format!("{}/{}", app.namespace().unwrap_or_default(), app.name_any())
}

/// One pass over one ChatApp: validate, check the Secrets the pods read, build, apply, observe, report.
/// A failure is reported too, in status and as an event.
pub async fn reconcile(app: Arc<ChatApp>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let result = match reconcile_inner(&app, &ctx).await {
        Err(err) => Err(report_failure(&app, &ctx, err).await),
        done => done,
    };
    ctx.metrics
        .observe(started.elapsed(), result.as_ref().err());
    if result.is_ok() {
        ctx.reset_failures(&key(&app));
    }
    result
}

async fn reconcile_inner(app: &ChatApp, ctx: &Context) -> Result<Action> {
    if app.spec.paused {
        report(app, ctx, &Outcome::Paused).await?;
        return Ok(Action::await_change());
    }
    let problems = validate(app);
    if !problems.is_empty() {
        report(app, ctx, &Outcome::Invalid(problems)).await?;
        return Ok(Action::await_change());
    }
    if let Some(problem) = observe::secret_problem(&ctx.client, app).await? {
        report(app, ctx, &Outcome::Blocked(problem)).await?;
        // Secrets are not watched: look again soon.
        return Ok(Action::requeue(WHILE_PROGRESSING));
    }
    let mut caps = observe::capabilities(&ctx.client, app).await?;
    caps.storage = observe::database_storage(&ctx.client, app).await?;
    let desired = Desired::build_for(app, caps);
    // Boxed: the apply future holds every child and would otherwise sit on the task's stack.
    let mut observed = Box::pin(apply::apply_all(&ctx.client, app, desired)).await?;
    observed.capabilities = caps;
    let settled = observed.settled(app);
    if !settled {
        observed.problem = observe::children_problem(&ctx.client, app, &observed).await?;
    }
    report(app, ctx, &Outcome::Applied(Box::new(observed))).await?;
    Ok(Action::requeue(if settled {
        RESYNC
    } else {
        WHILE_PROGRESSING
    }))
}

/// Shows a failed reconcile to people: conditions saying what failed and what happens next, and
/// a Warning event. Returns the error for the backoff.
async fn report_failure(app: &ChatApp, ctx: &Context, err: Error) -> Error {
    let problem = failure(&err);
    warn!(chatapp = %key(app), error = %err.detail(), "reconcile failed");
    publish(ctx, app, EventType::Warning, problem.reason, err.detail()).await;
    // A status write that just failed would fail again.
    if !matches!(err, Error::PatchStatus(_))
        && let Err(status_err) = report(app, ctx, &Outcome::Blocked(problem)).await
    {
        warn!(chatapp = %key(app), error = %status_err.detail(), "could not write the failure to status");
    }
    err
}

/// Writes the status for `outcome` when it differs from the stored one, with an event for each
/// condition that changed.
async fn report(app: &ChatApp, ctx: &Context, outcome: &Outcome) -> Result<()> {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    let status = desired_status(app, outcome, now);
    let old = app.status.clone().unwrap_or_default();
    if status == old {
        return Ok(());
    }
    let ns = app.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<ChatApp> = Api::namespaced(ctx.client.clone(), &ns);
    let patch = json!({
        "apiVersion": ChatApp::api_version(&()),
        "kind": ChatApp::kind(&()),
        "metadata": {"name": app.name_any()},
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch_status(&app.name_any(), &params, &Patch::Apply(&patch))
        .await
        .map_err(Error::PatchStatus)?;
    for c in changed_conditions(&old.conditions, &status.conditions) {
        let type_ = if is_warning(c) {
            EventType::Warning
        } else {
            EventType::Normal
        };
        let reason = format!("{}{}", c.type_, if c.status == TRUE { "" } else { FALSE });
        publish(
            ctx,
            app,
            type_,
            &reason,
            format!("{}: {}", c.reason, c.message),
        )
        .await;
    }
    Ok(())
}

async fn publish(ctx: &Context, app: &ChatApp, type_: EventType, reason: &str, note: String) {
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note.chars().take(1000).collect()),
        action: "Reconcile".into(),
        secondary: None,
    };
    if let Err(err) = ctx.recorder.publish(&event, &app.object_ref(&())).await {
        warn!(chatapp = %key(app), error = %err, "could not publish an event");
    }
}

/// After a failed reconcile: try again after a per-object exponential backoff (5 s doubling to
/// 5 min), reset by the next success. A taken NodePort is tried every few seconds instead: it
/// frees the moment its Service goes, and nothing is gained by waiting longer.
pub fn error_policy(app: Arc<ChatApp>, err: &Error, ctx: Arc<Context>) -> Action {
    if err.node_port_taken() {
        warn!(chatapp = %key(&app), error = %err.detail(), retry_in_s = PORT_RETRY_SECS, "node port taken");
        return Action::requeue(Duration::from_secs(PORT_RETRY_SECS));
    }
    let delay = ctx.next_backoff(&key(&app));
    warn!(chatapp = %key(&app), error = %err.detail(), retry_in_s = delay.as_secs(), "reconcile failed");
    Action::requeue(delay)
}

/// The kinds the controller watches, as (API group, resource): the RBAC test checks that each is
/// granted list and watch.
pub const WATCHED: &[(&str, &str)] = &[
    ("chatapp.dev", "chatapps"),
    ("apps", "deployments"),
    ("apps", "statefulsets"),
    ("", "services"),
    ("", "persistentvolumeclaims"),
    ("policy", "poddisruptionbudgets"),
    ("", "configmaps"),
    ("networking.k8s.io", "networkpolicies"),
    ("networking.k8s.io", "ingresses"),
    ("autoscaling", "horizontalpodautoscalers"),
];

/// Runs the controller over the ChatApps of `namespace` until `shutdown` resolves.
pub async fn controller(
    ctx: Arc<Context>,
    namespace: &str,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let client = ctx.client.clone();
    let children = || watcher::Config::default().labels(MANAGED_SELECTOR);
    Controller::new(
        Api::<ChatApp>::namespaced(client.clone(), namespace),
        watcher::Config::default(),
    )
    .owns(
        Api::<Deployment>::namespaced(client.clone(), namespace),
        children(),
    )
    .owns(
        Api::<StatefulSet>::namespaced(client.clone(), namespace),
        children(),
    )
    .owns(
        Api::<Service>::namespaced(client.clone(), namespace),
        children(),
    )
    .owns(
        Api::<PersistentVolumeClaim>::namespaced(client.clone(), namespace),
        children(),
    )
    .owns(
        Api::<PodDisruptionBudget>::namespaced(client.clone(), namespace),
        children(),
    )
    .owns(
        Api::<ConfigMap>::namespaced(client.clone(), namespace),
        children(),
    )
    .owns(
        Api::<NetworkPolicy>::namespaced(client.clone(), namespace),
        children(),
    )
    .owns(
        Api::<Ingress>::namespaced(client.clone(), namespace),
        children(),
    )
    .owns(
        Api::<HorizontalPodAutoscaler>::namespaced(client, namespace),
        children(),
    )
    .with_config(ControllerConfig::default().concurrency(concurrency))
    .graceful_shutdown_on(shutdown)
    .run(reconcile, error_policy, ctx)
    .for_each(|result| async move {
        match result {
            Ok((obj, _)) => info!(chatapp = %obj.name, "reconciled"),
            Err(err) => warn!(error = %err, "controller error"),
        }
    })
    .await;
}
