// The room list (the sidebar on desktops, a drawer on phones), the new-room form, and the unread
// counts wherever they show: per room, on the phone's menu button and in the tab title. All three
// are drawn from the joined rooms each time, so a room that is left or removed stops counting.
// Each room shows its online counts (presence.js) and a lock when it is private. The new-room
// form (`create_room`, public or private) is here too.

import { fieldError, node, ui } from './dom.js';
import { isIdentified, sendFrame } from './connection.js';
import { limit, roomNameRule, validateRoomName } from './limits.js';
import { resetTimerChoice, timerChoice, timerMark } from './timed.js';
import { canPost } from './identity.js';
import { countNodes, listedRoom } from './presence.js';
import { isPrivate, rememberCreated } from './participants.js';
import { currentName, getRoom, listedNames, onlineCount, openRoom, stepRoom,
  unreadTotal } from './rooms.js';
import { supportCount } from './support-queue.js';
import { isSupportRoom, roomLabel } from './support.js';

let pendingCreate = null; // room name of an outstanding create_room

/** The name of a room this tab asked to create and has no answer for yet. */
export const creatingRoom = () => pendingCreate;

export function renderSidebar() {
  // Rebuilding the list must not throw a keyboard user's focus away.
  const active = document.activeElement;
  const focused = ui.roomList.contains(active) ? active.dataset.room : undefined;
  const list = document.createDocumentFragment();
  for (const name of listedNames()) {
    const room = getRoom(name);
    const li = node('li');
    const button = node('button', 'room-button');
    button.type = 'button';
    button.dataset.room = name;
    if (room) button.dataset.joined = 'true';
    if (name === currentName()) button.setAttribute('aria-current', 'page');
    button.append(node('span', 'room-name', roomLabel(name))); // "Support" for a conversation
    if (isSupportRoom(name)) button.dataset.support = 'true';
    const timer = timerMark(name);
    if (timer) button.append(timer);
    if (isPrivate(name)) {
      button.dataset.private = 'true';
      const lock = node('span', 'room-lock');
      lock.title = 'Private room';
      lock.append(node('span', 'visually-hidden', ' (private)'));
      button.append(lock);
    }
    if (!room) button.append(node('span', 'visually-hidden', ' (not joined)'));
    if (room && room.unread) {
      const badge = node('span', 'room-unread', String(room.unread));
      badge.append(node('span', 'visually-hidden', ' unread'));
      button.append(badge);
    }
    button.append(...countNodes(name, onlineCount(name)));
    li.append(button);
    list.append(li);
  }
  ui.roomList.replaceChildren(list);
  if (focused) {
    const again = ui.roomList.querySelector(`[data-room="${CSS.escape(focused)}"]`);
    if (again) again.focus();
  }
  renderNewRoomRule();
  renderUnread();
}

/** The menu button's badge and the tab title, from the rooms joined now. */
export function renderUnread() {
  const unread = unreadTotal();
  ui.menuUnread.hidden = unread === 0;
  // The visible count is part of the button's name ("Rooms 3 unread"), as axe-core asks.
  ui.menuUnread.replaceChildren(String(unread), node('span', 'visually-hidden', ' unread'));
  const where = currentName() ? `#${currentName()} · ` : '';
  // An agent's badge: support conversations waiting or with unread client messages.
  const support = supportCount();
  document.title = `${support ? `[${support} support] ` : ''}${unread ? `(${unread}) ` : ''}${where}chatapp`;
}

function renderNewRoomRule() {
  const max = limit('max_room_chars');
  if (max) ui.newRoomInput.maxLength = max;
  else ui.newRoomInput.removeAttribute('maxlength');
  ui.newRoomHelp.textContent = roomNameRule();
}

function createRoom(name) {
  const error = validateRoomName(name);
  fieldError(ui.newRoomError, error);
  if (error) return;
  if (getRoom(name) || listedRoom(name)) {
    ui.newRoomInput.value = '';
    openRoom(name);
    return;
  }
  if (!canPost()) {
    fieldError(ui.newRoomError, 'Guests cannot create rooms: register or log in first.');
    return;
  }
  const frame = { type: 'create_room', name, ...timerChoice() };
  if (ui.newRoomPrivate.checked) frame.private = true;
  if (!isIdentified() || !sendFrame(frame)) {
    fieldError(ui.newRoomError, 'Not connected: try again when online.');
    return;
  }
  pendingCreate = name;
}

/** `room_created`: a private room's name carries a random suffix after the one asked for. */
export function onRoomCreated(f) {
  const asked = pendingCreate;
  const ours = typeof f.room === 'string' && asked !== null &&
    (f.room === asked || (f.private === true && f.room.startsWith(`${asked}-`)));
  if (!ours) return;
  rememberCreated(f.room);
  pendingCreate = null;
  ui.newRoomInput.value = '';
  ui.newRoomPrivate.checked = false;
  resetTimerChoice();
  openRoom(f.room);
}

/** An error answering this tab's `create_room`; true when it was one. */
export function onCreateError(f, text) {
  if (!pendingCreate) return false;
  const about = f.code === 'room_exists' || f.code === 'too_many_rooms' ||
    f.code === 'login_required' || (f.code === 'invalid_field' &&
      ['name', 'clear_every_mins', 'expire_after_mins'].includes(f.field));
  if (!about) return false;
  pendingCreate = null;
  fieldError(ui.newRoomError, text);
  return true;
}

function openDrawer() {
  document.body.classList.add('drawer-open');
  ui.menuButton.setAttribute('aria-expanded', 'true');
  ui.backdrop.hidden = false;
  const first = ui.roomList.querySelector('[aria-current="page"]') ||
    ui.roomList.querySelector('button');
  if (first) first.focus();
}

export function closeDrawer() {
  if (!document.body.classList.contains('drawer-open')) return;
  document.body.classList.remove('drawer-open');
  ui.menuButton.setAttribute('aria-expanded', 'false');
  ui.backdrop.hidden = true;
}

export function bindSidebar() {
  ui.roomList.addEventListener('click', (e) => {
    const button = e.target.closest('.room-button');
    if (button) openRoom(button.dataset.room);
  });
  ui.newRoomInput.addEventListener('input', () => {
    const v = ui.newRoomInput.value;
    const tidy = v.toLowerCase().replace(/\s/g, '-');
    if (tidy !== v) ui.newRoomInput.value = tidy;
    fieldError(ui.newRoomError, null);
  });
  ui.newRoomForm.addEventListener('submit', (e) => {
    e.preventDefault();
    createRoom(ui.newRoomInput.value.trim());
  });
  ui.menuButton.addEventListener('click', () => {
    if (document.body.classList.contains('drawer-open')) closeDrawer();
    else openDrawer();
  });
  ui.backdrop.addEventListener('click', closeDrawer);
  ui.emptyRoomsButton.addEventListener('click', openDrawer);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeDrawer();
    if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
      e.preventDefault();
      stepRoom(e.key === 'ArrowUp' ? -1 : 1);
    }
  });
}
