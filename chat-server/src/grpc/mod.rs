//! The support desk's server-to-server API (docs/support-api.md): the gRPC service
//! `chatapp.support.v1.SupportDesk` of `proto/chatapp/support/v1/support.proto`, served on
//! `--grpc-listen` beside the HTTP port, so another platform can open a support conversation for
//! its client and stream the agents' replies. It holds no chat logic: each call runs an in-process
//! [`Session`](crate::session::Session) as the client `ext:<client_id>` (`bridge`), so
//! conversations, limits and delivery are those of the WebSocket protocol.
//!
//! - `auth` the bearer token (`CHATAPP_SUPPORT_API_TOKEN`), checked on every call;
//! - `client` the platform client's id rule and identity;
//! - `bridge` the session a call runs, and how its error frames become statuses;
//! - `events` server frames as API messages (pure); `stream` the `Stream` call;
//! - `service` the calls.

mod auth;
mod bridge;
mod client;
mod events;
mod service;
mod stream;

use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{service::interceptor::InterceptedService, transport::Server};

pub use self::auth::{ApiToken, TOKEN_ENV, TokenError};
use crate::{AppState, limits::MAX_SUPPORT_API_MESSAGE_BYTES, metrics::ApiCallLabel};

/// The code generated from the `.proto` (build.rs): messages, the server and a client.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("chatapp.support.v1");
}

/// Longest time a unary call may take (a `Stream`'s events are not bounded by it).
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Calls in flight on one HTTP/2 connection; a platform opens more connections for more.
const CALLS_PER_CONNECTION: usize = 256;
/// HTTP/2 pings on idle connections, so a dead peer's streams end.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Serve the support API on `listener` until the server shuts down: it stops with the
/// WebSockets (the same `Lifecycle` step), and each open `Stream` ends with `UNAVAILABLE`.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    token: ApiToken,
) -> Result<(), tonic::transport::Error> {
    let desk = proto::support_desk_server::SupportDeskServer::new(service::SupportDesk::new(
        state.clone(),
    ))
    .max_decoding_message_size(MAX_SUPPORT_API_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_SUPPORT_API_MESSAGE_BYTES);
    let metrics = state.metrics.clone();
    let desk = InterceptedService::new(desk, move |request| {
        let checked = token.check(request);
        if checked.is_err() {
            let label = ApiCallLabel {
                call: "-",
                code: "Unauthenticated".into(),
            };
            metrics.support_api_calls.get_or_create(&label).inc();
        }
        checked
    });
    let stop = state.lifecycle.sessions.clone();
    Server::builder()
        .timeout(CALL_TIMEOUT)
        .concurrency_limit_per_connection(CALLS_PER_CONNECTION)
        .http2_keepalive_interval(Some(KEEPALIVE))
        .add_service(desk)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), stop.cancelled_owned())
        .await
}

#[cfg(test)]
mod tests;
