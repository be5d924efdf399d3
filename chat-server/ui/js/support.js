// The support desk as a conversation (docs/protocol.md, "Support desk"): what every page knows
// about support rooms, and the client's side of it. A client (a signed-in user, or a guest where
// `welcome.guest_support` allows it) presses "Contact support": `support_open {}` answers
// `support_opened {room}`, a private room `support-…` shown in the normal message view, titled
// "Support". Its `support_state` frames become notices in the log ("Ann from support joined",
// "Conversation closed — write to reopen") and the status bar above it; typing shows as
// "Support is typing…" and a receipt by support as "Seen".
//
// A guest's conversation is bound to a `resume` token the server gives once; it is kept in
// localStorage and sent back with `support_open` on every new connection, before the rooms are
// joined again, so the guest gets the same conversation. The agent's side (queue, actions, tabs)
// is in support-queue.js, support-actions.js and support-desk.js; this module keeps the
// conversation records they share.

import { node, ui } from './dom.js';
import { isIdentified, sendFrame, storeUnavailable } from './connection.js';
import { currentUser, isAgent } from './account.js';
import { currentIdentity } from './identity.js';
import { allRoomNames, currentName, getRoom, openRoom, removeRoom } from './rooms.js';
import { renderMessages } from './messages.js';
import { toast } from './notices.js';
import { KEYS, load, remove, store } from './storage.js';
import { actionButtons, settleSupport } from './support-actions.js';

const PREFIX = 'support-';
const conversations = new Map(); // room -> {room, state, taken_by, taken_by_name, client, client_name, guest}
// room -> {state, taken_by} as the room's own frames last told it, which is what its notices
// compare with (the queue may have told an agent the news first).
const told = new Map();
let guestSupport = false;
let asked = false; // the person pressed "Contact support" and waits for the answer
let bar = null;

/** Whether `name` is a support conversation's room. */
export const isSupportRoom = (name) => typeof name === 'string' && name.startsWith(PREFIX);
/** What the page knows of a conversation (queue entries and `support_state`), or undefined. */
export const conversation = (room) => conversations.get(room);

/** Whether this page may open a conversation of its own. */
export function maySeekSupport() {
  if (isAgent()) return false;
  return Boolean(currentUser()) || guestSupport;
}

/** Whether `name` is this page's own conversation: a non-agent sees no one else's. */
export function isOwnConversation(name) {
  return isSupportRoom(name) && !isAgent() && maySeekSupport();
}

/** Merges what a frame says about a conversation into its record; returns the record. */
export function remember(c) {
  const old = conversations.get(c.room) || {};
  const merged = { ...old };
  for (const key of ['state', 'taken_by', 'taken_by_name', 'client', 'client_name', 'guest']) {
    if (c[key] !== undefined) merged[key] = c[key];
  }
  merged.room = c.room;
  conversations.set(c.room, merged);
  return merged;
}

function savedGuest() {
  const saved = load('shared', KEYS.support, null);
  return saved && typeof saved.resume === 'string' && typeof saved.room === 'string' ? saved : null;
}

/** `welcome`: may this visitor seek support; a guest's own conversation is bound again first. */
export function supportWelcome(f) {
  guestSupport = f.guest_support === true;
  asked = false; // a request of an older connection is answered nowhere
  ui.supportContact.disabled = false;
  const saved = savedGuest();
  if (!currentUser() && guestSupport && saved) {
    sendFrame({ type: 'support_open', resume: saved.resume });
  }
  renderContact();
}

function contact() {
  if (!maySeekSupport()) return;
  const frame = { type: 'support_open' };
  const saved = savedGuest();
  if (!currentUser() && saved) frame.resume = saved.resume;
  if (!isIdentified() || !sendFrame(frame)) {
    toast('Not connected: try again when online.', 'error');
    return;
  }
  asked = true;
  ui.supportContact.disabled = true;
}

/** An error while "Contact support" waits for its answer (a rate limit, the store down, guests
 * not allowed after all); true when it answered that. */
export function onContactError(f, text) {
  if (!asked || typeof f.client_id === 'string' || typeof f.room === 'string') return false;
  if (!['rate_limited', 'login_required', 'unavailable', 'internal'].includes(f.code)) return false;
  if (f.code === 'unavailable') storeUnavailable(text);
  asked = false;
  ui.supportContact.disabled = false;
  toast(`Could not contact support: ${text}`, 'error');
  return true;
}

/** `support_opened {room, state, taken_by, taken_by_name, resume?}`: our own conversation. */
export function onSupportOpened(f) {
  if (!isSupportRoom(f.room)) return;
  remember(f);
  told.set(f.room, { state: f.state, taken_by: f.taken_by ?? null });
  if (typeof f.resume === 'string') store('shared', KEYS.support, { room: f.room, resume: f.resume });
  else if (currentUser()) remove('shared', KEYS.support);
  ui.supportContact.disabled = false;
  if (asked) {
    asked = false;
    openRoom(f.room);
  }
  renderSupportBar();
}

