//! Applying [`Desired`] with server-side apply, one field manager, forced.
//!
//! Children that are no longer wanted (the PDB at one replica, Locust when disabled) are deleted.
//! The managed Redis goes after a switch to an external one only once the chat pods are ready on
//! the new store; its volume claim is kept, so turning persistence off never destroys data by
//! itself (it goes with the ChatApp).

use std::fmt::Debug;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::{Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::status::{Observed, rolled_out};
use crate::crd::ChatApp;
use crate::error::{Error, Result};
use crate::resources::postgres::{new_password, with_password};
use crate::resources::{
    Component, Desired, new_token, owner_reference, prometheus_rule_resource,
    service_monitor_resource, with_token,
};

/// The one field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = "chatapp-operator";

async fn apply<K>(client: &Client, ns: &str, obj: K) -> Result<K>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: k8s_openapi::Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    let name = obj.name_any();
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(&obj))
        .await
        .map_err(|source| Error::Apply {
            kind: <K as k8s_openapi::Resource>::KIND,
            name,
            source,
        })
}

async fn apply_opt<K>(client: &Client, ns: &str, obj: Option<K>, absent: &str) -> Result<Option<K>>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: k8s_openapi::Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    match obj {
        Some(obj) => apply(client, ns, obj).await.map(Some),
        None => delete_if_present::<K>(client, ns, absent)
            .await
            .map(|()| None),
    }
}

async fn delete_if_present<K>(client: &Client, ns: &str, name: &str) -> Result<()>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    K: k8s_openapi::Resource + Clone + Debug + DeserializeOwned,
{
    let api: Api<K> = Api::namespaced(client.clone(), ns);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Error::Delete {
            kind: <K as k8s_openapi::Resource>::KIND,
            name: name.into(),
            source,
        }),
    }
}

/// Creates a Secret holding a generated credential (the managed database's password, the
/// support API's token) when it does not exist yet. Never an apply: server-side apply would
/// replace the credential on every reconcile, and the database (initialised with the first
/// password) would refuse the chat pods, a platform holding the token would be locked out. An
/// existing Secret is left as is.
async fn create_once(client: &Client, ns: &str, secret: Secret) -> Result<()> {
    let name = secret.name_any();
    let api: Api<Secret> = Api::namespaced(client.clone(), ns);
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    match api.create(&params, &secret).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(source) => Err(Error::Apply {
            kind: "Secret",
            name,
            source,
        }),
    }
}

async fn apply_dynamic(
    client: &Client,
    ns: &str,
    obj: DynamicObject,
    resource: &ApiResource,
) -> Result<()> {
    let name = obj.name_any();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, resource);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    api.patch(&name, &params, &Patch::Apply(&obj))
        .await
        .map(|_| ())
        .map_err(|source| Error::Apply {
            kind: dynamic_kind(resource),
            name,
            source,
        })
}

async fn delete_dynamic(
    client: &Client,
    ns: &str,
    name: &str,
    resource: &ApiResource,
) -> Result<()> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, resource);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(source) => Err(Error::Delete {
            kind: dynamic_kind(resource),
            name: name.into(),
            source,
        }),
    }
}

/// The error's kind name for an optional kind (the error keeps `&'static str`).
fn dynamic_kind(resource: &ApiResource) -> &'static str {
    if resource.plural == "servicemonitors" {
        "ServiceMonitor"
    } else {
        "PrometheusRule"
    }
}

