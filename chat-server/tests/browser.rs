//! The embedded UI in a real browser: headless Chromium driven over WebDriver (fantoccini and
//! Debian's chromedriver). Two browser sessions chat through an in-process server; a message that
//! looks like HTML must arrive as literal text; every message shows name, email, time, topic and
//! content; the page must carry its Content-Security-Policy; rooms are created, joined and counted
//! as unread, and a room that goes away stops counting; after a server restart both pages recover
//! every message exactly once, a message typed while offline included; the top bar fits a phone
//! while reconnecting; toasts keep clear of Send; a store outage shows as degraded; the pacing
//! follows `welcome.limits`; two tabs of one browser are two members; axe-core finds no
//! accessibility violation in light or dark mode. Screenshots (desktop and phone sized, light and
//! dark) land in `target/` for a human to look at.
//!
//! These tests never skip: without Chromium (or axe-core) they fail and say to run
//! `scripts/test.sh`, which installs `chromium`, `chromium-driver` and axe-core.

mod browser_harness;
mod common;

use std::{panic::AssertUnwindSafe, time::Duration};

use browser_harness::{
    BLOCK_SOCKETS_JS, BROWSERS, Browser, CAPTURE_SOCKET_JS, ChromeDriver, MESSAGES_JS, axe_source,
    click_room, create_room, finish, message_parts, require_browser, run_axe, say, screenshot,
    server_frame, sign_in, sign_in_here, wait_for_contents, wait_for_message, wait_js, wait_ready,
};
use fantoccini::key::Key;
use futures_util::FutureExt;
use serde_json::{Value as Json, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const XSS: &str = r#"<img src=x onerror="window.__pwned=1">"#;

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
    server.stop().await;
    finish(outcome, driver, [ann, bob]).await;
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
    // Everything about a message is visible text, not a hover tooltip (touch has no hover).
    for (width, height) in [(1280, 800), (390, 844)] {
        bob.client.set_window_size(width, height).await.unwrap();
        let parts = message_parts(bob, "hello from Ann\nsecond line").await;
        assert_eq!(parts["name"], "Ann", "{width}px: {parts:#}");
        assert_eq!(parts["email"], "ann@example.com", "{width}px: {parts:#}");
        assert_eq!(parts["topic"], "intro", "{width}px: {parts:#}");
        assert_eq!(
            parts["content"], "hello from Ann\nsecond line",
            "{width}px: {parts:#}"
        );
        assert!(
            parts["time"].as_str().is_some_and(|t| !t.is_empty()),
            "{width}px: {parts:#}"
        );
    }
    bob.client.set_window_size(1280, 800).await.unwrap();

    // HTML is shown as text and never runs.
    ann.find("#topic-input").await.clear().await.unwrap();
    ann.find("#composer-input")
        .await
        .send_keys(XSS)
        .await
        .unwrap();
    ann.find("#send-button").await.click().await.unwrap();
    wait_for_message(bob, XSS).await;
    // A follow-up of the same sender still shows who sent it and when.
    let parts = message_parts(bob, XSS).await;
    assert_eq!(parts["name"], "Ann", "{parts:#}");
    assert_eq!(parts["email"], "ann@example.com", "{parts:#}");
    assert!(
        parts["time"].as_str().is_some_and(|t| !t.is_empty()),
        "{parts:#}"
    );
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
    finish(outcome, driver, [ann, bob]).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_counts_follow_the_rooms_and_a_phone_top_bar_fits_while_reconnecting() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    // In memory: a restarted server has forgotten every room but #general.
    let server = common::start_server(&[]).await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let bob = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(rooms_scenario(&ann, &bob, server))
        .catch_unwind()
        .await;
    finish(outcome, driver, [ann, bob]).await;
}

