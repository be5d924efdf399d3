//! The support desk's steps in the page: an agent's queue items (what each shows, by group), its
//! actions (also from a stale button, so the server's refusals show), the notices and toasts a
//! conversation shows, opening the desk, and a stand-in for the browser's
//! Notification that records what the page shows.

use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};

use super::{Browser, accounts::click, wait_js};

/// Replaces the browser's Notification by one that is granted on request and records what it
/// shows, counting the requests.
pub const FAKE_NOTIFICATIONS_JS: &str = r#"
window.__notifications = [];
window.__notificationAsks = 0;
window.Notification = class {
  static permission = 'default';
  static requestPermission() {
    window.__notificationAsks++;
    window.Notification.permission = 'granted';
    return Promise.resolve('granted');
  }
  constructor(title, options) { window.__notifications.push([title, options?.body ?? '']); }
};
"#;

/// One queue item as the agent sees it, by group, or null when the room is in no group.
pub const ITEM_JS: &str = r#"
for (const group of ['waiting', 'mine', 'others', 'closed']) {
  const li = document.querySelector(`#support-${group} .support-item[data-room="${arguments[0]}"]`);
  if (!li) continue;
  const text = (s) => li.querySelector(s)?.textContent ?? null;
  return {
    group,
    client: text('.support-client'),
    name: text('.support-name'),
    last: text('.support-last-text'),
    waited: text('.support-waited'),
    taken: text('.support-taken'),
    actions: [...li.querySelectorAll('button[data-action]')].map((b) => b.dataset.action),
  };
}
return null;
"#;

pub async fn item(browser: &Browser, room: &str) -> Json {
    browser.js_with(ITEM_JS, vec![json!(room)]).await
}

/// Waits until the queue item of `room` satisfies `ok`; returns it.
pub async fn wait_item(
    browser: &Browser,
    room: &str,
    what: &str,
    ok: impl Fn(&Json) -> bool,
) -> Json {
    let deadline = Instant::now() + super::WAIT;
    loop {
        let value = item(browser, room).await;
        if ok(&value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{}: timed out waiting for {what}; last value: {value:#}",
            browser.name
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Clicks the `action` button of `room`'s queue item.
pub async fn act(browser: &Browser, room: &str, action: &str) {
    let script = "const b = document.querySelector(`#support-view .support-item[data-room=\"${arguments[0]}\"] button[data-action=\"${arguments[1]}\"]`); if (b) b.click(); return Boolean(b);";
    let clicked = browser
        .js_with(script, vec![json!(room), json!(action)])
        .await;
    assert_eq!(
        clicked, true,
        "{}: no {action} button for {room}",
        browser.name
    );
}

/// Clicks an `action` button for `room` as a queue item drawn before the last change had it:
/// the page sends the request, and the server decides.
pub async fn stale_click(browser: &Browser, room: &str, action: &str) {
    let script = format!("const [room, action] = arguments;\n{STALE_CLICK_JS}");
    browser
        .js_with(&script, vec![json!(room), json!(action)])
        .await;
}

/// The click of [`stale_click`], given `room` and `action`.
const STALE_CLICK_JS: &str = r#"
const box = document.createElement('div');
box.className = 'support-actions';
const b = document.createElement('button');
b.dataset.room = room;
b.dataset.action = action;
box.append(b);
document.body.append(box);
b.click();
box.remove();
"#;

/// [`stale_click`], then, before the server's answer can arrive, the page handles the queue entry
/// it already has for `room` (as when a queue frame crosses the request): the refusal that follows
/// must still be told with the conversation's label.
pub async fn stale_click_crossing_the_queue(browser: &Browser, room: &str, action: &str) {
    let script = format!(
        "const [room, action, done] = arguments;
Promise.all([import('/js/support-actions.js'), import('/js/support.js')]).then(([actions, support]) => {{
{STALE_CLICK_JS}
  actions.settleSupport(support.conversation(room));
  done(true);
}}).catch((e) => done(String(e)));"
    );
    let ran = browser
        .client
        .execute_async(&script, vec![json!(room), json!(action)])
        .await
        .unwrap_or_else(|e| panic!("{}: script failed: {e}", browser.name));
    assert_eq!(ran, json!(true), "{}: {ran}", browser.name);
}

/// Waits for a toast with exactly `text`, shown as an alert.
pub async fn wait_toast(browser: &Browser, text: &str) {
    let toasts = "return [...document.querySelectorAll('#toasts .toast[role=alert] .toast-text')] \
                  .map((t) => t.textContent);";
    wait_js(browser, &format!("the toast {text:?}"), toasts, |v| {
        v.as_array().unwrap().iter().any(|t| t == text)
    })
    .await;
}

/// The texts of the notices in the open room's log.
pub const NOTICES_JS: &str =
    "return [...document.querySelectorAll('#messages .notice')].map((n) => n.textContent);";

pub async fn wait_notice(browser: &Browser, text: &str) {
    wait_js(browser, &format!("the notice {text:?}"), NOTICES_JS, |v| {
        v.as_array().unwrap().iter().any(|n| n == text)
    })
    .await;
}

/// Opens the support page and waits for the queue.
pub async fn open_desk(agent: &Browser) {
    click(agent, "support-nav").await;
    let shown = "return document.body.dataset.page === 'support' && \
                 !document.querySelector('#support-view').hidden;";
    wait_js(agent, "the support page", shown, |v| v == true).await;
}
