// "Ann is typing…": the composer tells the room while this user types (at most one `typing`
// frame per TYPING_EVERY_MS, the server's rate too), and `typing {room, name, user}` frames from
// others show under the log until TYPING_TTL_MS pass without another one, or a message from that
// person arrives. Nothing of it is stored (docs/protocol.md, `typing`).

import { node, ui } from './dom.js';
import { sendFrame } from './connection.js';
import { currentName } from './rooms.js';
import { signedInUser } from './unread.js';
import { supportTyping } from './support.js';

/** How long "is typing" shows after the last `typing` frame of a person. */
export const TYPING_TTL_MS = 5000;
/** At most one `typing` frame in this interval (the server drops the rest). */
const TYPING_EVERY_MS = 2000;

const typists = new Map(); // room -> Map(key -> {name, until})
let lastSent = 0;
let timer = null;
let indicator = null;

const keyOf = (f) => (typeof f.user === 'string' && f.user ? `u:${f.user}` : `g:${f.name}`);

export function onTyping(f) {
  if (typeof f.room !== 'string' || typeof f.name !== 'string') return;
  const me = signedInUser();
  if (me && f.user === me.username) return; // this user's other tab
  if (!typists.has(f.room)) typists.set(f.room, new Map());
  typists.get(f.room).set(keyOf(f), { name: f.name, until: Date.now() + TYPING_TTL_MS });
  render();
}

/** A message from someone ends their "is typing" at once. */
export function typingMessage(f) {
  const room = typists.get(f.room);
  if (room && room.delete(keyOf(f))) render();
}

function sentence(names) {
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return `${names.length} people are typing…`;
}

function render() {
  clearTimeout(timer);
  timer = null;
  const now = Date.now();
  let next = Infinity;
  for (const room of typists.values()) {
    for (const [key, t] of room) {
      if (t.until <= now) room.delete(key);
      else next = Math.min(next, t.until);
    }
  }
  const here = typists.get(currentName());
  const names = here ? [...here.values()].map((t) => t.name) : [];
  const text = names.length ? supportTyping(currentName()) ?? sentence(names) : '';
  indicator.textContent = text;
  indicator.hidden = names.length === 0;
  if (next !== Infinity) timer = setTimeout(render, next - now + 10);
}

function typed() {
  const room = currentName();
  if (!room || !ui.composerInput.value.trim()) return;
  const now = Date.now();
  if (now - lastSent < TYPING_EVERY_MS) return;
  if (sendFrame({ type: 'typing', room })) lastSent = now;
}

export function bindTyping() {
  indicator = node('p', 'typing-indicator');
  indicator.id = 'typing-indicator';
  indicator.setAttribute('aria-live', 'polite');
  indicator.hidden = true;
  ui.composerForm.before(indicator);
  ui.composerInput.addEventListener('input', typed);
  new MutationObserver(render).observe(ui.messages, { attributeFilter: ['data-room'] });
}
