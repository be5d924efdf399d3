//! The account steps a person takes in the page: register, log in and out through the account
//! dialog, create a private room; the waits that check who the page says they are (guest or
//! member), what the composer area shows, a form's errors, the room list and a private room's
//! participants; axe-core and whether a control is on screen at a phone's width.

use std::time::Duration;

use fantoccini::key::Key;
use serde_json::{Value as Json, json};

use super::{Browser, run_axe, wait_js, wait_ready};
use crate::common::accounts::PASSWORD;

/// Who the page thinks it is and what it offers for posting.
pub const ACCOUNT_JS: &str = r#"
const shown = (id) => { const e = document.getElementById(id); return Boolean(e) && !e.hidden &&
  e.checkVisibility(); };
return {
  account: document.body.dataset.account ?? null,
  name: document.querySelector('#account-button').hidden ? null
    : document.querySelector('#account-name').textContent,
  composer: shown('composer-form'),
  guest_notice: shown('guest-notice'),
  hello: shown('hello-panel'),
  dialog: document.querySelector('#account-dialog').open,
};
"#;

/// Waits until the page is a guest reader: no composer, the guest notice instead.
pub async fn wait_guest_reader(browser: &Browser) -> Json {
    wait_js(browser, "the guest view", ACCOUNT_JS, |v| {
        v["account"] == "guest"
            && v["composer"] == false
            && v["guest_notice"] == true
            && v["hello"] == false
    })
    .await
}

/// Waits until the page is signed in as `display_name`, the composer back, the dialog closed.
pub async fn wait_member(browser: &Browser, display_name: &str) -> Json {
    wait_js(
        browser,
        &format!("signed in as {display_name}"),
        ACCOUNT_JS,
        |v| {
            v["account"] == "user"
                && v["name"] == display_name
                && v["composer"] == true
                && v["guest_notice"] == false
                && v["dialog"] == false
        },
    )
    .await
}

/// Clicks an element by id once it is there and shown (dialogs open asynchronously).
pub async fn click(browser: &Browser, id: &str) {
    let script = format!(
        "const e = document.getElementById('{id}'); \
         if (!e || e.hidden || !e.checkVisibility() || e.disabled) return false; \
         e.click(); return true;"
    );
    wait_js(browser, &format!("#{id} to click"), &script, |v| v == true).await;
}

/// Replaces the value of the input `id` by typing `text` into it.
pub async fn type_into(browser: &Browser, id: &str, text: &str) {
    let input = browser.find(&format!("#{id}")).await;
    input.clear().await.unwrap();
    if !text.is_empty() {
        input.send_keys(text).await.unwrap();
    }
}

/// The text of each shown error in a form, by element id.
pub async fn form_errors(browser: &Browser, form: &str) -> Json {
    let script = r#"
const out = {};
for (const e of document.querySelectorAll(`#${arguments[0]} .field-error`)) {
  if (!e.hidden) out[e.id] = e.textContent;
}
return out;
"#;
    browser.js_with(script, vec![json!(form)]).await
}

/// Opens the register form from the guest notice (or the top bar) and creates the account.
pub async fn register(browser: &Browser, username: &str, display_name: &str, password: &str) {
    open_dialog(browser, "register-form").await;
    type_into(browser, "register-username", username).await;
    type_into(browser, "register-display-name", display_name).await;
    type_into(browser, "register-password", password).await;
    click(browser, "register-submit").await;
    wait_member(browser, display_name).await;
}

/// Opens `url` as a guest reader, registers `username` (password [`PASSWORD`]) through the page's
/// form and waits for `general`.
pub async fn sign_up(browser: &Browser, url: &str, username: &str, display_name: &str) {
    browser.client.goto(url).await.unwrap();
    wait_guest_reader(browser).await;
    register(browser, username, display_name, PASSWORD).await;
    wait_ready(browser, "general").await;
}

/// Registers `username` (password [`PASSWORD`]) with a `fetch` from the page at `url` (same
/// origin, so the browser holds the cookie) and reloads it, so its socket opens signed in.
pub async fn register_from_page(browser: &Browser, url: &str, username: &str) {
    browser.client.goto(url).await.unwrap();
    let status = browser
        .js_with(
            "return fetch('/api/register', {method: 'POST', \
               headers: {'Content-Type': 'application/json'}, \
               body: JSON.stringify({username: arguments[0], password: arguments[1]})}) \
             .then((r) => r.status);",
            vec![json!(username), json!(PASSWORD)],
        )
        .await;
    assert_eq!(status, 201, "{}: register {username}", browser.name);
    browser.client.goto(url).await.unwrap();
}

