//! The observe steps: read what the spec depends on and what the apply does not return, and say
//! what is wrong as a [`Problem`]. Read-only; how it reads in status is `status`'s business.
//!
//! Before the apply, the Secret named by `spec.redis.external` must hold its key, or nothing is
//! changed (switching to a Secret that is not there would take the chat's store away). After an
//! apply that did not settle, the children that matter are looked at in the order a person would
//! fix them: the Redis volume claim, pods that cannot be scheduled, images that cannot be pulled,
//! containers that keep failing.

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, Secret};
use kube::api::{Api, ListParams, PostParams};
use kube::{Client, ResourceExt};
use tracing::warn;

use super::FIELD_MANAGER;
use super::conditions::reason;
use super::status::{Observed, Problem};
use crate::crd::ChatApp;
use crate::error::{Error, Result};
use crate::resources::{
    ClusterApis, Component, DataStorage, instance_labels, label_selector, postgres,
    support_api_token_ref,
};

/// Waiting reasons of a container whose image cannot be pulled.
const PULL_FAILING: &[&str] = &["ErrImagePull", "ImagePullBackOff", "InvalidImageName"];
/// Other waiting reasons that will not fix themselves.
const STUCK: &[&str] = &[
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// API group of the custom metrics API (prometheus-adapter and others serve it).
pub const CUSTOM_METRICS_GROUP: &str = "custom.metrics.k8s.io";
/// API group and version of the Prometheus Operator's kinds.
pub const MONITORING_GROUP: &str = "monitoring.coreos.com";

/// Which optional APIs the cluster serves, asked only when the spec would use one: one
/// `GET /apis` (discovery, which every authenticated user may read; no Role rule needed), and the
/// resources of `monitoring.coreos.com/v1` when that group is there.
pub async fn capabilities(client: &Client, app: &ChatApp) -> Result<ClusterApis> {
    let wants_metrics = app
        .spec
        .autoscaling
        .as_ref()
        .is_some_and(|a| a.target_connections_per_pod.is_some());
    let wants_monitoring = app.spec.monitoring.enabled;
    if !wants_metrics && !wants_monitoring {
        return Ok(ClusterApis::default());
    }
    let groups = client.list_api_groups().await.map_err(Error::Discover)?;
    let served = |name: &str| groups.groups.iter().any(|g| g.name == name);
    let monitoring = wants_monitoring && served(MONITORING_GROUP) && {
        let version = format!("{MONITORING_GROUP}/v1");
        let list = client
            .list_api_group_resources(&version)
            .await
            .map_err(Error::Discover)?;
        ["servicemonitors", "prometheusrules"]
            .iter()
            .all(|kind| list.resources.iter().any(|r| r.name == *kind))
    };
    Ok(ClusterApis {
        custom_metrics: wants_metrics && served(CUSTOM_METRICS_GROUP),
        monitoring,
        storage: None,
    })
}

/// Where the managed database's data can live (None without `database.managed`). An existing
/// StatefulSet keeps its choice (its volumes cannot change in place: one GET); a new one goes on
/// a claim, unless the claim would name no StorageClass and the cluster has no default one.
pub async fn database_storage(client: &Client, app: &ChatApp) -> Result<Option<DataStorage>> {
    let Some(db) = postgres::managed(app) else {
        return Ok(None);
    };
    if db.storage.ephemeral {
        return Ok(Some(DataStorage::Ephemeral));
    }
    let ns = app.namespace().ok_or(Error::MissingNamespace)?;
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    let existing = sets
        .get_opt(&Component::Postgres.name(app))
        .await
        .map_err(Error::Storage)?
        .map(|set| {
            set.spec
                .and_then(|s| s.volume_claim_templates)
                .is_some_and(|claims| !claims.is_empty())
        });
    let default_class = if DataStorage::needs_default_class(db, existing) {
        Some(has_default_storage_class(client, app, &ns).await?)
    } else {
        None
    };
    Ok(Some(DataStorage::decide(db, existing, default_class)))
}

/// Whether a claim naming no StorageClass gets the cluster's default one: the database's claim
/// created with `dryRun=All` (validated and admitted, never stored), whose answer carries the
/// class the DefaultStorageClass admission plugin filled in, or none. This needs only `create` on
/// claims in the namespace, which the operator has: reading StorageClasses (cluster-scoped)
/// would need a ClusterRoleBinding, which names a namespace, and the bundle names none. A refusal
/// (a quota, a policy) leaves the spec's claim; the claim's own Pending state then explains.
async fn has_default_storage_class(client: &Client, app: &ChatApp, ns: &str) -> Result<bool> {
    let Some(probe) = postgres::storage_probe(app) else {
        return Ok(false);
    };
    let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let params = PostParams {
        dry_run: true,
        field_manager: Some(FIELD_MANAGER.into()),
    };
    match api.create(&params, &probe).await {
        Ok(claim) => Ok(claim.spec.and_then(|s| s.storage_class_name).is_some()),
        Err(kube::Error::Api(status)) if (400..500).contains(&status.code) => {
            warn!(chatapp = %app.name_any(), code = status.code, message = %status.message, "the default StorageClass probe was refused: assuming a claim");
            Ok(true)
        }
        Err(source) => Err(Error::Storage(source)),
    }
}

/// A Secret key the chat pods read at start, named by the spec.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretUse {
    /// Name of the Secret.
    pub name: String,
    /// Key the pods read.
    pub key: String,
    /// Where the spec names it, for the message.
    pub field: &'static str,
    /// What the chat keeps there, for the message.
    pub what: &'static str,
    /// The Degraded reason when it is missing.
    pub reason: &'static str,
}

