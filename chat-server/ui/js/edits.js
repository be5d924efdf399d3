// Edits, deletions and ephemeral messages in the browser (docs/protocol.md, "Edits, deletions and
// ephemeral messages"): the "edited" marker and the Edit / Delete actions of a message, the inline
// edit form, the room's `edited` / `deleted` notices applied to the kept messages, and ephemeral
// messages shown (marked, never kept) in the open room.
//
// Whose message it is comes from the signed-in user of `welcome` compared with the message's
// `user` (never its display name), as the server decides; an admin may delete any message. All
// text goes in as text (dom.js `node`).

import { node, ui } from './dom.js';
import { sendFrame } from './connection.js';
import { validateContent } from './limits.js';
import { toast } from './notices.js';
import { currentName, getRoom } from './rooms.js';
import { messageElement, renderMessages } from './messages.js';

// The signed-in user ({username in lower case, admin}) or null for a guest.
let me = null;
// The message being edited in the open room, with its draft: {room, offset, draft}.
let editing = null;

/** `welcome.user` says who may change which message. */
export function noteWelcome(f) {
  const user = f && f.user;
  me = user && typeof user.username === 'string'
    ? { username: user.username.toLowerCase(), admin: user.admin === true }
    : null;
}

const stored = (m) => Number.isInteger(m.offset) && !m.deleted && !m.ephemeral;
const isOwn = (m) => Boolean(me) && typeof m.user === 'string' && m.user.toLowerCase() === me.username;
const canEdit = (m) => stored(m) && isOwn(m);
const canDelete = (m) => stored(m) && Boolean(me) && (me.admin || isOwn(m));

/** The content of a message: the text, a tombstone, or the edit form; then its marker and
 * actions. `head` is the line with the name and time. */
export function fillContent(head, body, m, appendText) {
  if (editing && editing.room === m.room && editing.offset === m.offset && canEdit(m)) {
    body.append(editForm(m));
    return;
  }
  const text = node('div', 'message-content');
  if (m.deleted) {
    text.classList.add('message-deleted');
    text.textContent = 'This message was deleted.';
  } else {
    appendText(text, String(m.content));
  }
  body.append(text);
  if (typeof m.edited === 'string' && !m.deleted) {
    const mark = node('span', 'message-edited', '(edited)');
    const at = new Date(m.edited);
    if (!Number.isNaN(at.getTime())) mark.title = `Edited ${at.toLocaleString()}`;
    head.append(mark);
  }
  if (canEdit(m) || canDelete(m)) {
    const actions = node('div', 'message-actions');
    if (canEdit(m)) actions.append(actionButton('edit-button', 'Edit'));
    if (canDelete(m)) actions.append(actionButton('delete-button', 'Delete'));
    body.append(actions);
  }
}

function actionButton(className, text) {
  const b = node('button', `${className} link-button`, text);
  b.type = 'button';
  return b;
}

function editForm(m) {
  const form = node('form', 'edit-form');
  const id = `edit-${m.room}-${m.offset}`;
  const label = node('label', 'visually-hidden', 'Edit your message');
  label.htmlFor = id;
  const input = node('textarea', 'edit-input');
  input.id = id;
  input.rows = 2;
  input.value = editing.draft;
  input.addEventListener('input', () => {
    if (editing) editing.draft = input.value;
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') stopEditing();
    if (e.key === 'Enter' && !e.shiftKey) {
      e.preventDefault();
      form.requestSubmit();
    }
  });
  const error = node('p', 'edit-error');
  error.setAttribute('role', 'alert');
  const save = node('button', 'save-edit-button', 'Save');
  save.type = 'submit';
  const cancel = actionButton('cancel-edit-button', 'Cancel');
  form.append(label, input, error, save, ' ', cancel);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const checked = validateContent(input.value);
    if (checked.error) {
      error.textContent = checked.error === 'empty' ? 'A message cannot be empty.' : checked.error;
      return;
    }
    if (sendFrame({ type: 'edit', room: m.room, offset: m.offset, content: checked.value })) {
      stopEditing();
    } else {
      error.textContent = 'Not connected: try again in a moment.';
    }
  });
  queueMicrotask(() => input.focus());
  return form;
}

function stopEditing() {
  editing = null;
  redraw(currentName());
}

function redraw(room) {
  if (room && room === currentName()) renderMessages(false, true);
}

function messageOf(article) {
  const room = getRoom(article.dataset.room);
  const offset = Number(article.dataset.offset);
  return room && room.msgs.find((m) => m.offset === offset);
}

/** Clicks on Edit, Delete and Cancel inside the log; true when handled. */
export function onLogClick(target, article) {
  if (!article) return false;
  if (target.closest('.cancel-edit-button')) {
    stopEditing();
    return true;
  }
  const m = (target.closest('.edit-button') || target.closest('.delete-button'))
    && messageOf(article);
  if (!m) return false;
  if (target.closest('.edit-button')) {
    editing = { room: m.room, offset: m.offset, draft: String(m.content) };
    redraw(m.room);
  } else if (window.confirm('Delete this message for everyone?')) {
    if (!sendFrame({ type: 'delete', room: m.room, offset: m.offset })) {
      toast('Not connected: the message was not deleted.', 'error');
    }
  }
  return true;
}

/** `edited {room, offset, content, edited_at}`: the kept message now reads `content`. */
export function onEdited(f) {
  const room = getRoom(f.room);
  const m = room && room.msgs.find((x) => x.offset === f.offset);
  if (!m || typeof f.content !== 'string') return;
  m.content = f.content;
  m.edited = f.edited_at;
  redraw(f.room);
}

/** `deleted {room, offset}`: the kept message becomes a tombstone. */
export function onDeleted(f) {
  const room = getRoom(f.room);
  const m = room && room.msgs.find((x) => x.offset === f.offset);
  if (!m) return;
  for (const gone of ['content', 'topic', 'email', 'edited']) delete m[gone];
  m.deleted = true;
  if (editing && editing.room === f.room && editing.offset === f.offset) editing = null;
  redraw(f.room);
}

/** An ephemeral message: shown at the end of the open room's log, marked, and kept nowhere (it
 * is gone when the log is drawn again, as it is from the server's history). */
export function showEphemeral(f) {
  if (f.room !== currentName()) return;
  const article = messageElement(f, false);
  article.classList.add('ephemeral');
  article.dataset.room = f.room;
  const note = node('div', 'message-status', 'Ephemeral: only people here now see it; not saved.');
  article.querySelector('.message-body').append(note);
  ui.stream.append(article);
}
