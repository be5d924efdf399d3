//! Themes and ephemeral sends in headless Chromium. Themes: the appearance picker in the top bar
//! is a keyboard-usable radio group; picking dark and each accent changes the colours the page
//! computes, the choice survives a reload, `system` follows Chromium's dark mode, and axe-core
//! (its color-contrast rule included) finds nothing in light and dark for every accent.
//! Ephemeral: a message sent with the composer's switch shows marked on another page, is gone
//! after a reload, and one in flight when the socket closes is dropped with a notice, never sent
//! twice. Like `browser.rs`, it never skips: run `scripts/test.sh` to get Chromium.

mod browser_harness;
mod common;

use std::panic::AssertUnwindSafe;

use browser_harness::{
    BROWSERS, Browser, ChromeDriver, MESSAGES_JS, axe_source, finish, require_browser, run_axe,
    say, sign_in, wait_for_message, wait_js, wait_ready,
};
use fantoccini::key::Key;
use futures_util::FutureExt;
use serde_json::{Value as Json, json};

const ACCENTS: [&str; 6] = ["indigo", "teal", "green", "orange", "rose", "violet"];

/// The theme in effect and the colours the page computes from it.
const COLOURS_JS: &str = r#"
const css = (sel, prop) => getComputedStyle(document.querySelector(sel))[prop];
return {
  theme: document.documentElement.dataset.theme ?? null,
  accent: document.documentElement.dataset.accent ?? null,
  send: css('#send-button', 'backgroundColor'),
  sendText: css('#send-button', 'color'),
  topic: css('#messages .message-topic', 'color'),
  page: css('body', 'backgroundColor'),
  text: css('body', 'color'),
};
"#;

/// Clicks the radio `name=value` of the open appearance panel.
async fn pick(browser: &Browser, name: &str, value: &str) {
    let css = format!("#theme-panel input[name='{name}'][value='{value}']");
    browser.find(&css).await.click().await.unwrap();
}

/// Closes the appearance panel as a person would, with Escape.
async fn close_panel(browser: &Browser) {
    let script = "document.querySelector('#theme-panel').dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true})); return document.querySelector('#theme-panel').hidden;";
    assert_eq!(browser.js(script).await, true);
}

async fn colours(browser: &Browser) -> Json {
    browser.js(COLOURS_JS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn themes_change_colours_persist_and_keep_contrast() {
    require_browser();
    let axe = axe_source();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&[]).await;
    let url = server.http_url();
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    // Chromium's own dark mode, so `prefers-color-scheme: dark` holds as on a dark desktop.
    let dark = Browser::open_with(&driver, &["--force-dark-mode"]).await;
    let outcome = AssertUnwindSafe(themes_scenario(&ann, &dark, &url, &axe))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann, dark]).await;
}

