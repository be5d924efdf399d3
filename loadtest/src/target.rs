//! Benchmark targets: parsing `--url ws://HOST:PORT/PATH` and the loopback-only rule. Resolution
//! happens once, here, so that opening thousands of connections costs no DNS look-ups.

use std::net::SocketAddr;

use http::Uri;

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
    let uri: Uri = url.parse().map_err(|_| invalid("not a URL"))?;
    match uri.scheme_str() {
        Some("ws") => {}
        Some("wss") => return Err(invalid("wss:// needs TLS, which chat-bench does not speak")),
        _ => return Err(invalid("must start with ws://")),
    }
    let authority = uri
        .authority()
        .filter(|a| !a.host().is_empty() && !a.as_str().contains('@'))
        .ok_or_else(|| invalid("missing host (or has credentials)"))?;
    // `Authority::port_u16` reads a port that is not a number as no port at all: parse it here.
    let port = match authority.as_str()[authority.host().len()..].strip_prefix(':') {
        Some(port) => port.parse().map_err(|_| invalid("bad port"))?,
        None => 80,
    };
    // `Authority::host` keeps the brackets of an IPv6 literal; lookups want it bare.
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
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
mod tests;
