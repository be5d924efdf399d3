//! The HorizontalPodAutoscaler of `spec.autoscaling`. It scales the ChatApp itself, through its
//! scale subresource (`spec.replicas`), never the Deployment: the operator keeps following
//! `spec.replicas`, so the HPA and the operator never write the same field.

use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
    MetricIdentifier, MetricSpec, MetricTarget, PodsMetricSource, ResourceMetricSource,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::{Resource, ResourceExt};

use super::{Component, child_meta};
use crate::crd::ChatApp;

/// The chat-server's gauge of open WebSockets, as a custom metrics API serves it per pod.
pub const CONNECTIONS_METRIC: &str = "chat_connections";

/// The HPA, with the connections metric only when `custom_metrics` (the cluster serves
/// `custom.metrics.k8s.io`): without that API an HPA with a Pods metric reports errors and does
/// not scale at all, so it falls back to CPU.
pub fn chat_hpa(app: &ChatApp, custom_metrics: bool) -> Option<HorizontalPodAutoscaler> {
    let spec = app.spec.autoscaling.as_ref()?;
    let mut metrics = vec![MetricSpec {
        type_: "Resource".into(),
        resource: Some(ResourceMetricSource {
            name: "cpu".into(),
            target: MetricTarget {
                type_: "Utilization".into(),
                average_utilization: Some(spec.target_cpu_utilization_percentage),
                ..Default::default()
            },
        }),
        ..Default::default()
    }];
    if let (Some(per_pod), true) = (spec.target_connections_per_pod, custom_metrics) {
        metrics.push(MetricSpec {
            type_: "Pods".into(),
            pods: Some(PodsMetricSource {
                metric: MetricIdentifier {
                    name: CONNECTIONS_METRIC.into(),
                    selector: None,
                },
                target: MetricTarget {
                    type_: "AverageValue".into(),
                    average_value: Some(Quantity(per_pod.to_string())),
                    ..Default::default()
                },
            }),
            ..Default::default()
        });
    }
    Some(HorizontalPodAutoscaler {
        metadata: child_meta(app, Component::Chat),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some(ChatApp::api_version(&()).into()),
                kind: ChatApp::kind(&()).into(),
                name: app.name_any(),
            },
            min_replicas: Some(spec.min_replicas),
            max_replicas: spec.max_replicas,
            metrics: Some(metrics),
            ..Default::default()
        }),
        ..Default::default()
    })
}
