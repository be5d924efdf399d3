//! Which browser pages may open `/ws`: the `Origin` check of the WebSocket handshake, built from
//! `--public-url` and `--allowed-origins`. `http` asks it; it knows nothing of requests beyond
//! their headers.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};
use url::{Host, Url};

use crate::Config;

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
