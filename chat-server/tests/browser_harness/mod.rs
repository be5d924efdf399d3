//! The browser test's harness: a chromedriver and headless Chromium sessions (fantoccini over
//! WebDriver), the page-level steps a person takes (sign in, open a room, say something) and the
//! waits that check what the page shows, plus axe-core for accessibility. Scripts run through
//! WebDriver, which the page's Content-Security-Policy does not apply to.
#![allow(dead_code)] // not every step is used by every scenario

pub mod accounts;
pub mod support;

use std::{
    net::TcpListener as StdListener,
    path::{Path, PathBuf},
    process::Stdio,
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use serde_json::{Value as Json, json};
use tokio::{
    net::TcpStream,
    process::{Child, Command},
};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long the page gets to show something; generous for a loaded 2-core CI machine.
pub const WAIT: Duration = Duration::from_secs(20);

/// Two Chromiums at a time are plenty for a 2-core machine: the tests take turns.
pub static BROWSERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Stands in for a network outage of one page: while `window.__blockSockets` is true the page
/// cannot open a WebSocket (the constructor throws, as it does for a refused connection).
pub const BLOCK_SOCKETS_JS: &str = r#"
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
pub const MESSAGES_JS: &str = r#"
return [...document.querySelectorAll('#messages .message')].map((m) => ({
  offset: m.dataset.offset ?? null,
  status: m.dataset.status ?? null,
  name: m.querySelector('.message-name')?.textContent ?? null,
  topic: m.querySelector('.message-topic')?.textContent ?? null,
  content: m.querySelector('.message-content')?.textContent ?? null,
}));
"#;

/// Records the page's WebSocket the next time the page sends on it, so the test can play server
/// frames the in-process server does not send (yet) into the page's own handlers.
pub const CAPTURE_SOCKET_JS: &str = r#"
if (!window.__sendHooked) {
  window.__sendHooked = true;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    window.__ws = this;
    return send.call(this, data);
  };
}
"#;

/// Delivers `frame` to the page as if the server had sent it (after `CAPTURE_SOCKET_JS` and a send).
pub async fn server_frame(browser: &Browser, frame: Json) {
    let script = "window.__ws.dispatchEvent(new MessageEvent('message', {data: arguments[0]}));";
    browser
        .js_with(script, vec![json!(frame.to_string())])
        .await;
}

/// axe-core's browser build, installed from npm by `scripts/test.sh`.
pub fn axe_source() -> String {
    let path = std::env::var_os("CHATAPP_AXE_JS").map_or_else(
        || {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/node_modules-axe/node_modules/axe-core/axe.min.js")
        },
        PathBuf::from,
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core is not at {} ({e}); run scripts/test.sh, which installs it from npm",
            path.display()
        )
    })
}

/// Runs axe-core in the page and returns its violations, trimmed to what a person needs.
/// WebDriver's script execution is not subject to the page's CSP, so axe runs while the page
/// keeps `script-src 'self'`.
pub async fn run_axe(browser: &Browser, axe: &str) -> Json {
    let loaded = browser
        .js(&format!("{axe}\n;return typeof window.axe;"))
        .await;
    assert_eq!(loaded, "object", "{}: axe-core did not load", browser.name);
    let script = r#"
const done = arguments[arguments.length - 1];
axe.run(document, { resultTypes: ['violations'] })
  .then((r) => done(r.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.map((n) => ({ target: n.target, summary: n.failureSummary })),
  }))))
  .catch((e) => done({ error: String(e) }));
"#;
    browser
        .client
        .execute_async(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{}: axe.run failed: {e}", browser.name))
}

