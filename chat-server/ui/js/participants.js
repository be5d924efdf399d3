// Private rooms and the People panel of the open room: who is online (presence.js draws that
// part), a private room's participants with "Add by username" and Remove for those who manage
// it, the lock marker, the "Private" box of the new-room form, and deleting a room.
//
// The server decides who may do what (`forbidden` otherwise); the controls show to those it
// would allow: admins, and the room's creator. The server does not name a room's creator (yet:
// a `creator` field in `rooms` or `participants` is used when present), so this browser
// remembers the rooms each account created here. `removed` and `room_deleted` take the room out
// of this tab's lists with a notice.

import { fieldError, node, ui } from './dom.js';
import { isIdentified, sendFrame } from './connection.js';
import { currentUser, isAdmin } from './account.js';
import { forgetListed, listedRoom, renderMembers } from './presence.js';
import { allRoomNames, currentName, removeRoom } from './rooms.js';
import { toast } from './notices.js';
import { KEYS, load, store } from './storage.js';

const REMEMBERED_ROOMS = 200;

const participants = new Map(); // room -> {list: [username], creator: username | null}
let pending = null; // {room, username, kind: 'add' | 'remove' | 'delete'} awaiting an answer
let panelOpen = false;

/** Whether the server says this room is private (its listing, or a `participants` frame). */
export function isPrivate(name) {
  return Boolean(listedRoom(name)?.private) || participants.has(name);
}

function creatorOf(name) {
  return listedRoom(name)?.creator ?? participants.get(name)?.creator ?? null;
}

function createdHere() {
  const saved = load('shared', KEYS.created, {});
  return saved && typeof saved === 'object' ? saved : {};
}

/** `room_created` answered this account: remember that it is the room's creator. */
export function rememberCreated(room) {
  const user = currentUser();
  if (!user) return;
  const all = createdHere();
  const key = user.username.toLowerCase();
  const mine = Array.isArray(all[key]) ? all[key].filter((r) => r !== room) : [];
  mine.push(room);
  all[key] = mine.slice(-REMEMBERED_ROOMS);
  store('shared', KEYS.created, all);
}

/** Whether this account may add, remove and delete in `name` (as far as the page knows). */
function mayManage(name) {
  const user = currentUser();
  if (!user) return false;
  if (isAdmin()) return true;
  const key = user.username.toLowerCase();
  const creator = creatorOf(name);
  if (creator) return creator.toLowerCase() === key;
  const mine = createdHere()[key];
  return Array.isArray(mine) && mine.includes(name);
}

/** `participants {room, participants}`: a private room's list, on join and on every change. */
export function onParticipants(f) {
  if (typeof f.room !== 'string' || !Array.isArray(f.participants)) return;
  const list = f.participants.filter((u) => typeof u === 'string');
  list.sort((a, b) => a.localeCompare(b));
  const creator = typeof f.creator === 'string' ? f.creator : null;
  participants.set(f.room, { list, creator });
  if (pending && pending.room === f.room && pending.kind !== 'delete') settle(null);
  if (f.room === currentName()) renderPeople();
}

/** The room left this tab's lists for a reason the server gave. */
function dropRoom(name, text) {
  participants.delete(name);
  forgetListed(name);
  if (pending && pending.room === name) settle(null);
  const wasHere = allRoomNames().includes(name);
  removeRoom(name);
  if (wasHere) toast(text, 'info');
}

/** `removed {room}`: this account was taken off a private room's participants. */
export function onRemoved(f) {
  if (typeof f.room !== 'string') return;
  dropRoom(f.room, `You were removed from the private room #${f.room}.`);
}

/** `room_deleted {room}`: the room is gone for everyone. */
export function onRoomDeleted(f) {
  if (typeof f.room !== 'string') return;
  const mine = pending && pending.kind === 'delete' && pending.room === f.room;
  dropRoom(f.room, mine ? `You deleted #${f.room}.` : `#${f.room} was deleted.`);
}

/** After signing out or in as someone else: private rooms are not ours to rejoin. */
export function forgetPrivateRooms() {
  for (const name of allRoomNames()) {
    if (isPrivate(name)) {
      participants.delete(name);
      removeRoom(name);
    }
  }
}

function settle(text) {
  fieldError(ui.participantError, text);
  pending = null;
}

/** An error while an add, remove or delete is outstanding; true when it answered that. */
export function onParticipantError(f, text) {
  if (!pending) return false;
  const about = f.room === pending.room || f.field === 'username' || f.code === 'forbidden' ||
    f.code === 'login_required' || f.code === 'no_such_user';
  if (!about) return false;
  if (pending.kind === 'delete') {
    pending = null;
    toast(`Could not delete #${f.room || 'the room'}: ${text}`, 'error');
  } else {
    settle(text);
    ui.participantInput.focus();
  }
  return true;
}

