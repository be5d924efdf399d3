//! Accounts end to end over real sockets: guests who only read, names that come from the
//! account, sessions that end on every replica (Redis + PostgreSQL, two replicas), brute-force
//! delays, the stored hash, the CSRF guard, and online counts by kind.

mod common;

use std::time::Duration;

use common::{
    Client,
    accounts::{PASSWORD, connect_at, register_at},
    http_request,
};
use serde_json::{Value, json};

/// POST JSON as a same-origin script would.
async fn post(base: &str, path: &str, cookie: Option<&str>, body: Value) -> (u16, Reply) {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(c) = cookie {
        headers.push(("Cookie", c));
    }
    let (code, h, body) = http_request(
        "POST",
        &format!("{base}{path}"),
        &headers,
        &body.to_string(),
    )
    .await;
    (code, Reply { headers: h, body })
}

struct Reply {
    headers: std::collections::HashMap<String, String>,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    /// `chatapp_session=<token>` from `Set-Cookie`.
    fn cookie(&self) -> String {
        let set = &self.headers["set-cookie"];
        set.split(';').next().unwrap().to_owned()
    }
    fn retry_after(&self) -> Option<u64> {
        self.headers.get("retry-after").map(|v| v.parse().unwrap())
    }
}

/// Register a user (display name "<username> D.") and return the session cookie.
async fn register(base: &str, username: &str) -> String {
    register_at(base, username, Some(&format!("{username} D."))).await
}

async fn login(base: &str, username: &str, password: &str) -> (u16, Reply) {
    post(
        base,
        "/api/login",
        None,
        json!({"username": username, "password": password}),
    )
    .await
}

/// A signed-in socket that said hello (with a name that must be ignored).
async fn signed_in(ws: &str, cookie: &str) -> (Client, Value) {
    let hello = json!({"type":"hello","name":"Mallory","email":"mallory@evil.example"});
    connect_at(ws, Some(cookie), hello).await
}

#[tokio::test]
async fn guests_read_but_cannot_send_or_create_rooms_by_default() {
    let server = common::start_server(&["--guest-posting", "false"]).await;
    let mut guest = Client::connect(&server.ws_url()).await;
    guest.send(json!({"type":"hello","name":"Guest"})).await;
    let welcome = guest.expect("welcome").await;
    assert_eq!(welcome["user"], Value::Null);
    assert_eq!(welcome["guest_posting"], false);
    assert_eq!(welcome["guest_support"], false);
    assert_eq!(guest.join("general").await["type"], "joined");
    let refused = guest.say("general", "hi", "g-1").await;
    assert_eq!(refused["code"], "login_required", "{refused}");
    guest
        .send(json!({"type":"create_room","name":"mine"}))
        .await;
    let refused = guest.expect("error").await;
    assert_eq!(refused["code"], "login_required", "{refused}");
    // A registered user posts, and the guest reads it live.
    let cookie = register(&server.http_url(), "alice").await;
    let (mut alice, _) = signed_in(&server.ws_url(), &cookie).await;
    alice.join("general").await;
    assert_eq!(alice.say("general", "hello", "a-1").await["type"], "ack");
    let seen = guest.expect("message").await;
    assert_eq!(
        (seen["user"].clone(), seen["guest"].clone()),
        (json!("alice"), json!(false))
    );
    server.stop().await;
}

