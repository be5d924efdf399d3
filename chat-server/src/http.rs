//! Every HTTP route: the embedded UI with its security headers, the WebSocket handshake (origin,
//! connection limit, draining), health, readiness, metrics and the JSON room list.

use std::sync::atomic::Ordering;

use axum::{
    Json, Router,
    extract::{State, WebSocketUpgrade},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use futures_util::StreamExt;

use crate::{AppState, metrics, presence, session::Session, ui};

/// No inline script or style, nothing from elsewhere, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// Initial WebSocket read buffer per connection.
const READ_BUFFER_BYTES: usize = 4096;

/// The router with every route.
pub fn app(state: AppState) -> Router {
    ui::routes()
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
    if state.draining.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n").into_response()
    } else if !state.store_ok.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "store unreachable\n").into_response()
    } else {
        "ready\n".into_response()
    }
}

async fn metrics_text() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics::global().render(),
    )
        .into_response()
}

async fn api_rooms(State(state): State<AppState>) -> Response {
    if state.rooms.lock().unwrap().is_empty() {
        presence::refresh_rooms(&state).await;
    }
    Json(serde_json::json!({ "rooms": presence::snapshot(&state) })).into_response()
}

async fn websocket(
    State(state): State<AppState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let refuse = |status: StatusCode, why: &'static str| {
        metrics::global().rejected_connections.inc();
        (status, why).into_response()
    };
    if !origin_allowed(&headers, &state.origins) {
        return refuse(StatusCode::FORBIDDEN, "origin not allowed\n");
    }
    if state.draining.load(Ordering::Relaxed) || state.sessions.is_cancelled() {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "draining\n");
    }
    let open = metrics::global().connections.get();
    if open >= i64::from(state.config.max_connections) {
        return refuse(StatusCode::SERVICE_UNAVAILABLE, "too many connections\n");
    }
    let max = state.config.max_frame_bytes as usize;
    let tracker = state.tracker.clone();
    // A small read buffer: tungstenite's 128 KiB default is allocated and zeroed per connection
    // (136 KiB of RSS each); it grows on demand for larger frames (docs/benchmarks.md, "B").
    ws.max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(READ_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let shutdown = state.sessions.clone();
            let session = Session::new(state);
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
