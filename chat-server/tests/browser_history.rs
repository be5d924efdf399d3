//! The UI over the durable mode's whole history, in headless Chromium: scrolling the log to its
//! top loads older pages (`history before`), and a page that comes back after missing more than
//! one page continues the recovery with `history after` (`joined.more`), every message once and
//! in order. Like `browser.rs`, it never skips: run `scripts/test.sh` to get Chromium.

mod browser_harness;
mod common;

use std::panic::AssertUnwindSafe;

use browser_harness::{
    BLOCK_SOCKETS_JS, BROWSERS, Browser, ChromeDriver, MESSAGES_JS, finish, require_browser,
    sign_in, wait_js,
};
use common::{Client, fresh_database};
use futures_util::FutureExt;
use serde_json::Value as Json;

/// Waits until the open room shows exactly offsets 1..=n, all confirmed.
async fn wait_offsets(browser: &Browser, n: u64) {
    let want: Vec<String> = (1..=n).map(|o| o.to_string()).collect();
    wait_js(
        browser,
        &format!("offsets 1..={n}"),
        MESSAGES_JS,
        |v: &Json| {
            let got: Vec<&str> = v
                .as_array()
                .unwrap()
                .iter()
                .map(|m| m["offset"].as_str().unwrap_or(""))
                .collect();
            got == want
        },
    )
    .await;
}

async fn feed(url: &str, from: u64, to: u64) {
    let mut c = Client::hello(url, "Feed").await;
    c.join("general").await;
    for i in from..=to {
        let ack = c
            .say("general", &format!("m{i}"), &format!("feed-{i}"))
            .await;
        assert_eq!(ack["offset"], i, "{ack}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_pages_back_and_a_long_recovery_continues() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let (db, _pg) = fresh_database().await;
    let mut args = vec!["--database-url", db.as_str(), "--history-len", "20"];
    args.extend(common::FAST_SENDS);
    let server = common::start_server(&args).await;
    common::wait_ready(&server.http_url()).await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(scenario(&ann, server, &args))
        .catch_unwind()
        .await;
    finish(outcome, driver, [ann]).await;
}

async fn scenario(ann: &Browser, server: common::TestServer, args: &[&str]) {
    feed(&server.ws_url(), 1, 70).await;
    sign_in(ann, &server.http_url(), "Ann", "ann@example.com").await;
    let shown = "return document.querySelectorAll('#messages .message').length;";
    wait_js(ann, "the join page", shown, |v| v == 20).await;

    // Scrolled to the top, the log loads what came before its first message.
    ann.js(
        "const m = document.querySelector('#messages'); m.scrollTop = 0; \
            m.dispatchEvent(new Event('scroll'));",
    )
    .await;
    wait_offsets(ann, 70).await;

    // Away while 60 messages are sent (three join pages' worth): the rejoin's `joined` says
    // `more`, and the page fetches the rest after it.
    ann.js(BLOCK_SOCKETS_JS).await;
    let addr = server.addr;
    server.stop().await;
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let server = common::start_on(listener, args).await;
    common::wait_ready(&server.http_url()).await;
    feed(&server.ws_url(), 71, 130).await;
    ann.js("window.__blockSockets = false; document.querySelector('#reconnect-button').click();")
        .await;
    wait_offsets(ann, 130).await;
    let notices = ann
        .js("return document.querySelectorAll('#messages .notice').length;")
        .await;
    assert_eq!(notices, 0, "a complete recovery announces no gap");
    server.stop().await;
}
