//! The support desk in headless Chromium: one client and two agents (registered users named in
//! `--support-agents`), each in their own browser. The client presses "Contact support" and
//! writes; both agents see the conversation waiting in their queue with the client's identifier,
//! name and message; agent 1 takes it (agent 2 sees it taken, the client sees "Ann from support
//! joined" and "Seen"; a take or close from a stale button of agent 2 is refused with `taken` /
//! `forbidden`, told in an alert), hands it over to agent 2 in the transfer dialog (a username
//! that is not an agent's is refused on its field first), agent 2 types ("Support is typing…" for the client) and replies;
//! the client sees the reply; agent 2 closes it, the client sees it closed and reopens it by
//! writing. axe-core finds nothing on the support page in light mode (agent 1) and dark mode
//! (agent 2) nor on the client's conversation, and at 390 px the queue and one conversation show
//! one at a time with a way back. Like `browser.rs`, it never skips.

mod browser_harness;
mod common;

use std::{panic::AssertUnwindSafe, time::Duration};

use browser_harness::{
    BROWSERS, Browser, ChromeDriver,
    accounts::{
        assert_axe_clean, assert_on_phone, click, on_screen, sign_up, type_into,
        wait_any_form_error, wait_guest_reader,
    },
    axe_source, finish, require_browser, say, screenshot,
    support::{
        FAKE_NOTIFICATIONS_JS, act, open_desk, stale_click, stale_click_crossing_the_queue,
        wait_item, wait_notice, wait_toast,
    },
    wait_for_message, wait_js, wait_ready,
};
use fantoccini::key::Key;
use futures_util::FutureExt;
use serde_json::json;

const FLAGS: [&str; 4] = [
    "--guest-posting",
    "false",
    "--support-agents",
    "agent_ann,agent_bob",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_two_agents_and_a_hand_over() {
    require_browser();
    let axe = axe_source();
    let _turn = BROWSERS.lock().await;
    let server = common::start_server(&FLAGS).await;
    let driver = ChromeDriver::start().await;
    let client = Browser::open(&driver).await;
    let ann = Browser::open(&driver).await;
    // Agent 2's Chromium is in dark mode, so axe-core checks the support page in both schemes.
    let bob = Browser::open_with(&driver, &["--force-dark-mode"]).await;
    let outcome = AssertUnwindSafe(scenario(&client, &ann, &bob, &server.http_url(), &axe))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [client, ann, bob]).await;
}

