// An agent's actions on a support conversation: Open, Take, Transfer (to an agent's username, in
// a small modal dialog) and Close, as buttons on each queue item and on the conversation's status
// bar; the requests `support_take`, `support_transfer`, `support_close`; and their refusals shown
// plainly: `taken` (another agent was first), `forbidden` (only the holder or an admin may do
// that), `bad_request` on `to` (not an agent) in the dialog, under its field.
//
// Which buttons show follows the server's rules (docs/protocol.md, "Support desk"): Take while
// waiting; Transfer by the holder or an admin; Close by the holder, by anyone while untaken, or by
// an admin. The server decides in the end; a refusal is shown, never assumed away.

import { fieldError, node, ui } from './dom.js';
import { isIdentified, sendFrame } from './connection.js';
import { currentUser, isAdmin } from './account.js';
import { toast } from './notices.js';
import { conversation } from './support.js';
import { announce } from './support-queue.js';
import { openConversation } from './support-desk.js';

let pending = null; // {kind: 'take' | 'transfer' | 'close', room, to?}
let transferRoom = null;

const me = () => currentUser()?.username.toLowerCase() ?? '';
const label = (c) => (c.client_name || c.client || c.room);

/** Whether this agent holds `c`. */
export const holds = (c) => Boolean(c.taken_by) && c.taken_by.toLowerCase() === me();

function button(action, text, c, where) {
  const b = node('button', `support-action support-${action}`, text);
  b.type = 'button';
  b.dataset.action = action;
  b.dataset.room = c.room;
  if (action === 'take' || action === 'open') b.classList.add('primary');
  b.setAttribute('aria-label', `${text.replace('…', '')} the conversation with ${label(c)}`);
  if (where === 'bar' && action === 'open') b.hidden = true;
  return b;
}

/** The buttons for `c` as this agent may use them; `where` is 'queue' or 'bar'. */
export function actionButtons(c, where) {
  const box = node('div', 'support-actions');
  const mine = holds(c);
  if (where === 'queue') box.append(button('open', 'Open', c, where));
  if (c.state === 'waiting') box.append(button('take', 'Take', c, where));
  if (c.state === 'open' && (mine || isAdmin())) box.append(button('transfer', 'Transfer…', c, where));
  if (c.state !== 'closed' && (mine || !c.taken_by || isAdmin())) {
    box.append(button('close', 'Close', c, where));
  }
  return box;
}

function request(kind, frame) {
  if (!isIdentified() || !sendFrame(frame)) {
    toast('Not connected: try again when online.', 'error');
    return false;
  }
  pending = { kind, room: frame.room, to: frame.to };
  return true;
}

function take(room) {
  if (request('take', { type: 'support_take', room })) openConversation(room);
}

function closeConversation(room) {
  request('close', { type: 'support_close', room });
}

function openTransfer(room) {
  transferRoom = room;
  const c = conversation(room);
  ui.transferQuestion.textContent = `Hand the conversation with ${c ? label(c) : room} to another agent.`;
  ui.transferInput.value = '';
  fieldError(ui.transferError, null);
  ui.transferDialog.showModal();
  ui.transferInput.focus();
}

function submitTransfer() {
  const to = ui.transferInput.value.trim();
  if (!/^[A-Za-z0-9_-]{3,32}$/.test(to)) {
    fieldError(ui.transferError, 'An agent\'s username has 3 to 32 letters, digits, - and _.');
    ui.transferInput.focus();
    return;
  }
  if (to.toLowerCase() === me()) {
    fieldError(ui.transferError, 'You hold this conversation already: name another agent.');
    return;
  }
  fieldError(ui.transferError, null);
  request('transfer', { type: 'support_transfer', room: transferRoom, to });
}

/** Whether `c`, as a frame now shows it, is what the outstanding request asked for. */
function done(c) {
  // Taken by someone else is not our take done: their `taken` refusal settles it.
  if (pending.kind === 'take') return holds(c);
  if (pending.kind === 'close') return c.state === 'closed';
  return Boolean(c.taken_by) && c.taken_by.toLowerCase() === pending.to.toLowerCase();
}

/** A `support_state` or queue entry may settle the outstanding request about its room. */
export function settleSupport(c) {
  if (!pending || pending.room !== c.room || !done(c)) return;
  if (pending.kind === 'transfer') {
    if (ui.transferDialog.open) ui.transferDialog.close();
    announce(`Handed over to ${c.taken_by_name || c.taken_by}.`);
  }
  pending = null;
}

const REFUSALS = Object.freeze({
  taken: 'Another agent took this conversation first.',
  forbidden: 'Only the agent holding this conversation, or an admin, can do that.',
});

/** An error answering a support request; true when it was one. */
export function onSupportError(f, text) {
  const about = pending && (f.room === undefined || f.room === pending.room);
  if (f.code === 'taken' || (about && f.code === 'forbidden')) {
    const c = pending && conversation(pending.room);
    const what = REFUSALS[f.code] ?? text;
    const full = c ? `${what} (${label(c)})` : what;
    if (pending?.kind === 'transfer' && ui.transferDialog.open) fieldError(ui.transferError, full);
    else toast(full, 'error');
    announce(full);
    pending = null;
    return true;
  }
  const refusedTo = f.field === 'to' || ['bad_request', 'invalid_field', 'no_such_user'].includes(f.code);
  if (about && pending.kind === 'transfer' && refusedTo) {
    fieldError(ui.transferError, f.field === 'to' ? `${text} (not an agent's username?)` : text);
    ui.transferInput.focus();
    return true;
  }
  if (about && (f.code === 'no_such_room' || f.code === 'bad_request')) {
    toast(`The support request failed: ${text}`, 'error');
    pending = null;
    return true;
  }
  return false;
}

export function bindSupportActions() {
  // One listener for the queue's items and the conversation's bar, which are redrawn often.
  document.addEventListener('click', (e) => {
    const b = e.target.closest('.support-actions button[data-action]');
    if (!b) return;
    const room = b.dataset.room;
    if (b.dataset.action === 'open') openConversation(room);
    else if (b.dataset.action === 'take') take(room);
    else if (b.dataset.action === 'transfer') openTransfer(room);
    else if (b.dataset.action === 'close') closeConversation(room);
  });
  ui.transferForm.addEventListener('submit', (e) => {
    e.preventDefault();
    submitTransfer();
  });
  ui.transferCancel.addEventListener('click', () => ui.transferDialog.close());
  ui.transferInput.addEventListener('input', () => fieldError(ui.transferError, null));
  ui.transferDialog.addEventListener('close', () => {
    if (pending?.kind === 'transfer') pending = null;
  });
}
