//! Accounts, guests and private rooms in headless Chromium, against a server with guest posting
//! off (the default): a guest reads live but has no composer, only a notice and a one-click
//! Register; registering signs in and the message carries the account's display name; log out
//! brings the guest view back; log in (a wrong password first), change password and delete the
//! account through the account dialog, each error shown on its field; logging out in one tab
//! signs out the other; a message unsent when the account changes is never sent under the next
//! one; with guest posting on, a guest's message is marked; counts of registered users and guests
//! apart and who is online; axe-core on the new views (light and dark), and the new controls on
//! screen at a phone's 390 px. Private rooms and deletion: `browser_private_rooms.rs`. Like
//! `browser.rs`, it never skips.

mod browser_harness;
mod common;

use std::panic::AssertUnwindSafe;

use browser_harness::{
    BROWSERS, Browser, ChromeDriver, MESSAGES_JS,
    accounts::{
        ACCOUNT_JS, HOLD_SENDS_JS, assert_axe_clean, assert_on_phone, click, form_errors, log_in,
        log_out, open_dialog, register, type_into, wait_any_form_error, wait_guest_reader,
        wait_member,
    },
    axe_source, finish, require_browser, say, screenshot, sign_in, wait_for_message, wait_js,
    wait_ready,
};
use common::accounts::PASSWORD;
use futures_util::FutureExt;
use serde_json::{Value as Json, json};

const CLOSED: [&str; 2] = ["--guest-posting", "false"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_post_log_out_and_a_guest_reads_live() {
    require_browser();
    let axe = axe_source();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&CLOSED).await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    // The guest's Chromium is in dark mode, so axe-core sees the new views in both schemes.
    let guest = Browser::open_with(&driver, &["--force-dark-mode"]).await;
    let outcome = AssertUnwindSafe(accounts_scenario(&ann, &guest, &server.http_url(), &axe))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann, guest]).await;
}

