//! The embedded UI in a real browser: headless Chromium driven over WebDriver (fantoccini and
//! Debian's chromedriver). Two browser sessions chat through an in-process server; a message that
//! looks like HTML must arrive as literal text; the page must carry its Content-Security-Policy;
//! rooms are created, joined and counted as unread; after a server restart both pages recover
//! every message exactly once, a message typed while offline included. Screenshots (desktop and
//! phone sized) land in `target/` for a human to look at.
//!
//! This test never skips: without Chromium it fails and says to run `scripts/test.sh`, which
//! installs `chromium` and `chromium-driver`.

mod common;

use std::{
    net::TcpListener as StdListener,
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use futures_util::FutureExt;
use serde_json::{Value as Json, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    process::{Child, Command},
};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the page gets to show something; generous for a loaded 2-core CI machine.
const WAIT: Duration = Duration::from_secs(20);
const XSS: &str = r#"<img src=x onerror="window.__pwned=1">"#;

/// Two Chromiums at a time are plenty for a 2-core machine: the tests take turns.
static BROWSERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Stands in for a network outage of one page: while `window.__blockSockets` is true the page
/// cannot open a WebSocket (the constructor throws, as it does for a refused connection).
const BLOCK_SOCKETS_JS: &str = r#"
if (!window.__realWebSocket) {
  const Real = window.WebSocket;
  window.__realWebSocket = Real;
  window.WebSocket = class extends Real {
    constructor(url, protocols) {
      if (window.__blockSockets) throw new DOMException('blocked by the test', 'NetworkError');
      super(url, protocols);
    }
  };
}
window.__blockSockets = true;
"#;

/// Every `.message` in `#messages` as JSON, confirmed and pending alike.
const MESSAGES_JS: &str = r#"
return [...document.querySelectorAll('#messages .message')].map((m) => ({
  offset: m.dataset.offset ?? null,
  status: m.dataset.status ?? null,
  name: m.querySelector('.message-name')?.textContent ?? null,
  topic: m.querySelector('.message-topic')?.textContent ?? null,
  content: m.querySelector('.message-content')?.textContent ?? null,
}));
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_chat_and_html_stays_text() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&[]).await;
    let url = server.http_url();
    check_security_headers(&url).await;

    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let bob = Browser::open(&driver).await;
    // Run the scenario, then always end both browser sessions before reporting a failure, so no
    // Chromium outlives the test.
    let outcome = AssertUnwindSafe(scenario(&ann, &bob, &url))
        .catch_unwind()
        .await;
    ann.close().await;
    bob.close().await;
    drop(driver);
    server.stop().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(ann: &Browser, bob: &Browser, url: &str) {
    sign_in(ann, url, "Ann", "ann@example.com").await;
    sign_in(bob, url, "Bob", "").await;

    // Ann sends with a topic, pressing Enter; Bob sees name, topic and content.
    ann.find("#topic-input")
        .await
        .send_keys("intro")
        .await
        .unwrap();
    // Shift+Enter is a newline (Null releases Shift), Enter sends.
    let typed = format!(
        "hello from Ann{}{}{}second line",
        &*Key::Shift,
        &*Key::Enter,
        &*Key::Null
    );
    let composer = ann.find("#composer-input").await;
    composer.send_keys(&typed).await.unwrap();
    composer.send_keys(&Key::Enter).await.unwrap();
    let seen = wait_for_message(bob, "hello from Ann\nsecond line").await;
    assert_eq!(seen["name"], "Ann", "{seen:#}");
    assert_eq!(seen["topic"], "intro", "{seen:#}");

    // HTML is shown as text and never runs.
    ann.find("#topic-input").await.clear().await.unwrap();
    ann.find("#composer-input")
        .await
        .send_keys(XSS)
        .await
        .unwrap();
    ann.find("#send-button").await.click().await.unwrap();
    wait_for_message(bob, XSS).await;
    for browser in [ann, bob] {
        let probe = browser
            .js("return {imgs: document.querySelectorAll('#messages img').length, pwned: typeof window.__pwned};")
            .await;
        assert_eq!(
            probe,
            json!({"imgs": 0, "pwned": "undefined"}),
            "{}",
            browser.name
        );
    }
    // The sender's own copy is confirmed (acked and delivered), not left pending.
    wait_js(ann, "Ann's messages confirmed", MESSAGES_JS, |v| {
        let list = v.as_array().unwrap();
        list.len() == 2
            && list
                .iter()
                .all(|m| m["status"].is_null() && !m["offset"].is_null())
    })
    .await;

    // Ann opens #ops; Bob sees it listed, joins it, goes back to #general and gets an unread badge.
    let new_room = ann.find("#new-room-input").await;
    new_room.send_keys("ops").await.unwrap();
    new_room.send_keys(&Key::Enter).await.unwrap();
    wait_ready(ann, "ops").await;
    click_room(bob, "ops").await;
    wait_ready(bob, "ops").await;
    click_room(bob, "general").await;
    wait_ready(bob, "general").await;
    say(ann, "deploy at noon").await;
    let badge = "return document.querySelector(\"#room-list [data-room='ops'] .room-unread\")?.firstChild.textContent ?? null;";
    wait_js(bob, "an unread badge on #ops", badge, |v| v == "1").await;
    click_room(bob, "ops").await;
    wait_for_message(bob, "deploy at noon").await;
    wait_js(bob, "the badge to clear", badge, Json::is_null).await;
    click_room(bob, "general").await;
    wait_ready(bob, "general").await;

    screenshot(bob, 1280, 800, "ui-screenshot.png").await;
    screenshot(bob, 390, 844, "ui-screenshot-phone.png").await;
    bob.find("#menu-button").await.click().await.unwrap();
    wait_js(
        bob,
        "the phone drawer to open",
        "return document.body.classList.contains('drawer-open');",
        |v| v == &json!(true),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await; // the slide-in transition
    bob.screenshot_to("ui-screenshot-phone-rooms.png").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_recover_after_a_server_restart_without_duplicates() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    // Redis keeps the history across the restart, so recovery with `since` has something to find.
    let (redis_url, _private_redis) = common::shared_redis().await;
    let prefix = common::unique_prefix();
    let args = [
        "--redis-url",
        redis_url.as_str(),
        "--redis-prefix",
        prefix.as_str(),
    ];
    let server = common::start_server(&args).await;

    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let bob = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(restart_scenario(&ann, &bob, server, &args))
        .catch_unwind()
        .await;
    ann.close().await;
    bob.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn restart_scenario(ann: &Browser, bob: &Browser, server: common::TestServer, args: &[&str]) {
    let url = server.http_url();
    sign_in(ann, &url, "Ann", "ann@example.com").await;
    sign_in(bob, &url, "Bob", "bob@example.com").await;
    say(ann, "before the restart").await;
    wait_for_message(bob, "before the restart").await;
    say(bob, "me too").await;
    let before = ["before the restart", "me too"];
    wait_for_contents(ann, &before).await;
    wait_for_contents(bob, &before).await;

    // The server restarts (sockets closed with 1001); Bob's page stays cut off for longer.
    bob.js(BLOCK_SOCKETS_JS).await;
    let addr = server.addr;
    server.stop().await;
    let down = "return document.querySelector('#conn-state').dataset.state;";
    wait_js(bob, "Bob's page to notice", down, |v| {
        v == "reconnecting" || v == "offline"
    })
    .await;
    say(bob, "typed while offline").await;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the old port is free again");
    let server = common::start_on(listener, args).await;

    // Ann reconnects by herself and talks while Bob is away.
    wait_ready(ann, "general").await;
    say(ann, "while Bob was away").await;
    wait_for_contents(ann, &["before the restart", "me too", "while Bob was away"]).await;

    // Bob is back: he catches up and his queued message goes out, each message exactly once.
    bob.js("window.__blockSockets = false; document.querySelector('#reconnect-button').click();")
        .await;
    let all = [
        "before the restart",
        "me too",
        "while Bob was away",
        "typed while offline",
    ];
    for browser in [ann, bob] {
        wait_for_contents(browser, &all).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // a late duplicate would show by now
    for browser in [ann, bob] {
        let list = browser.js(MESSAGES_JS).await;
        let offsets: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["offset"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(offsets, ["1", "2", "3", "4"], "{}: {list:#}", browser.name);
        let notices = browser
            .js("return document.querySelectorAll('#messages .notice').length;")
            .await;
        assert_eq!(
            notices, 0,
            "{}: a recoverable outage must not announce a gap",
            browser.name
        );
    }
    server.stop().await;
}

/// Clicks a room in the sidebar once it is listed. (The list is rebuilt on every `rooms` push, so
/// a WebDriver element handle could go stale between finding and clicking.)
async fn click_room(browser: &Browser, room: &str) {
    let script = format!(
        "const b = document.querySelector(\"#room-list [data-room='{room}']\"); if (b) b.click(); return Boolean(b);"
    );
    wait_js(
        browser,
        &format!("#{room} in the room list"),
        &script,
        |v| v == true,
    )
    .await;
}

/// Types a message into the open room and presses Enter.
async fn say(browser: &Browser, text: &str) {
    let composer = browser.find("#composer-input").await;
    composer.send_keys(text).await.unwrap();
    composer.send_keys(&Key::Enter).await.unwrap();
}

/// Waits until `room` is open, its history loaded on the current connection.
async fn wait_ready(browser: &Browser, room: &str) {
    let state = r#"return {
      conn: document.querySelector('#conn-state').dataset.state,
      room: document.querySelector('#messages').dataset.room ?? null,
      ready: document.querySelector('#messages').dataset.ready ?? null,
    };"#;
    wait_js(browser, &format!("#{room} to be ready"), state, |v| {
        v == &json!({"conn": "online", "room": room, "ready": "true"})
    })
    .await;
}

/// Waits until the open room shows exactly these contents, all confirmed, nothing pending.
async fn wait_for_contents(browser: &Browser, expected: &[&str]) {
    wait_js(
        browser,
        &format!("exactly {expected:?}"),
        MESSAGES_JS,
        |v| {
            let list = v.as_array().unwrap();
            list.len() == expected.len()
                && list
                    .iter()
                    .zip(expected)
                    .all(|(m, want)| m["content"] == *want && !m["offset"].is_null())
        },
    )
    .await;
}

/// Loads the page, fills the hello form and waits until `general` is joined and ready.
async fn sign_in(browser: &Browser, url: &str, name: &str, email: &str) {
    browser.client.goto(url).await.unwrap();
    browser
        .find("#name-input")
        .await
        .send_keys(name)
        .await
        .unwrap();
    if !email.is_empty() {
        browser
            .find("#email-input")
            .await
            .send_keys(email)
            .await
            .unwrap();
    }
    browser.find("#hello-button").await.click().await.unwrap();
    let state = r#"return {
      conn: document.querySelector('#conn-state').dataset.state,
      room: document.querySelector('#messages').dataset.room ?? null,
      ready: document.querySelector('#messages').dataset.ready ?? null,
      identity: document.querySelector('#identity-name').textContent,
      composer: !document.querySelector('#composer-input').disabled,
    };"#;
    wait_js(browser, "joined #general", state, |v| {
        v == &json!({"conn": "online", "room": "general", "ready": "true", "identity": name, "composer": true})
    })
    .await;
}

/// Waits until `browser` shows a confirmed message with exactly this content; returns it.
async fn wait_for_message(browser: &Browser, content: &str) -> Json {
    let what = format!("a message with content {content:?}");
    let list = wait_js(browser, &what, MESSAGES_JS, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == content && !m["offset"].is_null())
    })
    .await;
    let list = list.as_array().unwrap();
    list.iter()
        .find(|m| m["content"] == content)
        .unwrap()
        .clone()
}

