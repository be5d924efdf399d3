//! Shared test plumbing: real chat-servers started in-process on `127.0.0.1:0` through the
//! library entry (`chat_server::build_state` + `serve`), and a Redis for the replica tests.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chat_server::Config;
use clap::Parser;
use tokio::sync::oneshot;

/// A chat-server serving on loopback until dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
}

impl TestServer {
    /// `ws://ADDR/ws`.
    pub fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// `http://ADDR` (Locust's --host).
    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts a chat-server with `extra` flags, on `127.0.0.1:0` and with generous send limits (a
/// benchmark's senders are faster than a person) unless `extra` sets those flags itself.
pub async fn start_server(extra: &[&str]) -> TestServer {
    const DEFAULTS: [(&str, &str); 12] = [
        ("--listen", "127.0.0.1:0"),
        // The load generator's clients are anonymous: they post as guests.
        ("--guest-posting", "true"),
        ("--send-rate", "100000"),
        ("--send-burst", "100000"),
        // Every client of a benchmark comes from one loopback address.
        ("--address-send-rate", "100000"),
        ("--address-send-burst", "100000"),
        ("--max-connections-per-address", "100000"),
        ("--rooms-per-address-per-hour", "1000000"),
        ("--request-rate", "100000"),
        ("--request-burst", "100000"),
        ("--reply-bytes-per-sec", "1073741824"),
        ("--shutdown-grace-secs", "1"),
    ];
    let mut argv = vec!["chat-server"];
    for (flag, value) in DEFAULTS {
        if !extra.contains(&flag) {
            argv.extend([flag, value]);
        }
    }
    argv.extend_from_slice(extra);
    // try_parse + panic, not parse: clap's exit would skip the drops that stop a test's Redis.
    let config =
        Config::try_parse_from(&argv).unwrap_or_else(|e| panic!("chat-server flags {argv:?}: {e}"));
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().unwrap();
    let state = chat_server::build_state(config)
        .await
        .expect("server state");
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = chat_server::serve(listener, state, async move {
            let _ = stopped.await;
        })
        .await;
    });
    TestServer {
        addr,
        stop: Some(stop),
    }
}

/// A Redis for the tests: `CHATAPP_TEST_REDIS_URL` when scripts/test.sh provides one, else a
/// `redis-server` of our own on a free port, stopped on drop.
pub struct TestRedis {
    pub url: String,
    child: Option<Child>,
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub fn redis() -> TestRedis {
    if let Ok(url) = std::env::var("CHATAPP_TEST_REDIS_URL") {
        return TestRedis { url, child: None };
    }
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (scripts/test.sh installs it)");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    TestRedis {
        url: format!("redis://127.0.0.1:{port}"),
        child: Some(child),
    }
}

/// A key prefix no other test (or earlier run on a shared Redis) uses.
pub fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    format!(
        "bench-{name}-{}-{}",
        std::process::id(),
        nanos.subsec_nanos()
    )
}
