//! Signing in over HTTP for the `support` scenario: `POST /api/register` (or `/api/login` when the
//! name is taken) on the chat's loopback address, returning the session cookie the WebSocket
//! handshake sends. A bare HTTP/1.1 exchange on a fresh connection, as `probe.rs` reads
//! `/metrics`: a handful of requests per run needs no HTTP client crate.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::target::Target;

/// Password of every account chat-bench makes (the server wants 8 characters or more).
pub(crate) const PASSWORD: &str = "benchmark password";
/// Longest time one request may take (a registration hashes a password with Argon2id).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest answer read (the API's answers are small JSON objects).
const MAX_ANSWER: u64 = 64 * 1024;

/// Registers `username` (or logs in when it exists) and returns its `Cookie` header value.
/// `forwarded_for` is sent as `X-Forwarded-For`: a server run with
/// `--client-address-header X-Forwarded-For` then counts each account's registration against its
/// own address instead of the one loopback address.
pub(crate) async fn sign_in(
    target: &Target,
    username: &str,
    forwarded_for: Option<&str>,
) -> Result<String, String> {
    let body = serde_json::json!({"username": username, "password": PASSWORD}).to_string();
    let (status, cookie, text) = post(target.addr, "/api/register", &body, forwarded_for).await?;
    let (status, cookie, text) = if status == 409 {
        post(target.addr, "/api/login", &body, forwarded_for).await?
    } else {
        (status, cookie, text)
    };
    match (status, cookie) {
        (200 | 201, Some(cookie)) => Ok(cookie),
        (429, _) => Err(format!(
            "registering {username} was refused (HTTP 429, the server's registrations per address and hour): run the server with --client-address-header X-Forwarded-For (chat-bench gives each account its own address) or use guests (--guest-support true)"
        )),
        (status, _) => Err(format!("signing in {username}: HTTP {status}: {text}")),
    }
}

/// One POST with a JSON body; the status, the session cookie (`name=value` of the first
/// `Set-Cookie`) and the body's start.
async fn post(
    addr: SocketAddr,
    path: &str,
    body: &str,
    forwarded_for: Option<&str>,
) -> Result<(u16, Option<String>, String), String> {
    let forwarded = forwarded_for
        .map(|a| format!("X-Forwarded-For: {a}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{forwarded}Connection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        tcp.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        tcp.take(MAX_ANSWER)
            .read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(String::from_utf8_lossy(&answer).into_owned())
    };
    let answer = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .map_err(|_| format!("POST {path}: no answer in {REQUEST_TIMEOUT:?}"))??;
    parse_answer(&answer).ok_or_else(|| format!("POST {path}: not an HTTP answer"))
}

/// Status, first `Set-Cookie`'s `name=value` and up to 200 characters of the body.
pub(crate) fn parse_answer(answer: &str) -> Option<(u16, Option<String>, String)> {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let cookie = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("set-cookie"))
        .and_then(|(_, value)| value.trim().split(';').next())
        .map(str::to_owned);
    Some((status, cookie, body.chars().take(200).collect()))
}

/// A distinct private address for account `i` (10.0.0.0/8), for `X-Forwarded-For`.
pub(crate) fn address_of(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}
