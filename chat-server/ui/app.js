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
//   .vote-actions      (also .message-actions) under each confirmed message but a tombstone:
//                      .reply-button, .reply-count (hidden at 0; aria-expanded, opens ul.thread
//                      of .thread-reply[data-offset] buttons),
//                      .vote-button.vote-up / .vote-down (aria-pressed = the user's own vote) with
//                      .vote-count; a reply shows .reply-quote[data-parent] (jumps to the parent)
//   #reply-bar         "Replying to …" above the message box (.reply-cancel, or Escape)
//   #typing-indicator  "Ann is typing…" above the composer (hidden when nobody types)
//   .receipt > .receipt-button ("Seen by N", names in its accessible name) + .receipt-names,
//                      inside a .message; .room-mentions badge in a room button; mark.mention
//                      (.mention-me for this user) inside .message-content
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
//   #theme-button, #theme-panel  the appearance picker: radios name=theme-mode (system | light |
//                      dark) and name=theme-accent; <html data-theme data-accent> (js/theme.js)
//   #ephemeral-toggle  the composer's "Ephemeral: not saved" checkbox (js/ephemeral.js)
//   support desk (js/support*.js): #support-contact ("Contact support"), #support-bar (the
//                      open conversation's state; agents: its .support-action buttons),
//                      #support-nav (agents: the page switch, #support-nav-badge), body[data-page]
//                      chat | support, #support-view with #support-waiting, #support-mine,
//                      #support-others, #support-closed: li.support-item[data-room][data-state]
//                      with .support-name, .support-client, .support-unread, .support-last,
//                      time.support-waited, .support-taken and button[data-action] = open |
//                      take | transfer | close; #support-announce (live region), #support-notify;
//                      #support-tabs > #support-tab-list button[data-tab] (the open
//                      conversations), #support-back (phones); #transfer-dialog with
//                      #transfer-input, #transfer-submit, #transfer-cancel, #transfer-error

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
import { bindRooms, currentName, disconnected, joinAll, onCleared, onExpired, onHistory, onJoined,
  onLeft, onMessage, onRoomError, onRooms, onResync, renderAll, restoreRooms,
  tabShown } from './js/rooms.js';
import { bindMessages, renderPending } from './js/messages.js';
import { noteWelcome, onDeleted, onEdited, showEphemeral } from './js/edits.js';
import { bindComposer, renderComposer } from './js/composer.js';
import { bindSidebar, creatingRoom, onCreateError, onRoomCreated } from './js/sidebar.js';
import { bindSearch, onSearchError, onSearchResults } from './js/search.js';
import { bindVotes, onReplyCountFrame, onVotes } from './js/votes.js';
import { bindReplies } from './js/replies.js';
import { bindTyping, onTyping, typingMessage } from './js/typing.js';
import { bindReceipts, onReceipts, receiptsReset } from './js/receipts.js';
import { bindUnread, onUnread, unreadMessage, unreadWelcome } from './js/unread.js';
import { bindTheme } from './js/theme.js';
import { bindEphemeral } from './js/ephemeral.js';
import { bindSupport, forgetSupport, onContactError, onSupportOpened, onSupportState,
  supportWelcome } from './js/support.js';
import { bindSupportQueue, onSupportQueue } from './js/support-queue.js';
import { bindSupportActions, onSupportError } from './js/support-actions.js';
import { bindSupportDesk, renderDesk } from './js/support-desk.js';

function onWelcome(f) {
  setLimits(f.limits);
  resetPacing();
  acceptAccount(f);
  acceptWelcome(f);
  noteWelcome(f);
  unreadWelcome(f);
  receiptsReset();
  welcomed();
  supportWelcome(f); // a guest's conversation is bound again before its room is joined
  joinAll();
  renderAll();
  renderDesk();
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
  if (onSupportError(f, text) || onContactError(f, text)) return;
  if (onAccountError(f, text)) return;
  if (f.code === 'unavailable') storeUnavailable(text);
  if (isHelloError(f)) {
    helloRefused(f, text);
    return;
  }
  if (onRoomError(f, text)) return;
  if (onSearchError(f, text)) return;
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
  handle('message', (f) => {
    typingMessage(f);
    if (f.ephemeral === true) {
      showEphemeral(f);
      return;
    }
    onMessage(f);
    unreadMessage(f);
  });
  handle('edited', onEdited);
  handle('deleted', onDeleted);
  handle('ack', onAck);
  handle('room_created', onRoomCreated);
  handle('resync', onResync);
  handle('search_results', onSearchResults);
  handle('error', onError);
  handle('cleared', onCleared);
  handle('expired', onExpired);
  handle('votes', onVotes);
  handle('reply_count', onReplyCountFrame);
  handle('typing', onTyping);
  handle('receipts', onReceipts);
  handle('unread', onUnread);
  handle('members', (f) => {
    if (onMembers(f) === currentName()) renderPeople();
  });
  handle('participants', onParticipants);
  handle('removed', onRemoved);
  handle('room_deleted', onRoomDeleted);
  handle('support_opened', onSupportOpened);
  handle('support_state', onSupportState);
  handle('support_queue', onSupportQueue);
  on('open', sendHello);
  onAccountChange(() => {
    dropUnsent();
    forgetPrivateRooms();
    renderAll();
    forgetSupport();
    renderDesk();
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
  bindVotes();
  bindReplies();
  bindUnread();
  bindTyping();
  bindReceipts();
  bindAccountDialog();
  bindParticipants();
  bindTheme();
  bindEphemeral();
  bindSupport();
  bindSupportQueue();
  bindSupportActions();
  bindSupportDesk();
}

restoreIdentity();
restoreRooms();
wire();
renderAll();
renderAccount();
start();
