// Unread and mention counts of a signed-in user, and @mentions in the log.
//
// The server keeps read positions per user (docs/protocol.md, `read` and `unread`), so these
// counts follow the user to another browser: an `unread` frame (after `welcome` and whenever the
// user's position moves anywhere) replaces the counts of the rooms it lists; live messages of a
// room that is not being looked at add to them until the next frame. Rooms it does not list keep
// the counts rooms.js keeps for any visitor. Mentions are `@username` or `@display name`,
// highlighted in every message (text nodes only, never HTML) and counted apart.

import { node, ui } from './dom.js';
import { currentName } from './rooms.js';

let me = null; // welcome.user: {username, display_name, ...} or null for a guest
const counts = new Map(); // room -> {unread, mentions}
const MENTION = /(^|[^\p{L}\p{N}_-])(@[\p{L}\p{N}_-]+)/gu;

/** The signed-in user of this connection, or null for a guest. */
export const signedInUser = () => me;

export function unreadWelcome(f) {
  me = f.user && typeof f.user.username === 'string' ? f.user : null;
  if (!me) counts.clear();
  render();
}

export function onUnread(f) {
  if (!Array.isArray(f.rooms)) return;
  for (const r of f.rooms) {
    if (typeof r.room === 'string') {
      counts.set(r.room, { unread: r.unread | 0, mentions: r.mentions | 0 });
    }
  }
  render();
}

/** Whether a message's text mentions this user. */
export function mentionsMe(content) {
  if (!me || typeof content !== 'string') return false;
  const text = content.toLowerCase();
  return [me.username, me.display_name].some((name) => {
    if (typeof name !== 'string' || !name) return false;
    const needle = `@${name.toLowerCase()}`;
    let i = text.indexOf(needle);
    while (i !== -1) {
      const before = i === 0 ? '' : text[i - 1];
      const after = text.slice(i + needle.length, i + needle.length + 1);
      if (!/[\p{L}\p{N}]/u.test(before) && !/[\p{L}\p{N}_-]/u.test(after)) return true;
      i = text.indexOf(needle, i + 1);
    }
    return false;
  });
}

/** A live message: counted while its room is not in view (only rooms the server counts). */
export function unreadMessage(f) {
  const entry = counts.get(f.room);
  if (!entry || !me || f.user === me.username) return;
  if (f.room === currentName() && !document.hidden) return;
  entry.unread++;
  if (mentionsMe(f.content)) entry.mentions++;
  render();
}

function badge(className, count, label) {
  const b = node('span', className, String(count));
  b.append(node('span', 'visually-hidden', ` ${label}`));
  return b;
}

/** Puts the server's counts on the room list's buttons (after every rebuild of the list). */
function render() {
  if (!me) return;
  for (const button of ui.roomList.querySelectorAll('.room-button')) {
    const entry = counts.get(button.dataset.room);
    if (!entry) continue;
    for (const old of button.querySelectorAll('.room-unread, .room-mentions')) old.remove();
    const online = button.querySelector('.room-online');
    if (entry.mentions > 0) button.insertBefore(badge('room-mentions', `@${entry.mentions}`, entry.mentions === 1 ? 'mention' : 'mentions'), online);
    if (entry.unread > 0) button.insertBefore(badge('room-unread', entry.unread, 'unread'), online);
  }
}

/** Wraps @mentions of one message's content in <mark>, splitting its text nodes. */
function highlight(content) {
  if (content.dataset.mentions) return;
  content.dataset.mentions = 'done';
  const text = content.textContent;
  MENTION.lastIndex = 0;
  if (!MENTION.test(text)) return;
  MENTION.lastIndex = 0;
  const out = document.createDocumentFragment();
  let at = 0;
  for (const match of text.matchAll(MENTION)) {
    const start = match.index + match[1].length;
    out.append(document.createTextNode(text.slice(at, start)));
    const mark = node('mark', 'mention', match[2]);
    if (mentionsMe(text.slice(start))) mark.classList.add('mention-me');
    out.append(mark);
    at = start + match[2].length;
  }
  out.append(document.createTextNode(text.slice(at)));
  content.replaceChildren(out);
}

function highlightAll() {
  for (const c of ui.stream.querySelectorAll('.message-content:not([data-mentions])')) highlight(c);
}

export function bindUnread() {
  new MutationObserver(render).observe(ui.roomList, { childList: true });
  new MutationObserver(highlightAll).observe(ui.stream, { childList: true });
}
