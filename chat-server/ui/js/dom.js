// Element lookups and small DOM helpers shared by every feature module.
//
// User text reaches the DOM only through textContent and text nodes, never as HTML: every module
// builds elements with `node()` for that reason. This module imports nothing, so it can be
// evaluated first and its `ui` table is ready before any feature module runs.

const $ = (id) => document.getElementById(id);

/** Every element the feature modules touch, looked up once (modules run after parsing). */
export const ui = Object.freeze({
  menuButton: $('menu-button'),
  menuUnread: $('menu-unread'),
  connState: $('conn-state'),
  connText: $('conn-text'),
  connDetail: $('conn-detail'),
  reconnectButton: $('reconnect-button'),
  identityButton: $('identity-button'),
  identityAvatar: $('identity-avatar'),
  identityName: $('identity-name'),
  sidebar: $('sidebar'),
  backdrop: $('backdrop'),
  roomList: $('room-list'),
  newRoomForm: $('new-room-form'),
  newRoomInput: $('new-room-input'),
  newRoomHelp: $('new-room-help'),
  newRoomError: $('new-room-error'),
  helloPanel: $('hello-panel'),
  helloForm: $('hello-form'),
  nameInput: $('name-input'),
  nameError: $('name-error'),
  emailInput: $('email-input'),
  emailError: $('email-error'),
  helloCancel: $('hello-cancel'),
  roomView: $('room-view'),
  roomTitle: $('room-title'),
  roomOnline: $('room-online'),
  leaveButton: $('leave-button'),
  messages: $('messages'),
  stream: $('message-stream'),
  pendingStream: $('pending-stream'),
  jumpButton: $('jump-button'),
  composerForm: $('composer-form'),
  topicInput: $('topic-input'),
  composerInput: $('composer-input'),
  sendButton: $('send-button'),
  composerHint: $('composer-hint'),
  composerError: $('composer-error'),
  composerCounter: $('composer-counter'),
  emptyView: $('empty-view'),
  emptyRoomsButton: $('empty-rooms-button'),
  toasts: $('toasts'),
  // accounts (account.js, account-dialog.js)
  loginButton: $('login-button'),
  accountButton: $('account-button'),
  accountAvatar: $('account-avatar'),
  accountName: $('account-name'),
  accountDialog: $('account-dialog'),
  accountTitle: $('account-title'),
  accountClose: $('account-close'),
  loginForm: $('login-form'),
  registerForm: $('register-form'),
  accountSettings: $('account-settings'),
  accountWho: $('account-who'),
  logoutButton: $('logout-button'),
  passwordForm: $('password-form'),
  passwordDone: $('password-done'),
  deleteStart: $('delete-start'),
  deleteForm: $('delete-form'),
  deleteCancel: $('delete-cancel'),
  toRegister: $('to-register'),
  toLogin: $('to-login'),
  helloRegister: $('hello-register'),
  helloLogin: $('hello-login'),
  guestNotice: $('guest-notice'),
  guestNoticeText: $('guest-notice-text'),
  guestRegister: $('guest-register'),
  guestLogin: $('guest-login'),
  // presence.js
  onlineTotals: $('online-totals'),
  peopleButton: $('people-button'),
  peoplePanel: $('people-panel'),
  membersSummary: $('members-summary'),
  membersList: $('members-list'),
  // participants.js
  newRoomPrivateRow: $('new-room-private-row'),
  newRoomPrivate: $('new-room-private'),
  roomPrivate: $('room-private'),
  participantsSection: $('participants-section'),
  participantsList: $('participants-list'),
  participantForm: $('participant-form'),
  participantInput: $('participant-input'),
  participantError: $('participant-error'),
  roomAdmin: $('room-admin'),
  deleteRoomButton: $('delete-room-button'),
  deleteRoomConfirm: $('delete-room-confirm'),
  deleteRoomQuestion: $('delete-room-question'),
  deleteRoomYes: $('delete-room-yes'),
  deleteRoomNo: $('delete-room-no'),
  // support.js, support-queue.js, support-actions.js, support-desk.js
  supportNav: $('support-nav'),
  supportNavBadge: $('support-nav-badge'),
  supportContact: $('support-contact'),
  supportView: $('support-view'),
  supportTitle: $('support-title'),
  supportNotify: $('support-notify'),
  supportNotifyState: $('support-notify-state'),
  supportAnnounce: $('support-announce'),
  supportTabs: $('support-tabs'),
  supportTabList: $('support-tab-list'),
  supportBack: $('support-back'),
  supportEmpty: $('support-empty'),
  transferDialog: $('transfer-dialog'),
  transferForm: $('transfer-form'),
  transferQuestion: $('transfer-question'),
  transferInput: $('transfer-input'),
  transferError: $('transfer-error'),
  transferCancel: $('transfer-cancel'),
});

/** A new element with an optional class and text (as text, never HTML). */
export function node(tag, className, text) {
  const e = document.createElement(tag);
  if (className) e.className = className;
  if (text !== undefined) e.textContent = text;
  return e;
}

function hashHue(s) {
  let h = 0;
  for (const c of s) h = (h * 31 + c.codePointAt(0)) >>> 0;
  return h % 8;
}

/** Fills an avatar box with a name's initial and a stable colour. */
export function avatarInto(e, name) {
  e.textContent = (name.trim()[0] || '?').toUpperCase();
  e.dataset.hue = String(hashHue(name));
}

/** Shows or clears a field's error and marks the field that it describes. */
export function fieldError(e, text) {
  e.textContent = text || '';
  e.hidden = !text;
  const input = document.querySelector(`[aria-describedby~="${e.id}"]`);
  if (input) input.setAttribute('aria-invalid', text ? 'true' : 'false');
}

/** A touch screen without a mouse: Enter makes a newline there, Send sends. */
export function coarsePointerOnly() {
  return window.matchMedia('(pointer: coarse)').matches &&
    !window.matchMedia('(any-pointer: fine)').matches;
}