async fn rooms_scenario(ann: &Browser, bob: &Browser, server: common::TestServer) {
    let url = server.http_url();
    sign_in(ann, &url, "Ann", "ann@example.com").await;
    sign_in(bob, &url, "Bob", "bob@example.com").await;
    for room in ["ops", "dev"] {
        create_room(ann, room).await;
        click_room(bob, room).await;
        wait_ready(bob, room).await;
    }
    click_room(bob, "general").await;
    wait_ready(bob, "general").await;

    // Unread counts per room, on the phone's menu button and in the title.
    click_room(ann, "ops").await;
    wait_ready(ann, "ops").await;
    say(ann, "ops one").await;
    say(ann, "ops two").await;
    click_room(ann, "dev").await;
    wait_ready(ann, "dev").await;
    say(ann, "dev one").await;
    let want = json!({"ops": "2", "dev": "1", "menu": "3", "title": "(3) #general · chatapp"});
    wait_js(bob, "unread 2 in #ops, 1 in #dev", UNREAD_JS, |v| {
        v == &want
    })
    .await;
    click_room(bob, "dev").await;
    wait_for_message(bob, "dev one").await;
    let want = json!({"ops": "2", "dev": null, "menu": "2", "title": "(2) #dev · chatapp"});
    wait_js(bob, "#dev read", UNREAD_JS, |v| v == &want).await;
    click_room(bob, "general").await;
    wait_ready(bob, "general").await;

    // The server goes away; Bob's page stays cut off: on a phone the top bar still fits, with
    // "Retry now" on one line and the avatar on screen, and the offline hint shows.
    bob.js(BLOCK_SOCKETS_JS).await;
    let addr = server.addr;
    server.stop().await;
    bob.client.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // relayout; the drawer slides away
    let layout = wait_js(
        bob,
        "Bob's page to wait for a retry",
        PHONE_TOP_BAR_JS,
        |v| v["retry"] == true,
    )
    .await;
    assert!(layout["viewport"].as_f64().unwrap() <= 400.0, "{layout:#}");
    assert!(
        layout["pageWidth"].as_f64().unwrap() <= layout["viewport"].as_f64().unwrap(),
        "the page scrolls sideways: {layout:#}"
    );
    assert!(
        layout["identityRight"].as_f64().unwrap() <= layout["viewport"].as_f64().unwrap(),
        "the avatar left the screen: {layout:#}"
    );
    assert_eq!(layout["retryLines"], 1, "\"Retry now\" wraps: {layout:#}");
    assert_eq!(
        layout["hintShown"], true,
        "no offline hint on a phone: {layout:#}"
    );
    assert!(
        layout["hint"].as_str().unwrap().starts_with("Offline"),
        "{layout:#}"
    );
    bob.screenshot_to("ui-screenshot-phone-reconnecting.png")
        .await;
    bob.client.set_window_size(1280, 800).await.unwrap();

    // A new server without #ops and #dev: Bob's rejoins are refused, the rooms go, and so do
    // their unread counts, the title's included. The toast saying so keeps clear of Send.
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("the old port is free again");
    let server = common::start_on(listener, &[]).await;
    bob.js("window.__blockSockets = false; document.querySelector('#reconnect-button').click();")
        .await;
    wait_ready(bob, "general").await;
    let want = json!({"ops": null, "dev": null, "menu": "0", "title": "#general · chatapp"});
    wait_js(bob, "the removed rooms to stop counting", UNREAD_JS, |v| {
        v == &want
    })
    .await;
    let overlap = wait_js(bob, "a toast", TOAST_OVER_SEND_JS, |v| !v.is_null()).await;
    assert_eq!(
        overlap["overlaps"], false,
        "a toast covers Send: {overlap:#}"
    );
    bob.screenshot_to("ui-screenshot-toast.png").await;
    server.stop().await;
}

/// Unread badges of #ops and #dev, the menu button's badge and the tab title.
const UNREAD_JS: &str = r#"
const badge = (room) => document.querySelector(`#room-list [data-room='${room}'] .room-unread`)
  ?.firstChild.textContent ?? null;
return {
  ops: badge('ops'),
  dev: badge('dev'),
  menu: document.querySelector('#menu-unread').firstChild?.textContent ?? null,
  title: document.title,
};
"#;

/// Where the top bar's parts are on a narrow screen, and whether the composer's hint shows.
const PHONE_TOP_BAR_JS: &str = r#"
const retry = document.querySelector('#reconnect-button');
const lines = document.createRange();
lines.selectNodeContents(retry);
const hint = document.querySelector('#composer-hint');
const hintBox = hint.getBoundingClientRect();
return {
  viewport: document.documentElement.clientWidth,
  pageWidth: document.documentElement.scrollWidth,
  identityRight: document.querySelector('#identity-button').getBoundingClientRect().right,
  retry: !retry.hidden,
  retryLines: retry.hidden ? 0 : lines.getClientRects().length,
  hint: hint.textContent,
  hintShown: hint.checkVisibility() && hintBox.width > 2 && hintBox.height > 2,
};
"#;

/// null without a toast; else whether the first toast overlaps the Send button.
const TOAST_OVER_SEND_JS: &str = r#"
const toast = document.querySelector('#toasts .toast');
if (!toast) return null;
const a = toast.getBoundingClientRect();
const b = document.querySelector('#send-button').getBoundingClientRect();
const overlaps = a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
return { overlaps, toast: [a.left, a.top, a.right, a.bottom], send: [b.left, b.top, b.right, b.bottom] };
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_shows_as_degraded_until_a_send_is_acked() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    // A private Redis this test can kill; appendonly, so its restart keeps the room's history.
    let mut redis = common::RedisServer::start(true).await;
    let redis_url = redis.url();
    let prefix = common::unique_prefix();
    let server = common::start_server(&[
        "--redis-url",
        redis_url.as_str(),
        "--redis-prefix",
        prefix.as_str(),
    ])
    .await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(degraded_scenario(&ann, &server.http_url(), &mut redis))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann]).await;
}

