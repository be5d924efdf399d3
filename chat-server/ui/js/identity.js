// Who this tab posts as: the hello form, the `hello` frame, the identity button in the top bar.
//
// A signed-in member posts as their account (account.js): the server ignores the name in their
// `hello`. A guest reads without a name (the `hello` carries a placeholder), and chooses one in
// the hello form only where the server lets guests post (`welcome.guest_posting`).
//
// The identity belongs to this tab (sessionStorage), so two tabs are two members; the last name
// and email entered anywhere are remembered (localStorage) only to prefill a new tab's form.
// A message is this tab's own when its client_id carries this tab's id (storage.js).

import { avatarInto, fieldError, ui } from './dom.js';
import { isOpen, sendFrame, setAwaitingHello } from './connection.js';
import { validateEmail, validateName } from './limits.js';
import { accountKnown, currentUser, guestPosting, userLabel } from './account.js';
import { KEYS, load, madeHere, store } from './storage.js';
import { renderAll, renderMain } from './rooms.js';
import { isOwnConversation } from './support.js';

let identity = null; // a guest's chosen {name, email}; email '' when none
// What a guest who has not chosen a name says in `hello` (it is never shown with a message).
const READER_NAME = 'Guest';

/** Who this tab posts as: the account, else the guest's chosen name, else null. */
export function currentIdentity() {
  const user = currentUser();
  if (user) return { name: userLabel(user), email: user.email };
  return identity;
}

/** Whether the composer may send: a member, a named guest where guests may post, or a guest in
 * their own support conversation (`room`, where guest support is on). */
export function canPost(room = null) {
  return Boolean(currentUser() || (guestPosting() && identity) || isOwnConversation(room));
}

/** A guest where guests may post, who has not chosen a name yet. */
export function helloNeeded() {
  return accountKnown() && !currentUser() && guestPosting() && !identity;
}

function parseIdentity(saved) {
  if (!saved || typeof saved.name !== 'string') return null;
  const name = validateName(saved.name);
  const email = validateEmail(typeof saved.email === 'string' ? saved.email : '');
  return name.value && email.value !== undefined ? { name: name.value, email: email.value } : null;
}

/** This tab's identity from before a reload; a new tab starts with the form, prefilled. */
export function restoreIdentity() {
  identity = parseIdentity(load('tab', KEYS.identity, null));
  const remembered = parseIdentity(load('shared', KEYS.identity, null));
  if (!identity && remembered) {
    ui.nameInput.value = remembered.name;
    ui.emailInput.value = remembered.email;
  }
}

function keep() {
  store('tab', KEYS.identity, identity);
  store('shared', KEYS.identity, identity);
}

/** Whether a message was sent from this tab. */
export function isMine(m) {
  return madeHere(m.client_id);
}

export function sendHello() {
  const who = currentIdentity() || { name: READER_NAME, email: '' };
  const frame = { type: 'hello', name: who.name };
  if (who.email) frame.email = who.email;
  if (sendFrame(frame)) setAwaitingHello(true);
}

/** `welcome` carries a guest's name and email as the server stored them. */
export function acceptWelcome(f) {
  if (!currentUser() && identity && typeof f.name === 'string') {
    identity = { name: f.name, email: typeof f.email === 'string' ? f.email : '' };
    keep();
  }
  if (helloNeeded()) showHello(false);
  else hideHello();
}

export function showHello(editing) {
  if (identity) {
    ui.nameInput.value = identity.name;
    ui.emailInput.value = identity.email;
  }
  ui.helloCancel.hidden = !editing;
  ui.helloPanel.hidden = false;
  ui.roomView.hidden = true;
  ui.emptyView.hidden = true;
  ui.nameInput.focus();
}

function hideHello() {
  ui.helloPanel.hidden = true;
  fieldError(ui.nameError, null);
  fieldError(ui.emailError, null);
  renderMain();
}

/** Shows an `invalid_field` answer to `hello` on its field. */
export function helloRefused(f, text) {
  showHello(Boolean(identity));
  fieldError(f.field === 'email' ? ui.emailError : ui.nameError, text);
}

function submitHello() {
  const name = validateName(ui.nameInput.value);
  const email = validateEmail(ui.emailInput.value);
  fieldError(ui.nameError, name.error || null);
  fieldError(ui.emailError, email.error || null);
  if (name.error) ui.nameInput.focus();
  else if (email.error) ui.emailInput.focus();
  if (name.error || email.error) return;
  identity = { name: name.value, email: email.value };
  keep();
  if (isOpen()) sendHello();
  hideHello();
  renderAll();
}

export function renderIdentity() {
  ui.identityButton.hidden = !identity || Boolean(currentUser()) || !guestPosting();
  if (ui.identityButton.hidden) return;
  ui.identityName.textContent = identity.name;
  avatarInto(ui.identityAvatar, identity.name);
  ui.identityButton.title = identity.email
    ? `${identity.name} <${identity.email}>. Change your name or email`
    : `${identity.name}. Change your name or email`;
}

export function bindIdentity() {
  ui.helloForm.addEventListener('submit', (e) => {
    e.preventDefault();
    submitHello();
  });
  ui.helloCancel.addEventListener('click', hideHello);
  ui.identityButton.addEventListener('click', () => showHello(true));
}
