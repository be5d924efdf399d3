// The open room's message log: confirmed messages in offset order with day separators and gap
// notices, then this tab's pending sends with their status; scrolling and the "New messages"
// button; clicks inside the log (a topic chip, Retry, Discard; Edit and Delete go to edits.js).
//
// Every message shows its sender's name, email (when given), time, topic (when given) and content
// as visible text, touch screens included; consecutive messages of one sender only drop the
// avatar. A guest's message (where guests may post) is marked "guest", so a guest cannot pass
// for the member whose name they type.

import { avatarInto, node, ui } from './dom.js';
import { isIdentified } from './connection.js';
import { currentIdentity, isMine } from './identity.js';
import { currentUser } from './account.js';
import { discardPending, retriesByItself, retryPending } from './outbox.js';
import { currentRoom, loadOlder } from './rooms.js';
import { useTopic } from './composer.js';
import { fillContent, onLogClick } from './edits.js';
import { decorateMessage } from './votes.js';

const GROUP_WINDOW_MS = 5 * 60 * 1000;
// What the open room's DOM currently ends with, so a new message can be appended in place.
const view = { room: null, last: null };

function nearBottom() {
  const m = ui.messages;
  return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
}

export function scrollToBottom() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
  ui.jumpButton.hidden = true;
}

/** Rebuilds the open room's log; `stick` scrolls to the end, `keepView` keeps what is on screen
 * where it is (older messages were added above it). */
export function renderMessages(stick, keepView = false) {
  const room = currentRoom();
  if (!room) return;
  const wasNear = nearBottom();
  const fromBottom = ui.messages.scrollHeight - ui.messages.scrollTop;
  ui.messages.setAttribute('aria-busy', 'true');
  const out = document.createDocumentFragment();
  const notices = new Map();
  for (const n of room.notices) {
    if (!notices.has(n.after)) notices.set(n.after, []);
    notices.get(n.after).push(n);
  }
  const first = room.msgs.length ? room.msgs[0].offset : Infinity;
  for (const [after, list] of notices) {
    if (after < first) for (const n of list) out.append(node('p', 'notice', n.text));
  }
  let prev = null;
  for (const m of room.msgs) {
    appendMessageNodes(out, m, prev);
    prev = m;
    for (const n of notices.get(m.offset) || []) {
      out.append(node('p', 'notice', n.text));
      prev = null;
    }
  }
  if (!room.msgs.length) {
    out.append(node('p', 'empty-log', room.ready ? 'No messages yet. Say hello!' : 'Loading…'));
  }
  ui.stream.replaceChildren(out);
  ui.messages.dataset.room = room.name;
  ui.messages.dataset.ready = String(room.ready);
  view.room = room.name;
  view.last = prev;
  renderPending();
  ui.messages.setAttribute('aria-busy', 'false');
  if (keepView) ui.messages.scrollTop = ui.messages.scrollHeight - fromBottom;
  else if (stick || wasNear) scrollToBottom();
}

/** Shows one new message of the open room, appending in place when it goes at the end. */
export function showNewMessage(room, m, atEnd, mine, wasPending) {
  const wasNear = nearBottom();
  if (atEnd && view.room === room.name && view.last && m.offset > view.last.offset) {
    const out = document.createDocumentFragment();
    appendMessageNodes(out, m, view.last);
    ui.stream.append(out);
    view.last = m;
    if (wasPending || room.pending.size) renderPending(); // grouping may have changed
  } else {
    renderMessages(false);
  }
  if (wasNear || mine) scrollToBottom();
  else ui.jumpButton.hidden = false;
}

function sameGroup(prev, m) {
  if (!prev || prev.name !== m.name || (prev.email || '') !== (m.email || '')) return false;
  if ((prev.user ?? null) !== (m.user ?? null) || Boolean(prev.guest) !== Boolean(m.guest)) {
    return false;
  }
  const gap = Date.parse(m.time) - Date.parse(prev.time);
  return gap >= 0 && gap < GROUP_WINDOW_MS && dayKey(prev.time) === dayKey(m.time);
}

function dayKey(time) {
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? '' : d.toDateString();
}

