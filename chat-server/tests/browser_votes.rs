//! Replies and votes in headless Chromium: two registered users reply through the composer's
//! "Replying to …" bar, see the parent quoted and jump to it, open the thread from the reply
//! count and jump to a reply, and vote with
//! the mouse and the keyboard, counts live on the other page and the own vote pressed
//! (aria-pressed); after a reload the counts and the own vote come back with the history; axe-core
//! finds no violation in light or dark mode with all of it on screen. Like `browser.rs`, it never
//! skips: run `scripts/test.sh` to get Chromium.

mod browser_harness;
mod common;

use std::panic::AssertUnwindSafe;

use browser_harness::{
    BROWSERS, Browser, ChromeDriver, accounts::register_from_page, axe_source, finish,
    require_browser, run_axe, say, screenshot, wait_for_message, wait_js, wait_ready,
};
use fantoccini::key::Key;
use futures_util::FutureExt;
use serde_json::{Value as Json, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reply_and_vote_in_the_page() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&["--guest-posting", "false"]).await;
    let url = server.http_url();
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    // Bob's Chromium is in dark mode, so axe-core checks both colour schemes.
    let bob = Browser::open_with(&driver, &["--force-dark-mode"]).await;
    let outcome = AssertUnwindSafe(scenario(&ann, &bob, &url))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann, bob]).await;
}

/// Registers `username` from the page (so the browser holds the cookie), reloads so the socket
/// is opened signed in, says hello and waits for `general`.
async fn register_and_enter(browser: &Browser, url: &str, username: &str) {
    // A signed-in page says hello by itself (no hello form).
    register_from_page(browser, url, username).await;
    wait_ready(browser, "general").await;
}

/// The reply/vote state a person sees on the message with this content.
const STATE_JS: &str = r#"
const m = [...document.querySelectorAll('#messages .message')]
  .find((e) => e.querySelector('.message-content')?.textContent === arguments[0]);
if (!m) return null;
const part = (s) => m.querySelector(s);
return {
  offset: m.dataset.offset ?? null,
  quote: part('.reply-quote')?.textContent ?? null,
  replies: part('.reply-count')?.hidden ? null : part('.reply-count')?.textContent ?? null,
  up: part('.vote-up .vote-count')?.textContent ?? null,
  down: part('.vote-down .vote-count')?.textContent ?? null,
  up_pressed: part('.vote-up')?.getAttribute('aria-pressed') ?? null,
  down_pressed: part('.vote-down')?.getAttribute('aria-pressed') ?? null,
};
"#;

async fn wait_state(browser: &Browser, content: &str, what: &str, ok: impl Fn(&Json) -> bool) {
    let script = format!(
        "return (function() {{ {} }}).apply(null, [{}]);",
        STATE_JS,
        json!(content)
    );
    wait_js(browser, what, &script, |v| !v.is_null() && ok(v)).await;
}

/// Clicks `selector` inside the message with this content.
async fn click_in(browser: &Browser, content: &str, selector: &str) {
    let script = r#"
const m = [...document.querySelectorAll('#messages .message')]
  .find((e) => e.querySelector('.message-content')?.textContent === arguments[0]);
const b = m && m.querySelector(arguments[1]);
if (b) b.click();
return Boolean(b);"#;
    let clicked = browser
        .js_with(script, vec![json!(content), json!(selector)])
        .await;
    assert_eq!(
        clicked, true,
        "{}: no {selector} on {content:?}",
        browser.name
    );
}

