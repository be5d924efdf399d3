// Replies: the composer's "Replying to …" bar (set by a message's Reply button, cancelled with its
// × or Escape), the parent quoted above a reply (a button that jumps to the parent and focuses
// it), and the reply count under a message, a button that opens the thread: the loaded replies,
// each a button that jumps to it. The parent's offset goes out as `send.reply_to`
// (outbox.js); the count comes with pages (`reply_count`) and live (`reply_count` frames).

import { node, ui } from './dom.js';
import { toast } from './notices.js';
import { currentRoom, getRoom } from './rooms.js';

const SNIPPET_CHARS = 80;
// The message being replied to, per room name: {offset, name, content}.
const replying = new Map();
// Open threads, as `room offset`.
const openThreads = new Set();
const threadKey = (room, offset) => `${room} ${offset}`;
let bar = null;

function snippet(text) {
  const s = String(text ?? '').replace(/\s+/g, ' ').trim();
  return s.length > SNIPPET_CHARS ? `${s.slice(0, SNIPPET_CHARS - 1)}…` : s;
}

function findMessage(roomName, offset) {
  const room = getRoom(roomName);
  return room ? room.msgs.find((m) => m.offset === offset) : undefined;
}

/** The composer's reply bar, made once, above the message box. */
function replyBar() {
  if (bar) return bar;
  bar = node('div', 'reply-bar');
  bar.id = 'reply-bar';
  bar.hidden = true;
  bar.setAttribute('role', 'status');
  const text = node('span', 'reply-bar-text');
  const cancel = node('button', 'reply-cancel link-button', '×');
  cancel.type = 'button';
  cancel.setAttribute('aria-label', 'Cancel reply');
  cancel.addEventListener('click', () => cancelReply(true));
  bar.append(text, cancel);
  ui.composerForm.prepend(bar);
  return bar;
}

/** Shows the reply bar for the open room. */
export function renderReplyBar() {
  const b = replyBar();
  const room = currentRoom();
  const target = room && replying.get(room.name);
  b.hidden = !target;
  b.querySelector('.reply-bar-text').textContent =
    target ? `Replying to ${target.name}: ${snippet(target.content)}` : '';
}

/** Reply to the message at `offset` of the open room. */
export function startReply(offset) {
  const room = currentRoom();
  const m = room && findMessage(room.name, offset);
  if (!m) return;
  replying.set(room.name, { offset, name: String(m.name), content: m.content });
  renderReplyBar();
  ui.composerInput.focus();
}

export function cancelReply(focus) {
  const room = currentRoom();
  if (room) replying.delete(room.name);
  renderReplyBar();
  if (focus) ui.composerInput.focus();
}

/** The parent the next send of `room` replies to (and forgets it). */
export function takeReplyTo(room) {
  const target = replying.get(room.name);
  replying.delete(room.name);
  renderReplyBar();
  return target ? target.offset : null;
}

/** The quote of a reply's parent: a button that jumps to it. */
export function parentQuote(m) {
  const parent = findMessage(m.room, m.reply_to);
  const label = parent ? `${parent.name}: ${snippet(parent.content)}` : `message #${m.reply_to}`;
  const quote = node('button', 'reply-quote', `↪ ${label}`);
  quote.type = 'button';
  quote.dataset.parent = String(m.reply_to);
  quote.setAttribute('aria-label', `In reply to ${label}. Go to it`);
  return quote;
}

/** "N replies" under a message that has some: opens and closes its thread. */
export function replyCount(m) {
  const n = Number(m.reply_count) || 0;
  const b = node('button', 'reply-count link-button', n === 1 ? '1 reply' : `${n} replies`);
  b.type = 'button';
  b.hidden = n === 0;
  b.setAttribute('aria-expanded', String(n > 0 && openThreads.has(threadKey(m.room, m.offset))));
  return b;
}

export function toggleThread(roomName, offset) {
  const key = threadKey(roomName, offset);
  if (!openThreads.delete(key)) openThreads.add(key);
}

/** The open thread of `m`: its loaded replies, oldest first; null when closed. */
export function threadList(m) {
  const n = Number(m.reply_count) || 0;
  if (!n || !openThreads.has(threadKey(m.room, m.offset))) return null;
  const room = getRoom(m.room);
  const replies = room ? room.msgs.filter((r) => r.reply_to === m.offset) : [];
  const list = node('ul', 'thread');
  list.setAttribute('aria-label', `Replies to ${m.name}`);
  for (const r of replies) {
    const item = node('li');
    const b = node('button', 'thread-reply link-button', `${r.name}: ${snippet(r.content)}`);
    b.type = 'button';
    b.dataset.offset = String(r.offset);
    item.append(b);
    list.append(item);
  }
  if (replies.length < n) {
    const more = n - replies.length;
    list.append(node('li', 'thread-more',
      `${more} more ${more === 1 ? 'reply' : 'replies'} in older messages, not loaded`));
  }
  return list;
}

/** Scrolls to a message of the open room and focuses it. */
export function jumpTo(roomName, offset) {
  const e = ui.messages.querySelector(
    `.message[data-room="${CSS.escape(roomName)}"][data-offset="${Number(offset)}"]`);
  if (!e) {
    toast('That message is older than what is loaded here; scroll up to load it.', 'info');
    return;
  }
  e.tabIndex = -1;
  e.scrollIntoView({ block: 'center' });
  e.focus();
  e.classList.add('highlight');
  setTimeout(() => e.classList.remove('highlight'), 2000);
}

/** A `reply_count` frame: the parent's count, kept and shown. */
export function onReplyCount(f, redraw) {
  const m = findMessage(f.room, f.offset);
  if (!m) return;
  // Counts only grow; the largest seen wins should two announcements cross.
  m.reply_count = Math.max(Number(m.reply_count) || 0, Number(f.count) || 0);
  redraw(f.room, m);
}

export function bindReplies() {
  replyBar();
  ui.composerInput.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && currentRoom() && replying.has(currentRoom().name)) {
      e.preventDefault();
      cancelReply(true);
    }
  });
}
