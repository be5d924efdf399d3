// The rooms this tab is in: joining (with `since` after a reconnect), leaving, each
// room's history by offset within its epoch, unread counts, and which room is open.
//
// Each room keeps the highest offset it has seen; a reconnect rejoins with `since`, and every
// message is keyed by its offset, so nothing is shown twice and a gap is either filled or
// announced. Rendering of the list is sidebar.js's, of the log messages.js's.
//
// History beyond the join page comes in `history` pages: older ones when the log is scrolled to
// its top (`before` the oldest shown), and the rest of a long recovery when `joined.more` says the
// page stopped short (`after` the newest recovered, until `more` is false; meanwhile a rejoin
// asks `since` from there, not from the room's head).

import { coarsePointerOnly, ui } from './dom.js';
import { isIdentified, sendFrame } from './connection.js';
import { isMine, renderIdentity } from './identity.js';
import { validateRoomName } from './limits.js';
import { KEYS, load, store } from './storage.js';
import { dropAckedPending, flushPending, requeueSending, restoreOutbox, saveOutbox,
  unsentCount } from './outbox.js';
import { renderMessages, showNewMessage } from './messages.js';
import { closeDrawer, renderSidebar, renderUnread } from './sidebar.js';
import { keepDraft, renderComposer, restoreDraft } from './composer.js';
import { toast } from './notices.js';
import { filterOf, renderSearch } from './search.js';
import { CLEARED_NOTICE, expiredNotice, rememberTimers } from './timed.js';
import { forgetListed, listedNames as serverListed, listedRoom, takeRooms } from './presence.js';
import { renderNewRoomPrivate, renderPeople } from './participants.js';
import { isSupportRoom, roomLabel, supportPlaceholder } from './support.js';

const rooms = new Map(); // joined rooms by name
let current = null; // name of the open room
let hiddenUnread = 0; // messages that arrived in the open room while the tab was hidden

/** A joined room: its history (by offset, within one epoch) and its unconfirmed sends. */
function makeRoom(name) {
  return {
    name,
    epoch: null,
    last: 0, // highest offset seen in `epoch`
    msgs: [], // confirmed messages, ascending offset
    offsets: new Set(),
    notices: [], // {after: offset, text}
    pending: new Map(), // client_id -> pending send (outbox.js), in creation order
    ready: false, // `joined` received on this socket
    joining: false,
    buffer: [], // live messages that arrived while a join was outstanding
    requests: [], // kinds ('before' | 'after') of outstanding history requests, in order
    catchUpAfter: null, // while a recovery continues with `history after`: where it stands
    loadingOlder: false,
    olderDone: false, // the server has nothing older than msgs[0]
    online: null,
    unread: 0,
    topic: '',
    draft: '',
  };
}

export const allRooms = () => rooms.values();
export const getRoom = (name) => rooms.get(name);
export const currentName = () => current;
export const currentRoom = () => rooms.get(current);
/** Names of the rooms joined here. */
export const allRoomNames = () => [...rooms.keys()];
/** Names of joined rooms and of every room the server lists, sorted. */
export const listedNames = () => [...new Set([...serverListed(), ...rooms.keys()])].sort();
/** The room's online count as last heard. */
export function onlineCount(name) {
  return listedRoom(name)?.online ?? rooms.get(name)?.online;
}

/** Unread messages over all joined rooms, and in the open room while the tab was hidden. */
export function unreadTotal() {
  let unread = hiddenUnread;
  for (const room of rooms.values()) unread += room.unread;
  return unread;
}

export function roomOf(clientId) {
  for (const room of rooms.values()) if (room.pending.has(clientId)) return room;
  return null;
}

const validRoom = (name) => typeof name === 'string' && !validateRoomName(name);

function ensureRoom(name) {
  if (!rooms.has(name)) rooms.set(name, makeRoom(name));
  return rooms.get(name);
}

