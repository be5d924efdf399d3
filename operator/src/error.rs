//! The operator's one error type. `anyhow` is for `main.rs` only.

/// Everything that can make a reconcile (or the operator's start) fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Server-side apply of a child was refused or failed.
    #[error("applying {kind} {name}: {source}")]
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
    #[error("deleting {kind} {name}: {source}")]
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
    #[error("patching status: {0}")]
    PatchStatus(#[source] kube::Error),
    /// Listing the chat's pods (to explain why they are not ready) failed.
    #[error("listing pods: {0}")]
    ListPods(#[source] kube::Error),
    /// The ChatApp came without a namespace (it is a namespaced resource).
    #[error("ChatApp has no namespace")]
    MissingNamespace,
    /// This replica stopped holding the leader Lease while reconciling (another may lead now).
    #[error("lost the leader lease; exiting so that only the new leader reconciles")]
    LostLease,
    /// The health/metrics listener failed.
    #[error("serving health and metrics: {0}")]
    Serve(#[source] std::io::Error),
}

impl Error {
    /// Short label for the failures metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Apply { .. } => "apply",
            Self::Delete { .. } => "delete",
            Self::PatchStatus(_) => "status",
            Self::ListPods(_) => "pods",
            Self::MissingNamespace => "namespace",
            Self::LostLease => "lease",
            Self::Serve(_) => "serve",
        }
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
