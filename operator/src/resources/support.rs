//! The support desk's gRPC API (`spec.supportApi`): the ClusterIP Service NAME-support-api in
//! front of the chat pods' `grpc` port, and the Secret NAME-support-api holding its bearer token
//! when the spec names no Secret of its own.
//!
//! The token is made once: the Secret is created only when absent and never applied again (see
//! `controller::apply`), so a platform holding the token keeps working across reconciles and
//! operator restarts. It is owned by the ChatApp and goes with it; turning the API off keeps it,
//! so turning it on again finds the same token.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Secret, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{Component, child_meta, selector_labels};
use crate::crd::{ChatApp, SUPPORT_API_TOKEN_KEY};

/// Name of the chat container's gRPC port and of the Service's port.
pub const GRPC_PORT_NAME: &str = "grpc";

/// The Secret and key the chat pods read CHATAPP_SUPPORT_API_TOKEN from: the spec's
/// `tokenSecret`, or the operator's NAME-support-api; None while the API is off.
pub fn support_api_token_ref(app: &ChatApp) -> Option<(String, &'static str)> {
    let api = &app.spec.support_api;
    api.enabled.then(|| {
        let name = (api.token_secret.clone()).unwrap_or_else(|| Component::SupportApi.name(app));
        (name, SUPPORT_API_TOKEN_KEY)
    })
}

/// The operator's token Secret, without its data (the apply step fills it with [`with_token`] on
/// the one create): wanted only while the API is on and the spec names no Secret.
pub fn support_api_secret(app: &ChatApp) -> Secret {
    Secret {
        metadata: child_meta(app, Component::SupportApi),
        type_: Some("Opaque".into()),
        ..Default::default()
    }
}

/// `secret` with `token` under the key the chat pods read.
pub fn with_token(mut secret: Secret, token: &str) -> Secret {
    secret.string_data = Some(BTreeMap::from([(
        SUPPORT_API_TOKEN_KEY.to_owned(),
        token.to_owned(),
    )]));
    secret
}

/// A fresh token: 256 random bits from the OS, as 64 hex digits (the server wants at least 32
/// characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The ClusterIP Service of the gRPC API: in-cluster platforms only (put an Ingress or a
/// LoadBalancer of your own in front for others, with TLS).
pub fn support_api_service(app: &ChatApp) -> Service {
    let port = app.spec.support_api.port;
    Service {
        metadata: child_meta(app, Component::SupportApi),
        spec: Some(ServiceSpec {
            type_: Some("ClusterIP".into()),
            selector: Some(selector_labels(app, Component::Chat)),
            ports: Some(vec![ServicePort {
                name: Some(GRPC_PORT_NAME.into()),
                port,
                target_port: Some(IntOrString::String(GRPC_PORT_NAME.into())),
                protocol: Some("TCP".into()),
                // Lets meshes and Gateway implementations speak HTTP/2 to it.
                app_protocol: Some("kubernetes.io/h2c".into()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