async fn accounts_scenario(ann: &Browser, guest: &Browser, url: &str, axe: &str) {
    for browser in [ann, guest] {
        browser.client.goto(url).await.unwrap();
        let view = wait_guest_reader(browser).await;
        assert_eq!(view["name"], Json::Null, "{view:#}");
        wait_ready(browser, "general").await;
    }
    let notice = guest.js("return document.querySelector('#guest-notice-text').textContent;");
    let notice = notice.await;
    assert!(
        notice
            .as_str()
            .is_some_and(|t| t.contains("Guests cannot post")),
        "the notice says why: {notice}"
    );
    assert_axe_clean(guest, axe, "the guest view, dark").await;
    assert_on_phone(guest, &["#guest-register", "#guest-login", "#login-button"]).await;
    screenshot(guest, 390, 844, "ui-guest-phone.png").await;
    guest.client.set_window_size(1280, 800).await.unwrap();

    // The client's own checks answer at once, on their fields.
    open_dialog(ann, "register-form").await;
    type_into(ann, "register-username", "a").await;
    type_into(ann, "register-password", "short").await;
    click(ann, "register-submit").await;
    let errors = form_errors(ann, "register-form").await;
    assert!(
        errors["register-username-error"].is_string()
            && errors["register-password-error"].is_string(),
        "{errors:#}"
    );
    let invalid =
        "return document.querySelector('#register-username').getAttribute('aria-invalid');";
    assert_eq!(ann.js(invalid).await, "true");
    assert_axe_clean(ann, axe, "the register form with errors").await;
    assert_on_phone(ann, &["#register-submit", "#account-close"]).await;
    screenshot(ann, 390, 844, "ui-register-phone.png").await;
    ann.client.set_window_size(1280, 800).await.unwrap();

    // Registering signs in; the socket reconnects with the cookie and may post.
    register(ann, "ann_1", "Ann Example", PASSWORD).await;
    wait_ready(ann, "general").await;
    say(ann, "hello as a member").await;
    let seen = wait_for_message(guest, "hello as a member").await;
    assert_eq!(seen["name"], "Ann Example", "{seen:#}");
    let marks = "return document.querySelectorAll('#messages .message-guest').length;";
    assert_eq!(
        guest.js(marks).await,
        0,
        "a member's message is not a guest's"
    );
    assert_on_phone(ann, &["#account-button", "#send-button", "#people-button"]).await;

    // The username is taken, whatever its case: the server's answer lands on the form.
    click(guest, "guest-register").await;
    type_into(guest, "register-username", "ANN_1").await;
    type_into(guest, "register-password", "another password").await;
    click(guest, "register-submit").await;
    let taken = wait_any_form_error(guest, "register-form").await;
    assert!(!taken.is_empty());
    assert_axe_clean(
        guest,
        axe,
        "the register form with the server's error, dark",
    )
    .await;
    click(guest, "account-close").await;
    wait_guest_reader(guest).await;

    // Log out: the composer goes, the guest notice comes back.
    log_out(ann).await;
    wait_guest_reader(ann).await;
    wait_ready(ann, "general").await;

    // Log in: a wrong password is refused above the form, the right one signs in.
    open_dialog(ann, "login-form").await;
    type_into(ann, "login-username", "ann_1").await;
    type_into(ann, "login-password", "not the password").await;
    click(ann, "login-submit").await;
    wait_any_form_error(ann, "login-form").await;
    log_in(ann, "ann_1", PASSWORD, "Ann Example").await;

    // Change password: the wrong current one is refused, then it works and Ann stays signed in.
    click(ann, "account-button").await;
    type_into(ann, "password-current", "not the password").await;
    type_into(ann, "password-new", "a new password 2").await;
    click(ann, "password-submit").await;
    wait_any_form_error(ann, "password-form").await;
    type_into(ann, "password-current", PASSWORD).await;
    type_into(ann, "password-new", "a new password 2").await;
    click(ann, "password-submit").await;
    let done = "return document.querySelector('#password-done').textContent;";
    wait_js(ann, "the password changed", done, |v| {
        v.as_str().is_some_and(|t| !t.is_empty())
    })
    .await;
    assert_axe_clean(ann, axe, "the account settings").await;
    click(ann, "account-close").await;
    wait_member(ann, "Ann Example").await;
    wait_ready(ann, "general").await;
    say(ann, "after the password change").await;
    wait_for_message(guest, "after the password change").await;

    // Delete the account, behind a second step with the password: a guest again, and the
    // account no longer logs in.
    click(ann, "account-button").await;
    click(ann, "delete-start").await;
    type_into(ann, "delete-password", "a new password 2").await;
    click(ann, "delete-submit").await;
    wait_guest_reader(ann).await;
    open_dialog(ann, "login-form").await;
    type_into(ann, "login-username", "ann_1").await;
    type_into(ann, "login-password", "a new password 2").await;
    click(ann, "login-submit").await;
    wait_any_form_error(ann, "login-form").await;
    let view = ann.js(ACCOUNT_JS).await;
    assert_eq!(view["account"], "guest", "{view:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logging_out_in_one_tab_signs_out_the_other() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&CLOSED).await;
    let driver = ChromeDriver::start().await;
    let browser = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(tabs_scenario(&browser, &server.http_url()))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [browser]).await;
}

