//! Spec validation the controller runs before building anything.
//!
//! The CRD schema already refuses most bad specs at `kubectl apply`; these checks repeat its
//! cross-field rules (and the few the schema cannot express) because a ChatApp may have been
//! stored under an older CRD. Each problem names the field, as the API server would.

use kube::ResourceExt;

use crate::crd::{ChatApp, ServiceType};
use crate::resources::CHAT_PORT;

/// One reason a spec cannot be reconciled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// JSON path of the field at fault, e.g. `spec.service.nodePort`.
    pub field: &'static str,
    /// What is wrong, for people.
    pub message: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn check(problems: &mut Vec<Invalid>, ok: bool, field: &'static str, message: impl Into<String>) {
    if !ok {
        problems.push(Invalid {
            field,
            message: message.into(),
        });
    }
}

/// Every problem in `app`'s spec; empty when it can be reconciled.
pub fn validate(app: &ChatApp) -> Vec<Invalid> {
    let spec = &app.spec;
    let name = app.name_any();
    let mut p = Vec::new();
    let dns_label = name.len() <= 48
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    check(
        &mut p,
        dns_label,
        "metadata.name",
        "must be a DNS label of at most 48 characters",
    );
    check(
        &mut p,
        (0..=100).contains(&spec.replicas),
        "spec.replicas",
        "must be 0 to 100",
    );
    check(
        &mut p,
        !spec.image.is_empty(),
        "spec.image",
        "must not be empty",
    );
    let node_port_ok = |port: Option<i32>| port.is_none_or(|p| (30000..=32767).contains(&p));
    check(
        &mut p,
        node_port_ok(spec.service.node_port),
        "spec.service.nodePort",
        "must be 30000-32767",
    );
    check(
        &mut p,
        spec.service.node_port.is_none() || spec.service.type_ != ServiceType::ClusterIP,
        "spec.service.nodePort",
        "needs service.type NodePort or LoadBalancer",
    );
    check(
        &mut p,
        !(spec.redis.managed.is_some() && spec.redis.external.is_some()),
        "spec.redis",
        "redis.managed and redis.external are mutually exclusive: set one of them",
    );
    if let Some(external) = &spec.redis.external {
        let r = &external.url_secret_ref;
        check(
            &mut p,
            !r.name.is_empty(),
            "spec.redis.external.urlSecretRef.name",
            "must not be empty",
        );
        check(
            &mut p,
            !r.key.is_empty(),
            "spec.redis.external.urlSecretRef.key",
            "must not be empty",
        );
    }
    if let Some(db) = &spec.database {
        check(
            &mut p,
            db.managed.is_some() != db.external.is_some(),
            "spec.database",
            "set exactly one of database.managed and database.external",
        );
        if let Some(e) = &db.external {
            check(
                &mut p,
                !e.secret_name.is_empty(),
                "spec.database.external.secretName",
                "must not be empty",
            );
            check(
                &mut p,
                !e.key.is_empty(),
                "spec.database.external.key",
                "must not be empty",
            );
        }
        check(
            &mut p,
            (2..=1000).contains(&db.max_connections),
            "spec.database.maxConnections",
            "must be 2-1000",
        );
        check(
            &mut p,
            (0..=36_500).contains(&db.retention_days),
            "spec.database.retentionDays",
            "must be 0-36500",
        );
        check(
            &mut p,
            (0..=1_000_000_000).contains(&db.retention_messages),
            "spec.database.retentionMessages",
            "must be 0-1000000000",
        );
    }
    let chat = &spec.chat;
    check(
        &mut p,
        chat.max_frame_bytes >= chat.max_content_bytes,
        "spec.chat.maxFrameBytes",
        "must be at least chat.maxContentBytes",
    );
    check(
        &mut p,
        chat.presence_ttl_secs >= 3,
        "spec.chat.presenceTtlSecs",
        "must be at least 3",
    );
    check(
        &mut p,
        chat.outbound_queue >= 8,
        "spec.chat.outboundQueue",
        "must be at least 8",
    );
    check(
        &mut p,
        chat.allowed_origins
            .iter()
            .all(|o| o == "*" || is_origin(o)),
        "spec.chat.allowedOrigins",
        "entries must be \"*\" or http(s)://host[:port]",
    );
    check(
        &mut p,
        chat.public_url.as_deref().is_none_or(is_http_url),
        "spec.chat.publicUrl",
        "must be an http:// or https:// URL with a host",
    );
    check_usernames(&mut p, &chat.admins, "spec.chat.admins");
    check_usernames(&mut p, &chat.support_agents, "spec.chat.supportAgents");
    check(
        &mut p,
        (1..=8760).contains(&chat.session_ttl_hours),
        "spec.chat.sessionTtlHours",
        "must be 1 to 8760",
    );
    let support = &spec.support_api;
    check(
        &mut p,
        (1024..=65_535).contains(&support.port),
        "spec.supportApi.port",
        "must be 1024 to 65535 (the chat-server runs without privileges)",
    );
    check(
        &mut p,
        support.port != CHAT_PORT,
        "spec.supportApi.port",
        format!("must differ from the chat port {CHAT_PORT}"),
    );
    check(
        &mut p,
        support.token_secret.as_deref().is_none_or(is_dns_subdomain),
        "spec.supportApi.tokenSecret",
        "must be a Secret name: 1 to 253 of lowercase letters, digits, '-' and '.'",
    );
    if let Some(a) = &spec.autoscaling {
        check(
            &mut p,
            (1..=100).contains(&a.min_replicas) && (1..=100).contains(&a.max_replicas),
            "spec.autoscaling",
            "minReplicas and maxReplicas must be 1 to 100",
        );
        check(
            &mut p,
            a.min_replicas <= a.max_replicas,
            "spec.autoscaling.minReplicas",
            "must not exceed autoscaling.maxReplicas",
        );
    }
    if let Some(i) = &spec.ingress {
        check(
            &mut p,
            i.tls_secret_name.is_none() || i.host.is_some(),
            "spec.ingress.tlsSecretName",
            "needs ingress.host",
        );
        check(
            &mut p,
            i.path.starts_with('/'),
            "spec.ingress.path",
            "must start with /",
        );
    }
    let lt = &spec.load_test;
    check(
        &mut p,
        node_port_ok(lt.node_port),
        "spec.loadTest.nodePort",
        "must be 30000-32767",
    );
    check(
        &mut p,
        (0..=50).contains(&lt.workers),
        "spec.loadTest.workers",
        "must be 0 to 50",
    );
    check(
        &mut p,
        lt.spawn_rate <= lt.users,
        "spec.loadTest.spawnRate",
        "must not exceed loadTest.users",
    );
    let same_port = lt.enabled && lt.node_port.is_some() && lt.node_port == spec.service.node_port;
    check(
        &mut p,
        !same_port,
        "spec.loadTest.nodePort",
        "must differ from service.nodePort",
    );
    p
}