/// Applies every desired child in dependency order and returns them as the API server sees them.
pub async fn apply_all(client: &Client, app: &ChatApp, desired: Desired) -> Result<Observed> {
    let ns = app.namespace().ok_or(Error::MissingNamespace)?;
    let ns = ns.as_str();
    // Children without an owner would outlive their ChatApp: apply none.
    owner_reference(app).ok_or(Error::MissingUid)?;
    let Desired {
        postgres_secret,
        postgres_network_policy,
        postgres_service,
        postgres_statefulset,
        redis_pvc,
        redis_deployment,
        redis_service,
        redis_network_policy,
        support_api_secret,
        chat_network_policy,
        chat_deployment,
        chat_service,
        support_api_service,
        chat_pdb,
        chat_ingress,
        chat_hpa,
        chat_service_monitor,
        chat_prometheus_rule,
        locust_configmap,
        locust_deployment,
        locust_service,
        locust_master_service,
        locust_worker_deployment,
    } = desired;
    let locust = Component::Locust.name(app);
    let locust_master = crate::resources::locust_master_name(app);
    let locust_worker = Component::LocustWorker.name(app);
    // The database first, like Redis: the chat servers report unready until they reach it. Its
    // Secret before the pod that reads the password; the fence before the pod. Without
    // `database.managed` nothing is deleted: a database is never removed by a spec edit (it
    // goes with the ChatApp, its claim as deleteDataWithChatApp says).
    let mut postgres = None;
    if let (Some(secret), Some(service), Some(set)) =
        (postgres_secret, postgres_service, postgres_statefulset)
    {
        create_once(client, ns, with_password(app, secret, &new_password())).await?;
        let name = Component::Postgres.name(app);
        apply_opt::<NetworkPolicy>(client, ns, postgres_network_policy, &name).await?;
        apply::<Service>(client, ns, service).await?;
        postgres = Some(apply::<StatefulSet>(client, ns, set).await?);
    }
    // Redis first: the chat servers report unready until they reach it. The claim before the
    // Deployment that mounts it. The Service before the Deployments' pods look it up by name.
    let redis_pvc = match redis_pvc {
        Some(pvc) => Some(apply::<PersistentVolumeClaim>(client, ns, pvc).await?),
        None => None,
    };
    let redis_name = Component::Redis.name(app);
    let redis = match (redis_service, redis_deployment) {
        (Some(service), Some(deployment)) => {
            // The fence before the pods it fences, so Redis is never open.
            apply_opt::<NetworkPolicy>(client, ns, redis_network_policy, &redis_name).await?;
            apply::<Service>(client, ns, service).await?;
            Some(apply::<Deployment>(client, ns, deployment).await?)
        }
        _ => None,
    };
    // The support API's token before the pods that read it (a pod naming a missing Secret
    // would not start). Turned off, the Secret stays (the same token when turned on again) and
    // goes with the ChatApp; its Service goes at once.
    if let Some(secret) = support_api_secret {
        create_once(client, ns, with_token(secret, &new_token())).await?;
    }
    apply_opt::<NetworkPolicy>(client, ns, chat_network_policy, &app.name_any()).await?;
    let service = apply::<Service>(client, ns, chat_service).await?;
    let support_api = Component::SupportApi.name(app);
    apply_opt::<Service>(client, ns, support_api_service, &support_api).await?;
    let chat = apply::<Deployment>(client, ns, chat_deployment).await?;
    let redis_retiring = redis.is_none() && !retire_managed_redis(client, app, &chat).await?;
    apply_opt::<PodDisruptionBudget>(client, ns, chat_pdb, &app.name_any()).await?;
    // The Ingress once its Service exists; the HPA once there is a Deployment to measure (it
    // scales the ChatApp, whose spec.replicas the Deployment above follows).
    apply_opt::<Ingress>(client, ns, chat_ingress, &app.name_any()).await?;
    apply_opt::<HorizontalPodAutoscaler>(client, ns, chat_hpa, &app.name_any()).await?;
    // Monitoring, when its kinds exist: nothing depends on it. When it is off, an object left
    // from before is removed (a 404, also for a kind the cluster does not serve, is fine).
    let monitoring_on = app.spec.monitoring.enabled;
    for (obj, resource) in [
        (chat_service_monitor, service_monitor_resource()),
        (chat_prometheus_rule, prometheus_rule_resource()),
    ] {
        match obj {
            Some(obj) => apply_dynamic(client, ns, obj, &resource).await?,
            None if !monitoring_on => {
                delete_dynamic(client, ns, &app.name_any(), &resource).await?
            }
            None => {} // wanted, but the kind is not served: status says so
        }
    }
    // Locust last: it is a client of everything above. Its ConfigMap before the pods mount it,
    // the master's Services before the master, the master before its workers.
    apply_opt::<ConfigMap>(client, ns, locust_configmap, &locust).await?;
    apply_opt::<Service>(client, ns, locust_master_service, &locust_master).await?;
    let locust_service = apply_opt::<Service>(client, ns, locust_service, &locust).await?;
    apply_opt::<Deployment>(client, ns, locust_deployment, &locust).await?;
    apply_opt::<Deployment>(client, ns, locust_worker_deployment, &locust_worker).await?;
    Ok(Observed {
        postgres,
        chat,
        service,
        redis,
        redis_pvc,
        redis_retiring,
        locust_service,
        problem: None,
        capabilities: Default::default(),
    })
}

/// With an external Redis, deletes the managed one (Deployment, Service and NetworkPolicy; its
/// claim stays) once every chat pod is ready on the new store, so a URL that does not work never
/// costs the running chat its Redis. Returns whether it is gone.
async fn retire_managed_redis(client: &Client, app: &ChatApp, chat: &Deployment) -> Result<bool> {
    if !rolled_out(chat, app.spec.replicas) {
        return Ok(false);
    }
    let ns = app.namespace().ok_or(Error::MissingNamespace)?;
    let redis = Component::Redis.name(app);
    delete_if_present::<Deployment>(client, &ns, &redis).await?;
    delete_if_present::<Service>(client, &ns, &redis).await?;
    delete_if_present::<NetworkPolicy>(client, &ns, &redis).await?;
    Ok(true)
}
