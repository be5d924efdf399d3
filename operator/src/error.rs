//! The operator's one error type. `anyhow` is for `main.rs` only.
//!
//! Each message says what the operator was doing; the cause is the `#[source]`, not repeated in
//! the text. [`Error::detail`] joins the two for people (events, conditions, logs).

use std::error::Error as _;

/// Everything that can make a reconcile (or the operator's start) fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Server-side apply of a child was refused or failed.
    #[error("applying {kind} {name}")]
    Apply {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// What the API server said.
        #[source]
        source: kube::Error,
    },
    /// Deleting a child that is no longer wanted failed.
    #[error("deleting {kind} {name}")]
    Delete {
        /// Kind of the child.
        kind: &'static str,
        /// Name of the child.
        name: String,
        /// What the API server said.
        #[source]
        source: kube::Error,
    },
    /// Writing the ChatApp's status failed.
    #[error("patching status")]
    PatchStatus(#[source] kube::Error),
    /// Listing children (to explain why the chat is not ready) failed.
    #[error("listing {kind}")]
    List {
        /// The kind listed, plural.
        kind: &'static str,
        /// What the API server said.
        #[source]
        source: kube::Error,
    },
    /// Reading the Secret named by `spec.redis.external` failed (other than it not existing).
    #[error("reading Secret {name}")]
    ReadSecret {
        /// Name of the Secret.
        name: String,
        /// What the API server said.
        #[source]
        source: kube::Error,
    },
    /// Discovery of the optional APIs (custom metrics, the Prometheus Operator's) failed.
    #[error("discovering the API groups")]
    Discover(#[source] kube::Error),
    /// Finding where the managed database's data can live failed: reading its StatefulSet, or the
    /// dry-run claim that asks whether the cluster has a default StorageClass.
    #[error("finding where the managed database's data can live")]
    Storage(#[source] kube::Error),
    /// The ChatApp came without a namespace (it is a namespaced resource).
    #[error("ChatApp has no namespace")]
    MissingNamespace,
    /// The ChatApp came without a uid, so it cannot own children (they would never be collected).
    #[error("ChatApp has no uid, so it cannot own children")]
    MissingUid,
    /// The health/metrics listener failed.
    #[error("serving health and metrics")]
    Serve(#[source] std::io::Error),
}

impl Error {
    /// Short label for the failures metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Apply { .. } => "apply",
            Self::Delete { .. } => "delete",
            Self::PatchStatus(_) => "status",
            Self::List { .. } => "list",
            Self::ReadSecret { .. } => "secret",
            Self::Discover(_) => "discover",
            Self::Storage(_) => "storage",
            Self::MissingNamespace => "namespace",
            Self::MissingUid => "uid",
            Self::Serve(_) => "serve",
        }
    }

    /// This error and its cause, joined with `: `: the whole story for a person. An API server's
    /// answer is told by its code, reason and message (kube's own text repeats it as debug output).
    pub fn detail(&self) -> String {
        if let Some(status) = self.api_status() {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" {}", status.reason)
            };
            return format!(
                "{self}: the API server answered {}{reason}: {}",
                status.code, status.message
            );
        }
        let mut out = self.to_string();
        let mut source = self.source();
        while let Some(cause) = source {
            out.push_str(": ");
            out.push_str(&cause.to_string());
            source = cause.source();
        }
        out
    }

    /// What the API server said about a failed call, when it answered with a status.
    pub fn api_status(&self) -> Option<&kube::core::Status> {
        match self {
            Self::Apply { source, .. }
            | Self::Delete { source, .. }
            | Self::PatchStatus(source)
            | Self::List { source, .. }
            | Self::ReadSecret { source, .. }
            | Self::Discover(source)
            | Self::Storage(source) => match source {
                kube::Error::Api(status) => Some(status.as_ref()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether the API server refused a Service because its node port belongs to another one:
    /// retried on a short schedule, since it frees as soon as that Service goes.
    pub fn node_port_taken(&self) -> bool {
        matches!(
            self,
            Self::Apply { kind: "Service", source: kube::Error::Api(status), .. }
                if status.code == 422 && status.message.contains("port is already allocated")
        )
    }

    /// The API server's refusal of a child as invalid (HTTP 422 or 400), e.g. a NodePort that is
    /// already allocated: a problem the user must fix, shown in status.
    pub fn rejection(&self) -> Option<String> {
        match self {
            Self::Apply {
                source: kube::Error::Api(status),
                ..
            } if status.code == 422 || status.code == 400 => Some(status.message.clone()),
            _ => None,
        }
    }
}

/// Result with the operator's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
