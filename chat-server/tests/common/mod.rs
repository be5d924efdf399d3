//! Shared test harness: real servers on real sockets (in-process or as child processes), real
//! `redis-server`s on free loopback ports, and a small WebSocket client speaking the protocol.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod grpc;

pub mod accounts;
pub mod cluster;
pub mod redis_cluster;

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

/// Send limits raised far above a person's, for tests that send in bursts.
pub const FAST_SENDS: [&str; 8] = [
    "--send-rate",
    "2000",
    "--send-burst",
    "2000",
    "--address-send-rate",
    "5000",
    "--address-send-burst",
    "5000",
];

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

/// Flags for a test that floods a room: no send rate limit, messages of up to 60,000 bytes.
pub const FLOOD_FLAGS: [&str; 12] = [
    "--send-rate",
    "100000",
    "--send-burst",
    "100000",
    "--address-send-rate",
    "100000",
    "--address-send-burst",
    "100000",
    "--max-content-bytes",
    "60000",
    "--max-frame-bytes",
    "65536",
];

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
    argv.extend_from_slice(open_mode(args));
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

/// The suites written before accounts post as anonymous clients: servers they start allow guest
/// posting unless the test says otherwise (the accounts tests check the closed default).
pub fn open_mode(args: &[&str]) -> &'static [&'static str] {
    if args.contains(&"--guest-posting") {
        &[]
    } else {
        &["--guest-posting", "true"]
    }
}

/// A chat-server child process (the real binary), killed on drop.
pub struct ServerProcess {
    pub addr: SocketAddr,
    child: Child,
}

impl ServerProcess {
    pub async fn spawn(args: &[&str]) -> Self {
        Self::spawn_with_env(args, &[]).await
    }

    /// [`Self::spawn`] with extra environment variables (secrets that are never flags).
    pub async fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .args(["--listen", &listen, "--shutdown-grace-secs", "2"])
            .args(open_mode(args))
            .args(args)
            .envs(env.iter().copied())
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

    /// Connect with a `Cookie` header (a signed-in browser).
    pub async fn connect_with_cookie(url: &str, cookie: &str) -> Self {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("Cookie", HeaderValue::from_str(cookie).unwrap());
        let (ws, _) = connect_async(req).await.expect("websocket connects");
        Self {
            ws,
            backlog: Default::default(),
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

    /// Send a frame; an error when the connection is gone (a killed server).
    pub async fn ws_send(&mut self, v: Value) -> Result<(), String> {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .map_err(|e| e.to_string())
    }

    /// The next frame, or None once the socket closed (alias of [`Self::next`] for readers).
    pub async fn next_or_closed(&mut self) -> Option<Value> {
        self.next().await
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

/// A plain GET; (status, headers lower-cased, body).
pub async fn http_get(url: &str) -> (u16, std::collections::HashMap<String, String>, String) {
    http_request("GET", url, &[], "").await
}

/// Any HTTP request with extra headers and a body; (status, headers lower-cased, body).
pub async fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, std::collections::HashMap<String, String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
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

/// The directory of PostgreSQL's server binaries: Debian's newest `/usr/lib/postgresql/*/bin`,
/// else wherever `pg_ctl` is on the PATH.
fn pg_bin_dir() -> std::path::PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if let Some(dir) = dirs.pop() {
        return dir;
    }
    let out = std::process::Command::new("sh")
        .args(["-c", "command -v pg_ctl"])
        .output()
        .expect("pg_ctl: install PostgreSQL (scripts/test.sh does)");
    let path = String::from_utf8(out.stdout).unwrap();
    std::path::Path::new(path.trim())
        .parent()
        .unwrap()
        .to_owned()
}

/// A PostgreSQL server of its own on a free loopback port, in a temporary directory, stopped on
/// drop. initdb refuses root, so as root it runs as the `postgres` user.
pub struct PgServer {
    pub port: u16,
    dir: std::path::PathBuf,
    bin: std::path::PathBuf,
}

impl PgServer {
    pub async fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("chat-pg-{}", uuid_like()));
        std::fs::create_dir_all(&dir).unwrap();
        let pg = Self {
            port: free_port(),
            dir,
            bin: pg_bin_dir(),
        };
        pg.as_owner(&["chown", "-R", "postgres", pg.dir.to_str().unwrap()], true);
        let data = pg.data();
        let initdb = pg.bin.join("initdb");
        let ok = pg.as_owner(
            &[
                initdb.to_str().unwrap(),
                "-D",
                &data,
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
            ],
            false,
        );
        assert!(ok, "initdb failed");
        pg.start_again().await;
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").to_str().unwrap().to_owned()
    }

    /// Runs a command as the `postgres` user when we are root (`as_root_only`: only then).
    fn as_owner(&self, argv: &[&str], as_root_only: bool) -> bool {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| o.stdout.starts_with(b"0\n"))
            .unwrap_or(false);
        let mut cmd = if root && !as_root_only {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).args(argv);
            c
        } else if root || !as_root_only {
            let mut c = std::process::Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        } else {
            return true;
        };
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Start (again) on the same port and data; retried while a killed postmaster's children
    /// still hold its shared memory.
    pub async fn start_again(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let opts = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("pg.log");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ok = self.as_owner(
                &[
                    pg_ctl.to_str().unwrap(),
                    "-D",
                    &self.data(),
                    "-o",
                    &opts,
                    "-l",
                    log.to_str().unwrap(),
                    "-w",
                    "start",
                ],
                false,
            );
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "postgres did not start again");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// `pg_ctl stop -m fast`: clients are disconnected, everything committed is kept.
    pub async fn stop_fast(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let ok = self.as_owner(
            &[
                pg_ctl.to_str().unwrap(),
                "-D",
                &self.data(),
                "-m",
                "fast",
                "-w",
                "stop",
            ],
            false,
        );
        assert!(ok, "pg_ctl stop failed");
    }