async fn degraded_scenario(ann: &Browser, url: &str, redis: &mut common::RedisServer) {
    sign_in(ann, url, "Ann", "ann@example.com").await;
    ann.js(CAPTURE_SOCKET_JS).await;
    say(ann, "while all is well").await;
    wait_for_message(ann, "while all is well").await;

    // The `health` frame: not ready is degraded, ready again is online.
    server_frame(
        ann,
        json!({"type": "health", "ready": false, "reason": "store unreachable"}),
    )
    .await;
    let state = wait_js(ann, "degraded from health", CONN_JS, |v| {
        v["state"] == "degraded"
    })
    .await;
    assert!(
        state["hint"].as_str().unwrap().contains("cannot store"),
        "{state:#}"
    );
    assert!(
        state["title"]
            .as_str()
            .unwrap()
            .contains("store unreachable"),
        "{state:#}"
    );
    server_frame(ann, json!({"type": "health", "ready": true})).await;
    wait_js(ann, "online from health", CONN_JS, |v| {
        v["state"] == "online"
    })
    .await;

    // Redis really goes down: the send is answered `unavailable`, the page says degraded (not
    // "Online") and keeps the message; when Redis is back the retry is acked and all is well.
    redis.kill().await;
    say(ann, "while redis is down").await;
    wait_js(ann, "degraded from an unavailable send", CONN_JS, |v| {
        v["state"] == "degraded"
    })
    .await;
    screenshot(ann, 1200, 800, "ui-degraded-desktop.png").await;
    screenshot(ann, 390, 844, "ui-degraded-phone.png").await;
    // A failed message and the degraded hint are as readable as the rest.
    assert_eq!(
        run_axe(ann, &axe_source()).await,
        json!([]),
        "axe-core, degraded"
    );
    redis.restart().await;
    wait_for_message(ann, "while redis is down").await;
    wait_js(ann, "online after the ack", CONN_JS, |v| {
        v["state"] == "online"
    })
    .await;
}

/// The connection state, its explanation and the composer's hint.
const CONN_JS: &str = r#"
const s = document.querySelector('#conn-state');
return {
  state: s.dataset.state,
  title: s.title,
  hint: document.querySelector('#composer-hint').textContent,
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_follows_the_limits_in_welcome() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    // Tighter than the defaults the page once had built in (4096 bytes, 10 in flight).
    let server = common::start_server(&[
        "--max-content-bytes",
        "100",
        "--send-burst",
        "3",
        "--send-rate",
        "2",
    ])
    .await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(limits_scenario(&ann, &server.http_url()))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann]).await;
}

async fn limits_scenario(ann: &Browser, url: &str) {
    sign_in(ann, url, "Ann", "").await;
    let counter = "return document.querySelector('#composer-counter').textContent;";
    assert_eq!(ann.js(counter).await, "0 / 100 bytes");
    ann.find("#composer-input")
        .await
        .send_keys(&"x".repeat(101))
        .await
        .unwrap();
    let state = ann
        .js(
            "return {send: document.querySelector('#send-button').disabled, \
             error: document.querySelector('#composer-error').textContent};",
        )
        .await;
    assert_eq!(state["send"], true, "{state:#}");
    assert!(
        state["error"].as_str().unwrap().contains("100 bytes"),
        "{state:#}"
    );
    ann.find("#composer-input").await.clear().await.unwrap();

    // Eight quick sends against a burst of 3 at 2/s: paced by the page, none is refused.
    ann.js("window.__sawFailed = false; new MutationObserver(() => { \
           if (document.querySelector('#messages .failed')) window.__sawFailed = true; \
         }).observe(document.querySelector('#messages'), \
           {subtree: true, childList: true, attributes: true});")
        .await;
    let texts: Vec<String> = (1..=8).map(|i| format!("paced {i}")).collect();
    for text in &texts {
        say(ann, text).await;
    }
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    wait_for_contents(ann, &texts).await;
    assert_eq!(
        ann.js("return window.__sawFailed;").await,
        false,
        "a send was refused (rate_limited): the page did not pace by welcome.limits"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_tabs_of_one_browser_are_two_members() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&[]).await;
    let driver = ChromeDriver::start().await;
    let browser = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(tabs_scenario(&browser, &server.http_url()))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [browser]).await;
}

