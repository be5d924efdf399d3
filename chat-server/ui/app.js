// chatapp browser client: the entry module. It speaks docs/protocol.md (version 1) over one
// WebSocket at /ws, as native ES modules with no build step and no dependencies, under the
// server's strict Content-Security-Policy (no inline script or style, no eval).
//
// This file only wires: which module answers which server frame, what happens when the socket
// opens or closes, and the start-up order. What each module owns is in its opening comment and
// in docs/architecture.md ("Browser UI").
//
// Stable hooks for tests (ids unless noted):
//   #conn-state        connection state, data-state = connecting | online | degraded |
//                      reconnecting | offline (degraded: the server's store is down)
//   #reconnect-button  "Retry now" while reconnecting
//   #hello-panel, #hello-form, #name-input, #email-input, #hello-button, #name-error, #email-error
//   #identity-button   shows the current name; reopens the hello form
//   #room-list         li > button.room-button[data-room] per room, with .room-online and
//                      .room-unread; data-joined="true" when joined, aria-current="page" when open
//   #new-room-form, #new-room-input, #new-room-button, #new-room-error
//   #room-view, #room-title, #room-online, #leave-button, #empty-view
//   #messages          the message log (role=log); data-room = the open room, data-ready="true"
//                      once its history arrived on this connection; inside it
//     .message         one per message: data-room, data-offset (confirmed ones only),
//                      data-client-id (when known); pending ones also have class .pending and
//                      data-status = queued | sending | acked | failed (.failed too)
//     .message-name, .message-email (when given), .message-time (<time datetime=...>),
//     .message-topic, .message-content
//     .notice          gap / reset notices; .retry-button, .discard-button on failed messages
//     .message-edited  "(edited)" after the time; .message-deleted: a tombstone's content
//     .edit-button, .delete-button on messages one may change; form.edit-form > .edit-input,
//                      .save-edit-button, .cancel-edit-button while editing
//     .message.ephemeral  an ephemeral message (not kept: gone when the log is redrawn)
//   #jump-button       "New messages" when scrolled up
//   #composer-form, #topic-input, #composer-input, #send-button, #composer-counter,
//   #composer-hint, #composer-error
//   #menu-button, #sidebar   the phone drawer toggle and the drawer
//   #toasts            error and info toasts (.toast)
//   search and filters: see js/search.js
//   #clear-every-select, #expire-after-select  the new-room form's timed-room choices;
//                      .room-timer[data-timer] marks a timed room in #room-list
//   #theme-button, #theme-panel  the appearance picker: radios name=theme-mode (system | light |
//                      dark) and name=theme-accent; <html data-theme data-accent> (js/theme.js)
//   #ephemeral-toggle  the composer's "Ephemeral: not saved" checkbox (js/ephemeral.js)

import { handle, isAwaitingHello, isIdentified, on, reconnectNow, sendFrame, start,
  storeUnavailable, welcomed } from './js/connection.js';
import { ui } from './js/dom.js';
import { acceptWelcome, bindIdentity, currentIdentity, helloRefused, restoreIdentity, sendHello,
  showHello } from './js/identity.js';
import { setLimits } from './js/limits.js';
import { toast } from './js/notices.js';
import { onAck, onSendError, resetPacing } from './js/outbox.js';
import { bindRooms, creatingRoom, disconnected, joinAll, onHistory, onJoined, onLeft, onMessage,
  onRoomCreated, onRoomError, onRooms, onResync, renderAll, restoreRooms,
  tabShown, onCleared, onExpired } from './js/rooms.js';
import { bindMessages, renderPending } from './js/messages.js';
import { noteWelcome, onDeleted, onEdited, showEphemeral } from './js/edits.js';
import { bindComposer, renderComposer } from './js/composer.js';
import { bindSidebar } from './js/sidebar.js';
import { bindSearch, onSearchError, onSearchResults } from './js/search.js';
import { bindTheme } from './js/theme.js';
import { bindEphemeral } from './js/ephemeral.js';

function onWelcome(f) {
  setLimits(f.limits);
  resetPacing();
  acceptWelcome(f);
  noteWelcome(f);
  welcomed();
  joinAll();
  renderAll();
}

// The protocol does not say which request an error answers; this follows what is outstanding.
function isHelloError(f) {
  return (isAwaitingHello() || !isIdentified()) && f.code === 'invalid_field' &&
    (f.field === 'name' || f.field === 'email') && !(creatingRoom() && f.field === 'name');
}

function onError(f) {
  const text = typeof f.message === 'string' && f.message ? f.message : String(f.code);
  if (typeof f.client_id === 'string' && onSendError(f, text)) return;
  if (f.code === 'unavailable') storeUnavailable(text);
  if (isHelloError(f)) {
    helloRefused(f, text);
    return;
  }
  if (onRoomError(f, text)) return;
  if (onSearchError(f, text)) return;
  if (f.code === 'not_identified') {
    if (currentIdentity()) sendHello();
    else showHello(false);
    return;
  }
  toast(text, 'error');
}

function wire() {
  handle('welcome', onWelcome);
  handle('rooms', onRooms);
  handle('joined', onJoined);
  handle('history', onHistory);
  handle('left', onLeft);
  handle('message', (f) => (f.ephemeral === true ? showEphemeral(f) : onMessage(f)));
  handle('edited', onEdited);
  handle('deleted', onDeleted);
  handle('ack', onAck);
  handle('room_created', onRoomCreated);
  handle('resync', onResync);
  handle('search_results', onSearchResults);
  handle('error', onError);
  handle('cleared', onCleared);
  handle('expired', onExpired);
  on('open', () => {
    if (currentIdentity()) sendHello();
    else sendFrame({ type: 'rooms' });
  });
  on('close', () => {
    disconnected();
    renderPending();
  });
  on('state', () => {
    renderComposer(false);
    renderPending();
  });
  ui.reconnectButton.addEventListener('click', reconnectNow);
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) tabShown();
  });
  bindIdentity();
  bindRooms();
  bindSidebar();
  bindMessages();
  bindComposer();
  bindSearch();
  bindTheme();
  bindEphemeral();
}

restoreIdentity();
restoreRooms();
wire();
renderAll();
if (!currentIdentity()) showHello(false);
start();
