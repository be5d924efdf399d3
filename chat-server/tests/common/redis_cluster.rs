//! A real Redis Cluster for tests: three masters and three replicas, `redis-server
//! --cluster-enabled yes` on free loopback ports in a temporary directory, joined by `redis-cli
//! --cluster create ... --cluster-replicas 1`; every node is killed on drop. A node timeout of 2 s
//! makes a killed master's replica take over within seconds.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::process::{Child, Command};

use super::free_port;

/// How long the cluster may take to form or to fail over.
const FORM: Duration = Duration::from_secs(60);

/// Six `redis-server`s forming one cluster.
pub struct RedisCluster {
    pub ports: Vec<u16>,
    children: Vec<Option<Child>>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Start six nodes and join them: three masters with one replica each.
    pub async fn start() -> Self {
        let dir =
            std::env::temp_dir().join(format!("chat-redis-cluster-{}", super::unique_prefix()));
        std::fs::create_dir_all(&dir).unwrap();
        let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
        let mut children = Vec::new();
        for port in &ports {
            let child = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"])
                // A replica may take over however long ago it last heard its master, and syncs
                // without writing a file first.
                .args(["--cluster-replica-validity-factor", "0"])
                .args([
                    "--repl-diskless-sync",
                    "yes",
                    "--repl-diskless-sync-delay",
                    "0",
                ])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args([
                    "--dir",
                    dir.to_str().unwrap(),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("redis-server must be installed: run scripts/test.sh");
            children.push(Some(child));
        }
        let cluster = Self {
            ports,
            children,
            dir,
        };
        for port in &cluster.ports {
            cluster
                .wait_for(*port, |out| out.contains("PONG"), &["ping"])
                .await;
        }
        let nodes: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let created = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&nodes)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .await
            .expect("redis-cli");
        assert!(
            created.status.success(),
            "cluster create: {}",
            String::from_utf8_lossy(&created.stdout)
        );
        for port in &cluster.ports {
            cluster
                .wait_for(
                    *port,
                    |out| out.contains("cluster_state:ok"),
                    &["cluster", "info"],
                )
                .await;
        }
        cluster
    }

    /// The seed URLs, comma-separated (`--redis-url` with `--redis-cluster true`).
    pub fn url(&self) -> String {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `redis-cli -p port args...`, its output (empty when the node is gone).
    pub async fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args(args)
            .output()
            .await
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    async fn wait_for(&self, port: u16, ok: impl Fn(&str) -> bool, args: &[&str]) {
        let deadline = Instant::now() + FORM;
        loop {
            let out = self.cli(port, args).await;
            if ok(&out) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {port}: {args:?} said {out}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A node still running.
    fn live_port(&self) -> u16 {
        let i = self.children.iter().position(Option::is_some).unwrap();
        self.ports[i]
    }

    /// The port of the master serving `key`'s slot now.
    pub async fn master_of(&self, key: &str) -> u16 {
        match self.try_master_of(key).await {
            Some(port) => port,
            None => panic!("no live master serves {key}"),
        }
    }

    /// The port of the live master serving `key`'s slot, if one does.
    async fn try_master_of(&self, key: &str) -> Option<u16> {
        let port = self.live_port();
        let slot: u16 = self
            .cli(port, &["cluster", "keyslot", key])
            .await
            .trim()
            .parse()
            .unwrap();
        let nodes = self.cli(port, &["cluster", "nodes"]).await;
        for line in nodes.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if f.len() < 9 || !f[2].contains("master") || f[2].contains("fail") {
                continue;
            }
            let serves = f[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => {
                    (a.parse().unwrap_or(u16::MAX)..=b.parse().unwrap_or(0)).contains(&slot)
                }
                None => range.parse() == Ok(slot),
            });
            if serves {
                let addr = f[1].split('@').next()?;
                return addr.rsplit(':').next()?.parse().ok();
            }
        }
        None
    }

    /// The masters now (ports).
    pub async fn masters(&self) -> Vec<u16> {
        let nodes = self.cli(self.live_port(), &["cluster", "nodes"]).await;
        let mut out: Vec<u16> = nodes
            .lines()
            .filter(|l| serving_master(l))
            .filter_map(|l| {
                let addr = l.split(' ').nth(1)?.split('@').next()?;
                addr.rsplit(':').next()?.parse().ok()
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Kill one node abruptly (SIGKILL).
    pub async fn kill(&mut self, port: u16) {
        let i = self.ports.iter().position(|p| *p == port).unwrap();
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill().await;
        }
    }

    /// Wait until a live master other than `old` serves `key` and the cluster is whole again.
    pub async fn wait_failover(&self, key: &str, old: u16) -> u16 {
        let deadline = Instant::now() + FORM;
        loop {
            let port = self.live_port();
            let info = self.cli(port, &["cluster", "info"]).await;
            if info.contains("cluster_state:ok")
                && let Some(now) = self.try_master_of(key).await
                && now != old
            {
                return now;
            }
            assert!(Instant::now() < deadline, "no failover from {old}: {info}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Whether a `CLUSTER NODES` line is a live master serving slots.
fn serving_master(line: &str) -> bool {
    let f: Vec<&str> = line.split(' ').collect();
    f.len() > 8 && f[2].contains("master") && !f[2].contains("fail")
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().flatten() {
            let _ = c.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
