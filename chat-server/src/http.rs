//! Every HTTP route: the embedded UI with its security headers, the WebSocket handshake (origin,
//! connection limit, draining; the socket itself is `socket.rs`), health, readiness, metrics and
//! the JSON room list.

use std::sync::atomic::Ordering;

use axum::{
    Extension, Json, Router,
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use futures_util::{FutureExt, future::Either};
use hyper_util::rt::TokioIo;
use tungstenite::protocol::WebSocketConfig;

use crate::{
    AppState,
    address::{PeerAddr, client_ip},
    presence,
    session::{Admission, Session},
    socket::{self, Handshake, Socket},
    ui,
};

/// No inline script or style, nothing from elsewhere, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// Initial WebSocket read buffer per connection: tungstenite zero-fills it on every read and
/// keeps it for the connection's life, and clients send small frames (a larger one grows it).
const READ_BUFFER_BYTES: usize = 512;

/// The router with every route.
pub fn app(state: AppState) -> Router {
    ui::routes()
        .merge(crate::accounts::http::routes())
        .route("/ws", get(websocket))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/rooms", get(api_rooms))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

async fn readyz(State(state): State<AppState>) -> Response {
    match (state.not_ready(), state.read_only()) {
        (Some(reason), _) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response()
        }
        (None, Some(reason)) => format!("ready, read-only: {reason}\n").into_response(),
        (None, None) => "ready\n".into_response(),
    }
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn api_rooms(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if state.rooms.lock().unwrap().is_empty() {
        presence::refresh_rooms(&state).await;
    }
    // Private rooms are listed to their participants (and admins): the cookie says who asks.
    let visitor = crate::accounts::http::visitor(&state, &headers).await;
    let viewer = crate::access::Viewer::of(Some(&visitor));
    let (rooms, totals) = presence::snapshot_for(&state, &viewer);
    Json(serde_json::json!({ "rooms": rooms, "totals": totals })).into_response()
}

async fn websocket(
    State(state): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    mut req: Request,
) -> Response {
    let Handshake { response, upgrade } = match socket::handshake(&mut req) {
        Ok(handshake) => handshake,
        Err(refusal) => return refusal,
    };
    let headers = req.headers();
    let refuse = |status: StatusCode, why: &'static str| {
        state.metrics.rejected_connections.inc();
        (status, why).into_response()
    };
    if !state.origins.allows(headers) {
        return refuse(StatusCode::FORBIDDEN, "origin not allowed\n");
    }
    let lifecycle = &state.lifecycle;
    if lifecycle.draining.load(Ordering::Relaxed) || lifecycle.sessions.is_cancelled() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "draining\n");
    }
    // Both travel into the session and are released when it ends.
    let Ok(permit) = state.admission.clone().try_acquire_owned() else {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many connections\n");
    };
    let ip = client_ip(
        headers,
        peer.map(|Extension(p)| p),
        state.config.client_address_header.as_deref(),
    );
    let Some(address) = state.addresses.admit(ip) else {
        return refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many connections from your address\n",
        );
    };
    let admission = Admission {
        _permit: permit,
        address,
    };
    let visitor = crate::accounts::http::visitor(&state, headers).await;
    let max = Some(state.limits.max_frame_bytes);
    // A small read buffer: tungstenite's 128 KiB default is allocated and zeroed per connection
    // (136 KiB of RSS each); it grows on demand for larger frames (docs/benchmarks.md, "B").
    let config = WebSocketConfig::default()
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES);
    let tracker = lifecycle.tracker.clone();
    let serve = move |socket: Socket| {
        let session = Session::new(state, admission, visitor);
        tracker.track_future(session.run(socket))
    };
    // Combinators rather than an `async` block: a block would keep the socket and the session
    // it moved into `run` beside `run`'s own, a second copy of both in every connection's task
    // (docs/benchmarks.md, "Memory per connection"); each step here replaces the one before.
    tokio::spawn(upgrade.then(move |upgraded| match upgraded {
        Ok(io) => Either::Left(Socket::new(TokioIo::new(io), config).then(serve)),
        Err(e) => {
            tracing::debug!(error = %e, "websocket upgrade failed");
            Either::Right(std::future::ready(()))
        }
    }));
    response
}
