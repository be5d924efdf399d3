//! `ws://` URL parsing and the loopback-only rule.

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
    assert!(host_port("ws://127.0.0.1:70000/ws").is_err());
    assert!(host_port("ws:///ws").is_err());
    assert!(host_port("127.0.0.1:8080").is_err());
    assert_eq!(
        host_port("ws://127.0.0.1:8080?room=a").unwrap(),
        ("127.0.0.1".into(), 8080)
    );
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