export function saveRooms() {
  const topics = {};
  for (const room of rooms.values()) if (room.topic) topics[room.name] = room.topic;
  const saved = { joined: [...rooms.keys()], current, topics };
  store('tab', KEYS.rooms, saved);
  store('shared', KEYS.rooms, saved); // a new tab starts in the same rooms
}

/** This tab's rooms and outbox from before a reload; a new tab takes the remembered rooms. */
export function restoreRooms() {
  const saved = load('tab', KEYS.rooms, null) || load('shared', KEYS.rooms, null) || {};
  const joined = Array.isArray(saved.joined) ? saved.joined : ['general'];
  const topics = saved.topics && typeof saved.topics === 'object' ? saved.topics : {};
  for (const name of joined) {
    if (!validRoom(name)) continue;
    const room = ensureRoom(name);
    if (typeof topics[name] === 'string') room.topic = topics[name];
  }
  restoreOutbox(ensureRoom, validRoom);
  current = rooms.has(saved.current) ? saved.current : (rooms.keys().next().value ?? null);
}

export function sendJoin(room) {
  const frame = { type: 'join', room: room.name };
  if (filterOf(room.name) !== null) frame.filter = filterOf(room.name);
  if (room.epoch !== null) {
    frame.since = { epoch: room.epoch, offset: room.catchUpAfter ?? room.last };
  }
  if (sendFrame(frame)) {
    room.joining = true;
    room.buffer = [];
  }
}

/** After a welcome: (re)join every room not joined on this socket yet. */
export function joinAll() {
  for (const room of rooms.values()) if (!room.ready && !room.joining) sendJoin(room);
}

/** The socket closed: nothing is joined any more; the rejoin with `since` brings back the rest. */
export function disconnected() {
  for (const room of rooms.values()) {
    room.ready = false;
    room.joining = false;
    room.buffer = [];
    room.requests = [];
    room.loadingOlder = false;
    requeueSending(room);
  }
  ui.messages.dataset.ready = 'false';
}

// ---- server frames ---------------------------------------------------------------------------

export function onRooms(f) {
  if (!takeRooms(f)) return;
  rememberTimers(f.rooms);
  renderSidebar();
  renderRoomHeader();
}

export function onJoined(f) {
  const room = rooms.get(f.room);
  if (!room) return; // left again before the answer came
  const messages = Array.isArray(f.messages) ? f.messages : [];
  const hadHistory = room.epoch !== null;
  const epochChanged = hadHistory && room.epoch !== f.epoch;
  if (f.recovered === false || epochChanged) {
    // The server could not give exactly what we missed: start over from its page, and say so.
    resetHistory(room);
    if (epochChanged) {
      addNotice(room, "The server lost this room's history while you were away. " +
        'Earlier messages are gone; showing what it has now.');
    } else if (hadHistory) {
      addNotice(room, 'You missed more messages than the server keeps, so some are not ' +
        'shown. Showing the latest ones.');
    }
  }
  room.epoch = f.epoch;
  if (typeof f.online === 'number') room.online = f.online;
  for (const m of messages) insertMessage(room, m, false);
  room.catchUpAfter = null;
  if (f.more === true) {
    // The recovery did not fit one page: fetch the rest after the newest it carried.
    const after = messages.length ? messages[messages.length - 1].offset : room.last;
    if (Number.isInteger(after)) requestHistory(room, 'after', after);
  }
  if (Number.isInteger(f.offset)) room.last = Math.max(room.last, f.offset);
  room.ready = true;
  room.joining = false;
  const buffered = room.buffer;
  room.buffer = [];
  for (const m of buffered) insertMessage(room, m, true);
  dropAckedPending(room);
  flushPending(room);
  if (room.name === current) renderMessages(true);
  renderSidebar();
  renderRoomHeader();
}

function requestHistory(room, kind, offset) {
  const frame = { type: 'history', room: room.name, [kind]: offset, limit: 200 };
  if (!sendFrame(frame)) return false;
  room.requests.push(kind);
  if (kind === 'after') room.catchUpAfter = offset;
  return true;
}