async fn themes_scenario(ann: &Browser, dark: &Browser, url: &str, axe: &str) {
    sign_in(ann, url, "Ann", "ann@example.com").await;
    // Something of every coloured part: a topic chip, a link, the open room, primary buttons.
    ann.find("#topic-input")
        .await
        .send_keys("colours")
        .await
        .unwrap();
    say(ann, "see https://example.com/docs").await;
    wait_for_message(ann, "see https://example.com/docs").await;

    let start = colours(ann).await;
    assert_eq!(
        (&start["theme"], &start["accent"]),
        (&json!("system"), &json!("indigo"))
    );
    assert_eq!(start["send"], "rgb(59, 91, 219)", "{start:#}"); // app.css's own #3b5bdb

    // The picker by keyboard: the button opens it on the checked radio, arrows choose, Escape
    // closes it and gives the focus back.
    let button = ann.find("#theme-button").await;
    button.send_keys(&Key::Enter).await.unwrap();
    let focused = "return [document.activeElement.name, document.activeElement.value, document.querySelector('#theme-button').getAttribute('aria-expanded')];";
    assert_eq!(
        ann.js(focused).await,
        json!(["theme-mode", "system", "true"])
    );
    let violations = run_axe(ann, axe).await;
    assert_eq!(violations, json!([]), "axe-core with the picker open");
    // (WebDriver focuses the element it types into: each key goes to the radio checked now.)
    for from in ["system", "light"] {
        let radio = ann
            .find(&format!("#theme-panel input[value='{from}']"))
            .await;
        radio.send_keys(&Key::Down).await.unwrap();
    }
    assert_eq!(colours(ann).await["theme"], "dark", "two arrows down: dark");
    ann.js("document.activeElement.dispatchEvent(new KeyboardEvent('keydown', {key: 'Escape', bubbles: true})); return true;")
        .await;
    assert_eq!(
        ann.js(
            "return [document.querySelector('#theme-panel').hidden, document.activeElement.id];"
        )
        .await,
        json!([true, "theme-button"])
    );

    // Every accent in both modes: its own colours, and nothing axe-core complains about.
    ann.find("#theme-button").await.click().await.unwrap();
    for mode in ["light", "dark"] {
        pick(ann, "theme-mode", mode).await;
        let mut seen = Vec::new();
        for accent in ACCENTS {
            pick(ann, "theme-accent", accent).await;
            let now = colours(ann).await;
            assert_eq!(
                (&now["theme"], &now["accent"]),
                (&json!(mode), &json!(accent))
            );
            seen.push(now["send"].clone());
            close_panel(ann).await;
            let violations = run_axe(ann, axe).await;
            assert_eq!(violations, json!([]), "{mode} {accent}: axe-core: {now:#}");
            ann.find("#theme-button").await.click().await.unwrap();
        }
        let distinct: std::collections::HashSet<String> =
            seen.iter().map(ToString::to_string).collect();
        assert_eq!(distinct.len(), ACCENTS.len(), "{mode}: {seen:?}");
        let page = colours(ann).await["page"].clone();
        let expected = if mode == "dark" {
            "rgb(22, 24, 29)"
        } else {
            "rgb(255, 255, 255)"
        };
        assert_eq!(page, expected, "{mode} page background");
    }

    // Dark + teal, kept across a reload.
    pick(ann, "theme-accent", "teal").await;
    let before = colours(ann).await;
    assert_eq!(before["send"], "rgb(59, 201, 219)", "{before:#}"); // teal's dark #3bc9db
    ann.client.goto(url).await.unwrap();
    wait_ready(ann, "general").await;
    wait_for_message(ann, "see https://example.com/docs").await;
    assert_eq!(colours(ann).await, before, "after a reload");

    // Another tab of the browser starts with the choice, and a change there reaches this one.
    let first = ann.client.window().await.unwrap();
    let second = ann.client.new_window(true).await.unwrap().handle;
    ann.client.switch_to_window(second).await.unwrap();
    ann.client.goto(url).await.unwrap();
    let attributes =
        "return [document.documentElement.dataset.theme, document.documentElement.dataset.accent];";
    wait_js(ann, "the second tab's theme", attributes, |v| {
        v == &json!(["dark", "teal"])
    })
    .await;
    ann.find("#theme-button").await.click().await.unwrap();
    pick(ann, "theme-accent", "violet").await;
    ann.client.close_window().await.unwrap();
    ann.client.switch_to_window(first).await.unwrap();
    wait_js(ann, "the first tab following", attributes, |v| {
        v == &json!(["dark", "violet"])
    })
    .await;

    // `system` follows Chromium's dark mode, and a forced light wins over it.
    sign_in(dark, url, "Dee", "").await;
    let system = "return matchMedia('(prefers-color-scheme: dark)').matches;";
    assert_eq!(
        dark.js(system).await,
        true,
        "--force-dark-mode did not apply"
    );
    wait_for_message(dark, "see https://example.com/docs").await;
    dark.find("#theme-button").await.click().await.unwrap();
    pick(dark, "theme-accent", "rose").await;
    let dark_rose = colours(dark).await;
    assert_eq!(dark_rose["send"], "rgb(247, 131, 172)", "{dark_rose:#}"); // #f783ac
    assert_eq!(dark_rose["page"], "rgb(22, 24, 29)");
    pick(dark, "theme-mode", "light").await;
    let light_rose = colours(dark).await;
    assert_eq!(light_rose["send"], "rgb(194, 37, 92)", "{light_rose:#}"); // #c2255c
    assert_eq!(light_rose["page"], "rgb(255, 255, 255)");
    close_panel(dark).await;
    assert_eq!(
        run_axe(dark, axe).await,
        json!([]),
        "forced light on a dark system"
    );
    dark.find("#theme-button").await.click().await.unwrap();
    pick(dark, "theme-mode", "system").await;
    close_panel(dark).await;
    assert_eq!(colours(dark).await, dark_rose, "back to the system's dark");
    assert_eq!(run_axe(dark, axe).await, json!([]), "system dark, rose");

    // On a phone: the button, the open panel and the ephemeral switch fit the screen.
    dark.client.set_window_size(390, 844).await.unwrap();
    dark.find("#theme-button").await.click().await.unwrap();
    let fits = r#"
const w = document.documentElement.clientWidth;
const inside = (sel) => {
  const r = document.querySelector(sel).getBoundingClientRect();
  return r.width > 0 && r.left >= 0 && r.right <= w;
};
return {
  width: w,
  button: inside('#theme-button'),
  panel: inside('#theme-panel'),
  toggle: inside('#ephemeral-toggle'),
  topbar: document.querySelector('.topbar').scrollWidth <= w,
};
"#;
    wait_js(dark, "the picker on a 390px screen", fits, |v| {
        v == &json!({"width": v["width"], "button": true, "panel": true, "toggle": true, "topbar": true})
            && v["width"].as_i64().unwrap() <= 390
    })
    .await;
    dark.screenshot_to("ui-themes-phone.png").await;
    assert_eq!(run_axe(dark, axe).await, json!([]), "phone, picker open");
}

