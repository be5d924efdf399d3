//! Every HTTP route: the embedded UI with its security headers, the WebSocket handshake (origin,
//! connection limit, draining), health, readiness, metrics and the JSON room list.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::atomic::Ordering,
};

use axum::{
    Extension, Json, Router,
    extract::{State, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use futures_util::StreamExt;

use crate::{
    AppState, presence,
    session::{Admission, Session},
};

const INDEX_HTML: &str = include_str!("../ui/index.html");
const APP_JS: &str = include_str!("../ui/app.js");
const APP_CSS: &str = include_str!("../ui/app.css");
const FAVICON_SVG: &str = include_str!("../ui/favicon.svg");

/// No inline script or style, nothing from elsewhere, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// Initial WebSocket read buffer per connection.
const READ_BUFFER_BYTES: usize = 4096;

/// The router with every route.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/app.css",
            get(|| async { asset(APP_CSS, "text/css; charset=utf-8") }),
        )
        .route(
            "/favicon.svg",
            get(|| async { asset(FAVICON_SVG, "image/svg+xml") }),
        )
        .route("/ws", get(websocket))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route("/api/rooms", get(api_rooms))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(state)
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
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

async fn api_rooms(State(state): State<AppState>) -> Response {
    if state.rooms.lock().unwrap().is_empty() {
        presence::refresh_rooms(&state).await;
    }
    Json(serde_json::json!({ "rooms": presence::snapshot(&state) })).into_response()
}

/// The TCP peer of a request, put into its extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// The client's address: the last entry of `--client-address-header` when configured and
/// present (what the trusted proxy in front saw), else the TCP peer.
fn client_ip(headers: &HeaderMap, peer: Option<PeerAddr>, header: Option<&str>) -> IpAddr {
    let from_header = header
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok());
    from_header.unwrap_or_else(|| peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip()))
}

async fn websocket(
    State(state): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let refuse = |status: StatusCode, why: &'static str| {
        state.metrics.rejected_connections.inc();
        (status, why).into_response()
    };
    if !origin_allowed(&headers, &state.origins) {
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
        &headers,
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
    let max = state.limits.max_frame_bytes;
    let tracker = lifecycle.tracker.clone();
    // A small read buffer: tungstenite's 128 KiB default is allocated and zeroed per connection
    // (136 KiB of RSS each); it grows on demand for larger frames (docs/benchmarks.md, "B").
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let shutdown = state.lifecycle.sessions.clone();
            let session = Session::new(state, admission);
            tracker.track_future(async move {
                let (sink, stream) = socket.split();
                session.run(sink, stream, shutdown).await;
            })
        })
}

/// Browsers always send `Origin` on a WebSocket handshake; other clients may not, and are let in.
/// With an empty allowlist only the page's own origin (scheme-less `Host` match) is accepted.
pub fn origin_allowed(headers: &HeaderMap, allowlist: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if allowlist.iter().any(|a| a == "*" || *a == origin) {
        return true;
    }
    if !allowlist.is_empty() {
        return false;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    matches!((host, origin_host), (Some(h), Some(o)) if h == o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, host.parse().unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, o.parse().unwrap());
        }
        h
    }

    #[test]
    fn same_origin_by_default_and_allowlist_when_given() {
        let none: Vec<String> = vec![];
        assert!(origin_allowed(
            &headers(Some("http://chat.local:8080"), "chat.local:8080"),
            &none
        ));
        assert!(!origin_allowed(
            &headers(Some("http://evil.example"), "chat.local:8080"),
            &none
        ));
        assert!(!origin_allowed(
            &headers(Some("null"), "chat.local:8080"),
            &none
        ));
        assert!(
            origin_allowed(&headers(None, "chat.local:8080"), &none),
            "non-browser client"
        );
        let list = vec!["https://chat.example.com".to_owned()];
        assert!(origin_allowed(
            &headers(Some("https://Chat.Example.com"), "x:1"),
            &list
        ));
        assert!(!origin_allowed(&headers(Some("http://x:1"), "x:1"), &list));
        assert!(origin_allowed(
            &headers(Some("http://any"), "x:1"),
            &["*".to_owned()]
        ));
    }
}
