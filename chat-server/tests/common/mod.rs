//! Shared test harness: real servers on real sockets (in-process or as child processes), real
//! `redis-server`s on free loopback ports, and a small WebSocket client speaking the protocol.
#![allow(dead_code)] // each test binary uses a different part of the harness

use std::{
    net::SocketAddr,
    process::Stdio,
    time::{Duration, Instant},
};

use chat_server::Config;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::{net::TcpStream, process::Child};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};
use tokio_util::sync::CancellationToken;

/// How long a test waits for an expected frame before failing.
pub const WAIT: Duration = Duration::from_secs(10);

/// A chat server running inside the test process.
pub struct TestServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }
    /// Graceful shutdown, as on SIGTERM; returns when the server has stopped.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(15), self.task).await;
    }
}

/// Start an in-process server on 127.0.0.1:0 with extra CLI flags (in-memory unless
/// `--redis-url` is among them).
pub async fn start_server(args: &[&str]) -> TestServer {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, args).await
}

/// Start an in-process server on a given listener.
pub async fn start_on(listener: tokio::net::TcpListener, args: &[&str]) -> TestServer {
    let addr = listener.local_addr().unwrap();
    let mut argv = vec!["chat-server", "--shutdown-grace-secs", "2"];
    argv.extend_from_slice(args);
    let config = Config::try_parse_from(argv).expect("test flags parse");
    let state = chat_server::build_state(config)
        .await
        .expect("server state");
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let task = tokio::spawn(async move {
        chat_server::serve(listener, state, async move { stop.cancelled().await })
            .await
            .unwrap();
    });
    TestServer {
        addr,
        shutdown,
        task,
    }
}