async fn scenario(client: &Browser, ann: &Browser, bob: &Browser, url: &str, axe: &str) {
    sign_up(client, url, "cli_1", "Carla").await;
    sign_up(ann, url, "agent_ann", "Ann").await;
    sign_up(bob, url, "agent_bob", "Bob").await;
    // The client has no desk; the agents no "Contact support".
    let entries = "return {desk: !document.querySelector('#support-nav').hidden, \
                   contact: !document.querySelector('#support-contact').hidden};";
    assert_eq!(
        client.js(entries).await,
        json!({"desk": false, "contact": true})
    );
    let agent_entries = wait_js(ann, "the desk button", entries, |v| v["desk"] == true).await;
    assert_eq!(agent_entries, json!({"desk": true, "contact": false}));
    open_desk(ann).await;
    open_desk(bob).await;

    // The client opens a conversation: a private room `support-…` titled "Support".
    click(client, "support-contact").await;
    let open = r#"return {
      room: document.querySelector('#messages').dataset.room ?? null,
      ready: document.querySelector('#messages').dataset.ready ?? null,
      title: document.querySelector('#room-title').textContent,
      bar: document.querySelector('#support-bar').hidden ? null
        : document.querySelector('#support-bar').textContent,
    };"#;
    let opened = wait_js(client, "the support conversation", open, |v| {
        v["ready"] == "true"
            && v["room"]
                .as_str()
                .is_some_and(|r| r.starts_with("support-"))
    })
    .await;
    let room = opened["room"].as_str().unwrap().to_owned();
    assert_eq!(opened["title"], "Support", "{opened:#}");
    assert!(
        opened["bar"]
            .as_str()
            .unwrap()
            .contains("Waiting for someone"),
        "{opened:#}"
    );
    say(client, "My order 42 never arrived").await;
    wait_for_message(client, "My order 42 never arrived").await;

    // Both agents see it waiting, with the client's key, name, message and waiting time.
    for agent in [ann, bob] {
        let waiting = wait_item(agent, &room, "the waiting conversation", |v| {
            v["group"] == "waiting" && v["last"] == "My order 42 never arrived"
        })
        .await;
        assert_eq!(waiting["client"], "cli_1", "{waiting:#}");
        assert_eq!(waiting["name"], "Carla", "{waiting:#}");
        assert!(
            waiting["waited"].as_str().unwrap().starts_with("waiting "),
            "{waiting:#}"
        );
        assert!(
            waiting["actions"]
                .as_array()
                .unwrap()
                .contains(&json!("take")),
            "{waiting:#}"
        );
    }
    let title = "return document.title;";
    wait_js(ann, "the title badge", title, |v| {
        v.as_str().is_some_and(|t| t.starts_with("[1 support]"))
    })
    .await;

    // Ann takes it: it is hers, Bob sees it taken by her, the client sees her join and "Seen".
    act(ann, &room, "take").await;
    wait_item(ann, &room, "the conversation in Mine", |v| {
        v["group"] == "mine"
    })
    .await;
    let taken = wait_item(bob, &room, "taken by Ann", |v| v["group"] == "others").await;
    assert_eq!(taken["taken"], "taken by Ann", "{taken:#}");
    assert!(
        !taken["actions"]
            .as_array()
            .unwrap()
            .contains(&json!("take")),
        "{taken:#}"
    );
    wait_ready(ann, &room).await;
    wait_for_message(ann, "My order 42 never arrived").await;
    // A button from before Bob's queue showed the take: the server's refusals are told plainly.
    stale_click_crossing_the_queue(bob, &room, "take").await;
    wait_toast(bob, "Another agent took this conversation first. (Carla)").await;
    stale_click(bob, &room, "close").await;
    wait_toast(
        bob,
        "Only the agent holding this conversation, or an admin, can do that. (Carla)",
    )
    .await;
    bob.js("for (const b of document.querySelectorAll('#toasts .toast-close')) b.click();")
        .await;
    wait_notice(client, "Ann from support joined").await;
    let seen = "return [...document.querySelectorAll('#messages .receipt-button')].map((b) => \
                [b.textContent, b.getAttribute('aria-label')]);";
    wait_js(client, "Seen", seen, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|r| r[0] == "Seen" && r[1].as_str().is_some_and(|l| l.contains("Ann")))
    })
    .await;
    assert_axe_clean(client, axe, "the client's conversation").await;
    screenshot(client, 1280, 800, "ui-support-client.png").await;
    assert_axe_clean(ann, axe, "the support page with a conversation open").await;
    screenshot(ann, 1280, 800, "ui-support-desk.png").await;

    // A transfer to someone who is not an agent is refused on its field; to Bob it goes.
    act(ann, &room, "transfer").await;
    type_into(ann, "transfer-input", "cli_1").await;
    click(ann, "transfer-submit").await;
    let refused = wait_any_form_error(ann, "transfer-form").await;
    assert!(!refused.is_empty());
    assert_axe_clean(ann, axe, "the transfer dialog with an error").await;
    type_into(ann, "transfer-input", "agent_bob").await;
    ann.find("#transfer-input")
        .await
        .send_keys(&Key::Enter)
        .await
        .unwrap();
    let dialog = "return document.querySelector('#transfer-dialog').open;";
    wait_js(ann, "the dialog to close", dialog, |v| v == false).await;
    let handed = wait_item(ann, &room, "handed to Bob", |v| v["group"] == "others").await;
    assert_eq!(handed["taken"], "taken by Bob", "{handed:#}");
    wait_item(bob, &room, "the conversation Bob's", |v| {
        v["group"] == "mine"
    })
    .await;
    wait_notice(client, "Bob from support joined").await;

    // Bob opens it, types (the client sees "Support is typing…") and answers.
    act(bob, &room, "open").await;
    wait_ready(bob, &room).await;
    let composer = bob.find("#composer-input").await;
    composer.send_keys("Sorry about that, ").await.unwrap();
    let indicator = "const t = document.querySelector('#typing-indicator'); \
                     return t.hidden ? null : t.textContent;";
    wait_js(client, "Support is typing", indicator, |v| {
        v == "Support is typing…"
    })
    .await;
    composer
        .send_keys("a new parcel leaves today")
        .await
        .unwrap();
    composer.send_keys(&Key::Enter).await.unwrap();
    wait_for_message(client, "Sorry about that, a new parcel leaves today").await;
    assert_on_phone(client, &["#support-bar", "#composer-input", "#send-button"]).await;
    let tabs = "return [...document.querySelectorAll('#support-tab-list button[data-tab]')] \
                .filter((b) => b.dataset.kind === 'open').map((b) => b.textContent);";
    assert_eq!(bob.js(tabs).await, json!(["Carla"]));
    assert_axe_clean(bob, axe, "the support page in dark mode").await;

    // At 390 px: one conversation with a way back, then the queue.
    bob.client.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    for selector in ["#support-back", "#composer-input", "#support-bar"] {
        assert_eq!(on_screen(bob, selector).await, true, "{selector} at 390 px");
    }
    assert_eq!(on_screen(bob, "#support-view").await, "not shown");
    click(bob, "support-back").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let open_button =
        format!("#support-mine .support-item[data-room=\"{room}\"] button[data-action=\"open\"]");
    assert_eq!(
        on_screen(bob, &open_button).await,
        true,
        "the queue at 390 px"
    );
    assert_eq!(on_screen(bob, "#composer-input").await, "not shown");
    screenshot(bob, 390, 844, "ui-support-desk-phone.png").await;
    assert_axe_clean(bob, axe, "the queue at 390 px").await;
    act(bob, &room, "open").await;
    wait_ready(bob, &room).await;
    assert_eq!(on_screen(bob, "#support-back").await, true);
    bob.client.set_window_size(1280, 800).await.unwrap();

    // Bob closes it: the client sees it closed, and writing reopens it for every agent.
    act(bob, &room, "close").await;
    wait_notice(client, "Conversation closed — write to reopen").await;
    wait_item(ann, &room, "closed", |v| v["group"] == "closed").await;
    say(client, "One more question").await;
    wait_for_message(client, "One more question").await;
    for agent in [ann, bob] {
        wait_item(agent, &room, "reopened", |v| {
            v["group"] == "waiting" && v["last"] == "One more question"
        })
        .await;
    }
}