async fn scenario(ann: &Browser, bob: &Browser, url: &str) {
    register_and_enter(ann, url, "ann").await;
    register_and_enter(bob, url, "bob").await;
    say(ann, "Which day works?").await;
    let parent = wait_for_message(bob, "Which day works?").await;
    let parent_offset = parent["offset"].as_str().unwrap().to_owned();

    // Bob replies: the composer says so, the reply quotes its parent, Ann sees the count.
    click_in(bob, "Which day works?", ".reply-button").await;
    let bar = bob
        .js("const b = document.querySelector('#reply-bar'); return b.hidden ? null : b.textContent;")
        .await;
    assert!(
        bar.as_str().unwrap_or("").contains("Replying to ann"),
        "{bar}"
    );
    say(bob, "Tuesday").await;
    wait_state(ann, "Tuesday", "the reply quoting its parent", |v| {
        v["quote"]
            .as_str()
            .unwrap_or("")
            .contains("Which day works?")
    })
    .await;
    wait_state(ann, "Which day works?", "a reply count of 1", |v| {
        v["replies"] == "1 reply"
    })
    .await;
    let hidden = bob
        .js("return document.querySelector('#reply-bar').hidden;")
        .await;
    assert_eq!(hidden, true, "the reply bar goes once the reply is sent");

    // The reply count opens the thread, whose entry jumps to the reply.
    click_in(ann, "Which day works?", ".reply-count").await;
    let thread = ann
        .js_with(
            r#"const m = [...document.querySelectorAll('#messages .message')]
                 .find((e) => e.querySelector('.message-content')?.textContent === arguments[0]);
               return {
                 expanded: m.querySelector('.reply-count').getAttribute('aria-expanded'),
                 replies: [...m.querySelectorAll('.thread .thread-reply')].map((b) => b.textContent),
               };"#,
            vec![json!("Which day works?")],
        )
        .await;
    assert_eq!(
        thread,
        json!({"expanded": "true", "replies": ["bob: Tuesday"]}),
        "the thread"
    );
    click_in(ann, "Which day works?", ".thread-reply").await;
    let focused = ann
        .js("return document.activeElement?.querySelector?.('.message-content')?.textContent ?? null;")
        .await;
    assert_eq!(focused, "Tuesday", "the reply has the focus");

    // The quote jumps to the parent and focuses it.
    click_in(ann, "Tuesday", ".reply-quote").await;
    let focused = ann
        .js("return document.activeElement?.dataset?.offset ?? null;")
        .await;
    assert_eq!(focused, json!(parent_offset), "the parent has the focus");

    // Bob votes up with the mouse: pressed for him, counted for Ann.
    click_in(bob, "Which day works?", ".vote-up").await;
    wait_state(bob, "Which day works?", "bob's up vote pressed", |v| {
        v["up"] == "1" && v["up_pressed"] == "true"
    })
    .await;
    wait_state(ann, "Which day works?", "bob's vote seen by ann", |v| {
        v["up"] == "1" && v["up_pressed"] == "false"
    })
    .await;
    // Ann votes down from the keyboard (Tab focus and Enter on the button).
    let down = ann
        .js_with(
            r#"const m = [...document.querySelectorAll('#messages .message')]
                 .find((e) => e.querySelector('.message-content')?.textContent === arguments[0]);
               const b = m.querySelector('.vote-down'); b.focus();
               return document.activeElement === b;"#,
            vec![json!("Which day works?")],
        )
        .await;
    assert_eq!(down, true, "the vote button takes the focus");
    ann.client
        .active_element()
        .await
        .unwrap()
        .send_keys(&Key::Enter)
        .await
        .unwrap();
    wait_state(ann, "Which day works?", "ann's down vote pressed", |v| {
        v["down"] == "1" && v["down_pressed"] == "true" && v["up"] == "1"
    })
    .await;
    wait_state(bob, "Which day works?", "ann's vote seen by bob", |v| {
        v["down"] == "1" && v["down_pressed"] == "false"
    })
    .await;
    // Bob withdraws his vote by pressing it again.
    click_in(bob, "Which day works?", ".vote-up").await;
    wait_state(ann, "Which day works?", "bob's vote withdrawn", |v| {
        v["up"] == "0"
    })
    .await;

    // A reload: counts and Ann's own vote come back with the history.
    ann.client.refresh().await.unwrap();
    wait_ready(ann, "general").await;
    wait_state(ann, "Which day works?", "counts after a reload", |v| {
        v["up"] == "0"
            && v["down"] == "1"
            && v["down_pressed"] == "true"
            && v["replies"] == "1 reply"
    })
    .await;
    // Everything on screen at once (a quote, counts, a pressed vote, a thread, the reply bar) passes
    // axe-core in light and dark mode; screenshots for a person to look at.
    click_in(bob, "Tuesday", ".reply-button").await;
    click_in(ann, "Which day works?", ".reply-count").await;
    let axe = axe_source();
    for (browser, mode) in [(ann, "light"), (bob, "dark")] {
        screenshot(browser, 1280, 800, &format!("ui-votes-{mode}.png")).await;
        assert_eq!(
            run_axe(browser, &axe).await,
            json!([]),
            "{mode} mode: axe-core found violations"
        );
    }
}
