//! `--source-addrs` parsing and the round robin.

use super::*;

fn ips(s: &SourceAddrs) -> Vec<String> {
    s.addrs().iter().map(ToString::to_string).collect()
}

#[test]
fn a_range_is_inclusive_and_picked_round_robin() {
    let s = SourceAddrs::parse("127.0.0.2-127.0.0.9").unwrap();
    assert_eq!(s.addrs().len(), 8, "{s:?}");
    assert_eq!(ips(&s)[0], "127.0.0.2");
    assert_eq!(ips(&s)[7], "127.0.0.9");
    assert_eq!(s.pick(0), Some(Ipv4Addr::new(127, 0, 0, 2)));
    assert_eq!(s.pick(9), Some(Ipv4Addr::new(127, 0, 0, 3)));
}

#[test]
fn lists_single_addresses_and_ranges_across_octets() {
    let s = SourceAddrs::parse("127.0.0.5, 127.0.0.255-127.0.1.1").unwrap();
    assert_eq!(
        ips(&s),
        ["127.0.0.5", "127.0.0.255", "127.0.1.0", "127.0.1.1"]
    );
}

#[test]
fn no_list_picks_nothing() {
    assert_eq!(SourceAddrs::default().pick(3), None);
}

#[test]
fn refuses_bad_input_with_a_reason() {
    for (text, why) in [
        ("127.0.0.9-127.0.0.2", "backwards"),
        ("10.0.0.1", "not a loopback"),
        ("127.0.0.1-10.0.0.1", "not a loopback"),
        ("localhost", "not an IPv4"),
        ("::1", "not an IPv4"),
        ("", "not an IPv4"),
        ("127.0.0.1-127.0.1.1", "more than 256"),
        ("127.0.0.1-127.255.255.255", "more than 256"),
    ] {
        let err = SourceAddrs::parse(text).unwrap_err();
        assert!(err.contains(why), "{text:?}: {err}");
    }
    // Exactly the cap is fine; one more over two parts is not.
    assert_eq!(
        SourceAddrs::parse("127.0.0.0-127.0.0.255")
            .unwrap()
            .addrs()
            .len(),
        256
    );
    let err = SourceAddrs::parse("127.0.0.0-127.0.0.254,127.0.1.0-127.0.1.1").unwrap_err();
    assert!(err.contains("more than 256"), "{err}");
}

#[tokio::test]
async fn a_socket_connects_from_the_source_address() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let to = listener.local_addr().unwrap();
    let from = Ipv4Addr::new(127, 0, 0, 7);
    let (client, accepted) = tokio::join!(connect(Some(from), to), listener.accept());
    assert_eq!(client.unwrap().local_addr().unwrap().ip(), IpAddr::V4(from));
    assert_eq!(accepted.unwrap().1.ip(), IpAddr::V4(from));
}