/// A free loopback port (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A key prefix no other test uses, so tests can share one Redis.
pub fn unique_prefix() -> String {
    format!("t{}", uuid_like())
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "{}{}{}",
        std::process::id(),
        nanos % 1_000_000_007,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A `redis-server` child process on a free loopback port, killed on drop.
pub struct RedisServer {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
    appendonly: bool,
}

impl RedisServer {
    /// Start one; with `appendonly` every write is fsynced before it is acknowledged, so a
    /// restart loses nothing.
    pub async fn start(appendonly: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("chat-redis-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Self {
            port: free_port(),
            dir,
            child: None,
            appendonly,
        };
        r.spawn().await;
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let mut cmd = tokio::process::Command::new("redis-server");
        cmd.args([
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--dir", self.dir.to_str().unwrap()])
        .args(["--appendonly", if self.appendonly { "yes" } else { "no" }])
        .args(["--appendfsync", "always"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
        let child = cmd.spawn().expect(
            "redis-server must be installed: run scripts/test.sh, which installs it with apt",
        );
        self.child = Some(child);
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Kill Redis abruptly (SIGKILL).
    pub async fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill().await;
        }
    }

    /// Start it again on the same port and data directory.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The Redis the test script started, or a private one when run outside it.
pub async fn shared_redis() -> (String, Option<RedisServer>) {
    match std::env::var("CHATAPP_TEST_REDIS_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let r = RedisServer::start(false).await;
            (r.url(), Some(r))
        }
    }
}

/// A chat-server child process (the real binary), killed on drop.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: Child,
}

impl ServerProcess {
    pub async fn spawn(args: &[&str]) -> Self {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .args(["--listen", &listen, "--shutdown-grace-secs", "2"])
            .args(args)
            .env("RUST_LOG", "warn")
            // Logs go to stdout; CHATAPP_TEST_LOGS=1 shows them when a test needs explaining.
            .stdout(if std::env::var_os("CHATAPP_TEST_LOGS").is_some() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let addr: SocketAddr = listen.parse().unwrap();
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(addr).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "chat-server did not start on {addr}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { addr, child }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// SIGKILL: the replica dies without cleaning up.
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGTERM and wait for exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap();
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap();
        tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .unwrap()
            .unwrap()
    }
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A protocol client over a real WebSocket.
pub struct Client {
    pub ws: Ws,
    /// Frames read while waiting for another type, kept in order.
    backlog: std::collections::VecDeque<Value>,
}

impl Client {
    pub async fn connect(url: &str) -> Self {
        let (ws, _) = connect_async(url).await.expect("websocket connects");
        Self {
            ws,
            backlog: Default::default(),
        }
    }

    pub async fn connect_with_origin(url: &str, origin: &str) -> Result<Self, String> {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Origin", HeaderValue::from_str(origin).unwrap());
        match connect_async(req).await {
            Ok((ws, _)) => Ok(Self {
                ws,
                backlog: Default::default(),
            }),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Connect, say hello and wait for the welcome.
    pub async fn hello(url: &str, name: &str) -> Self {
        let mut c = Self::connect(url).await;
        c.send(json!({"type":"hello","name":name,"email":format!("{}@example.com", name.to_lowercase())})).await;
        c.expect("welcome").await;
        c
    }

    pub async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// Join and return the `joined` frame.
    pub async fn join(&mut self, room: &str) -> Value {
        self.send(json!({"type":"join","room":room})).await;
        self.expect("joined").await
    }

    /// Send a chat message and return its `ack`.
    pub async fn say(&mut self, room: &str, content: &str, client_id: &str) -> Value {
        self.send(json!({"type":"send","room":room,"content":content,"client_id":client_id}))
            .await;
        self.expect_where(|v| {
            (v["type"] == "ack" || v["type"] == "error") && v["client_id"] == client_id
        })
        .await
    }

    /// The next frame (from the backlog first), or None when the socket closed.
    pub async fn next(&mut self) -> Option<Value> {
        if let Some(v) = self.backlog.pop_front() {
            return Some(v);
        }
        self.read().await
    }

    async fn read(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("frame within WAIT")?;
            match msg {
                Ok(Message::Text(t)) => return Some(serde_json::from_str(&t).expect("JSON frame")),
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(_) => continue,
            }
        }
    }

    /// The next frame of a type, keeping other frames for later.
    pub async fn expect(&mut self, kind: &str) -> Value {
        self.expect_where(|v| v["type"] == kind).await
    }

    /// The next frame matching `pred`, keeping the others for later.
    pub async fn expect_where(&mut self, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i).unwrap();
        }
        let mut seen = Vec::new();
        loop {
            match self.read().await {
                Some(v) if pred(&v) => {
                    self.backlog.extend(seen);
                    return v;
                }
                Some(v) => seen.push(v),
                None => panic!("socket closed while waiting; frames seen: {seen:#?}"),
            }
        }
    }

    /// Read until the server closes; returns the close code.
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("close within WAIT")
            {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return None,
            }
        }
    }

    /// Collect `message` frames of a room until `n` have arrived.
    pub async fn messages(&mut self, room: &str, n: usize) -> Vec<Value> {
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            out.push(
                self.expect_where(|v| v["type"] == "message" && v["room"] == room)
                    .await,
            );
        }
        out
    }
}

/// Offsets of message frames.
pub fn offsets(frames: &[Value]) -> Vec<u64> {
    frames
        .iter()
        .map(|m| m["offset"].as_u64().unwrap())
        .collect()
}

// --- tiny HTTP helpers over a raw socket (no HTTP client dependency needed) -------------------

pub async fn http_get(url: &str) -> (u16, std::collections::HashMap<String, String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let code = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (code, headers, body.to_owned())
}

pub async fn status(url: &str) -> u16 {
    http_get(url).await.0
}

impl RedisServer {
    /// Start one on a given port (e.g. one a chat-server was told about before Redis existed).
    pub async fn start_on(port: u16, appendonly: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("chat-redis-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Self {
            port,
            dir,
            child: None,
            appendonly,
        };
        r.spawn().await;
        r
    }
}

/// One command against a Redis, for tests that configure or inspect it directly.
pub async fn redis_cmd<T: redis::FromRedisValue>(
    url: &str,
    args: &[&str],
) -> redis::RedisResult<T> {
    let client = redis::Client::open(url)?;
    // No response timeout: some tests keep Redis busy on purpose.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    cmd.query_async(&mut conn).await
}
