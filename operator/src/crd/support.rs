//! `spec.supportApi`: the support desk's server-to-server gRPC API (docs/protocol.md), its port
//! and the Secret its bearer token comes from. The agents and guest support are chat settings
//! (`spec.chat.supportAgents`, `spec.chat.guestSupport`), since the server reads them as flags.

use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Port of the support API when `spec.supportApi.port` is not given.
pub const DEFAULT_SUPPORT_API_PORT: i32 = 50051;
/// Key of the support API's token in its Secret (the given one or the operator's).
pub const SUPPORT_API_TOKEN_KEY: &str = "token";

/// The support desk's gRPC API for other platforms: a ClusterIP Service NAME-support-api in front
/// of every chat-server's gRPC port, authenticated by a bearer token from a Secret.
#[derive(KubeSchema, Deserialize, Serialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.port != 8080")
    .message("supportApi.port must differ from the chat port 8080")
    .field_path(".port"))]
pub struct SupportApiSpec {
    /// Serve the gRPC support API (CHATAPP_GRPC_LISTEN=0.0.0.0:port) and its Service. false (the
    /// default): no gRPC listener, no Service.
    #[serde(default)]
    pub enabled: bool,

    /// Port of the gRPC API in the chat pods (container port grpc) and on the Service NAME-support-api;
    /// 1024 to 65535 (the chat-server runs without privileges) and not the chat port 8080.
    #[serde(default = "d_port")]
    #[schemars(range(min = 1024, max = 65_535))]
    pub port: i32,

    /// Name of an existing Secret in the ChatApp's namespace whose key `token` (at least 32
    /// characters) is the API's bearer token (CHATAPP_SUPPORT_API_TOKEN). Unset: the operator
    /// creates the Secret NAME-support-api with a random 256-bit token once and never changes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub token_secret: Option<String>,
}

impl Default for SupportApiSpec {
    fn default() -> Self {
        Self {
            enabled: false,
            port: DEFAULT_SUPPORT_API_PORT,
            token_secret: None,
        }
    }
}

fn d_port() -> i32 {
    DEFAULT_SUPPORT_API_PORT
}