/// Every Secret key the spec points the chat pods at (external Redis, external database, the
/// support API's token Secret): the one list both checks share.
pub fn secret_uses(app: &ChatApp) -> Vec<SecretUse> {
    let mut uses = Vec::new();
    if let Some(external) = &app.spec.redis.external {
        uses.push(SecretUse {
            name: external.url_secret_ref.name.clone(),
            key: external.url_secret_ref.key.clone(),
            field: "spec.redis.external.urlSecretRef",
            what: "Redis",
            reason: reason::REDIS_SECRET_MISSING,
        });
    }
    if let Some(external) = app.spec.database.as_ref().and_then(|d| d.external.as_ref()) {
        uses.push(SecretUse {
            name: external.secret_name.clone(),
            key: external.key.clone(),
            field: "spec.database.external",
            what: "database",
            reason: reason::DATABASE_SECRET_MISSING,
        });
    }
    // Only a Secret the spec names: the operator's own is created in the apply step.
    if let (Some((name, key)), Some(_)) = (
        support_api_token_ref(app),
        &app.spec.support_api.token_secret,
    ) {
        uses.push(SecretUse {
            name,
            key: key.to_owned(),
            field: "spec.supportApi.tokenSecret",
            what: "support API token",
            reason: reason::SUPPORT_API_SECRET_MISSING,
        });
    }
    uses
}

/// Why the chat cannot switch to what the spec names yet: a Secret or key it reads does not
/// exist. Checked before anything is applied, so pods never start on a missing Secret.
pub async fn secret_problem(client: &Client, app: &ChatApp) -> Result<Option<Problem>> {
    let ns = app.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for used in secret_uses(app) {
        let secret = api
            .get_opt(&used.name)
            .await
            .map_err(|source| Error::ReadSecret {
                name: used.name.clone(),
                source,
            })?;
        if let Some(problem) = missing_key(secret.as_ref(), &ns, &used) {
            return Ok(Some(problem));
        }
    }
    Ok(None)
}

/// The check itself: `secret` (None when absent) must hold the key `used` names.
pub fn missing_key(secret: Option<&Secret>, ns: &str, used: &SecretUse) -> Option<Problem> {
    let SecretUse {
        name,
        key,
        field,
        what,
        reason,
    } = used;
    let missing = match secret {
        None => format!("Secret {name} does not exist in namespace {ns}"),
        Some(s) if !s.data.as_ref().is_some_and(|d| d.contains_key(key)) => {
            format!("Secret {name} has no key {key}")
        }
        Some(_) => return None,
    };
    Some(Problem {
        reason,
        message: format!(
            "{missing} ({field}): nothing was changed, the chat keeps its current {what}; the operator looks again every 15 s"
        ),
    })
}

