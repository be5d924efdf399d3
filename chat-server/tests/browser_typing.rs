//! Presence signals as a person sees them, in headless Chromium: "… is typing…" appears when
//! another member types and goes away on its own; a mention is highlighted; the page marks what
//! it shows as read (the other member gets a receipt naming this user) and shows "Seen by" with
//! the names in the button's accessible name; the room list's unread and mention badges count
//! messages of a room not in view, and come back from the server after a reload. Like
//! `browser.rs`, it never skips: run `scripts/test.sh` to get Chromium.

mod browser_harness;
mod common;

use std::panic::AssertUnwindSafe;

use browser_harness::{
    BROWSERS, Browser, ChromeDriver, axe_source, click_room, create_room, finish, require_browser,
    run_axe, wait_for_message, wait_js, wait_ready,
};
use common::{
    Client,
    accounts::{connect_at, register_at},
};
use futures_util::FutureExt;
use serde_json::{Value as Json, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_receipts_mentions_and_unread_badges() {
    in_chromium(&[]).await;
}

/// The same in Chromium's dark mode (`prefers-color-scheme: dark`): axe-core checks the
/// badges, receipts and mentions against the dark palette.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_receipts_mentions_and_unread_badges_in_dark_mode() {
    in_chromium(&["--force-dark-mode"]).await;
}

async fn in_chromium(flags: &[&str]) {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&[]).await;
    common::wait_ready(&server.http_url()).await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open_with(&driver, flags).await;
    let outcome = AssertUnwindSafe(scenario(&ann, &server))
        .catch_unwind()
        .await;
    finish(outcome, driver, [ann]).await;
    server.stop().await;
}

/// Registers bob over HTTP and returns his signed-in socket, joined to `general`.
async fn bob(server: &common::TestServer) -> Client {
    let cookie = register_at(&server.http_url(), "bob", Some("bob D.")).await;
    let hello = json!({"type":"hello","name":"x"});
    let (mut bob, _) = connect_at(&server.ws_url(), Some(&cookie), hello).await;
    bob.join("general").await;
    bob
}

const BADGES_JS: &str = r##"
const b = document.querySelector("#room-list [data-room='general']");
return b ? {
  unread: b.querySelector('.room-unread')?.firstChild?.textContent ?? null,
  mentions: b.querySelector('.room-mentions')?.firstChild?.textContent ?? null,
} : null;
"##;

async fn scenario(ann: &Browser, server: &common::TestServer) {
    ann.client.goto(&server.http_url()).await.unwrap();
    let status = ann
        .js(
            "return fetch('/api/register', {method: 'POST', headers: {'Content-Type': \
             'application/json'}, body: JSON.stringify({username: 'ann', password: \
             'correct horse battery', display_name: 'Ann'})}).then((r) => r.status);",
        )
        .await;
    assert_eq!(status, 201, "registering from the page signs it in");
    ann.client.refresh().await.unwrap();
    // A signed-in page says hello by itself (no hello form).
    wait_ready(ann, "general").await;
    let mut bob = bob(server).await;

    // Typing shows, then goes away by itself.
    bob.send(json!({"type":"typing","room":"general"})).await;
    let indicator = "const t = document.querySelector('#typing-indicator'); \
                     return t ? {hidden: t.hidden, text: t.textContent} : null;";
    wait_js(ann, "bob typing", indicator, |v| {
        v == &json!({"hidden": false, "text": "bob D. is typing…"})
    })
    .await;
    // Two at once (a guest too): one sentence naming both.
    let mut gus = Client::hello(&server.ws_url(), "Gus").await;
    gus.join("general").await;
    gus.send(json!({"type":"typing","room":"general"})).await;
    wait_js(ann, "two typing", indicator, |v| {
        v == &json!({"hidden": false, "text": "bob D. and Gus are typing…"})
    })
    .await;
    wait_js(ann, "the indicator to expire", indicator, |v| {
        v["hidden"] == true
    })
    .await;

    // A mention is highlighted; the page, visible, marks it read: bob gets a receipt naming Ann.
    let ack = bob.say("general", "hello @Ann, welcome", "b1").await;
    let offset = ack["offset"].as_u64().unwrap();
    wait_for_message(ann, "hello @Ann, welcome").await;
    let mark = ann
        .js("const m = document.querySelector('#messages mark.mention-me'); return m && m.textContent;")
        .await;
    assert_eq!(mark, "@Ann");
    let receipt = bob
        .expect_where(|v| {
            v["type"] == "receipts"
                && v["offset"] == offset
                && v["names"]
                    .as_array()
                    .is_some_and(|n| n.contains(&json!("Ann")))
        })
        .await;
    assert_eq!(receipt["count"], 1);

    // Bob reads too: "Seen by 2", the names in the button's accessible name and shown on press.
    bob.send(json!({"type":"read","room":"general","offset":offset}))
        .await;
    let button = "const b = document.querySelector('#messages .receipt-button'); \
                  return b ? {text: b.textContent, label: b.getAttribute('aria-label')} : null;";
    wait_js(ann, "seen by 2", button, |v| {
        v == &json!({"text": "Seen by 2", "label": "Seen by 2: Ann, bob D."})
    })
    .await;
    let shown = ann
        .js(
            "document.querySelector('#messages .receipt-button').click(); \
             const n = document.querySelector('#messages .receipt-names'); \
             return {hidden: n.hidden, text: n.textContent};",
        )
        .await;
    assert_eq!(shown, json!({"hidden": false, "text": "Ann, bob D."}));
    let axe = axe_source();
    assert_eq!(
        run_axe(ann, &axe).await,
        json!([]),
        "axe-core with a receipt and a mention shown"
    );

    // Away in another room: general counts unread messages and mentions apart.
    create_room(ann, "side").await;
    bob.say("general", "plain news", "b2").await;
    bob.say("general", "@ann see this", "b3").await;
    let want = json!({"unread": "2", "mentions": "@1"});
    wait_js(ann, "badges while away", BADGES_JS, |v| v == &want).await;
    assert_eq!(
        run_axe(ann, &axe).await,
        json!([]),
        "axe-core with unread and mention badges"
    );

    // After a reload (a new connection) the counts come from the server's read positions.
    ann.client.refresh().await.unwrap();
    wait_ready(ann, "side").await;
    wait_js(ann, "badges after a reload", BADGES_JS, |v| v == &want).await;

    // Opening the room reads it; the badges go.
    click_room(ann, "general").await;
    wait_ready(ann, "general").await;
    wait_js(ann, "no badges", BADGES_JS, |v: &Json| {
        v == &json!({"unread": null, "mentions": null})
    })
    .await;
}
