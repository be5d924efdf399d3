//! The `chat-bench` binary end to end: the command line of the issue, the table, and `--json` as
//! the last line of output.

mod common;

use common::start_server;
use serde_json::Value;

async fn chat_bench(args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-bench"))
        .args(args)
        .output()
        .await
        .expect("run chat-bench");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.success(),
        stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn last_json(stdout: &str) -> Value {
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("last line is not JSON ({e}):\n{stdout}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanout_prints_a_table_and_a_json_last_line() {
    let server = start_server(&[]).await;
    let url = server.url();
    let pid = std::process::id().to_string();
    let (ok, stdout, stderr) = chat_bench(&[
        "fanout",
        "--url",
        &url,
        "--members",
        "5",
        "--senders",
        "2",
        "--rate",
        "100",
        "--duration",
        "1",
        "--messages",
        "40",
        "--server-pid",
        &pid,
        "--json",
    ])
    .await;
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("deliveries/s"), "{stdout}");
    let j = last_json(&stdout);
    assert_eq!(j["scenario"], "fanout");
    assert_eq!(j["connections"], 5);
    assert_eq!(j["sent"], 40, "{j}");
    assert_eq!(j["delivered"], 200, "{j}");
    assert_eq!(
        (j["errors"].as_u64(), j["gaps"].as_u64()),
        (Some(0), Some(0)),
        "{j}"
    );
    for key in [
        "connections_per_s",
        "deliveries_per_s",
        "rss_per_connection_kb",
    ] {
        assert!(j[key].as_f64().is_some(), "{key} in {j}");
    }
    for key in ["p50", "p95", "p99", "max"] {
        assert!(
            j["latency_ms"][key].as_f64().unwrap() > 0.0,
            "latency_ms.{key} in {j}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed450_connects_450_users() {
    let server = start_server(&[]).await;
    let url = server.url();
    let (ok, stdout, stderr) = chat_bench(&["seed450", "--url", &url, "--json"]).await;
    assert!(ok, "{stdout}\n{stderr}");
    let j = last_json(&stdout);
    assert_eq!(
        (j["connections"].as_u64(), j["connect_failures"].as_u64()),
        (Some(450), Some(0)),
        "{j}"
    );
    assert_eq!(j["errors"], 0, "{j}");
}

#[tokio::test]
async fn refuses_non_loopback_targets() {
    let (ok, _, stderr) = chat_bench(&["connect", "--url", "ws://192.0.2.7:8080/ws"]).await;
    assert!(!ok);
    assert!(stderr.contains("non-loopback"), "{stderr}");
}