    /// SIGKILL to the postmaster: a crash; the next start recovers from the WAL.
    pub async fn kill9(&self) {
        let pidfile = std::fs::read_to_string(self.dir.join("data/postmaster.pid")).unwrap();
        let pid = pidfile.lines().next().unwrap().trim().to_owned();
        std::process::Command::new("kill")
            .args(["-9", &pid])
            .status()
            .unwrap();
        // Its backends notice and exit; until they have, a new postmaster refuses to start.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        self.as_owner(
            &[
                pg_ctl.to_str().unwrap(),
                "-D",
                &self.data(),
                "-m",
                "immediate",
                "stop",
            ],
            false,
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A database of its own on the PostgreSQL the test script started (or a private server when run
/// outside it): its URL, and the server to keep alive while it is used.
pub async fn fresh_database() -> (String, Option<PgServer>) {
    let (base, server) = match std::env::var("CHATAPP_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => (url, None),
        _ => {
            let pg = PgServer::start().await;
            (pg.url(), Some(pg))
        }
    };
    let name = format!("chat_{}", uuid_like());
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&base)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let url = match base.rfind('/') {
        Some(i) if base[..i].contains('@') => format!("{}/{name}", &base[..i]),
        _ => format!("{base}/{name}"),
    };
    (url, server)
}

/// (offset, client_id) of every message of a room in the database, by offset.
pub async fn stored_messages(url: &str, room: &str) -> Vec<(i64, String)> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT off, client_id FROM messages WHERE room = $1 ORDER BY off")
            .bind(room)
            .fetch_all(&pool)
            .await
            .unwrap();
    pool.close().await;
    rows
}

/// Every message of a room, paged with `history {after}` from offset 0.
pub async fn page_all(c: &mut Client, room: &str, limit: u64) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let after = all.last().map_or(0, |m| m["offset"].as_u64().unwrap());
        c.send(json!({"type": "history", "room": room, "after": after, "limit": limit}))
            .await;
        let page = c
            .expect_where(|v| v["type"] == "history" && v["room"] == room)
            .await;
        all.extend(page["messages"].as_array().unwrap().iter().cloned());
        if page["more"] != true {
            return all;
        }
    }
}

/// Wait until `/readyz` of a server answers `want`; returns its body.
pub async fn wait_readyz(http_url: &str, want: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, _, body) = http_get(&format!("{http_url}/readyz")).await;
        if code == want {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {code}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Wait until a server is ready.
pub async fn wait_ready(http_url: &str) {
    wait_readyz(http_url, 200).await;
}
