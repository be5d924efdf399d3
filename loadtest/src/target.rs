//! Benchmark targets: parsing `--url ws://HOST:PORT/PATH` and the loopback-only rule. Resolution
//! happens once, here, so that opening thousands of connections costs no DNS look-ups.

use std::net::SocketAddr;

use crate::error::{Error, Result};

/// One server endpoint to load, resolved to a loopback socket address.
#[derive(Debug, Clone)]
pub struct Target {
    /// The URL as given, used for the WebSocket handshake request.
    pub url: String,
    /// Where to open TCP connections.
    pub addr: SocketAddr,
}

/// Splits `ws://host[:port][/path]` into host and port; `wss` is refused (no TLS client here).
pub fn host_port(url: &str) -> Result<(String, u16)> {
    let invalid = |reason| Error::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| invalid("must start with ws://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid("missing host (or has credentials)"));
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, tail) = v6
            .split_once(']')
            .ok_or_else(|| invalid("unclosed [ in host"))?;
        (host, tail.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| invalid("bad port"))?,
        None => 80,
    };
    Ok((host.to_owned(), port))
}

/// Parses and resolves `url`; every address it resolves to must be loopback.
pub async fn resolve(url: &str) -> Result<Target> {
    let (host, port) = host_port(url)?;
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|source| Error::Resolve {
            url: url.to_owned(),
            source,
        })?
        .collect();
    let first = *addrs.first().ok_or_else(|| Error::Resolve {
        url: url.to_owned(),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
    })?;
    if let Some(bad) = addrs.iter().find(|a| !a.ip().is_loopback()) {
        return Err(Error::NotLoopback {
            url: url.to_owned(),
            addr: bad.ip(),
        });
    }
    Ok(Target {
        url: url.to_owned(),
        addr: first,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_host_and_port() {
        assert_eq!(
            host_port("ws://127.0.0.1:8080/ws").unwrap(),
            ("127.0.0.1".into(), 8080)
        );
        assert_eq!(
            host_port("ws://localhost/ws").unwrap(),
            ("localhost".into(), 80)
        );
        assert_eq!(host_port("ws://[::1]:9/ws").unwrap(), ("::1".into(), 9));
        assert!(host_port("http://127.0.0.1:8080/ws").is_err());
        assert!(host_port("wss://127.0.0.1/ws").is_err());
        assert!(host_port("ws://u:p@127.0.0.1/ws").is_err());
        assert!(host_port("ws://127.0.0.1:x/ws").is_err());
    }

    #[tokio::test]
    async fn accepts_loopback_refuses_others() {
        assert!(resolve("ws://127.0.0.1:1/ws").await.is_ok());
        assert!(resolve("ws://127.3.4.5:1/ws").await.is_ok());
        assert!(resolve("ws://[::1]:1/ws").await.is_ok());
        let err = resolve("ws://10.0.0.1:80/ws").await.unwrap_err();
        assert!(matches!(err, Error::NotLoopback { .. }), "{err}");
        let err = resolve("ws://[2001:db8::1]:80/ws").await.unwrap_err();
        assert!(matches!(err, Error::NotLoopback { .. }), "{err}");
    }
}
