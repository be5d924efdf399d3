//! Two replicas of one chat for the suites about accounts and rooms: [`Cluster`] in memory mode
//! (one server, reached twice), on one Redis, or on Redis + PostgreSQL; accounts and their
//! sockets come from `accounts.rs`.

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{
    Client, PgServer, RedisServer, TestServer, fresh_database, shared_redis, start_server,
    unique_prefix, wait_ready,
};

/// Where the replicas keep their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Memory,
    Redis,
    Durable,
}

/// Two replicas of one chat (one server in memory mode, reached twice).
pub struct Cluster {
    pub a: TestServer,
    pub b: Option<TestServer>,
    /// (url, prefix)
    pub redis: Option<(String, String)>,
    pub database: Option<String>,
    _guards: (Option<RedisServer>, Option<PgServer>),
}

impl Cluster {
    /// Two replicas (one in memory mode) with admin `root` and guest posting off.
    pub async fn start(mode: Mode) -> Self {
        Self::start_with(mode, &[]).await
    }

    /// [`Self::start`] with further flags.
    pub async fn start_with(mode: Mode, extra: &[&str]) -> Self {
        let mut args: Vec<String> = ["--admins", "root", "--guest-posting", "false"]
            .map(String::from)
            .to_vec();
        args.extend(extra.iter().map(|a| a.to_string()));
        let (mut redis_guard, mut pg_guard, mut redis, mut database) = (None, None, None, None);
        if mode != Mode::Memory {
            let (url, guard) = shared_redis().await;
            let prefix = unique_prefix();
            args.extend(["--redis-url".into(), url.clone()]);
            args.extend(["--redis-prefix".into(), prefix.clone()]);
            redis = Some((url, prefix));
            redis_guard = guard;
        }
        if mode == Mode::Durable {
            let (url, guard) = fresh_database().await;
            args.extend(["--database-url".into(), url.clone()]);
            database = Some(url);
            pg_guard = guard;
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let a = start_server(&args).await;
        wait_ready(&a.http_url()).await;
        let b = if mode == Mode::Memory {
            None
        } else {
            let b = start_server(&args).await;
            wait_ready(&b.http_url()).await;
            Some(b)
        };
        Self {
            a,
            b,
            redis,
            database,
            _guards: (redis_guard, pg_guard),
        }
    }

    /// The second replica (the first in memory mode).
    pub fn b(&self) -> &TestServer {
        self.b.as_ref().unwrap_or(&self.a)
    }

    pub async fn stop(self) {
        if let Some(b) = self.b {
            b.stop().await;
        }
        self.a.stop().await;
    }
}

/// `method path` (with a JSON body when given) from an allowed (same-origin) page, with the
/// session `cookie` if any: status, headers, body.
pub async fn request(
    server: &TestServer,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&Value>,
) -> (u16, String, String) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let origin = server.http_url();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: {origin}\r\n{cookie}\
         Content-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n{body}",
        addr = server.addr,
        len = body.len(),
    );
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// The reply to a request about a room: the next `error` or reply frame naming it.
pub async fn ask(c: &mut Client, request: Value, reply: &str) -> Value {
    let room = request["room"]
        .as_str()
        .or(request["name"].as_str())
        .unwrap()
        .to_owned();
    c.send(request).await;
    c.expect_where(|v| (v["type"] == reply || v["type"] == "error") && v["room"] == room)
        .await
}