/** The sentence a `support_state` adds to the conversation's log. */
function stateNotice(c, before) {
  const who = c.taken_by_name || c.taken_by || 'An agent';
  if (c.state === 'open' && c.taken_by !== before?.taken_by) return `${who} from support joined`;
  if (c.state === 'closed' && before?.state !== 'closed') {
    return isOwnConversation(c.room) ? 'Conversation closed — write to reopen'
      : 'Conversation closed';
  }
  if (c.state === 'waiting' && before?.state === 'closed') {
    return 'Conversation reopened — waiting for support';
  }
  return null;
}

/** `support_state {room, state, taken_by, taken_by_name}`: a take, transfer, close or reopen. */
export function onSupportState(f) {
  if (!isSupportRoom(f.room)) return;
  const c = remember({ ...f, taken_by: f.taken_by ?? null, taken_by_name: f.taken_by_name ?? null });
  const text = stateNotice(c, told.get(f.room));
  told.set(f.room, { state: c.state, taken_by: c.taken_by });
  settleSupport(c);
  const room = getRoom(f.room);
  if (text && room) {
    room.notices.push({ after: room.last, text });
    if (room.name === currentName()) renderMessages(false);
  }
  renderSupportBar();
}

/** The open room's title: "Support" for a client, the client's name for an agent. */
export function roomLabel(name) {
  if (!isSupportRoom(name)) return name;
  if (isOwnConversation(name)) return 'Support';
  const c = conversations.get(name);
  return c && c.client ? `Support: ${c.client_name || c.client} (${c.client})` : `Support: ${name}`;
}

/** The message box's placeholder in a conversation; null elsewhere. */
export function supportPlaceholder(name) {
  if (!isSupportRoom(name)) return null;
  if (isOwnConversation(name)) return 'Message support';
  const c = conversations.get(name);
  return `Reply to ${c ? c.client_name || c.client : 'the client'}`;
}

/** "Support is typing…" in the client's conversation; null elsewhere (typing.js decides). */
export function supportTyping(name) {
  return isOwnConversation(name) ? 'Support is typing…' : null;
}

/** A receipt in the client's conversation: "Seen" once someone from support read it. */
export function supportSeen(name, r) {
  if (!isOwnConversation(name)) return null;
  const me = currentIdentity()?.name;
  const others = r.names.filter((n) => n !== me);
  const count = r.count - (r.names.includes(me) ? 1 : 0);
  if (count < 1) return { text: '', label: '' };
  return { text: 'Seen', label: `Seen by support${others.length ? `: ${others.join(', ')}` : ''}` };
}

function clientStatus(c) {
  if (!c || c.state === 'waiting') return 'Waiting for someone from support. Write your question.';
  if (c.state === 'closed') return 'This conversation is closed. Write to reopen it.';
  return `${c.taken_by_name || c.taken_by || 'Support'} from support is here.`;
}

function agentStatus(c) {
  if (!c) return 'A support conversation.';
  const client = c.client ? `${c.client_name || c.client} (${c.client})` : c.room;
  if (c.state === 'closed') return `${client} · closed`;
  if (c.state === 'waiting') return `${client} · waiting, not taken`;
  return `${client} · taken by ${c.taken_by_name || c.taken_by}`;
}

/** The status bar above a conversation's log: its state, and the agent's actions. */
export function renderSupportBar() {
  if (!bar) return;
  const name = currentName();
  bar.hidden = !isSupportRoom(name);
  if (bar.hidden) return;
  const c = conversations.get(name);
  bar.dataset.state = c?.state ?? 'unknown';
  const text = node('p', 'support-bar-text', isAgent() ? agentStatus(c) : clientStatus(c));
  bar.replaceChildren(text);
  if (isAgent() && c) bar.append(actionButtons(c, 'bar'));
}

/** After a change of account: nothing known about conversations holds any more. */
export function forgetSupport() {
  for (const name of allRoomNames()) if (isSupportRoom(name)) removeRoom(name);
  conversations.clear();
  told.clear();
  renderContact();
}

/** The "Contact support" button, for those who may use it. */
export function renderContact() {
  ui.supportContact.hidden = !maySeekSupport();
}

export function bindSupport() {
  bar = node('div', 'support-bar');
  bar.id = 'support-bar';
  bar.setAttribute('role', 'status');
  bar.hidden = true;
  ui.messages.before(bar);
  ui.supportContact.addEventListener('click', () => {
    if (!currentUser() && savedGuest() && getRoom(savedGuest().room)) openRoom(savedGuest().room);
    else contact();
  });
  new MutationObserver(renderSupportBar).observe(ui.messages, { attributeFilter: ['data-room'] });
}