/// Every entry of `names` (at `field`) must be a username, as the server's parser of the same
/// setting requires.
fn check_usernames(problems: &mut Vec<Invalid>, names: &[String], field: &'static str) {
    let bad: Vec<&str> = names
        .iter()
        .filter(|a| !is_username(a))
        .map(String::as_str)
        .collect();
    check(
        problems,
        bad.is_empty(),
        field,
        format!(
            "entries must be usernames of 3 to 32 ASCII letters, digits, '-' or '_' (not {bad:?})"
        ),
    );
}

/// A Secret's name: a DNS subdomain (the CRD's `supportApi.tokenSecret` pattern).
fn is_dns_subdomain(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
}

/// A username as the chat-server's accounts have them: 3 to 32 of ASCII letters, digits, `-`, `_`
/// (the CRD's `chat.admins` and `chat.supportAgents` pattern; the drift tests hold the server to
/// the same rule).
pub fn is_username(s: &str) -> bool {
    (3..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// An http(s) URL with a host, parsed as the chat-server parses `CHATAPP_PUBLIC_URL`.
pub fn is_http_url(s: &str) -> bool {
    url::Url::parse(s.trim())
        .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// An origin (`http(s)://host[:port]`, no path): what `chat.allowedOrigins` may list besides `*`.
pub fn is_origin(s: &str) -> bool {
    is_http_url(s)
        && url::Url::parse(s).is_ok_and(|u| u.path() == "/" && !s.ends_with("//"))
        && !s.contains(['?', '#', '@'])
}

#[cfg(test)]
mod tests;