/** Asks for the page before the oldest message shown (the log was scrolled to its top). */
export function loadOlder() {
  const room = rooms.get(current);
  if (!room || !room.ready || room.loadingOlder || room.olderDone || !room.msgs.length) return;
  const oldest = room.msgs[0].offset;
  if (oldest <= 1) {
    room.olderDone = true;
    return;
  }
  if (requestHistory(room, 'before', oldest)) {
    room.loadingOlder = true;
    // A refused request (rate limit) is not answered with a page: allow another try later.
    setTimeout(() => { room.loadingOlder = false; }, 5000);
  }
}

export function onHistory(f) {
  const room = rooms.get(f.room);
  if (!room) return;
  const kind = room.requests.shift();
  if (f.epoch !== room.epoch) return; // an older epoch's page: the rejoin brings the new one
  const messages = Array.isArray(f.messages) ? f.messages : [];
  for (const m of messages) insertMessage(room, m, false);
  if (kind === 'after') {
    const last = messages.length ? messages[messages.length - 1].offset : room.catchUpAfter;
    room.catchUpAfter = null;
    if (f.more === true && Number.isInteger(last)) requestHistory(room, 'after', last);
  } else {
    room.loadingOlder = false;
    room.olderDone = f.more !== true;
  }
  if (room.name === current) renderMessages(false, kind === 'before');
}

export function onLeft(f) {
  const room = rooms.get(f.room);
  // Joining again after a leave: this `left` answers the old leave.
  if (!room || room.joining) return;
  removeRoom(f.room);
}

export function onMessage(f) {
  const room = rooms.get(f.room);
  if (!room) return;
  if (room.joining) {
    room.buffer.push(f);
    return;
  }
  insertMessage(room, f, true);
}

export function onResync(f) {
  const room = rooms.get(f.room);
  if (!room) return;
  // Offsets restart in the new epoch: the old ones mean nothing now, so take the fresh page.
  resetHistory(room);
  room.epoch = null;
  addNotice(room, "The server lost this room's history. Earlier messages are gone.");
  sendJoin(room);
  if (room.name === current) renderMessages(true);
}

/** A timed room's history was cleared through `through`: those messages go, a notice stays. */
export function onCleared(f) {
  const room = rooms.get(f.room);
  if (!room || !Number.isInteger(f.through)) return;
  room.msgs = room.msgs.filter((m) => m.offset > f.through);
  room.offsets = new Set(room.msgs.map((m) => m.offset));
  room.notices = room.notices.filter((n) => n.after > f.through);
  room.notices.push({ after: f.through, text: CLEARED_NOTICE });
  room.olderDone = true;
  if (room.name === current) renderMessages(false);
}

/** A timed room expired: it leaves this tab and the list. */
export function onExpired(f) {
  if (typeof f.room !== 'string') return;
  forgetListed(f.room);
  if (rooms.has(f.room)) removeRoom(f.room);
  else renderSidebar();
  toast(expiredNotice(f.room), 'info');
}

/** Room errors without a client_id; true when handled. */
export function onRoomError(f, text) {
  if (typeof f.room !== 'string' || !rooms.has(f.room)) return false;
  if (f.code === 'no_such_room') {
    removeRoom(f.room);
    toast(`Room #${f.room} does not exist any more.`, 'error');
    return true;
  }
  if (f.code === 'not_joined') {
    sendJoin(rooms.get(f.room));
    return true;
  }
  return false;
}

// ---- history ---------------------------------------------------------------------------------

function resetHistory(room) {
  room.olderDone = false;
  room.catchUpAfter = null;
  room.msgs = [];
  room.offsets.clear();
  room.notices = [];
  room.last = 0;
}

function addNotice(room, text) {
  room.notices.push({ after: room.last, text });
}

