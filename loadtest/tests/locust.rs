//! The Locust user (loadtest/locustfile.py) headless for a few seconds against a real local
//! chat-server: it must connect, send, get acks and receive its own messages, without failures,
//! as a guest where guests may post and with an account of its own where they only read.
//!
//! Locust comes from `CHATAPP_LOCUST` (scripts/test.sh installs it in a venv and sets it), else
//! from `locust` on PATH; when neither exists the test fails and says how to get it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{TestServer, start_server};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

fn locust() -> PathBuf {
    if let Some(path) = std::env::var_os("CHATAPP_LOCUST") {
        return PathBuf::from(path);
    }
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join("locust"))
                .find(|p| p.is_file())
        })
        .unwrap_or_else(|| {
            panic!(
                "Locust not found: set CHATAPP_LOCUST or put `locust` on PATH; scripts/test.sh \
                 installs it (with websocket-client) into target/venv and sets CHATAPP_LOCUST"
            )
        })
}

/// One row of Locust's `*_stats.csv`: (requests, failures) for `<kind> <name>` (`WS connect`).
fn row(stats: &str, kind: &str, name: &str) -> (u64, u64) {
    let line = stats
        .lines()
        .find(|l| l.starts_with(&format!("{kind},{name},")))
        .unwrap_or_else(|| panic!("no {kind} {name} row in:\n{stats}"));
    let fields: Vec<&str> = line.split(',').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

/// Runs 4 Locust users for 4 s against `server`; returns Locust's stats CSV and its output.
async fn run_locust(server: &TestServer) -> (String, String) {
    let locustfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("locustfile.py");
    let dir = std::env::temp_dir().join(format!(
        "chatapp-locust-{}-{}",
        std::process::id(),
        server.addr.port()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("run");
    let child = tokio::process::Command::new(locust())
        .arg("-f")
        .arg(&locustfile)
        .args([
            "--headless",
            "-u",
            "4",
            "-r",
            "4",
            "-t",
            "4s",
            "--only-summary",
        ])
        .args(["--host", &server.http()])
        .arg("--csv")
        .arg(&csv)
        .env("CHATAPP_MIN_WAIT", "0.2")
        .env("CHATAPP_MAX_WAIT", "0.5")
        .current_dir(&dir)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("locust stops by itself within a minute")
        .expect("locust runs");
    let log = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stats = std::fs::read_to_string(dir.join("run_stats.csv"))
        .unwrap_or_else(|e| panic!("no Locust CSV ({e}):\n{log}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert!(out.status.success(), "{log}");
    (stats, log)
}

/// The users connected, chatted and got every message back, without an error frame.
fn assert_chatted(stats: &str, log: &str) {
    let (connects, connect_failures) = row(stats, "WS", "connect");
    let (messages, message_failures) = row(stats, "WS", "message");
    let (acks, _) = row(stats, "WS", "ack");
    assert!(connects >= 4 && connect_failures == 0, "{stats}\n{log}");
    // 4 users, one message every 0.2-0.5 s for about 4 s: dozens expected, 10 is a safe floor.
    assert!(messages >= 10 && message_failures == 0, "{stats}\n{log}");
    assert!(acks >= 10, "{stats}");
    assert!(
        !stats.contains("WS,error,"),
        "the server answered with error frames:\n{stats}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locust_users_chat_and_report_latency() {
    let server = start_server(&[]).await;
    let (stats, log) = run_locust(&server).await;
    assert_chatted(&stats, &log);
    // Guests may post here (the harness's default): nobody needs an account.
    assert!(!stats.contains("HTTP,register,"), "{stats}");
}

/// What a guest's `welcome` says about guest posting (None: a server from before accounts).
async fn welcome_guest_posting(server: &TestServer) -> Option<bool> {
    let (mut ws, _) = tokio_tungstenite::connect_async(server.url())
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"hello","name":"probe"}"#))
        .await
        .unwrap();
    while let Some(Ok(msg)) = ws.next().await {
        let Message::Text(text) = msg else { continue };
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        if v["type"] == "welcome" {
            return v["guest_posting"].as_bool();
        }
    }
    panic!("no welcome");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locust_users_register_when_guests_only_read() {
    let server = start_server(&["--guest-posting", "false"]).await;
    let (stats, log) = run_locust(&server).await;
    assert_chatted(&stats, &log);
    match welcome_guest_posting(&server).await {
        Some(false) => {
            // Each of the 4 users registered once, and every later socket used its cookie.
            let (registers, failures) = row(&stats, "HTTP", "register");
            assert_eq!((registers, failures), (4, 0), "{stats}\n{log}");
        }
        // A chat-server built before accounts ignores the setting: everyone posts as a guest.
        other => {
            assert_eq!(other, None, "the server lets guests post: {stats}");
            assert!(!stats.contains("HTTP,register,"), "{stats}");
        }
    }
}
