//! Edits and deletions in headless Chromium: a signed-in user edits their own message from the
//! page and both pages show the new text with "(edited)"; the other user sees no Edit or Delete on
//! it; a deletion leaves a tombstone on both pages, also after a reload (from the server's
//! history); an admin gets Delete on everyone's messages; axe-core finds nothing while the edit
//! form is open. Like `browser.rs`, it never skips: run `scripts/test.sh` to get Chromium.

mod browser_harness;
mod common;

use std::panic::AssertUnwindSafe;

use browser_harness::{
    BROWSERS, Browser, ChromeDriver, MESSAGES_JS, accounts::register_from_page, axe_source, finish,
    require_browser, run_axe, say, wait_for_message, wait_js,
};
use fantoccini::key::Key;
use futures_util::FutureExt;
use serde_json::{Value as Json, json};

/// Every message with its edit state and the actions it offers.
const EDITS_JS: &str = r#"
return [...document.querySelectorAll('#messages .message')].map((m) => ({
  offset: m.dataset.offset ?? null,
  content: m.querySelector('.message-content')?.textContent ?? null,
  edited: m.querySelector('.message-edited')?.textContent ?? null,
  deleted: Boolean(m.querySelector('.message-deleted')),
  edit: Boolean(m.querySelector('.edit-button')),
  delete: Boolean(m.querySelector('.delete-button')),
}));
"#;

/// Registers `username` from the page (same origin, so the cookie is the page's), reloads and
/// waits until the tab said hello by itself (a signed-in page has no hello form): the socket is
/// then signed in.
async fn register_here(browser: &Browser, url: &str, username: &str) {
    register_from_page(browser, url, username).await;
    wait_signed_in(browser, username).await;
}

/// Waits until the page (which said hello by itself) shows `name` in `#general`, ready.
async fn wait_signed_in(browser: &Browser, name: &str) {
    let state = r#"return {
      conn: document.querySelector('#conn-state').dataset.state,
      room: document.querySelector('#messages').dataset.room ?? null,
      ready: document.querySelector('#messages').dataset.ready ?? null,
      identity: document.querySelector('#account-name').textContent,
    };"#;
    wait_js(browser, &format!("{name} in #general"), state, |v| {
        v == &json!({"conn": "online", "room": "general", "ready": "true", "identity": name})
    })
    .await;
}

async fn wait_edits(browser: &Browser, what: &str, ok: impl Fn(&[Json]) -> bool) -> Json {
    wait_js(browser, what, EDITS_JS, |v| ok(v.as_array().unwrap())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_and_delete_from_the_page() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&["--guest-posting", "false", "--admins", "root"]).await;
    let url = server.http_url();
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let bob = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(scenario(&ann, &bob, &url))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann, bob]).await;
}

async fn scenario(ann: &Browser, bob: &Browser, url: &str) {
    register_here(ann, url, "ann").await;
    register_here(bob, url, "bob").await;
    say(ann, "first draft").await;
    say(bob, "bob was here").await;
    wait_for_message(ann, "bob was here").await;
    wait_for_message(bob, "first draft").await;

    // Only the sender is offered Edit and Delete.
    let mine = |list: &[Json], content: &str, edit: bool| {
        list.iter()
            .any(|m| m["content"] == content && m["edit"] == edit && m["delete"] == edit)
    };
    wait_edits(ann, "ann's actions", |l| {
        mine(l, "first draft", true) && mine(l, "bob was here", false)
    })
    .await;
    wait_edits(bob, "bob's actions", |l| {
        mine(l, "first draft", false) && mine(l, "bob was here", true)
    })
    .await;

    // Ann edits hers in place: both pages show the new text and "(edited)".
    let edit = ann
        .js("const b = [...document.querySelectorAll('#messages .message')].find((m) => m.querySelector('.message-content')?.textContent === 'first draft').querySelector('.edit-button'); b.click(); return true;")
        .await;
    assert_eq!(edit, true);
    let input = ann.find(".edit-input").await;
    let violations = run_axe(ann, &axe_source()).await;
    assert_eq!(violations, json!([]), "axe-core with the edit form open");
    input.clear().await.unwrap();
    input.send_keys("final <b>words</b>").await.unwrap();
    input.send_keys(&Key::Enter).await.unwrap();
    for browser in [ann, bob] {
        wait_edits(browser, "the edit", |l| {
            l.iter()
                .any(|m| m["content"] == "final <b>words</b>" && m["edited"] == "(edited)")
                && !l.iter().any(|m| m["content"] == "first draft")
        })
        .await;
    }

    // Ann deletes it: a tombstone on both pages, and after Bob reloads (from history).
    ann.js("window.confirm = () => true; return true;").await;
    ann.js("const b = [...document.querySelectorAll('#messages .message')].find((m) => m.querySelector('.message-content')?.textContent === 'final <b>words</b>').querySelector('.delete-button'); b.click(); return true;")
        .await;
    let tombstone = |l: &[Json]| {
        l.iter().any(|m| {
            m["deleted"] == true
                && m["content"] == "This message was deleted."
                && m["edit"] == false
        }) && !l.iter().any(|m| m["content"] == "final <b>words</b>")
    };
    wait_edits(ann, "the tombstone", tombstone).await;
    wait_edits(bob, "the tombstone", tombstone).await;
    bob.client.goto(url).await.unwrap();
    wait_signed_in(bob, "bob").await;
    wait_edits(bob, "the tombstone after a reload", tombstone).await;
    let shown = bob.js(MESSAGES_JS).await;
    assert_eq!(shown.as_array().unwrap().len(), 2, "{shown:#}");

    // An admin may delete anyone's message (but edit only their own).
    register_here(ann, url, "root").await;
    wait_edits(ann, "root's actions", |l| {
        l.iter()
            .any(|m| m["content"] == "bob was here" && m["delete"] == true && m["edit"] == false)
    })
    .await;
}
