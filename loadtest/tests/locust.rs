//! The Locust user (loadtest/locustfile.py) headless for a few seconds against a real local
//! chat-server: it must connect, send, get acks and receive its own messages, without failures.
//!
//! Locust comes from `CHATAPP_LOCUST` (scripts/test.sh installs it in a venv and sets it), else
//! from `locust` on PATH; when neither exists the test fails and says how to get it.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::start_server;

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

/// One row of Locust's `*_stats.csv`: (requests, failures) for `WS <name>`.
fn row(stats: &str, name: &str) -> (u64, u64) {
    let line = stats
        .lines()
        .find(|l| l.starts_with(&format!("WS,{name},")))
        .unwrap_or_else(|| panic!("no WS {name} row in:\n{stats}"));
    let fields: Vec<&str> = line.split(',').collect();
    (fields[2].parse().unwrap(), fields[3].parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locust_users_chat_and_report_latency() {
    let server = start_server(&[]).await;
    let locustfile = Path::new(env!("CARGO_MANIFEST_DIR")).join("locustfile.py");
    let dir = std::env::temp_dir().join(format!("chatapp-locust-{}", std::process::id()));
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
    let (connects, connect_failures) = row(&stats, "connect");
    let (messages, message_failures) = row(&stats, "message");
    let (acks, _) = row(&stats, "ack");
    assert!(connects >= 4 && connect_failures == 0, "{stats}\n{log}");
    // 4 users, one message every 0.2-0.5 s for about 4 s: dozens expected, 10 is a safe floor.
    assert!(messages >= 10 && message_failures == 0, "{stats}\n{log}");
    assert!(acks >= 10, "{stats}");
    assert!(
        !stats.contains("WS,error,"),
        "the server answered with error frames:\n{stats}"
    );
}