async fn tabs_scenario(browser: &Browser, url: &str) {
    sign_in(browser, url, "Ann", "ann@example.com").await;
    let first = browser.client.window().await.unwrap();
    // A second tab shares localStorage: it offers the remembered name but is not signed in.
    let second = browser.client.new_window(true).await.unwrap().handle;
    browser
        .client
        .switch_to_window(second.clone())
        .await
        .unwrap();
    browser.client.goto(url).await.unwrap();
    let hello = wait_js(browser, "the second tab's hello form", HELLO_JS, |v| {
        v["shown"] == true
    })
    .await;
    assert_eq!(
        hello["name"], "Ann",
        "the remembered name prefills: {hello:#}"
    );
    browser.find("#name-input").await.clear().await.unwrap();
    browser.find("#email-input").await.clear().await.unwrap();
    sign_in_here(browser, "Bob", "").await;
    wait_js(browser, "two members online", ONLINE_JS, |v| {
        v == "2 online"
    })
    .await;
    say(browser, "hello from the second tab").await;
    wait_for_message(browser, "hello from the second tab").await;

    // The first tab is still Ann, sees Bob's message as someone else's, and after a reload it
    // is still Ann in this tab.
    browser.client.switch_to_window(first).await.unwrap();
    let seen = wait_for_message(browser, "hello from the second tab").await;
    assert_eq!(seen["name"], "Bob", "{seen:#}");
    let mine = "return [...document.querySelectorAll('#messages .message.mine')].length;";
    assert_eq!(
        browser.js(mine).await,
        0,
        "Bob's message counted as Ann's own"
    );
    browser.client.refresh().await.unwrap();
    wait_ready(browser, "general").await;
    let who = "return document.querySelector('#identity-name').textContent;";
    assert_eq!(browser.js(who).await, "Ann");
    wait_js(browser, "two members online", ONLINE_JS, |v| {
        v == "2 online"
    })
    .await;
}

const HELLO_JS: &str = r#"
return {
  shown: !document.querySelector('#hello-panel').hidden,
  name: document.querySelector('#name-input').value,
};
"#;

const ONLINE_JS: &str = "return document.querySelector('#room-online').textContent;";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn axe_finds_no_violations_in_light_and_dark_mode() {
    require_browser();
    let axe = axe_source();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&[]).await;
    let driver = ChromeDriver::start().await;
    let light = Browser::open(&driver).await;
    // Chromium's own dark mode, so `prefers-color-scheme: dark` holds as on a dark desktop.
    let dark = Browser::open_with(&driver, &["--force-dark-mode"]).await;
    let outcome = AssertUnwindSafe(axe_scenario(&light, &dark, &server.http_url(), &axe))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [light, dark]).await;
}

async fn axe_scenario(light: &Browser, dark: &Browser, url: &str, axe: &str) {
    sign_in(light, url, "Ann", "ann@example.com").await;
    sign_in(dark, url, "Bob", "bob@example.com").await;
    create_room(light, "ops").await;
    click_room(dark, "ops").await;
    wait_ready(dark, "ops").await;
    click_room(dark, "general").await;
    wait_ready(dark, "general").await;
    // Something of everything: topics, emails, links, grouped messages and an unread badge.
    light
        .find("#topic-input")
        .await
        .send_keys("intro")
        .await
        .unwrap();
    say(light, "see https://example.com/docs").await;
    click_room(light, "general").await;
    wait_ready(light, "general").await;
    say(light, "hello from Ann").await;
    say(dark, "hello from Bob").await;
    dark.find("#topic-input")
        .await
        .send_keys("dark")
        .await
        .unwrap();
    say(dark, "and once more").await;
    click_room(light, "ops").await;
    wait_ready(light, "ops").await;
    say(light, "unread for Bob").await;
    wait_for_message(light, "unread for Bob").await;
    wait_for_message(dark, "and once more").await;
    let badge = "return document.querySelector(\"#room-list [data-room='ops'] .room-unread\")?.firstChild.textContent ?? null;";
    wait_js(dark, "an unread badge on #ops", badge, |v| v == "2").await;
    let scheme = "return matchMedia('(prefers-color-scheme: dark)').matches;";
    assert_eq!(light.js(scheme).await, false);
    assert_eq!(
        dark.js(scheme).await,
        true,
        "--force-dark-mode did not apply"
    );

    for (browser, mode) in [(light, "light"), (dark, "dark")] {
        for (width, height, size) in [(1200, 800, "desktop"), (390, 844, "phone")] {
            browser.client.set_window_size(width, height).await.unwrap();
            tokio::time::sleep(Duration::from_millis(300)).await; // relayout
            browser
                .screenshot_to(&format!("ui-{mode}-{size}.png"))
                .await;
            let violations = run_axe(browser, axe).await;
            assert_eq!(
                violations,
                json!([]),
                "{mode} mode at {width}px: axe-core found violations"
            );
        }
    }
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