/// Polls `script` until `ok` accepts its value; on timeout fails showing the last value.
async fn wait_js(browser: &Browser, what: &str, script: &str, ok: impl Fn(&Json) -> bool) -> Json {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = browser.js(script).await;
        if ok(&value) {
            return value;
        }
        if Instant::now() > deadline {
            panic!(
                "{}: timed out waiting for {what}; last value: {value:#}",
                browser.name
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn screenshot(browser: &Browser, width: u32, height: u32, file: &str) {
    browser.client.set_window_size(width, height).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // relayout
    browser.screenshot_to(file).await;
}

/// `/` must carry the CSP the UI is written for, and the other hardening headers.
async fn check_security_headers(http_url: &str) {
    let host = http_url.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)
        .await
        .expect("connect to the chat server");
    let request = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let head = response
        .split("\r\n\r\n")
        .next()
        .unwrap()
        .to_ascii_lowercase();
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::trim))
            .unwrap_or_else(|| panic!("no {name} header on /:\n{head}"))
            .to_owned()
    };
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let csp = header("content-security-policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(directive), "CSP lacks {directive:?}: {csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(header("x-content-type-options"), "nosniff");
}

fn require_browser() {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    assert!(
        missing.is_empty(),
        "the browser test needs {missing:?}; run scripts/test.sh, which installs \
         chromium and chromium-driver with apt"
    );
}

/// A chromedriver on a free loopback port, killed when dropped.
struct ChromeDriver {
    url: String,
    _child: Child,
}

impl ChromeDriver {
    async fn start() -> Self {
        let port = StdListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not listen on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    }
}

/// One headless Chromium session with its own fresh profile directory.
struct Browser {
    name: String,
    client: Client,
    profile: PathBuf,
}

impl Browser {
    async fn open(driver: &ChromeDriver) -> Self {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("browser-{n}");
        let profile =
            std::env::temp_dir().join(format!("chatapp-browser-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1280,800",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Json::Object(capabilities) = capabilities else {
            unreachable!()
        };
        // chromedriver is local and speaks plain HTTP: no TLS stack needed.
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("{name}: chromedriver could not start Chromium: {e}"));
        Self {
            name,
            client,
            profile,
        }
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name))
    }

    async fn js(&self, script: &str) -> Json {
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or_else(|e| panic!("{}: script failed: {e}\n{script}", self.name))
    }

    async fn screenshot_to(&self, file: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(file), png).unwrap();
    }

    async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
