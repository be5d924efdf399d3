//! Private rooms and room deletion in headless Chromium, with guest posting off: a private room
//! (its name suffixed by the server) that a second user sees only once added, whose participants
//! only its creator manages in the People panel, and that the removed user loses at once with a
//! notice; a room deleted by its creator, behind a confirmation, leaves every list, a reading
//! guest's included; a guest's new-room form says to register; axe-core on the People panel and
//! its controls on screen at 390 px. Like `browser.rs`, it never skips.

mod browser_harness;
mod common;

use std::panic::AssertUnwindSafe;

use browser_harness::{
    BROWSERS, Browser, ChromeDriver,
    accounts::{
        PARTICIPANTS_JS, assert_axe_clean, assert_on_phone, click, create_private_room, listed_js,
        register, sign_up, type_into, wait_guest_reader,
    },
    axe_source, click_room, create_room, finish, require_browser, say, screenshot,
    wait_for_message, wait_js, wait_ready,
};
use common::accounts::PASSWORD;
use fantoccini::key::Key;
use futures_util::FutureExt;
use serde_json::{Value as Json, json};

const CLOSED: [&str; 2] = ["--guest-posting", "false"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_deleted_by_its_creator_leaves_every_list() {
    require_browser();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&CLOSED).await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let guest = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(deletion_scenario(&ann, &guest, &server.http_url()))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann, guest]).await;
}

async fn deletion_scenario(ann: &Browser, guest: &Browser, url: &str) {
    for browser in [ann, guest] {
        browser.client.goto(url).await.unwrap();
        wait_guest_reader(browser).await;
    }
    register(ann, "ann_7", "Ann", PASSWORD).await;
    wait_ready(ann, "general").await;
    // A guest cannot create a room: the form says so without asking the server.
    type_into(guest, "new-room-input", "lobby").await;
    click(guest, "new-room-button").await;
    let refused = "const e = document.querySelector('#new-room-error'); return e.hidden ? null : e.textContent;";
    let text = wait_js(guest, "the new-room refusal", refused, Json::is_string).await;
    assert!(
        text.as_str().unwrap().contains("register or log in"),
        "{text}"
    );

    // Ann creates a public room and the guest reads in it; Ann deletes it behind a confirmation.
    create_room(ann, "town").await;
    click_room(guest, "town").await;
    wait_ready(guest, "town").await;
    click(ann, "people-button").await;
    click(ann, "delete-room-button").await;
    click(ann, "delete-room-no").await;
    click(ann, "delete-room-button").await;
    click(ann, "delete-room-yes").await;
    for browser in [ann, guest] {
        wait_js(browser, "#town gone", &listed_js("town"), Json::is_null).await;
        wait_ready(browser, "general").await;
    }
    let toasts = "return [...document.querySelectorAll('#toasts .toast-text')].map((e) => e.textContent).join(' | ');";
    wait_js(guest, "the deletion notice", toasts, |v| {
        v.as_str().is_some_and(|t| t.contains("#town was deleted"))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_room_shows_to_its_participants_only() {
    require_browser();
    let axe = axe_source();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&CLOSED).await;
    let driver = ChromeDriver::start().await;
    let ann = Browser::open(&driver).await;
    let bob = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(private_scenario(&ann, &bob, &server.http_url(), &axe))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [ann, bob]).await;
}

async fn private_scenario(ann: &Browser, bob: &Browser, url: &str, axe: &str) {
    for (browser, username, name) in [(ann, "ann_2", "Ann"), (bob, "bob_2", "Bob")] {
        sign_up(browser, url, username, name).await;
    }

    // Ann creates a private room (its name gets a random suffix), then a public one; Bob sees
    // the public one only.
    click(ann, "new-room-private").await;
    let secret = create_private_room(ann, "secret").await;
    let secret = secret.as_str();
    let lock = "return !document.querySelector('#room-private').hidden;";
    wait_js(ann, "the lock on the private room", lock, |v| v == true).await;
    say(ann, "for participants only").await;
    wait_for_message(ann, "for participants only").await;
    create_room(ann, "open").await;
    wait_js(bob, "#open listed", &listed_js("open"), |v| v == "public").await;
    assert_eq!(bob.js(&listed_js(secret)).await, Json::Null);

    // Ann adds Bob in the People panel: the room appears in Bob's list, locked.
    click_room(ann, secret).await;
    wait_ready(ann, secret).await;
    click(ann, "people-button").await;
    wait_js(ann, "Ann a participant", PARTICIPANTS_JS, |v| {
        v == &json!(["ann_2"])
    })
    .await;
    type_into(ann, "participant-input", "bob_2").await;
    ann.find("#participant-input")
        .await
        .send_keys(&Key::Enter)
        .await
        .unwrap();
    wait_js(ann, "Bob added", PARTICIPANTS_JS, |v| {
        v == &json!(["ann_2", "bob_2"])
    })
    .await;
    wait_js(bob, "#secret listed", &listed_js(secret), |v| {
        v == "private"
    })
    .await;
    click_room(bob, secret).await;
    wait_for_message(bob, "for participants only").await;
    // Bob sees who takes part, but managing the room is its creator's: no controls for him.
    click(bob, "people-button").await;
    wait_js(bob, "the participants for Bob", PARTICIPANTS_JS, |v| {
        v == &json!(["ann_2", "bob_2"])
    })
    .await;
    let controls = r#"return {
      add: !document.querySelector('#participant-form').hidden,
      remove: document.querySelectorAll('#participants-list .participant-remove').length,
      delete: !document.querySelector('#room-admin').hidden,
    };"#;
    let shown = bob.js(controls).await;
    assert_eq!(shown, json!({"add": false, "remove": 0, "delete": false}));
    click(bob, "people-button").await;
    assert_axe_clean(ann, axe, "the People panel of a private room").await;
    assert_on_phone(ann, &["#participant-add", "#delete-room-button"]).await;
    screenshot(ann, 1280, 800, "ui-private-room.png").await;
    screenshot(ann, 390, 844, "ui-private-room-phone.png").await;
    ann.client.set_window_size(1280, 800).await.unwrap();

    // Removed, Bob loses the room at once, with a notice.
    let remove = "const b = document.querySelector(\"#participants-list .participant-remove[data-username='bob_2']\"); if (b) b.click(); return Boolean(b);";
    wait_js(ann, "Remove next to Bob", remove, |v| v == true).await;
    wait_js(bob, "#secret gone", &listed_js(secret), Json::is_null).await;
    let toasts = "return [...document.querySelectorAll('#toasts .toast-text')].map((e) => e.textContent).join(' | ');";
    wait_js(bob, "the removal notice", toasts, |v| {
        v.as_str()
            .is_some_and(|t| t.contains(&format!("removed from the private room #{secret}")))
    })
    .await;
    wait_js(ann, "Bob no longer a participant", PARTICIPANTS_JS, |v| {
        v == &json!(["ann_2"])
    })
    .await;

    // Ann deletes the room, behind a confirmation: it leaves her list.
    click(ann, "delete-room-button").await;
    click(ann, "delete-room-yes").await;
    wait_js(ann, "#secret deleted", &listed_js(secret), Json::is_null).await;
}
