//! Local source addresses for client sockets (`--source-addrs 127.0.0.2-127.0.0.9`). One source
//! address and one server port give at most one connection per ephemeral port (about 28,000 with
//! Linux's default `ip_local_port_range`); spreading the sockets of a 100,000-connection run over
//! several loopback addresses lifts that ceiling. Parsing is a plain function, tested here.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};

/// Most addresses one `--source-addrs` may name (a bound on the list kept in memory).
pub const MAX_SOURCE_ADDRS: usize = 256;

/// Loopback source addresses, used round robin by client index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAddrs(Vec<Ipv4Addr>);

impl SourceAddrs {
    /// Parses a comma-separated list of IPv4 loopback addresses and inclusive ranges `A-B`,
    /// e.g. `127.0.0.2-127.0.0.9` or `127.0.0.2,127.0.1.1-127.0.1.3`. Addresses outside
    /// 127.0.0.0/8, reversed ranges and lists over [`MAX_SOURCE_ADDRS`] are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut addrs = Vec::new();
        for part in text.split(',').map(str::trim) {
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (addr(a)?, addr(b)?),
                None => (addr(part)?, addr(part)?),
            };
            let (lo, hi) = (u32::from(first), u32::from(last));
            if lo > hi {
                return Err(format!("range {part:?} runs backwards"));
            }
            if (hi - lo) as usize >= MAX_SOURCE_ADDRS - addrs.len().min(MAX_SOURCE_ADDRS) {
                return Err(format!("more than {MAX_SOURCE_ADDRS} source addresses"));
            }
            addrs.extend((lo..=hi).map(Ipv4Addr::from));
        }
        Ok(Self(addrs))
    }

    /// The address of client `id` (round robin), or `None` when no list was given.
    pub fn pick(&self, id: usize) -> Option<Ipv4Addr> {
        (!self.0.is_empty()).then(|| self.0[id % self.0.len()])
    }

    /// The addresses, in order.
    pub fn addrs(&self) -> &[Ipv4Addr] {
        &self.0
    }
}

fn addr(text: &str) -> Result<Ipv4Addr, String> {
    let ip: Ipv4Addr = text
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not an IPv4 address"))?;
    if !ip.is_loopback() {
        return Err(format!("{ip} is not a loopback address (127.0.0.0/8)"));
    }
    Ok(ip)
}

/// Opens a TCP connection to `to`, from `from` when given (bound before connecting, the port
/// left to the kernel). No `IP_BIND_ADDRESS_NO_PORT` here: setting it needs `unsafe` (the
/// workspace forbids it) or a crate that wraps it; without it, each source address has its own
/// ephemeral port range, which is what the address spread is for.
pub async fn connect(from: Option<Ipv4Addr>, to: SocketAddr) -> std::io::Result<TcpStream> {
    let Some(from) = from else {
        return TcpStream::connect(to).await;
    };
    let socket = match to {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "--source-addrs are IPv4: use an IPv4 --url",
            ));
        }
    };
    socket.bind(SocketAddr::new(IpAddr::V4(from), 0))?;
    socket.connect(to).await
}

#[cfg(test)]
mod tests;