/// With `--guest-support`: a guest (who may not post in rooms) contacts support, is answered,
/// and after a reload gets the same conversation back through the token the browser kept. The
/// agent turned browser notifications on by a click and, away from the desk, is notified of the
/// new conversation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_gets_the_same_conversation_after_a_reload() {
    require_browser();
    let axe = axe_source();
    let _turn = BROWSERS.lock().await;
    let flags = [FLAGS.as_slice(), &["--guest-support", "true"]].concat();
    let server = common::start_server(&flags).await;
    let driver = ChromeDriver::start().await;
    let guest = Browser::open(&driver).await;
    let ann = Browser::open(&driver).await;
    let outcome = AssertUnwindSafe(guest_scenario(&guest, &ann, &server.http_url(), &axe))
        .catch_unwind()
        .await;
    server.stop().await;
    finish(outcome, driver, [guest, ann]).await;
}

async fn guest_scenario(guest: &Browser, ann: &Browser, url: &str, axe: &str) {
    guest.client.goto(url).await.unwrap();
    wait_guest_reader(guest).await;
    sign_up(ann, url, "agent_ann", "Ann").await;
    open_desk(ann).await;
    // Notifications are asked for on a click only; then, with the desk out of view, a new
    // conversation notifies. (A stand-in for the browser's Notification records them.)
    ann.js(FAKE_NOTIFICATIONS_JS).await;
    ann.js("document.querySelector('#support-notify').click();")
        .await;
    let notify = "return {button: !document.querySelector('#support-notify').hidden, \
                  state: document.querySelector('#support-notify-state').textContent, \
                  asked: window.__notificationAsks};";
    wait_js(ann, "notifications on", notify, |v| {
        v == &json!({"button": false, "state": "Browser notifications are on.", "asked": 1})
    })
    .await;
    click(ann, "support-nav").await;

    // The guest reads `general` without a composer, but may write to support.
    click(guest, "support-contact").await;
    let state = r#"return {
      room: document.querySelector('#messages').dataset.room ?? null,
      ready: document.querySelector('#messages').dataset.ready ?? null,
      composer: !document.querySelector('#composer-form').hidden &&
        !document.querySelector('#composer-input').disabled,
    };"#;
    let opened = wait_js(guest, "the guest's conversation", state, |v| {
        v["ready"] == "true"
            && v["composer"] == true
            && v["room"]
                .as_str()
                .is_some_and(|r| r.starts_with("support-"))
    })
    .await;
    let room = opened["room"].as_str().unwrap().to_owned();
    say(guest, "Can a guest ask something?").await;
    wait_for_message(guest, "Can a guest ask something?").await;
    assert_axe_clean(guest, axe, "a guest's conversation").await;

    let shown = "return window.__notifications;";
    wait_js(ann, "a notification", shown, |v| {
        v.as_array()
            .unwrap()
            .iter()
            .any(|n| n[0] == "New support conversation: Guest")
    })
    .await;
    click(ann, "support-nav").await;
    let waiting = wait_item(ann, &room, "the guest waiting", |v| {
        v["group"] == "waiting" && v["last"] == "Can a guest ask something?"
    })
    .await;
    assert!(
        waiting["client"]
            .as_str()
            .is_some_and(|c| c.starts_with("guest:")),
        "{waiting:#}"
    );
    let mark =
        "return document.querySelector('#support-waiting .support-guest')?.textContent ?? null;";
    assert_eq!(ann.js(mark).await, "guest");
    act(ann, &room, "take").await;
    wait_ready(ann, &room).await;
    say(ann, "Of course, go ahead").await;
    wait_for_message(guest, "Of course, go ahead").await;

    // A reload is a new connection: the kept token binds the same conversation again.
    guest.client.refresh().await.unwrap();
    wait_ready(guest, &room).await;
    wait_for_message(guest, "Of course, go ahead").await;
    wait_for_message(guest, "Can a guest ask something?").await;
    say(guest, "Thanks!").await;
    wait_for_message(ann, "Thanks!").await;
}
