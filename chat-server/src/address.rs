//! Limits per client address, shared by every connection from that address on this replica:
//! open WebSockets, sends and room creation. Without them one address opening 30 connections got
//! 30 times the per-connection limits. The address is the TCP peer, or the header a trusted
//! proxy sets (`--client-address-header`): [`client_ip`] is the one rule, for the WebSocket
//! handshake and the accounts endpoints alike.
//!
//! Memory is bounded: an address is forgotten once it has no connection and its buckets are full
//! again, checked in an amortised sweep.

use std::{
    collections::HashMap,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::{Arc, Mutex},
};

use axum::http::HeaderMap;

use crate::{Config, rate::TokenBucket};

/// The TCP peer of a request, put into its extensions by the accept loop.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PeerAddr(pub(crate) SocketAddr);

/// The client's address: the last entry of `--client-address-header` when configured and
/// present (what the trusted proxy in front saw), else the TCP peer.
pub(crate) fn client_ip(
    headers: &HeaderMap,
    peer: Option<PeerAddr>,
    header: Option<&str>,
) -> IpAddr {
    let from_header = header
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok());
    from_header.unwrap_or_else(|| peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |p| p.0.ip()))
}

/// Addresses kept before the first sweep for idle ones.
const SWEEP_MIN: usize = 4096;
const SECS_PER_HOUR: f64 = 3600.0;

/// What one address has used.
#[derive(Debug)]
struct Usage {
    connections: u32,
    sends: TokenBucket,
    rooms: TokenBucket,
}

/// Every address seen recently, with its usage.
#[derive(Debug)]
pub(crate) struct AddressBook {
    inner: Mutex<Book>,
    max_connections: u32,
    send_rate: f64,
    send_burst: f64,
    rooms_per_hour: f64,
}

#[derive(Debug, Default)]
struct Book {
    usage: HashMap<IpAddr, Usage>,
    sweep_above: usize,
}

/// One open connection of an address; releases its slot when dropped.
#[derive(Debug)]
pub(crate) struct AddressSlot {
    book: Arc<AddressBook>,
    ip: IpAddr,
}

impl AddressBook {
    /// The limits of `config`.
    pub(crate) fn new(config: &Config) -> Self {
        Self {
            inner: Mutex::new(Book {
                usage: HashMap::new(),
                sweep_above: SWEEP_MIN,
            }),
            max_connections: config.max_connections_per_address,
            send_rate: config.address_send_rate,
            send_burst: f64::from(config.address_send_burst),
            rooms_per_hour: f64::from(config.rooms_per_address_per_hour),
        }
    }

    fn fresh(&self) -> Usage {
        Usage {
            connections: 0,
            sends: TokenBucket::new(self.send_rate, self.send_burst),
            rooms: TokenBucket::new(self.rooms_per_hour / SECS_PER_HOUR, self.rooms_per_hour),
        }
    }

    /// A connection slot for `ip`, or `None` when it has `--max-connections-per-address` open.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let mut book = self.inner.lock().unwrap();
        if book.usage.len() > book.sweep_above {
            book.usage
                .retain(|_, u| u.connections > 0 || !(u.sends.is_full() && u.rooms.is_full()));
            book.sweep_above = (book.usage.len() * 2).max(SWEEP_MIN);
        }
        let usage = book.usage.entry(ip).or_insert_with(|| self.fresh());
        if usage.connections >= self.max_connections {
            return None;
        }
        usage.connections += 1;
        Some(AddressSlot {
            book: self.clone(),
            ip,
        })
    }

    fn with<T>(&self, ip: IpAddr, f: impl FnOnce(&mut Usage) -> T) -> T {
        let mut book = self.inner.lock().unwrap();
        let usage = book.usage.entry(ip).or_insert_with(|| self.fresh());
        f(usage)
    }
}

impl AddressSlot {
    /// One send from this address, if its shared budget allows.
    pub(crate) fn take_send(&self) -> bool {
        self.book.with(self.ip, |u| u.sends.take(1.0))
    }

    /// One room creation from this address, if its hourly budget allows.
    pub(crate) fn take_room(&self) -> bool {
        self.book.with(self.ip, |u| u.rooms.take(1.0))
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut book = self.book.inner.lock().unwrap();
        if let Some(u) = book.usage.get_mut(&self.ip) {
            u.connections = u.connections.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn book(flags: &[&str]) -> Arc<AddressBook> {
        let mut argv = vec!["chat-server"];
        argv.extend_from_slice(flags);
        Arc::new(AddressBook::new(&Config::parse_from(argv)))
    }

    #[test]
    fn connections_per_address_are_capped_and_released() {
        let book = book(&["--max-connections-per-address", "2"]);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let a = book.admit(ip).unwrap();
        let _b = book.admit(ip).unwrap();
        assert!(book.admit(ip).is_none(), "third connection refused");
        assert!(
            book.admit("10.0.0.2".parse().unwrap()).is_some(),
            "others unaffected"
        );
        drop(a);
        assert!(
            book.admit(ip).is_some(),
            "a closed connection frees its slot"
        );
    }

    #[test]
    fn sends_and_rooms_share_one_budget_per_address() {
        let book = book(&[
            "--address-send-burst",
            "3",
            "--address-send-rate",
            "0.001",
            "--rooms-per-address-per-hour",
            "2",
        ]);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let (a, b) = (book.admit(ip).unwrap(), book.admit(ip).unwrap());
        assert!(a.take_send() && b.take_send() && a.take_send());
        assert!(
            !b.take_send(),
            "the burst is per address, not per connection"
        );
        assert!(a.take_room() && b.take_room());
        assert!(!a.take_room());
        drop((a, b));
        let again = book.admit(ip).unwrap();
        assert!(!again.take_room(), "reconnecting does not reset the budget");
    }
}