async fn tabs_scenario(browser: &Browser, url: &str) {
    browser.client.goto(url).await.unwrap();
    wait_guest_reader(browser).await;
    register(browser, "ann_4", "Ann", PASSWORD).await;
    let first = browser.client.window().await.unwrap();
    // A second tab carries the same cookie: signed in at once.
    let second = browser.client.new_window(true).await.unwrap().handle;
    browser.client.switch_to_window(second).await.unwrap();
    browser.client.goto(url).await.unwrap();
    wait_member(browser, "Ann").await;
    log_out(browser).await;
    wait_guest_reader(browser).await;
    // The first tab's socket is closed by the server (session_ended, 4001): it says so and
    // turns into the guest view.
    browser.client.switch_to_window(first).await.unwrap();
    wait_guest_reader(browser).await;
    let toasts = "return [...document.querySelectorAll('#toasts .toast-text')].map((e) => e.textContent).join(' | ');";
    wait_js(browser, "the signed-out notice", toasts, |v| {
        v.as_str()
            .is_some_and(|t| t.contains("You were signed out"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_typed_before_logging_out_is_not_sent_under_the_next_account() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&CLOSED).await;
    let driver = ChromeDriver::start().await;
    let browser = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(unsent_scenario(&browser, &server.http_url()))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [browser]).await;
}

async fn unsent_scenario(browser: &Browser, url: &str) {
    browser.client.goto(url).await.unwrap();
    wait_guest_reader(browser).await;
    register(browser, "ann_5", "Ann", PASSWORD).await;
    wait_ready(browser, "general").await;
    browser.js(HOLD_SENDS_JS).await;
    say(browser, "typed as Ann").await;
    wait_js(browser, "Ann's message pending", MESSAGES_JS, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|m| m["content"] == "typed as Ann" && m["offset"].is_null())
    })
    .await;
    log_out(browser).await;
    browser.js("window.__holdSends = false;").await;
    register(browser, "bob_5", "Bob", PASSWORD).await;
    wait_ready(browser, "general").await;
    say(browser, "typed as Bob").await;
    wait_for_message(browser, "typed as Bob").await;
    let shown = browser.js(MESSAGES_JS).await;
    let contents: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["content"].as_str())
        .collect();
    assert_eq!(contents, ["typed as Bob"], "{shown:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_guest_posting_a_guest_posts_marked_as_a_guest() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&["--guest-posting", "true"]).await;
    let driver = ChromeDriver::start().await;
    let browser = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(guest_posting_scenario(&browser, &server.http_url()))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [browser]).await;
}

async fn guest_posting_scenario(browser: &Browser, url: &str) {
    // The hello form asks a guest's name, and offers an account instead.
    sign_in(browser, url, "Gus", "").await;
    let view = browser.js(ACCOUNT_JS).await;
    assert_eq!(view["account"], "guest", "{view:#}");
    say(browser, "posted as a guest").await;
    wait_for_message(browser, "posted as a guest").await;
    let mark = "return [...document.querySelectorAll('#messages .message')].map((m) => m.querySelector('.message-guest')?.textContent ?? null);";
    assert_eq!(browser.js(mark).await, json!(["guest"]));
    // Registering from the top bar turns the guest into a member who posts unmarked.
    register(browser, "gus_1", "Gus Member", PASSWORD).await;
    wait_ready(browser, "general").await;
    say(browser, "posted as a member").await;
    wait_for_message(browser, "posted as a member").await;
    assert_eq!(browser.js(mark).await, json!(["guest", null]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registered_users_and_guests_are_counted_apart() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&CLOSED).await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let guest = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(counts_scenario(&ann, &guest, &server.http_url()))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann, guest]).await;
}

async fn counts_scenario(ann: &Browser, guest: &Browser, url: &str) {
    for browser in [ann, guest] {
        browser.client.goto(url).await.unwrap();
        wait_guest_reader(browser).await;
        wait_ready(browser, "general").await;
    }
    register(ann, "ann_3", "Ann", PASSWORD).await;
    wait_ready(ann, "general").await;
    // Counts by kind: one registered user and one guest, in the room list and for the chat.
    let counts = r##"
const b = document.querySelector("#room-list [data-room='general']");
const t = document.querySelector('#online-totals');
return {
  registered: b?.querySelector('.room-online')?.firstChild.textContent ?? null,
  guests: b?.querySelector('.room-guests')?.firstChild.textContent ?? null,
  total_registered: t.dataset.registered ?? null,
  total_guests: t.dataset.guests ?? null,
};"##;
    let want =
        json!({"registered": "1", "guests": "1", "total_registered": "1", "total_guests": "1"});
    wait_js(guest, "1 registered and 1 guest", counts, |v| v == &want).await;
    // Who is online: Ann by name, the guest as a count.
    click(guest, "people-button").await;
    let members = r#"
const s = document.querySelector('#members-summary');
return {
  users: [...document.querySelectorAll('#members-list .member')].map((e) => e.dataset.username),
  guests: s.dataset.guests ?? null,
};"#;
    let want = json!({"users": ["ann_3"], "guests": "1"});
    wait_js(guest, "Ann online in #general", members, |v| v == &want).await;
    click(guest, "people-button").await;
}
