//! Timed rooms in headless Chromium: a room created from the form with a clear interval is marked
//! in the room list, its messages disappear at the clear with a "history cleared" notice in the
//! log, and a room created with an expiry leaves the list with a "room expired" notice. The form's
//! two selects are labelled (axe-core finds nothing). A "minute" is three seconds here
//! (`--timed-minute-ms`, test only). Like `browser.rs`, it never skips: run `scripts/test.sh`.

mod browser_harness;
mod common;

use std::panic::AssertUnwindSafe;

use browser_harness::{
    BROWSERS, Browser, ChromeDriver, MESSAGES_JS, axe_source, create_room, finish, require_browser,
    run_axe, say, sign_in, wait_for_message, wait_js,
};
use futures_util::FutureExt;
use serde_json::{Value as Json, json};

const NOTICES_JS: &str =
    "return [...document.querySelectorAll('#messages .notice')].map((n) => n.textContent);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timed_rooms_show_their_timer_clear_with_a_notice_and_expire() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&["--timed-minute-ms", "3000"]).await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(scenario(&ann, &server.http_url()))
        .catch_unwind()
        .await;
    finish(outcome, driver, [ann]).await;
    server.stop().await;
}

async fn scenario(ann: &Browser, url: &str) {
    sign_in(ann, url, "Ann", "ann@example.com").await;
    assert_eq!(run_axe(ann, &axe_source()).await, json!([]), "axe-core");

    // Cleared every "minute": marked in the list, emptied with a notice.
    ann.js("document.querySelector('#clear-every-select').value = '1';")
        .await;
    create_room(ann, "tick").await;
    let reset = "return [document.querySelector('#clear-every-select').value, \
                 document.querySelector('#expire-after-select').value];";
    assert_eq!(ann.js(reset).await, json!(["0", "0"]), "the form is reset");
    let mark = "return document.querySelector(\"#room-list [data-room='tick'] .room-timer\")\
                ?.textContent ?? null;";
    let marked = wait_js(ann, "a timer marker on #tick", mark, |v| v.is_string()).await;
    assert!(
        marked.as_str().unwrap().contains("cleared every 1 min"),
        "{marked}"
    );
    // Not waited for on screen: the clear may come first. A notice needs a message cleared.
    say(ann, "soon gone").await;
    let after = r#"return {
      messages: document.querySelectorAll('#messages .message').length,
      notices: [...document.querySelectorAll('#messages .notice')].map((n) => n.textContent),
    };"#;
    wait_js(ann, "the history cleared notice", after, |v: &Json| {
        v["messages"] == 0
            && v["notices"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n.as_str().unwrap().starts_with("History cleared"))
    })
    .await;
    // A message after the clear stays, below the notice.
    say(ann, "after the clear").await;
    wait_for_message(ann, "after the clear").await;
    let listed = ann.js(MESSAGES_JS).await;
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(ann.js(NOTICES_JS).await.as_array().unwrap().len(), 1);

    // Deleted after two idle "minutes": gone from the list, with a notice.
    ann.js("document.querySelector('#expire-after-select').value = '2';")
        .await;
    create_room(ann, "brief").await;
    let gone = r##"return {
      listed: Boolean(document.querySelector("#room-list [data-room='brief']")),
      toasts: [...document.querySelectorAll('#toasts .toast')].map((t) => t.textContent),
    };"##;
    wait_js(ann, "#brief expired", gone, |v: &Json| {
        v["listed"] == false
            && v["toasts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| t.as_str().unwrap().contains("Room #brief expired"))
    })
    .await;
}
