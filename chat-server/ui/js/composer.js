// The message box of the open room: topic and text, live validation against the server's limits
// with a byte counter, Enter/Shift+Enter, per-room drafts, and the hint under it, which says when
// messages are only kept for later (offline, or the server's store is down), phones included.
// A guest who may not post sees, in its place, a notice saying why, with Register and Log in.

import { coarsePointerOnly, fieldError, ui } from './dom.js';
import { connState } from './connection.js';
import { canPost } from './identity.js';
import { accountKnown, currentUser } from './account.js';
import { limit, utf8Bytes, validateContent, validateTopic } from './limits.js';
import { enqueue } from './outbox.js';
import { takeEphemeral } from './ephemeral.js';
import { currentRoom, saveRooms } from './rooms.js';
import { renderPending, scrollToBottom } from './messages.js';
import { renderReplyBar, takeReplyTo } from './replies.js';

const MAX_HEIGHT_PX = 200;

/** Saves the open room's unsent text and topic before another room opens. */
export function keepDraft(room) {
  room.draft = ui.composerInput.value;
  room.topic = ui.topicInput.value;
}

export function restoreDraft(room) {
  ui.composerInput.value = room.draft;
  ui.topicInput.value = room.topic;
  renderReplyBar();
}

/** A topic chip was clicked: reply in that topic. */
export function useTopic(topic) {
  ui.topicInput.value = topic;
  const room = currentRoom();
  if (room) room.topic = topic;
  renderComposer(false);
  ui.composerInput.focus();
}

const HINTS = Object.freeze({
  keyboard: 'Enter to send, Shift+Enter for a new line',
  touch: 'Tap Send to send',
  degraded: 'The server cannot store messages right now: yours are kept and sent when it recovers',
  offline: 'Offline: messages are kept and sent when the connection is back',
});

/** What to tell about sending now; `alert` hints show on phones too. */
function hint() {
  switch (connState()) {
    case 'online':
      return { text: coarsePointerOnly() ? HINTS.touch : HINTS.keyboard, alert: false };
    case 'degraded':
      return { text: HINTS.degraded, alert: true };
    default:
      return { text: HINTS.offline, alert: true };
  }
}

/** A guest where guests may not post: the composer gives way to a notice saying why. */
function renderGuestNotice() {
  const readOnly = accountKnown() && !currentUser() && !canPost(currentRoom()?.name);
  ui.composerForm.hidden = readOnly;
  ui.guestNotice.hidden = !readOnly;
  if (readOnly) {
    ui.guestNoticeText.textContent = 'You are reading as a guest. Guests cannot post here: ' +
      'register (it takes a username and a password) or log in to join the conversation.';
  }
}

/** Enables, validates and counts; `showEmpty` also complains about an empty message. */
export function renderComposer(showEmpty) {
  renderGuestNotice();
  const enabled = Boolean(currentRoom() && canPost(currentRoom().name));
  ui.composerInput.disabled = !enabled;
  ui.topicInput.disabled = !enabled;
  const value = ui.composerInput.value;
  const bytes = utf8Bytes(value);
  const max = limit('max_content_bytes');
  ui.composerCounter.textContent = max ? `${bytes} / ${max} bytes` : `${bytes} bytes`;
  ui.composerCounter.classList.toggle('warn', Boolean(max) && bytes > max * 0.9 && bytes <= max);
  ui.composerCounter.classList.toggle('over', Boolean(max) && bytes > max);
  const content = validateContent(value);
  const topic = validateTopic(ui.topicInput.value);
  const contentError = content.error === 'empty' ? (showEmpty ? 'Type a message first.' : null)
    : content.error;
  fieldError(ui.composerError, topic.error || contentError || null);
  ui.topicInput.setAttribute('aria-invalid', topic.error ? 'true' : 'false');
  ui.sendButton.disabled = !enabled || Boolean(content.error) || Boolean(topic.error);
  const { text, alert } = hint();
  ui.composerHint.textContent = text;
  ui.composerHint.classList.toggle('alert', alert);
  autosize();
}

function autosize() {
  const t = ui.composerInput;
  if (t.offsetParent === null) return; // hidden: nothing to measure
  t.style.height = 'auto';
  t.style.height = `${Math.min(t.scrollHeight + 2, MAX_HEIGHT_PX)}px`;
}

function submitComposer() {
  const room = currentRoom();
  if (!room || !canPost(room.name)) return;
  const content = validateContent(ui.composerInput.value);
  const topic = validateTopic(ui.topicInput.value);
  if (content.error || topic.error) {
    renderComposer(true);
    return;
  }
  room.topic = ui.topicInput.value.trim();
  saveRooms();
  ui.composerInput.value = '';
  room.draft = '';
  enqueue(room, topic.value, content.value, takeReplyTo(room), takeEphemeral());
  renderPending();
  scrollToBottom();
  renderComposer(false);
}

export function bindComposer() {
  ui.composerForm.addEventListener('submit', (e) => {
    e.preventDefault();
    submitComposer();
  });
  ui.composerInput.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.isComposing || e.shiftKey || e.altKey) return;
    if (coarsePointerOnly() && !e.ctrlKey && !e.metaKey) return; // phone keyboards: newline
    e.preventDefault();
    submitComposer();
  });
  ui.composerInput.addEventListener('input', () => {
    const room = currentRoom();
    if (room) room.draft = ui.composerInput.value;
    renderComposer(false);
  });
  ui.topicInput.addEventListener('input', () => {
    const room = currentRoom();
    if (room) room.topic = ui.topicInput.value;
    renderComposer(false);
  });
  ui.topicInput.addEventListener('change', saveRooms);
  ui.topicInput.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      ui.composerInput.focus();
    }
  });
}