/// Clicks a room in the sidebar once it is listed. (The list is rebuilt on every `rooms` push, so
/// a WebDriver element handle could go stale between finding and clicking.)
pub async fn click_room(browser: &Browser, room: &str) {
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
pub async fn say(browser: &Browser, text: &str) {
    let composer = browser.find("#composer-input").await;
    composer.send_keys(text).await.unwrap();
    composer.send_keys(&Key::Enter).await.unwrap();
}

/// Waits until `room` is open, its history loaded on the current connection.
pub async fn wait_ready(browser: &Browser, room: &str) {
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
pub async fn wait_for_contents(browser: &Browser, expected: &[&str]) {
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
pub async fn sign_in(browser: &Browser, url: &str, name: &str, email: &str) {
    browser.client.goto(url).await.unwrap();
    sign_in_here(browser, name, email).await;
}

/// Fills the hello form of the page shown and waits until `general` is joined and ready.
/// (The form shows once the server's `welcome` says guests may post.)
pub async fn sign_in_here(browser: &Browser, name: &str, email: &str) {
    let shown = "return !document.querySelector('#hello-panel').hidden;";
    wait_js(browser, "the hello form", shown, |v| v == true).await;
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
pub async fn wait_for_message(browser: &Browser, content: &str) -> Json {
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

/// Creates a room from the sidebar form and waits until it is open.
pub async fn create_room(browser: &Browser, room: &str) {
    let input = browser.find("#new-room-input").await;
    input.send_keys(room).await.unwrap();
    input.send_keys(&Key::Enter).await.unwrap();
    wait_ready(browser, room).await;
}

/// What a person can see of the message with this content: each part's text, or false when it
/// is there but not visible (hidden, clipped to a pixel, off screen), or null when absent.
pub async fn message_parts(browser: &Browser, content: &str) -> Json {
    let script = r#"
const m = [...document.querySelectorAll('#messages .message')]
  .find((e) => e.querySelector('.message-content')?.textContent === arguments[0]);
if (!m) return null;
const shown = (selector) => {
  const e = m.querySelector(selector);
  if (!e) return null;
  const r = e.getBoundingClientRect();
  const visible = e.checkVisibility({ visibilityProperty: true, opacityProperty: true }) &&
    r.width > 2 && r.height > 2 && r.left >= 0 && r.right <= document.documentElement.clientWidth;
  return visible ? e.textContent : false;
};
return {
  name: shown('.message-name'),
  email: shown('.message-email'),
  time: shown('.message-time'),
  topic: shown('.message-topic'),
  content: shown('.message-content'),
};
"#;
    tokio::time::sleep(Duration::from_millis(300)).await; // relayout after a resize
    browser.js_with(script, vec![json!(content)]).await
}

/// Ends the browser sessions and the driver, then reports a failure of the scenario, so no
/// Chromium outlives the test.
pub async fn finish<const N: usize>(
    outcome: std::thread::Result<()>,
    driver: ChromeDriver,
    browsers: [Browser; N],
) {
    for browser in browsers {
        browser.close().await;
    }
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Polls `script` until `ok` accepts its value; on timeout fails showing the last value.
pub async fn wait_js(
    browser: &Browser,
    what: &str,
    script: &str,
    ok: impl Fn(&Json) -> bool,
) -> Json {
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

pub async fn screenshot(browser: &Browser, width: u32, height: u32, file: &str) {
    browser.client.set_window_size(width, height).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // relayout
    browser.screenshot_to(file).await;
}

pub fn require_browser() {
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
pub struct ChromeDriver {
    url: String,
    _child: Child,
}

impl ChromeDriver {
    pub async fn start() -> Self {
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
pub struct Browser {
    pub name: String,
    pub client: Client,
    profile: PathBuf,
}

impl Browser {
    pub async fn open(driver: &ChromeDriver) -> Self {
        Self::open_with(driver, &[]).await
    }

    /// A session whose Chromium gets extra command-line flags.
    pub async fn open_with(driver: &ChromeDriver, flags: &[&str]) -> Self {
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
        let mut capabilities = capabilities;
        let args = capabilities["goog:chromeOptions"]["args"]
            .as_array_mut()
            .unwrap();
        args.extend(flags.iter().map(|f| json!(f)));
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

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{}: no {css}: {e}", self.name))
    }

    pub async fn js(&self, script: &str) -> Json {
        self.js_with(script, vec![]).await
    }

    /// Runs `script` with `arguments`; the page's CSP does not apply to WebDriver scripts.
    pub async fn js_with(&self, script: &str, arguments: Vec<Json>) -> Json {
        self.client
            .execute(script, arguments)
            .await
            .unwrap_or_else(|e| {
                let head: String = script.chars().take(400).collect();
                panic!("{}: script failed: {e}\n{head}", self.name)
            })
    }

    pub async fn screenshot_to(&self, file: &str) {
        let png = self.client.screenshot().await.unwrap();
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(file), png).unwrap();
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