/// The first real problem of the children, looked up only while the chat is not settled (so a
/// healthy chat costs no pod list).
pub async fn children_problem(
    client: &Client,
    app: &ChatApp,
    seen: &Observed,
) -> Result<Option<Problem>> {
    if let Some(problem) = seen
        .redis_pvc
        .as_ref()
        .and_then(|c| pvc_problem(c, "Redis"))
    {
        return Ok(Some(problem));
    }
    let ns = app.namespace().ok_or(Error::MissingNamespace)?;
    // The database's claim is made by the StatefulSet controller: read it by its name.
    if seen.capabilities.storage.is_some_and(DataStorage::on_claim) {
        let name = postgres::postgres_pvc_name(app);
        let api: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
        let claim = api.get_opt(&name).await.map_err(|source| Error::List {
            kind: "persistentvolumeclaims",
            source,
        })?;
        if let Some(problem) = claim.as_ref().and_then(|c| pvc_problem(c, "PostgreSQL")) {
            return Ok(Some(problem));
        }
    }
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let selector = label_selector(&instance_labels(app));
    let pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::List {
            kind: "pods",
            source,
        })?;
    Ok(pods_problem(&pods.items))
}

/// A claim that no volume is bound to: `what` (Redis, PostgreSQL) cannot start until one is.
pub fn pvc_problem(pvc: &PersistentVolumeClaim, what: &str) -> Option<Problem> {
    let phase = pvc.status.as_ref()?.phase.as_deref()?;
    let (field, fallback) = if what == "Redis" {
        ("spec.redis.managed.persistence.storageClassName", "")
    } else {
        (
            "spec.database.managed.storage.storageClassName",
            " (without storage, database.managed.storage.ephemeral runs it on an emptyDir, which is not durable)",
        )
    };
    (phase == "Pending").then(|| Problem {
        reason: reason::PVC_PENDING,
        message: format!(
            "PersistentVolumeClaim {} is Pending: no volume is bound to it, so {what} cannot start; does the cluster have a default StorageClass, or does {field} name one that exists?{fallback}",
            pvc.name_any()
        ),
    })
}

/// The first problem among `pods`: scheduling before image pulls before failing containers.
pub fn pods_problem(pods: &[Pod]) -> Option<Problem> {
    let checks: [fn(&Pod) -> Option<Problem>; 2] = [unschedulable, stuck_container];
    checks.iter().find_map(|check| pods.iter().find_map(check))
}

fn unschedulable(pod: &Pod) -> Option<Problem> {
    let conditions = pod.status.as_ref()?.conditions.as_ref()?;
    let c = conditions.iter().find(|c| {
        c.type_ == "PodScheduled"
            && c.status == "False"
            && c.reason.as_deref() == Some("Unschedulable")
    })?;
    Some(Problem {
        reason: reason::UNSCHEDULABLE,
        message: format!(
            "pod {} cannot be scheduled: {}",
            pod.name_any(),
            c.message.as_deref().unwrap_or("no node fits it")
        ),
    })
}

fn stuck_container(pod: &Pod) -> Option<Problem> {
    let status = pod.status.as_ref()?;
    let containers = status.init_container_statuses.iter().flatten();
    let containers = containers.chain(status.container_statuses.iter().flatten());
    let mut found: Vec<Problem> = containers
        .filter_map(|c| {
            let waiting = c.state.as_ref()?.waiting.as_ref()?;
            let why = waiting.reason.as_deref()?;
            let detail = waiting.message.as_deref().unwrap_or("");
            let message = format!(
                "pod {} container {}: {why} {detail}",
                pod.name_any(),
                c.name
            );
            let reason = if PULL_FAILING.contains(&why) {
                reason::IMAGE_PULL_BACK_OFF
            } else if why == "CrashLoopBackOff" {
                reason::CRASH_LOOP_BACK_OFF
            } else if STUCK.contains(&why) {
                reason::PODS_FAILING
            } else {
                return None;
            };
            Some(Problem {
                reason,
                message: message.trim().to_owned(),
            })
        })
        .collect();
    // An image that cannot be pulled explains the rest of the pod.
    found.sort_by_key(|p| p.reason != reason::IMAGE_PULL_BACK_OFF);
    found.into_iter().next()
}

#[cfg(test)]
mod tests;