function request(kind, room, username, frame) {
  if (!isIdentified() || !sendFrame(frame)) {
    fieldError(ui.participantError, 'Not connected: try again when online.');
    return;
  }
  fieldError(ui.participantError, null);
  pending = { kind, room, username };
}

function addParticipant() {
  const room = currentName();
  const username = ui.participantInput.value.trim();
  if (!/^[A-Za-z0-9_-]{3,32}$/.test(username)) {
    fieldError(ui.participantError, 'A username has 3 to 32 letters, digits, - and _.');
    ui.participantInput.focus();
    return;
  }
  ui.participantInput.value = '';
  request('add', room, username, { type: 'add_participant', room, username });
}

function removeParticipant(username) {
  const room = currentName();
  request('remove', room, username, { type: 'remove_participant', room, username });
}

function deleteRoom() {
  const room = currentName();
  ui.deleteRoomConfirm.hidden = true;
  ui.deleteRoomButton.hidden = false;
  if (!room || !isIdentified() || !sendFrame({ type: 'delete_room', room })) {
    toast('Not connected: try again when online.', 'error');
    return;
  }
  pending = { kind: 'delete', room, username: null };
}

function renderParticipants(room) {
  const p = room ? participants.get(room) : null;
  ui.participantsSection.hidden = !p;
  if (!p) return;
  const manage = mayManage(room);
  const me = currentUser()?.username.toLowerCase();
  const list = document.createDocumentFragment();
  for (const username of p.list) {
    const li = node('li', 'participant');
    li.dataset.username = username;
    li.append(node('span', 'member-name', username));
    if (p.creator && p.creator.toLowerCase() === username.toLowerCase()) {
      li.append(node('span', 'member-username', 'creator'));
    }
    if (manage && username.toLowerCase() !== me) {
      const remove = node('button', 'participant-remove link-button', 'Remove');
      remove.type = 'button';
      remove.dataset.username = username;
      remove.setAttribute('aria-label', `Remove ${username}`);
      li.append(remove);
    }
    list.append(li);
  }
  ui.participantsList.replaceChildren(list);
  ui.participantForm.hidden = !manage;
}

/** The header's lock marker and the People panel, for the open room. */
export function renderPeople() {
  const room = currentName();
  ui.roomPrivate.hidden = !room || !isPrivate(room);
  ui.peopleButton.setAttribute('aria-expanded', String(panelOpen));
  ui.peoplePanel.hidden = !panelOpen || !room;
  if (ui.peoplePanel.hidden) return;
  renderMembers(room);
  renderParticipants(room);
  const admin = Boolean(room) && mayManage(room);
  ui.roomAdmin.hidden = !admin;
  if (!admin) ui.deleteRoomConfirm.hidden = true;
}

/** The new-room form offers "Private" to members only (guests cannot create rooms). */
export function renderNewRoomPrivate() {
  ui.newRoomPrivateRow.hidden = !currentUser();
  if (!currentUser()) ui.newRoomPrivate.checked = false;
}

export function bindParticipants() {
  ui.peopleButton.addEventListener('click', () => {
    panelOpen = !panelOpen;
    renderPeople();
  });
  ui.peoplePanel.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape') return;
    panelOpen = false;
    renderPeople();
    ui.peopleButton.focus();
  });
  ui.participantForm.addEventListener('submit', (e) => {
    e.preventDefault();
    addParticipant();
  });
  ui.participantInput.addEventListener('input', () => fieldError(ui.participantError, null));
  ui.participantsList.addEventListener('click', (e) => {
    const button = e.target.closest('.participant-remove');
    if (button) removeParticipant(button.dataset.username);
  });
  ui.deleteRoomButton.addEventListener('click', () => {
    ui.deleteRoomQuestion.textContent = `Delete #${currentName()} for everyone? ` +
      'Its messages are gone for good and every member leaves it.';
    ui.deleteRoomConfirm.hidden = false;
    ui.deleteRoomButton.hidden = true;
    ui.deleteRoomNo.focus();
  });
  ui.deleteRoomNo.addEventListener('click', () => {
    ui.deleteRoomConfirm.hidden = true;
    ui.deleteRoomButton.hidden = false;
    ui.deleteRoomButton.focus();
  });
  ui.deleteRoomYes.addEventListener('click', deleteRoom);
}
