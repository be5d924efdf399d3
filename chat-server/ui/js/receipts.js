// Read receipts: the page tells the server how far this signed-in user has read the open room
// (`read {room, offset}`, the newest message on screen, while the tab is visible and focused),
// and shows the server's `receipts {room, offset, count, names}` as "Seen by 3" under those
// messages: a button whose accessible name says who, and which lists the names when pressed.
// The server sends receipts for the newest three read positions of a room; this keeps as many.

import { node, ui } from './dom.js';
import { sendFrame } from './connection.js';
import { currentName } from './rooms.js';
import { signedInUser } from './unread.js';
import { supportSeen } from './support.js';

const KEPT = 3;
const CHECK_EVERY_MS = 1000;
const receipts = new Map(); // room -> Map(offset -> {count, names})
const sent = new Map(); // room -> offset last sent on this connection
let focused = true;

export function onReceipts(f) {
  if (typeof f.room !== 'string' || !Number.isInteger(f.offset)) return;
  if (!receipts.has(f.room)) receipts.set(f.room, new Map());
  const room = receipts.get(f.room);
  room.set(f.offset, { count: f.count | 0, names: Array.isArray(f.names) ? f.names.map(String) : [] });
  const offsets = [...room.keys()].sort((a, b) => a - b);
  for (const o of offsets.slice(0, Math.max(0, offsets.length - KEPT))) room.delete(o);
  render();
}

/** A new connection has sent nothing yet. */
export function receiptsReset() {
  sent.clear();
}

function render() {
  for (const old of ui.stream.querySelectorAll('.receipt')) old.remove();
  const room = receipts.get(currentName());
  if (!room) return;
  for (const [offset, r] of room) {
    const article = ui.stream.querySelector(`.message[data-offset="${offset}"]`);
    if (!article || r.count < 1) continue;
    const support = supportSeen(currentName(), r); // a client's conversation: "Seen"
    if (support && !support.text) continue;
    const box = node('div', 'receipt');
    const button = node('button', 'receipt-button', support?.text ?? `Seen by ${r.count}`);
    button.type = 'button';
    const who = r.names.join(', ') + (r.count > r.names.length ? ` and ${r.count - r.names.length} more` : '');
    button.setAttribute('aria-label', support?.label ?? `Seen by ${r.count}: ${who}`);
    button.setAttribute('aria-expanded', 'false');
    const list = node('span', 'receipt-names', who);
    list.id = `receipt-${offset}`;
    list.hidden = true;
    button.setAttribute('aria-controls', list.id);
    button.addEventListener('click', () => {
      list.hidden = !list.hidden;
      button.setAttribute('aria-expanded', String(!list.hidden));
    });
    box.append(button, list);
    article.append(box);
  }
}

/** The offset of the newest message whose top is inside the log's visible area. */
function newestVisible() {
  const view = ui.messages.getBoundingClientRect();
  const all = ui.stream.querySelectorAll('.message[data-offset]');
  for (let i = all.length - 1; i >= 0; i--) {
    if (all[i].getBoundingClientRect().top < view.bottom) return Number(all[i].dataset.offset);
  }
  return 0;
}

function maybeRead() {
  const room = currentName();
  if (!signedInUser() || !room || !focused || document.hidden) return;
  if (ui.messages.dataset.room !== room || ui.messages.dataset.ready !== 'true') return;
  const offset = newestVisible();
  if (offset > (sent.get(room) || 0) && sendFrame({ type: 'read', room, offset })) {
    sent.set(room, offset);
  }
}

export function bindReceipts() {
  window.addEventListener('focus', () => { focused = true; maybeRead(); });
  window.addEventListener('blur', () => { focused = false; });
  document.addEventListener('visibilitychange', maybeRead);
  ui.messages.addEventListener('scroll', maybeRead, { passive: true });
  new MutationObserver(() => { render(); maybeRead(); }).observe(ui.stream, { childList: true });
  setInterval(maybeRead, CHECK_EVERY_MS);
}
