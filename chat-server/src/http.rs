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
use url::{Host, Url};

use crate::{
    AppState, Config, presence,
    session::{Admission, Session},
    ui,
};

/// No inline script or style, nothing from elsewhere, never framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// Initial WebSocket read buffer per connection: tungstenite zero-fills it on every read and
/// keeps it for the connection's life, and clients send small frames (a larger one grows it).
const READ_BUFFER_BYTES: usize = 1024;

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
    if !state.origins.allows(&headers) {
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
            // Split here rather than in an `async` block: a block would keep the socket and the
            // session it moved into `run` as well, a second copy of both in every connection's
            // task (docs/benchmarks.md, "Memory per connection").
            let (sink, stream) = socket.split();
            tracker.track_future(session.run(sink, stream, shutdown))
        })
}

/// Which browser pages may open `/ws`, judged by the `Origin` of the handshake (browsers always
/// send it and scripts cannot forge it; other clients may omit it and are let in). Origins are
/// compared in their serialised form: scheme, host and port must all match.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    /// `--allowed-origins` and the origin of `--public-url`.
    allowed: Vec<String>,
    /// `--allowed-origins` holds `*`.
    any: bool,
    /// Without `--public-url` the server does not know the URL people open, so it recognises its
    /// own pages by the `Host` header, but only where DNS rebinding cannot fake that: loopback
    /// hosts and the listen address.
    by_host: bool,
    /// The address given to `--listen`, unless it is unspecified (`0.0.0.0`).
    listen_ip: Option<IpAddr>,
}

impl OriginPolicy {
    /// The policy the flags ask for.
    pub fn from_config(config: &Config) -> Self {
        let mut allowed = config.origin_allowlist();
        let any = allowed.iter().any(|o| o == "*");
        allowed.retain(|o| o != "*");
        if let Some(url) = &config.public_url {
            allowed.push(url.origin().ascii_serialization());
        }
        let ip = config.listen.ip();
        let policy = Self {
            allowed,
            any,
            by_host: config.public_url.is_none(),
            listen_ip: (!ip.is_unspecified()).then_some(ip),
        };
        if policy.by_host && policy.allowed.is_empty() && !any && !ip.is_loopback() {
            tracing::warn!(
                "no CHATAPP_PUBLIC_URL: browsers may open /ws only from loopback pages and from \
                 http://{ip}:<port>; set it to the URL people open"
            );
        }
        policy
    }

    /// Whether a handshake with these headers may open a WebSocket.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        if self.any {
            return true;
        }
        let Some(origin) = origin
            .to_str()
            .ok()
            .and_then(|o| Url::parse(o).ok())
            .filter(|u| matches!(u.scheme(), "http" | "https"))
        else {
            return false; // `null` (sandboxed pages, file://) and anything unreadable
        };
        self.allowed
            .contains(&origin.origin().ascii_serialization())
            || (self.by_host && self.is_own_page(&origin, headers))
    }

    /// The page came from this server: plain HTTP (all it speaks), the host and port the browser
    /// connected to, and a host that only this machine can answer for.
    fn is_own_page(&self, origin: &Url, headers: &HeaderMap) -> bool {
        let page = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.contains(['@', '/', '\\', '?', '#']))
            .and_then(|h| Url::parse(&format!("http://{h}")).ok());
        let Some(page) = page else {
            return false;
        };
        let own = match origin.host() {
            Some(Host::Domain(name)) => name == "localhost",
            Some(Host::Ipv4(ip)) => ip.is_loopback() || self.listen_ip == Some(ip.into()),
            Some(Host::Ipv6(ip)) => ip.is_loopback() || self.listen_ip == Some(ip.into()),
            None => false,
        };
        own && origin.scheme() == "http"
            && page.host() == origin.host()
            && page.port() == origin.port()
    }
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

    fn policy(flags: &[&str]) -> OriginPolicy {
        let argv = ["chat-server"].iter().chain(flags);
        OriginPolicy::from_config(&<Config as clap::Parser>::try_parse_from(argv).unwrap())
    }

    #[test]
    fn without_configuration_only_loopback_and_listen_address_pages_are_own() {
        let p = policy(&[]);
        for (origin, host) in [
            ("http://127.0.0.1:8080", "127.0.0.1:8080"),
            ("http://localhost:8080", "localhost:8080"),
            ("http://LOCALHOST:8080", "localhost:8080"),
            ("http://[::1]:9000", "[::1]:9000"),
            ("http://127.0.0.2", "127.0.0.2:80"),
        ] {
            assert!(p.allows(&headers(Some(origin), host)), "{origin} {host}");
        }
        for (origin, host) in [
            ("http://evil.example", "evil.example"),
            ("http://chat.local:8080", "chat.local:8080"),
            ("https://localhost:8080", "localhost:8080"),
            ("http://localhost:8081", "localhost:8080"),
            ("http://127.0.0.1:8080", "localhost:8080"),
            ("http://localhost:8080", "evil@localhost:8080"),
            ("http://10.0.0.5:8080", "10.0.0.5:8080"),
            ("null", "localhost:8080"),
            ("ws://localhost:8080", "localhost:8080"),
        ] {
            assert!(!p.allows(&headers(Some(origin), host)), "{origin} {host}");
        }
        assert!(
            p.allows(&headers(None, "chat.local:8080")),
            "non-browser client"
        );
        let p = policy(&["--listen", "10.0.0.5:8080"]);
        assert!(p.allows(&headers(Some("http://10.0.0.5:8080"), "10.0.0.5:8080")));
        assert!(!p.allows(&headers(Some("http://10.0.0.6:8080"), "10.0.0.6:8080")));
    }

    #[test]
    fn the_public_url_and_the_allowlist_are_the_origins_when_given() {
        let p = policy(&["--public-url", "https://chat.example.com/"]);
        assert!(p.allows(&headers(Some("https://Chat.Example.com"), "x:1")));
        assert!(p.allows(&headers(Some("https://chat.example.com:443"), "x:1")));
        assert!(!p.allows(&headers(Some("http://chat.example.com"), "x:1")));
        assert!(!p.allows(&headers(Some("http://localhost:1"), "localhost:1")));
        let list = policy(&["--allowed-origins", "https://chat.example.com"]);
        assert!(list.allows(&headers(Some("https://chat.example.com"), "x:1")));
        assert!(!list.allows(&headers(Some("http://x:1"), "x:1")));
        assert!(
            list.allows(&headers(Some("http://localhost:1"), "localhost:1")),
            "the server's own page still works"
        );
        assert!(policy(&["--allowed-origins", "*"]).allows(&headers(Some("null"), "x:1")));
    }
}