/** Adds one message in offset order; returns false for a duplicate or a frame without offset. */
function insertMessage(room, m, live) {
  if (!m || !Number.isInteger(m.offset) || room.offsets.has(m.offset)) return false;
  if (live && room.epoch !== null && m.offset > room.last + 1 && filterOf(room.name) === null) {
    // A hole before this live message (should not happen): recover it with `since`.
    sendJoin(room);
    room.buffer.push(m);
    return false;
  }
  room.offsets.add(m.offset);
  const msgs = room.msgs;
  let i = msgs.length;
  while (i > 0 && msgs[i - 1].offset > m.offset) i--;
  msgs.splice(i, 0, m);
  room.last = Math.max(room.last, m.offset);
  const wasMine = typeof m.client_id === 'string' && room.pending.delete(m.client_id);
  if (wasMine) saveOutbox();
  if (!live) return true;
  const mine = wasMine || isMine(m);
  if (!mine && (room.name !== current || document.hidden)) {
    if (room.name === current) hiddenUnread++;
    else room.unread++;
    renderSidebar();
  }
  if (room.name === current) showNewMessage(room, m, i === msgs.length - 1, mine, wasMine);
  return true;
}

// ---- joining, leaving, switching -------------------------------------------------------------

export function openRoom(name) {
  if (!rooms.has(name)) {
    const room = makeRoom(name);
    rooms.set(name, room);
    if (isIdentified()) sendJoin(room);
  }
  switchTo(name);
}

function leaveRoom(name) {
  const room = rooms.get(name);
  if (!room) return;
  const unsent = unsentCount(room);
  const question = `${unsent} message(s) in #${name} are not sent yet. Leave anyway?`;
  if (unsent && !window.confirm(question)) return;
  if (isIdentified()) sendFrame({ type: 'leave', room: name });
  removeRoom(name);
}

/** Forgets a room: its unread messages stop counting everywhere, the tab title included. */
export function removeRoom(name) {
  if (!rooms.has(name)) {
    renderSidebar();
    return;
  }
  rooms.delete(name);
  saveRooms();
  saveOutbox();
  if (current === name) switchTo(rooms.keys().next().value ?? null);
  else renderSidebar();
}

function switchTo(name) {
  const old = rooms.get(current);
  if (old) keepDraft(old);
  current = name;
  const room = rooms.get(name);
  if (room) {
    room.unread = 0;
    restoreDraft(room);
  }
  saveRooms();
  closeDrawer();
  renderAll();
  if (room && !coarsePointerOnly()) ui.composerInput.focus();
}

/** Cycles through joined rooms (Alt+Up / Alt+Down). */
export function stepRoom(step) {
  const names = [...rooms.keys()].sort();
  if (!names.length) return;
  const i = names.indexOf(current);
  switchTo(names[(i + step + names.length) % names.length]);
}

export function bindRooms() {
  ui.leaveButton.addEventListener('click', () => leaveRoom(current));
}

/** The tab is visible again: what arrived meanwhile in the open room has been seen. */
export function tabShown() {
  hiddenUnread = 0;
  renderUnread();
}

// ---- the main pane ---------------------------------------------------------------------------

export function renderAll() {
  renderIdentity();
  renderNewRoomPrivate();
  renderSidebar();
  renderMain();
}

export function renderMain() {
  if (!ui.helloPanel.hidden) return;
  const room = rooms.get(current);
  ui.roomView.hidden = !room;
  ui.emptyView.hidden = Boolean(room);
  if (!room) return;
  renderRoomHeader();
  renderMessages(true);
  renderComposer(false);
}

function renderRoomHeader() {
  const room = rooms.get(current);
  if (!room) return;
  ui.roomTitle.textContent = roomLabel(room.name);
  ui.roomTitle.classList.toggle('support-title', isSupportRoom(room.name));
  const online = onlineCount(room.name);
  ui.roomOnline.textContent = online === null || online === undefined ? '' : `${online} online`;
  ui.composerInput.placeholder = supportPlaceholder(room.name) ?? `Message #${room.name}`;
  renderSearch();
  renderPeople();
}

/** The room's filter changed (search.js): start over from a fresh page, filtered as now set. */
export function rejoinFresh(name) {
  const room = rooms.get(name);
  if (!room) return;
  resetHistory(room);
  room.epoch = null;
  sendJoin(room);
  if (room.name === current) renderMessages(true);
}
