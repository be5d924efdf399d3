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
//   #jump-button       "New messages" when scrolled up
//   #composer-form, #topic-input, #composer-input, #send-button, #composer-counter,
//   #composer-hint, #composer-error
//   #menu-button, #sidebar   the phone drawer toggle and the drawer
//   #toasts            error and info toasts (.toast)
//   body[data-account] unknown (before a welcome) | guest | user
//   #login-button      "Log in" in the top bar for a guest; #account-button (#account-name) for
//                      a member, opening #account-dialog (a modal <dialog>) with
//     #login-form      #login-username, #login-password, #login-submit, #to-register
//     #register-form   #register-username, #register-display-name, #register-email,
//                      #register-password, #register-submit, #to-login
//     #account-settings  #account-who, #logout-button, #password-form (#password-current,
//                      #password-new, #password-submit, #password-done), #delete-start, then
//                      #delete-form (#delete-password, #delete-submit, #delete-cancel)
//     errors: #<form>-error above a form, #<form>-<field>-error under a field (server names)
//   #guest-notice      replaces #composer-form for a guest who may not post: #guest-notice-text,
//                      #guest-register, #guest-login; #hello-register, #hello-login likewise
//   #online-totals     the whole chat's counts, data-registered / data-guests
//   #room-list button  also .room-online (registered, or the total) and .room-guests per room,
//                      data-private="true" and .room-lock for a private room
//   #new-room-private  the "Private" box of the new-room form (members only)
//   #room-private      the open room's lock marker; #people-button opens #people-panel:
//     #members-summary (data-users, data-guests), #members-list li.member[data-username],
//     #participants-section, #participants-list li.participant[data-username] with
//     .participant-remove, #participant-form (#participant-input, #participant-add,
//     #participant-error), #room-admin (#delete-room-button, #delete-room-yes, #delete-room-no)
//   .message-guest     the "guest" mark on a guest's message

import { handle, isAwaitingHello, isIdentified, on, reconnectNow, start,
  storeUnavailable, welcomed } from './js/connection.js';
import { ui } from './js/dom.js';
import { acceptWelcome, bindIdentity, helloRefused, restoreIdentity,
  sendHello } from './js/identity.js';
import { acceptAccount, currentUser, onAccountChange, renderAccount,
  sessionEnded } from './js/account.js';
import { bindAccountDialog } from './js/account-dialog.js';
import { onMembers } from './js/presence.js';
import { bindParticipants, forgetPrivateRooms, onParticipantError, onParticipants, onRemoved,
  onRoomDeleted, renderPeople } from './js/participants.js';
import { setLimits } from './js/limits.js';
import { toast } from './js/notices.js';
import { dropUnsent, onAck, onSendError, resetPacing } from './js/outbox.js';
import { bindRooms, currentName, disconnected, joinAll, onHistory, onJoined, onLeft, onMessage,
  onRoomError, onRooms, onResync, renderAll, restoreRooms, tabShown } from './js/rooms.js';
import { bindMessages, renderPending } from './js/messages.js';
import { bindComposer, renderComposer } from './js/composer.js';
import { bindSidebar, creatingRoom, onCreateError, onRoomCreated } from './js/sidebar.js';

function onWelcome(f) {
  setLimits(f.limits);
  resetPacing();
  acceptAccount(f);
  acceptWelcome(f);
  welcomed();
  joinAll();
  renderAll();
}

// The protocol does not say which request an error answers; this follows what is outstanding.
function isHelloError(f) {
  return (isAwaitingHello() || !isIdentified()) && f.code === 'invalid_field' &&
    (f.field === 'name' || f.field === 'email') && !(creatingRoom() && f.field === 'name');
}

/** The account errors: the session ended, or only members may do that. True when handled. */
function onAccountError(f, text) {
  if (f.code === 'session_ended') {
    if (sessionEnded()) {
      toast('You were signed out (logged out elsewhere, the password changed, the account was ' +
        'deleted or the session expired). You can keep reading as a guest.', 'error');
    }
    return true;
  }
  if (f.code === 'login_required') {
    toast(currentUser() ? text : `${text} Register or log in to do that.`, 'error');
    return true;
  }
  return false;
}

function onError(f) {
  const text = typeof f.message === 'string' && f.message ? f.message : String(f.code);
  if (typeof f.client_id === 'string' && onSendError(f, text)) return;
  if (onCreateError(f, text) || onParticipantError(f, text)) return;
  if (onAccountError(f, text)) return;
  if (f.code === 'unavailable') storeUnavailable(text);
  if (isHelloError(f)) {
    helloRefused(f, text);
    return;
  }
  if (onRoomError(f, text)) return;
  if (f.code === 'not_identified') {
    sendHello();
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
  handle('message', onMessage);
  handle('ack', onAck);
  handle('room_created', onRoomCreated);
  handle('resync', onResync);
  handle('error', onError);
  handle('members', (f) => {
    if (onMembers(f) === currentName()) renderPeople();
  });
  handle('participants', onParticipants);
  handle('removed', onRemoved);
  handle('room_deleted', onRoomDeleted);
  on('open', sendHello);
  onAccountChange(() => {
    dropUnsent();
    forgetPrivateRooms();
    renderAll();
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
  bindAccountDialog();
  bindParticipants();
}

restoreIdentity();
restoreRooms();
wire();
renderAll();
renderAccount();
start();
