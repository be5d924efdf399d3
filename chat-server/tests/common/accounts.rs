//! The account steps every suite with signed-in users takes: register over HTTP
//! (`POST /api/register`), keep the session cookie, open a WebSocket carrying it and say `hello`.
//! Suites that test the steps themselves (accounts.rs) check the answers further.

use serde_json::{Value, json};

use super::{Client, TestServer, http_request};

/// The password of every test account.
pub const PASSWORD: &str = "correct horse battery";

/// Register `username` (with `display_name`, if given) on the server at `base`
/// (`http://host:port`) and return the session cookie (`chatapp_session=...`).
pub async fn register_at(base: &str, username: &str, display_name: Option<&str>) -> String {
    let mut body = json!({"username": username, "password": PASSWORD});
    if let Some(display_name) = display_name {
        body["display_name"] = display_name.into();
    }
    let (code, headers, reply) = http_request(
        "POST",
        &format!("{base}/api/register"),
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
    .await;
    assert_eq!(code, 201, "register {username}: {reply}");
    let user: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
    assert_eq!(user["user"]["username"], username, "{reply}");
    let cookie = headers.get("set-cookie").expect("a session cookie");
    cookie.split(';').next().unwrap().to_owned()
}

/// A socket on `ws` (`ws://host:port/ws`) carrying `cookie` (None: a guest) that sent `hello`,
/// and its `welcome`.
pub async fn connect_at(ws: &str, cookie: Option<&str>, hello: Value) -> (Client, Value) {
    let mut c = match cookie {
        Some(cookie) => Client::connect_with_cookie(ws, cookie).await,
        None => Client::connect(ws).await,
    };
    c.send(hello).await;
    let welcome = c.expect("welcome").await;
    (c, welcome)
}

/// Register `username` on `server` and return the session cookie.
pub async fn register(server: &TestServer, username: &str) -> String {
    register_at(&server.http_url(), username, None).await
}

/// A socket signed in with `cookie` (None: a guest), after `hello`.
pub async fn connect(server: &TestServer, cookie: Option<&str>) -> Client {
    let hello = json!({"type": "hello", "name": "someone"});
    connect_at(&server.ws_url(), cookie, hello).await.0
}

/// Sign up `username` on `server` and connect.
pub async fn user(server: &TestServer, username: &str) -> Client {
    let cookie = register(server, username).await;
    connect(server, Some(&cookie)).await
}