/// Logs in from the top bar's "Log in".
pub async fn log_in(browser: &Browser, username: &str, password: &str, display_name: &str) {
    open_dialog(browser, "login-form").await;
    type_into(browser, "login-username", username).await;
    type_into(browser, "login-password", password).await;
    click(browser, "login-submit").await;
    wait_member(browser, display_name).await;
}

/// Logs out from the account dialog and waits for the guest view.
pub async fn log_out(browser: &Browser) {
    click(browser, "account-button").await;
    click(browser, "logout-button").await;
    wait_js(browser, "signed out", ACCOUNT_JS, |v| {
        v["account"] == "guest" && v["dialog"] == false
    })
    .await;
}

/// Opens the account dialog on `form` (login-form or register-form) as a guest.
pub async fn open_dialog(browser: &Browser, form: &str) {
    click(browser, "login-button").await;
    if form == "register-form" {
        click(browser, "to-register").await;
    }
    let script = format!(
        "return document.querySelector('#account-dialog').open && \
         !document.querySelector('#{form}').hidden;"
    );
    wait_js(browser, &format!("the dialog on #{form}"), &script, |v| {
        v == true
    })
    .await;
}

/// Whether the element `selector` is drawn, wholly inside the viewport's width, and not covered
/// at its centre by something else (what a person at this width can see and tap).
pub async fn on_screen(browser: &Browser, selector: &str) -> Json {
    let script = r#"
const e = document.querySelector(arguments[0]);
if (!e || !e.checkVisibility()) return 'not shown';
const r = e.getBoundingClientRect();
if (r.width < 2 || r.height < 2) return 'no size';
if (r.left < 0 || r.right > document.documentElement.clientWidth + 0.5) return `off screen: ${r.left}..${r.right}`;
const top = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
return top && (top === e || e.contains(top)) ? true : `covered by ${top && (top.id || top.className)}`;
"#;
    browser.js_with(script, vec![json!(selector)]).await
}

/// While `window.__holdSends` is true the page's `send` frames are swallowed, so a message
/// stays unconfirmed in the outbox.
pub const HOLD_SENDS_JS: &str = r#"
if (!window.__holdHooked) {
  window.__holdHooked = true;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (window.__holdSends && JSON.parse(data).type === 'send') return;
    return send.call(this, data);
  };
}
window.__holdSends = true;
"#;

pub const PARTICIPANTS_JS: &str = "return [...document.querySelectorAll('#participants-list .participant')].map((e) => e.dataset.username);";

/// "private" or "public" when `room` is in the room list, null when it is not.
pub fn listed_js(room: &str) -> String {
    format!(
        "const b = document.querySelector(\"#room-list [data-room='{room}']\"); \
         return b ? (b.dataset.private === 'true' ? 'private' : 'public') : null;"
    )
}

/// Creates a private room from the sidebar form ("Private" ticked) and waits until it is open;
/// returns its name, `name` and the server's random suffix.
pub async fn create_private_room(browser: &Browser, name: &str) -> String {
    let input = browser.find("#new-room-input").await;
    input.send_keys(name).await.unwrap();
    input.send_keys(&Key::Enter).await.unwrap();
    let state = r#"return {
      conn: document.querySelector('#conn-state').dataset.state,
      room: document.querySelector('#messages').dataset.room ?? null,
      ready: document.querySelector('#messages').dataset.ready ?? null,
    };"#;
    let prefix = format!("{name}-");
    let open = wait_js(
        browser,
        &format!("the private room {name}-…"),
        state,
        |v| {
            v["conn"] == "online"
                && v["ready"] == "true"
                && v["room"].as_str().is_some_and(|r| r.starts_with(&prefix))
        },
    )
    .await;
    open["room"].as_str().unwrap().to_owned()
}

/// Waits until `form` shows any error (a field's or the form's); returns the first one's text.
pub async fn wait_any_form_error(browser: &Browser, form: &str) -> String {
    let script = format!(
        "const e = [...document.querySelectorAll('#{form} .field-error')].find((e) => !e.hidden && e.textContent); \
         return e ? e.textContent : null;"
    );
    let text = wait_js(browser, &format!("an error in #{form}"), &script, |v| {
        v.is_string()
    })
    .await;
    text.as_str().unwrap().to_owned()
}

pub async fn assert_axe_clean(browser: &Browser, axe: &str, what: &str) {
    let violations = run_axe(browser, axe).await;
    assert_eq!(violations, json!([]), "{what}: axe-core found violations");
}

/// At 390 px wide each of `selectors` is on screen and not covered; then back to a desktop.
pub async fn assert_on_phone(browser: &Browser, selectors: &[&str]) {
    browser.client.set_window_size(390, 844).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // relayout
    for selector in selectors {
        let shown = on_screen(browser, selector).await;
        assert_eq!(shown, true, "{}: {selector} at 390 px", browser.name);
    }
    browser.client.set_window_size(1280, 800).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
}
