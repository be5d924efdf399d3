//! The Ingress to the chat's Service (`spec.ingress`), which carries its WebSockets: HTTP/1.1
//! Upgrade passes through every common controller; only their idle timeouts need raising, with
//! annotations the user chooses (docs/operator.md).

use k8s_openapi::api::networking::v1::{
    HTTPIngressPath, HTTPIngressRuleValue, Ingress, IngressBackend, IngressRule,
    IngressServiceBackend, IngressSpec, IngressTLS, ServiceBackendPort,
};

use super::{CHAT_PORT, Component, child_meta};
use crate::crd::ChatApp;

/// Annotations that put TLS in front of the Ingress without `tlsSecretName` (cert-manager
/// then creates the Secret the controller serves).
const TLS_ANNOTATIONS: &[&str] = &["cert-manager.io/cluster-issuer", "cert-manager.io/issuer"];

/// Whether people reach the Ingress over https.
pub fn ingress_tls(app: &ChatApp) -> bool {
    app.spec.ingress.as_ref().is_some_and(|i| {
        i.tls_secret_name.is_some()
            || i.annotations
                .iter()
                .flatten()
                .any(|(k, _)| TLS_ANNOTATIONS.contains(&k.as_str()))
    })
}

/// The chat's public URL through the Ingress: `https://host` (`http://` without TLS) plus the
/// path; `None` without a host.
pub fn ingress_url(app: &ChatApp) -> Option<String> {
    let ingress = app.spec.ingress.as_ref()?;
    let host = ingress.host.as_ref()?;
    let scheme = if ingress_tls(app) { "https" } else { "http" };
    let path = ingress.path.trim_end_matches('/');
    Some(format!("{scheme}://{host}{path}"))
}

/// The Ingress routing `spec.ingress.host`/`path` to the chat Service's port.
pub fn chat_ingress(app: &ChatApp) -> Option<Ingress> {
    let spec = app.spec.ingress.as_ref()?;
    let mut metadata = child_meta(app, Component::Chat);
    metadata.annotations = spec.annotations.clone();
    let backend = IngressBackend {
        service: Some(IngressServiceBackend {
            name: Component::Chat.name(app),
            port: Some(ServiceBackendPort {
                number: Some(CHAT_PORT),
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    // A TLS Secret named by a cert-manager annotation alone: cert-manager fills NAME-tls.
    let tls_secret = spec.tls_secret_name.clone().or_else(|| {
        (ingress_tls(app) && spec.host.is_some())
            .then(|| format!("{}-tls", Component::Chat.name(app)))
    });
    Some(Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: spec.class_name.clone(),
            rules: Some(vec![IngressRule {
                host: spec.host.clone(),
                http: Some(HTTPIngressRuleValue {
                    paths: vec![HTTPIngressPath {
                        path: Some(spec.path.clone()),
                        path_type: "Prefix".into(),
                        backend,
                    }],
                }),
            }]),
            tls: tls_secret.map(|secret| {
                vec![IngressTLS {
                    hosts: spec.host.clone().map(|h| vec![h]),
                    secret_name: Some(secret),
                }]
            }),
            ..Default::default()
        }),
        ..Default::default()
    })
}
