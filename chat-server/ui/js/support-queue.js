// The agent's live support queue (docs/protocol.md, `support_queue`): the conversations in four
// groups, Waiting (oldest first), Mine, Others and Closed; each item shows the client's
// identifier and name, the last message, how long the client has waited (a relative time kept
// current), the unread count and who holds it, with the actions of support-actions.js. New
// conversations and new client messages are announced in a polite live region, counted in the
// tab title and on the "Support desk" button, and, once the agent allowed it by a click, shown
// as browser notifications while the page is not in view.
//
// Every frame carries the whole queue, so each one replaces the list; the server coalesces
// them (at most one per 100 ms per connection). Text from clients goes in as text only.

import { node, ui } from './dom.js';
import { currentUser } from './account.js';
import { remember, renderSupportBar } from './support.js';
import { actionButtons, holds, settleSupport } from './support-actions.js';
import { deskShown, renderDesk } from './support-desk.js';
import { renderUnread } from './sidebar.js';

const TICK_MS = 10000;
const GROUPS = Object.freeze(['waiting', 'mine', 'others', 'closed']);
let queue = []; // the conversations of the last `support_queue`, as sent
let known = null; // room -> unread of the previous frame (null before the first frame)

/** Which group a conversation shows in. */
function groupOf(c) {
  if (c.state === 'closed') return 'closed';
  if (!c.taken_by) return 'waiting';
  return holds(c) ? 'mine' : 'others';
}

/** Conversations waiting or with unread client messages: the title's and button's badge. */
export function supportCount() {
  if (!currentUser()?.agent) return 0;
  return queue.filter((c) => c.state !== 'closed' && (!c.taken_by || (c.unread > 0 && holds(c))))
    .length;
}

function valid(c) {
  return c && typeof c.room === 'string' && typeof c.client === 'string' &&
    ['waiting', 'open', 'closed'].includes(c.state);
}

/** Says `text` in the queue's live region (new conversations, hand-overs, refusals). */
export function announce(text) {
  ui.supportAnnounce.textContent = '';
  // A new text node after clearing makes screen readers speak the same sentence twice, too.
  setTimeout(() => { ui.supportAnnounce.textContent = text; }, 50);
}

function notify(title, body, room) {
  if (!('Notification' in window) || Notification.permission !== 'granted') return;
  if (!document.hidden && deskShown()) return;
  try {
    new Notification(title, { body, tag: room });
  } catch {
    // Some browsers only allow notifications from a service worker: the badge still counts.
  }
}

/** What changed since the last frame, told to the agent. */
function tellNews(list) {
  if (known === null) return;
  for (const c of list) {
    const who = c.client_name || c.client;
    const last = c.last && typeof c.last.content === 'string' ? c.last.content : '';
    if (!known.has(c.room) && c.state === 'waiting') {
      announce(`New support conversation from ${who}.`);
      notify(`New support conversation: ${who}`, last, c.room);
    } else if (known.has(c.room) && c.unread > known.get(c.room) && (holds(c) || !c.taken_by)) {
      announce(`New message from ${who}.`);
      notify(`New message from ${who}`, last, c.room);
    }
  }
}

/** `support_queue {conversations}`: the whole queue, on connect and on every change. */
export function onSupportQueue(f) {
  if (!Array.isArray(f.conversations)) return;
  const list = f.conversations.filter(valid).map((c) => ({ ...c, unread: c.unread | 0 }));
  for (const c of list) settleSupport(remember(c));
  tellNews(list);
  known = new Map(list.map((c) => [c.room, c.unread]));
  queue = list;
  renderQueue();
  renderDesk();
  renderSupportBar();
  renderUnread();
}

/** "3 min", "1 h 5 min": how long ago `time` was. */
export function since(time, now = Date.now()) {
  const s = Math.max(0, Math.round((now - Date.parse(time)) / 1000));
  if (!Number.isFinite(s)) return '';
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

function waitedNode(c) {
  if (!c.waiting_since) return null;
  const t = node('time', 'support-waited', `waiting ${since(c.waiting_since)}`);
  t.dateTime = c.waiting_since;
  t.title = new Date(c.waiting_since).toLocaleString();
  return t;
}

function itemNode(c) {
  const li = node('li', 'support-item');
  li.dataset.room = c.room;
  li.dataset.state = c.state;
  const who = node('p', 'support-who');
  who.append(node('span', 'support-name', c.client_name || c.client));
  who.append(node('span', 'support-client', c.client));
  if (c.guest === true) who.append(node('span', 'support-guest', 'guest'));
  if (c.unread > 0) {
    const badge = node('span', 'support-unread', String(c.unread));
    badge.append(node('span', 'visually-hidden', ' unread'));
    who.append(badge);
  }
  li.append(who);
  const last = node('p', 'support-last');
  if (c.last && typeof c.last.content === 'string') {
    last.append(node('span', 'support-last-name', `${String(c.last.name ?? '')}: `));
    last.append(node('span', 'support-last-text', c.last.content));
  } else {
    last.append(node('span', 'support-last-text', 'No messages yet'));
  }
  li.append(last);
  const meta = node('p', 'support-meta');
  const waited = waitedNode(c);
  if (waited) meta.append(waited);
  if (c.taken_by) {
    meta.append(node('span', 'support-taken', `taken by ${c.taken_by_name || c.taken_by}`));
  } else if (c.state === 'closed') {
    meta.append(node('span', 'support-taken', 'closed'));
  }
  if (meta.childNodes.length) li.append(meta);
  li.append(actionButtons(c, 'queue'));
  return li;
}

/** Redraws the four groups, keeping a keyboard user's focus on the same button. */
export function renderQueue() {
  const active = document.activeElement;
  const keep = ui.supportView.contains(active) && active.dataset.action
    ? { room: active.dataset.room, action: active.dataset.action } : null;
  const lists = Object.fromEntries(GROUPS.map((g) => [g, document.createDocumentFragment()]));
  const counts = Object.fromEntries(GROUPS.map((g) => [g, 0]));
  for (const c of queue) {
    const g = groupOf(c);
    counts[g]++;
    lists[g].append(itemNode(c));
  }
  for (const g of GROUPS) {
    const list = document.getElementById(`support-${g}`);
    list.replaceChildren(lists[g]);
    document.getElementById(`support-${g}-count`).textContent = String(counts[g]);
    list.closest('section').dataset.empty = String(counts[g] === 0);
  }
  if (keep) {
    const sel = `button[data-room="${CSS.escape(keep.room)}"][data-action="${keep.action}"]`;
    (ui.supportView.querySelector(sel) || ui.supportView.querySelector('h2'))?.focus();
  }
}

function tick() {
  const now = Date.now();
  for (const t of ui.supportView.querySelectorAll('time.support-waited')) {
    t.textContent = `waiting ${since(t.dateTime, now)}`;
  }
}

function renderNotify() {
  const supported = 'Notification' in window;
  const permission = supported ? Notification.permission : 'unsupported';
  ui.supportNotify.hidden = permission !== 'default';
  ui.supportNotifyState.textContent = permission === 'granted' ? 'Browser notifications are on.'
    : permission === 'denied' ? 'Browser notifications are blocked for this site.' : '';
}

export function bindSupportQueue() {
  setInterval(tick, TICK_MS);
  renderNotify();
  ui.supportNotify.addEventListener('click', () => {
    // Asked only now, after the agent's click, as browsers expect.
    Promise.resolve(Notification.requestPermission()).then(renderNotify, renderNotify);
  });
}
