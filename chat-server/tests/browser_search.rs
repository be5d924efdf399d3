//! Search and filters in headless Chromium: the search box finds messages (newest first, older
//! pages on request), a malformed query is shown with where it breaks, and a filter shows as a
//! chip and keeps the log to matching messages, live ones included, until it is cleared. Like
//! `browser.rs`, it never skips: run `scripts/test.sh` to get Chromium.

mod browser_harness;
mod common;

use std::panic::AssertUnwindSafe;

use browser_harness::{
    BROWSERS, Browser, ChromeDriver, axe_source, finish, require_browser, run_axe, sign_in,
    wait_for_contents, wait_js,
};
use common::Client;
use futures_util::FutureExt;
use serde_json::{Value as Json, json};

const RESULTS_JS: &str = r#"
const panel = document.querySelector('#search-results');
return {
  shown: !panel.hidden,
  contents: [...panel.querySelectorAll('.search-result .message-content')].map((e) => e.textContent),
  more: !document.querySelector('#search-more').hidden,
};
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_box_finds_and_the_filter_chip_filters() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let mut args = vec!["--history-len", "200"];
    args.extend(common::FAST_SENDS);
    let server = common::start_server(&args).await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(scenario(&ann, &server))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann]).await;
}

async fn type_into(browser: &Browser, css: &str, text: &str) {
    browser
        .js_with(
            "const e = document.querySelector(arguments[0]); e.value = arguments[1];",
            vec![json!(css), json!(text)],
        )
        .await;
}

async fn scenario(ann: &Browser, server: &common::TestServer) {
    let mut bob = Client::hello(&server.ws_url(), "Bob").await;
    bob.join("general").await;
    for i in 1..=120 {
        let text = if i % 2 == 0 {
            format!("#deploy <b>{i}</b>")
        } else {
            format!("chatter {i}")
        };
        bob.say("general", &text, &format!("b{i}")).await;
    }
    sign_in(ann, &server.http_url(), "Ann", "").await;

    // Fifty results, newest first, as text; "Older results" brings the other ten.
    type_into(ann, "#search-input", "#deploy").await;
    ann.find("#search-button").await.click().await.unwrap();
    wait_js(ann, "the first page", RESULTS_JS, |v: &Json| {
        v["shown"] == true && v["contents"].as_array().unwrap().len() == 50 && v["more"] == true
    })
    .await;
    ann.find("#search-more").await.click().await.unwrap();
    wait_js(ann, "the second page", RESULTS_JS, |v: &Json| {
        v["contents"].as_array().unwrap().len() == 60 && v["more"] == false
    })
    .await;
    let all = ann.js(RESULTS_JS).await;
    let want: Vec<String> = (1..=60)
        .rev()
        .map(|i| format!("#deploy <b>{}</b>", 2 * i))
        .collect();
    assert_eq!(all["contents"], json!(want));
    assert_eq!(
        ann.js("return document.querySelectorAll('#search-results b').length;")
            .await,
        0,
        "HTML stays text"
    );

    // A malformed query says where it breaks.
    type_into(ann, "#search-input", "#deploy AND (from:bob").await;
    ann.find("#search-button").await.click().await.unwrap();
    wait_js(
        ann,
        "the query error",
        "const e = document.querySelector('#search-error'); return e.hidden ? null : e.textContent;",
        |v: &Json| v.as_str().is_some_and(|t| t.contains("character 13")),
    )
    .await;

    // A filter: a chip, a log of matching messages only, live ones too, until it is cleared.
    type_into(ann, "#search-input", "chatter NOT \"chatter 1\"").await;
    ann.find("#filter-button").await.click().await.unwrap();
    wait_js(
        ann,
        "the chip",
        "const c = document.querySelector('#filter-chip'); return c.hidden ? null : document.querySelector('#filter-text').textContent;",
        |v: &Json| v == "chatter NOT \"chatter 1\"",
    )
    .await;
    let odd: Vec<String> = (3..=119)
        .step_by(2)
        .map(|i| format!("chatter {i}"))
        .collect();
    let odd: Vec<&str> = odd.iter().map(String::as_str).collect();
    wait_for_contents(ann, &odd).await;
    bob.say("general", "#deploy live", "b121").await;
    bob.say("general", "chatter live", "b122").await;
    let mut with_live = odd.clone();
    with_live.push("chatter live");
    wait_for_contents(ann, &with_live).await;
    // With the chip and the results shown, axe-core finds nothing to fix.
    type_into(ann, "#search-input", "#deploy").await;
    ann.find("#search-button").await.click().await.unwrap();
    wait_js(ann, "the results", RESULTS_JS, |v: &Json| {
        v["shown"] == true
    })
    .await;
    assert_eq!(
        run_axe(ann, &axe_source()).await,
        json!([]),
        "axe-core found violations"
    );
    ann.find("#filter-clear").await.click().await.unwrap();
    wait_js(
        ann,
        "every message again",
        "return document.querySelectorAll('#messages .message').length;",
        |v: &Json| v == 122,
    )
    .await;
    assert_eq!(
        ann.js("return document.querySelector('#filter-chip').hidden;")
            .await,
        true
    );
}