/// The open room's messages with their ephemeral mark.
const EPHEMERAL_JS: &str = r#"
return [...document.querySelectorAll('#messages .message')].map((m) => ({
  content: m.querySelector('.message-content')?.textContent ?? null,
  ephemeral: m.classList.contains('ephemeral'),
  pending: m.classList.contains('pending'),
}));
"#;

/// Until told otherwise, the page's socket swallows ephemeral sends (as if the connection died
/// with them on the way) and remembers itself in `window.__ws`.
const SWALLOW_EPHEMERAL_JS: &str = r#"
window.__swallow = true;
if (!window.__swallowHooked) {
  window.__swallowHooked = true;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    window.__ws = this;
    if (window.__swallow && String(data).includes('"ephemeral":true')) return undefined;
    return send.call(this, data);
  };
}
return true;
"#;

async fn say_ephemeral(browser: &Browser, text: &str) {
    let toggle = browser.find("#ephemeral-toggle").await;
    toggle.send_keys(" ").await.unwrap(); // Space checks a checkbox: keyboard usable
    let checked = "return document.querySelector('#ephemeral-toggle').checked;";
    assert_eq!(browser.js(checked).await, true);
    say(browser, text).await;
    assert_eq!(
        browser.js(checked).await,
        false,
        "the switch turns off after a send"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ephemeral_message_is_shown_marked_and_gone_after_a_reload() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&[]).await;
    let url = server.http_url();
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let bob = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(ephemeral_scenario(&ann, &bob, &url))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann, bob]).await;
}

async fn ephemeral_scenario(ann: &Browser, bob: &Browser, url: &str) {
    sign_in(ann, url, "Ann", "").await;
    sign_in(bob, url, "Bob", "").await;
    say(ann, "kept for later").await;
    wait_for_message(bob, "kept for later").await;
    say_ephemeral(ann, "only for now").await;
    let marked = |v: &Json| {
        let list = v.as_array().unwrap();
        list.iter()
            .any(|m| m == &json!({"content": "only for now", "ephemeral": true, "pending": false}))
            && !list.iter().any(|m| m["pending"] == true)
    };
    wait_js(bob, "the ephemeral message, marked", EPHEMERAL_JS, marked).await;
    wait_js(ann, "ann's ephemeral message, marked", EPHEMERAL_JS, marked).await;
    let outbox = "return sessionStorage.getItem('chatapp.outbox') ?? '';";
    let kept = ann.js(outbox).await;
    assert!(!kept.to_string().contains("only for now"), "{kept}");
    say(ann, "and this one is kept").await;
    wait_for_message(bob, "and this one is kept").await;

    // Gone after a reload: the history has the stored messages only.
    bob.client.goto(url).await.unwrap();
    wait_ready(bob, "general").await;
    wait_for_message(bob, "and this one is kept").await;
    let after = bob.js(MESSAGES_JS).await;
    let contents: Vec<&Json> = after
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["content"])
        .collect();
    assert_eq!(
        contents,
        [&json!("kept for later"), &json!("and this one is kept")]
    );

    // In flight when the socket closes: dropped with a notice, not sent again after reconnecting.
    ann.js(SWALLOW_EPHEMERAL_JS).await;
    say(ann, "hook the socket").await;
    wait_for_message(bob, "hook the socket").await;
    say_ephemeral(ann, "lost on the way").await;
    let sending = "return document.querySelector('#pending-stream .message.ephemeral')?.dataset.status ?? null;";
    wait_js(ann, "the ephemeral message on its way", sending, |v| {
        v == "sending"
    })
    .await;
    ann.js("window.__swallow = false; window.__ws.close(); return true;")
        .await;
    let toast = "return [...document.querySelectorAll('#toasts .toast')].map((t) => t.textContent).join(' | ');";
    wait_js(ann, "a notice about the dropped message", toast, |v| {
        v.as_str().unwrap().contains("ephemeral message to general")
    })
    .await;
    wait_ready(ann, "general").await;
    assert_eq!(
        ann.js(sending).await,
        Json::Null,
        "nothing ephemeral left pending"
    );
    say(ann, "after the reconnect").await;
    wait_for_message(bob, "after the reconnect").await;
    // A resend would have gone out before this later message, so it would be here by now.
    let seen = bob.js(EPHEMERAL_JS).await;
    assert!(!seen.to_string().contains("lost on the way"), "{seen:#}");
}