function dayLabel(time) {
  const d = new Date(time);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return 'Today';
  if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
  return d.toLocaleDateString(undefined,
    { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

function timeElement(time) {
  const t = node('time', 'message-time');
  const d = new Date(time);
  if (Number.isNaN(d.getTime())) {
    t.textContent = String(time);
    return t;
  }
  t.dateTime = d.toISOString();
  t.textContent = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
  t.title = d.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'long' });
  return t;
}

function appendMessageNodes(out, m, prev) {
  if (!prev || dayKey(prev.time) !== dayKey(m.time)) {
    const sep = node('div', 'day-separator');
    sep.setAttribute('role', 'separator');
    sep.append(node('span', '', dayLabel(m.time)));
    out.append(sep);
  }
  const article = messageElement(m, sameGroup(prev, m));
  decorateMessage(article, m);
  article.dataset.room = m.room;
  article.dataset.offset = String(m.offset);
  if (typeof m.id === 'string') article.dataset.id = m.id;
  if (typeof m.client_id === 'string') article.dataset.clientId = m.client_id;
  if (isMine(m)) article.classList.add('mine');
  out.append(article);
}

/** One message: {name, email, time, topic, content}; `grouped` under the same sender's last.
 * Its content, or tombstone, "edited" marker and actions, are edits.js's. */
export function messageElement(m, grouped) {
  const article = node('article', grouped ? 'message grouped' : 'message');
  const gutter = node('div', 'message-gutter');
  if (!grouped) {
    const avatar = node('div', 'avatar');
    avatar.setAttribute('aria-hidden', 'true');
    avatarInto(avatar, String(m.name));
    gutter.append(avatar);
  }
  const body = node('div', 'message-body');
  const head = node('div', 'message-head');
  head.append(node('span', 'message-name', String(m.name)));
  if (m.guest === true) head.append(node('span', 'message-guest', 'guest'));
  if (m.email) head.append(node('span', 'message-email', String(m.email)));
  head.append(timeElement(m.time));
  body.append(head);
  if (m.topic) {
    const chip = node('button', 'message-topic', String(m.topic));
    chip.type = 'button';
    chip.title = 'Reply in this topic';
    body.append(chip);
  }
  fillContent(head, body, m, appendLinkified);
  article.append(gutter, body);
  return article;
}

/** Turns http(s) URLs into links; everything, links included, is inserted as text. */
function appendLinkified(parent, text) {
  const url = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
  let at = 0;
  for (const match of text.matchAll(url)) {
    if (match.index > at) parent.append(text.slice(at, match.index));
    const a = node('a', '', match[0]);
    a.href = match[0];
    a.rel = 'noopener noreferrer nofollow';
    a.target = '_blank';
    parent.append(a);
    at = match.index + match[0].length;
  }
  if (at < text.length) parent.append(text.slice(at));
}

function pendingStatus(p) {
  switch (p.status) {
    case 'acked':
      return 'Sent';
    case 'failed':
      return retriesByItself(p) ? `Not sent: ${p.error} Retrying…` : `Not sent: ${p.error}`;
    case 'sending':
      return 'Sending…';
    default:
      return isIdentified() ? 'Sending…' : 'Waiting for the connection…';
  }
}

/** This tab's unconfirmed messages of the open room, after the confirmed ones. */
export function renderPending() {
  const room = currentRoom();
  const identity = currentIdentity();
  const user = currentUser();
  const out = document.createDocumentFragment();
  let prev = room && view.room === room.name ? view.last : null;
  for (const p of room ? room.pending.values() : []) {
    // Shaped like a message, so it groups under the sender's previous one.
    const m = {
      name: identity ? identity.name : '',
      user: user ? user.username : null,
      guest: !user,
      email: identity ? identity.email : '',
      time: new Date(p.created).toISOString(),
      topic: p.topic,
      content: p.content,
    };
    const article = messageElement(m, sameGroup(prev, m));
    prev = m;
    article.classList.add('pending', 'mine');
    if (p.status === 'failed') article.classList.add('failed');
    if (p.ephemeral) article.classList.add('ephemeral');
    article.dataset.room = p.room;
    article.dataset.clientId = p.clientId;
    article.dataset.status = p.status;
    const status = node('div', 'message-status', pendingStatus(p));
    if (p.status === 'failed') {
      const retry = node('button', 'retry-button link-button', 'Retry');
      retry.type = 'button';
      const discard = node('button', 'discard-button link-button', 'Discard');
      discard.type = 'button';
      status.append(' ', retry, ' ', discard);
    }
    article.querySelector('.message-body').append(status);
    out.append(article);
  }
  ui.pendingStream.replaceChildren(out);
}

export function bindMessages() {
  ui.messages.addEventListener('click', (e) => {
    const target = e.target;
    const article = target.closest('.message');
    if (onLogClick(target, article)) return;
    if (target.closest('.message-topic')) {
      useTopic(target.textContent);
    } else if (article && target.closest('.retry-button')) {
      retryPending(article.dataset.room, article.dataset.clientId, true);
    } else if (article && target.closest('.discard-button')) {
      discardPending(article.dataset.room, article.dataset.clientId);
    }
  });
  ui.messages.addEventListener('scroll', () => {
    if (nearBottom()) ui.jumpButton.hidden = true;
    if (ui.messages.scrollTop < 60) loadOlder();
  });
  ui.jumpButton.addEventListener('click', scrollToBottom);
}
