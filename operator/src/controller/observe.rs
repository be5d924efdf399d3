//! The observe step: after the apply, look at the children the apply does not return (pods) to
//! explain a chat that does not settle. Read-only; what to say about it is `status`'s business.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use crate::crd::ChatApp;
use crate::error::{Error, Result};
use crate::resources::{instance_labels, label_selector};

/// Container states that will not fix themselves, worth a Degraded condition.
const STUCK: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// Why this ChatApp's pods are stuck, from their container statuses (looked up only while the
/// chat is not settled, so a healthy chat costs no pod list).
pub async fn pod_problem(client: &Client, app: &ChatApp) -> Result<Option<String>> {
    let ns = app.namespace().ok_or(Error::MissingNamespace)?;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let selector = label_selector(&instance_labels(app));
    let pods = api
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|source| Error::List {
            kind: "pods",
            source,
        })?;
    Ok(pods.items.iter().find_map(stuck_container))
}

fn stuck_container(pod: &Pod) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_ref()?;
    statuses.iter().find_map(|c| {
        let waiting = c.state.as_ref()?.waiting.as_ref()?;
        let reason = waiting.reason.as_deref()?;
        STUCK.contains(&reason).then(|| {
            let detail = waiting.message.as_deref().unwrap_or("");
            format!(
                "pod {} container {}: {reason} {detail}",
                pod.name_any(),
                c.name
            )
            .trim()
            .to_owned()
        })
    })
}