#[tokio::test]
async fn a_registered_name_comes_from_the_account_and_guests_are_marked() {
    let server = common::start_server(&["--guest-posting", "true", "--admins", "ALICE,root"]).await;
    let cookie = register(&server.http_url(), "Alice").await;
    let (mut alice, welcome) = signed_in(&server.ws_url(), &cookie).await;
    assert_eq!(welcome["name"], "Alice D.", "hello's name is ignored");
    assert_eq!(welcome["email"], Value::Null, "hello's email is ignored");
    assert_eq!(welcome["user"]["username"], "Alice");
    assert_eq!(welcome["user"]["admin"], true, "--admins ignores case");
    alice.join("general").await;
    alice.say("general", "it is me", "a-1").await;
    let msg = alice.expect("message").await;
    assert_eq!(msg["name"], "Alice D.");
    assert_eq!(msg["user"], "Alice");
    assert_eq!(msg["guest"], false);
    // A guest may call itself "Alice D." but is marked as a guest.
    let mut guest = Client::connect(&server.ws_url()).await;
    guest.send(json!({"type":"hello","name":"Alice D."})).await;
    guest.expect("welcome").await;
    guest.join("general").await;
    guest.say("general", "me too", "g-1").await;
    let msg = guest
        .expect_where(|v| v["type"] == "message" && v["client_id"] == "g-1")
        .await;
    assert_eq!(
        (msg["user"].clone(), msg["guest"].clone()),
        (Value::Null, json!(true))
    );
    // The same username in another case is taken; /api/me knows the cookie.
    let (code, reply) = post(
        &server.http_url(),
        "/api/register",
        None,
        json!({"username": "ALICE", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (code, reply.json()["error"]["code"].clone()),
        (409, json!("username_taken"))
    );
    let (code, _, body) = http_request(
        "GET",
        &format!("{}/api/me", server.http_url()),
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let (code, _, body) =
        http_request("GET", &format!("{}/api/me", server.http_url()), &[], "").await;
    assert_eq!(code, 401);
    assert!(body.contains("login_required"), "{body}");
    // DELETE /api/me deletes the account, like POST /api/account/delete.
    let bob = register(&server.http_url(), "bob").await;
    let me = format!("{}/api/me", server.http_url());
    let json = ("Content-Type", "application/json");
    let wrong = json!({"password": "not bob's password"}).to_string();
    let (code, _, _) = http_request("DELETE", &me, &[json, ("Cookie", &bob)], &wrong).await;
    assert_eq!(code, 401, "the password is checked");
    let body = json!({"password": PASSWORD}).to_string();
    let (code, _, reply) = http_request("DELETE", &me, &[json, ("Cookie", &bob)], &body).await;
    assert_eq!(code, 204, "{reply}");
    assert_eq!(login(&server.http_url(), "bob", PASSWORD).await.0, 401);
    server.stop().await;
}

#[tokio::test]
async fn registration_errors_name_the_field() {
    let server = common::start_server(&[]).await;
    let base = server.http_url();
    for (body, field) in [
        (json!({"username": "ab", "password": PASSWORD}), "username"),
        (
            json!({"username": "a b c", "password": PASSWORD}),
            "username",
        ),
        (json!({"username": "abc", "password": "short"}), "password"),
        (
            json!({"username": "abc", "password": PASSWORD, "email": "nope"}),
            "email",
        ),
        (
            json!({"username": "abc", "password": PASSWORD, "display_name": "x".repeat(65)}),
            "display_name",
        ),
        (json!({"password": PASSWORD}), "username"),
    ] {
        let (code, reply) = post(&base, "/api/register", None, body.clone()).await;
        let error = &reply.json()["error"];
        assert_eq!(
            (code, error["code"].clone(), error["field"].clone()),
            (400, json!("invalid_field"), json!(field)),
            "{body} -> {}",
            reply.body
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn state_changing_requests_need_json_and_the_own_origin() {
    let server = common::start_server(&[]).await;
    let url = format!("{}/api/login", server.http_url());
    let body = json!({"username": "nobody", "password": PASSWORD}).to_string();
    let (code, _, reply) =
        http_request("POST", &url, &[("Content-Type", "text/plain")], &body).await;
    assert_eq!(code, 415, "{reply}");
    assert!(reply.contains("unsupported_media_type"));
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    assert_eq!(http_request("POST", &url, &form, "username=a").await.0, 415);
    let evil = [
        ("Content-Type", "application/json"),
        ("Origin", "http://evil.example"),
    ];
    let (code, _, reply) = http_request("POST", &url, &evil, &body).await;
    assert_eq!(code, 403, "{reply}");
    assert!(reply.contains("forbidden"));
    let cross = [
        ("Content-Type", "application/json"),
        ("Sec-Fetch-Site", "cross-site"),
    ];
    assert_eq!(http_request("POST", &url, &cross, &body).await.0, 403);
    let own_origin = server.http_url();
    let own = [
        ("Content-Type", "application/json"),
        ("Origin", own_origin.as_str()),
    ];
    assert_eq!(
        http_request("POST", &url, &own, &body).await.0,
        401,
        "same origin gets through"
    );
    let register = format!("{}/api/register", server.http_url());
    let json_body = json!({"username": "csrf", "password": PASSWORD}).to_string();
    assert_eq!(
        http_request("POST", &register, &evil, &json_body).await.0,
        403
    );
    server.stop().await;
}

#[tokio::test]
async fn failed_logins_get_the_same_answer_and_growing_delays() {
    let server = common::start_server(&[]).await;
    let base = server.http_url();
    register(&base, "bob").await;
    let (code, unknown) = login(&base, "nosuchuser", "wrong password").await;
    let (code2, wrong) = login(&base, "bob", "wrong password").await;
    assert_eq!((code, code2), (401, 401));
    assert_eq!(
        unknown.body, wrong.body,
        "no such user and wrong password look the same"
    );
    assert_eq!(wrong.json()["error"]["code"], "bad_credentials");
    // bob has failed once; two more are answered at once, then the waits double.
    let mut waits = vec![];
    for _ in 0..2 {
        let (code, reply) = login(&base, "bob", "wrong password").await;
        assert_eq!(code, 401);
        waits.push(reply.retry_after());
    }
    for expected in [1, 2] {
        let (code, reply) = login(&base, "bob", "wrong password").await;
        assert_eq!(code, 401, "{}", reply.body);
        waits.push(reply.retry_after());
        // Trying again before the wait is over is refused without checking the password.
        let (code, early) = login(&base, "bob", PASSWORD).await;
        assert_eq!(
            (code, early.json()["error"]["code"].clone()),
            (429, json!("rate_limited"))
        );
        let after = early.retry_after().expect("Retry-After");
        assert!((1..=expected).contains(&after), "{after}");
        tokio::time::sleep(Duration::from_millis(expected * 1000 + 100)).await;
    }
    assert_eq!(waits, [None, None, Some(1), Some(2)]);
    let (code, ok) = login(&base, "bob", PASSWORD).await;
    assert_eq!(code, 200, "{}", ok.body);
    let (_, _, metrics) = common::http_get(&format!("{base}/metrics")).await;
    for line in [
        "chat_logins_total{result=\"bad_credentials\"} 6",
        "chat_logins_total{result=\"rate_limited\"} 2",
        "chat_logins_total{result=\"ok\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in {metrics}");
    }
    server.stop().await;
}

/// Two replicas of the durable mode on one Redis and one database.
async fn durable_pair() -> (common::TestServer, common::TestServer, String, impl Sized) {
    let (redis, redis_server) = common::shared_redis().await;
    let (db, pg) = common::fresh_database().await;
    let prefix = common::unique_prefix();
    let args = [
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
        "--database-url",
        &db,
        "--guest-posting",
        "false",
        "--presence-ttl-secs",
        "3",
    ];
    let a = common::start_server(&args).await;
    let b = common::start_server(&args).await;
    common::wait_ready(&a.http_url()).await;
    common::wait_ready(&b.http_url()).await;
    (a, b, db, (redis_server, pg))
}

#[tokio::test]
async fn logout_on_one_replica_closes_the_socket_on_the_other() {
    let (a, b, _db, _keep) = durable_pair().await;
    let cookie = register(&a.http_url(), "carol").await;
    let (mut on_b, welcome) = signed_in(&b.ws_url(), &cookie).await;
    assert_eq!(
        welcome["user"]["username"], "carol",
        "the session is in the shared database"
    );
    on_b.join("general").await;
    let (code, reply) = post(&a.http_url(), "/api/logout", Some(&cookie), json!({})).await;
    assert_eq!(code, 204, "{}", reply.body);
    assert!(reply.headers["set-cookie"].contains("Max-Age=0"));
    let ended = on_b.expect("error").await;
    assert_eq!(ended["code"], "session_ended");
    assert_eq!(on_b.close_code().await, Some(4001));
    let (code, _, _) = http_request(
        "GET",
        &format!("{}/api/me", b.http_url()),
        &[("Cookie", &cookie)],
        "",
    )
    .await;
    assert_eq!(code, 401, "the cookie signs nobody in any more");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_password_change_ends_the_other_sessions_and_the_hash_is_argon2id() {
    let (a, b, db, _keep) = durable_pair().await;
    let first = register(&a.http_url(), "dave").await;
    let (code, second) = login(&b.http_url(), "dave", PASSWORD).await;
    assert_eq!(code, 200);
    let second = second.cookie();
    let (mut old, _) = signed_in(&b.ws_url(), &first).await;
    let (mut kept, _) = signed_in(&a.ws_url(), &second).await;
    let new_password = "a much better passphrase";
    let (code, reply) = post(
        &a.http_url(),
        "/api/password",
        Some(&second),
        json!({"current_password": PASSWORD, "new_password": new_password}),
    )
    .await;
    assert_eq!(code, 204, "{}", reply.body);
    assert_eq!(old.expect("error").await["code"], "session_ended");
    assert_eq!(old.close_code().await, Some(4001));
    kept.send(json!({"type":"ping","id":1})).await;
    assert_eq!(
        kept.expect("pong").await["id"],
        1,
        "the session that changed it stays"
    );
    assert_eq!(login(&a.http_url(), "dave", PASSWORD).await.0, 401);
    assert_eq!(login(&a.http_url(), "dave", new_password).await.0, 200);
    // The database holds an Argon2id hash and neither password.
    let pool = sqlx::PgPool::connect(&db).await.unwrap();
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE key = 'dave'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let dump: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(t)::text FROM (SELECT * FROM users) t UNION ALL \
         SELECT row_to_json(t)::text FROM (SELECT * FROM sessions) t",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let dump = dump.join("\n");
    for secret in [
        PASSWORD,
        new_password,
        second.trim_start_matches("chatapp_session="),
    ] {
        assert!(!dump.contains(secret), "{secret} is in the database");
    }
    pool.close().await;
    let (_, _, metrics) = common::http_get(&format!("{}/metrics", a.http_url())).await;
    assert!(!metrics.contains(PASSWORD) && !metrics.contains(new_password));
    // Deleting the account ends the last session too.
    let (code, reply) = post(
        &a.http_url(),
        "/api/account/delete",
        Some(&second),
        json!({"password": new_password}),
    )
    .await;
    assert_eq!(code, 204, "{}", reply.body);
    assert_eq!(kept.expect("error").await["code"], "session_ended");
    assert_eq!(login(&a.http_url(), "dave", new_password).await.0, 401);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn passwords_never_reach_the_log_output() {
    let (redis, _redis_server) = common::shared_redis().await;
    let prefix = common::unique_prefix();
    let port = common::free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args([
            "--listen",
            &listen,
            "--redis-url",
            &redis,
            "--redis-prefix",
            &prefix,
            "--log-format",
            "json",
        ])
        .env("RUST_LOG", "trace")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{listen}");
    while tokio::net::TcpStream::connect(&listen).await.is_err() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    common::wait_ready(&base).await;
    let cookie = register(&base, "erin").await;
    assert_eq!(login(&base, "erin", "not the password").await.0, 401);
    assert_eq!(login(&base, "erin", PASSWORD).await.0, 200);
    let (mut c, _) = signed_in(&format!("ws://{listen}/ws"), &cookie).await;
    c.join("general").await;
    // The Redis-only mode stores the account in Redis: a hash, never the password.
    let stored: String = common::redis_cmd(&redis, &["GET", &format!("{prefix}:user:erin")])
        .await
        .unwrap();
    assert!(
        stored.contains("$argon2id$") && !stored.contains(PASSWORD),
        "{stored}"
    );
    child.start_kill().unwrap();
    let out = child.wait_with_output().await.unwrap();
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        logs.contains("account registered"),
        "the logs were captured: {logs}"
    );
    for secret in [
        PASSWORD,
        "not the password",
        cookie.trim_start_matches("chatapp_session="),
    ] {
        assert!(!logs.contains(secret), "{secret} is in the logs");
    }
}

/// The counts of `general` in a `rooms` frame or `/api/rooms`: (registered, guests, online).
fn general(listing: &Value) -> (Value, Value, Value) {
    let room = listing["rooms"]
        .as_array()
        .and_then(|rooms| rooms.iter().find(|r| r["name"] == "general"))
        .cloned()
        .unwrap_or(Value::Null);
    (
        room["registered"].clone(),
        room["guests"].clone(),
        room["online"].clone(),
    )
}

#[tokio::test]
async fn online_counts_by_kind_and_members_are_summed_across_replicas() {
    let (redis, _redis_server) = common::shared_redis().await;
    let prefix = common::unique_prefix();
    let args = [
        "--redis-url",
        &redis,
        "--redis-prefix",
        &prefix,
        "--guest-posting",
        "false",
    ];
    let a = common::start_server(&args).await;
    let b = common::start_server(&args).await;
    common::wait_ready(&a.http_url()).await;
    common::wait_ready(&b.http_url()).await;
    let cookie = register(&a.http_url(), "frank").await;
    let (mut frank, _) = signed_in(&a.ws_url(), &cookie).await;
    frank.join("general").await;
    let mut guest = Client::connect(&b.ws_url()).await;
    guest.send(json!({"type":"hello","name":"Guest"})).await;
    guest.expect("welcome").await;
    guest.join("general").await;
    let want = (json!(1), json!(1), json!(2));
    // The guest's replica learns of frank through Redis, and frank's of the guest.
    let rooms = guest
        .expect_where(|v| v["type"] == "rooms" && general(v) == want)
        .await;
    assert_eq!(
        rooms["totals"],
        json!({"online": 2, "registered": 1, "guests": 1})
    );
    let members = frank
        .expect_where(|v| v["type"] == "members" && v["guests"] == 1)
        .await;
    assert_eq!(members["room"], "general");
    assert_eq!(
        members["users"],
        json!([{"username": "frank", "display_name": "frank D."}])
    );
    let members = guest
        .expect_where(|v| {
            v["type"] == "members" && v["users"].as_array().is_some_and(|u| !u.is_empty())
        })
        .await;
    assert_eq!(members["users"][0]["username"], "frank");
    let (_, _, body) = common::http_get(&format!("{}/api/rooms", a.http_url())).await;
    let listing: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(general(&listing), want, "{body}");
    assert_eq!(listing["totals"]["registered"], 1, "{body}");
    // Frank leaves: the guest's replica sees the room without him.
    frank.send(json!({"type":"leave","room":"general"})).await;
    let members = guest
        .expect_where(|v| v["type"] == "members" && v["users"] == json!([]))
        .await;
    assert_eq!(members["guests"], 1);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn in_the_redis_only_mode_sessions_are_shared_and_end_everywhere() {
    let (redis, _redis_server) = common::shared_redis().await;
    let prefix = common::unique_prefix();
    let args = ["--redis-url", &redis, "--redis-prefix", &prefix];
    let a = common::start_server(&args).await;
    let b = common::start_server(&args).await;
    common::wait_ready(&a.http_url()).await;
    common::wait_ready(&b.http_url()).await;
    let cookie = register(&a.http_url(), "grace").await;
    let (code, other) = login(&b.http_url(), "GRACE", PASSWORD).await;
    assert_eq!(code, 200, "logging in ignores case: {}", other.body);
    let other = other.cookie();
    let (mut on_b, welcome) = signed_in(&b.ws_url(), &cookie).await;
    assert_eq!(welcome["user"]["username"], "grace");
    let (mut second, _) = signed_in(&a.ws_url(), &other).await;
    let (code, _) = post(&a.http_url(), "/api/logout", Some(&cookie), json!({})).await;
    assert_eq!(code, 204);
    assert_eq!(on_b.expect("error").await["code"], "session_ended");
    assert_eq!(on_b.close_code().await, Some(4001));
    second.send(json!({"type":"ping","id":"still"})).await;
    assert_eq!(
        second.expect("pong").await["id"],
        "still",
        "only that session ended"
    );
    let me = format!("{}/api/me", b.http_url());
    assert_eq!(
        http_request("GET", &me, &[("Cookie", &cookie)], "").await.0,
        401
    );
    assert_eq!(
        http_request("GET", &me, &[("Cookie", &other)], "").await.0,
        200
    );
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn failed_logins_count_across_replicas() {
    let (redis, _redis_server) = common::shared_redis().await;
    let prefix = common::unique_prefix();
    let args = ["--redis-url", &redis, "--redis-prefix", &prefix];
    let a = common::start_server(&args).await;
    let b = common::start_server(&args).await;
    common::wait_ready(&a.http_url()).await;
    common::wait_ready(&b.http_url()).await;
    register(&a.http_url(), "heidi").await;
    // Spread over the replicas, the failures still add up: the fourth gets a delay...
    let mut waits = vec![];
    for base in [a.http_url(), b.http_url(), a.http_url(), b.http_url()] {
        let (code, reply) = login(&base, "heidi", "wrong password").await;
        assert_eq!(code, 401, "{}", reply.body);
        waits.push(reply.retry_after());
    }
    assert_eq!(waits, [None, None, None, Some(1)]);
    // ... which the other replica enforces.
    let (code, reply) = login(&a.http_url(), "heidi", PASSWORD).await;
    assert_eq!(
        (code, reply.retry_after()),
        (429, Some(1)),
        "{}",
        reply.body
    );
    a.stop().await;
    b.stop().await;
}
