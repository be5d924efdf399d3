// Who is online: the rooms the server lists with their counts by kind (registered users and
// guests apart, per room and for the whole chat, from `rooms` and its `totals`), and the open
// room's online users (`members {room, users, guests}`) in the People panel.
//
// It keeps what the server said and renders the counts; the room list itself is sidebar.js's.
// A server without counts by kind sends only `online`: then only the total is shown.

import { node, ui } from './dom.js';

let listed = new Map(); // name -> {online, registered, guests, private, creator}
let totals = null; // {online, registered, guests} for the whole chat, when the server says
const members = new Map(); // room -> {users: [{username, display_name}], guests}

const count = (v) => (Number.isInteger(v) && v >= 0 ? v : null);

/** Takes a `rooms` frame (or `/api/rooms` body); false when it is not one. */
export function takeRooms(f) {
  if (!Array.isArray(f.rooms)) return false;
  listed = new Map();
  for (const r of f.rooms) {
    if (!r || typeof r.name !== 'string') continue;
    listed.set(r.name, {
      online: count(r.online) ?? 0,
      registered: count(r.registered),
      guests: count(r.guests),
      private: r.private === true,
      creator: typeof r.creator === 'string' ? r.creator : null,
    });
  }
  const t = f.totals;
  totals = t && typeof t === 'object'
    ? { online: count(t.online) ?? 0, registered: count(t.registered), guests: count(t.guests) }
    : null;
  renderTotals();
  return true;
}

/** Names of every room the server lists. */
export const listedNames = () => [...listed.keys()];
/** What the server last said about a room, or undefined when it does not list it. */
export const listedRoom = (name) => listed.get(name);

/** A room is gone for this tab (removed, deleted): forget what was said about it. */
export function forgetListed(name) {
  listed.delete(name);
  members.delete(name);
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** "2 registered, 1 guest" when the server counts by kind, else "3 online". */
export function kindsText(c) {
  if (!c) return '';
  if (c.registered === null || c.guests === null) return `${c.online} online`;
  return `${c.registered} registered, ${plural(c.guests, 'guest', 'guests')}`;
}

/** The room list's counts for one room: registered and guests apart, or the total. */
export function countNodes(name, fallback) {
  const c = listed.get(name);
  const online = c ? c.online : (fallback ?? 0);
  if (!c || c.registered === null || c.guests === null) {
    const total = node('span', 'room-online', String(online));
    total.title = `${online} online`;
    total.append(node('span', 'visually-hidden', ' online'));
    return [total];
  }
  const users = node('span', 'room-online', String(c.registered));
  users.title = kindsText(c);
  users.append(node('span', 'visually-hidden', ' registered'));
  const guests = node('span', 'room-guests', String(c.guests));
  guests.title = users.title;
  guests.append(node('span', 'visually-hidden', c.guests === 1 ? ' guest' : ' guests'));
  return [users, guests];
}

function renderTotals() {
  if (!totals) {
    ui.onlineTotals.hidden = true;
    return;
  }
  ui.onlineTotals.hidden = false;
  ui.onlineTotals.dataset.registered = String(totals.registered ?? '');
  ui.onlineTotals.dataset.guests = String(totals.guests ?? '');
  ui.onlineTotals.textContent = totals.registered === null || totals.guests === null
    ? `${totals.online} online in the chat`
    : `Online in the chat: ${kindsText(totals)}`;
}

/** `members {room, users, guests}`: who is in a room now. Returns the room's name. */
export function onMembers(f) {
  if (typeof f.room !== 'string' || !Array.isArray(f.users)) return null;
  const users = f.users
    .filter((u) => u && typeof u.username === 'string')
    .map((u) => ({
      username: u.username,
      display_name: typeof u.display_name === 'string' && u.display_name ? u.display_name
        : u.username,
    }));
  users.sort((a, b) => a.display_name.localeCompare(b.display_name));
  members.set(f.room, { users, guests: count(f.guests) ?? 0 });
  return f.room;
}

/** The People panel's "Online now" part for `room` (a name, or null when no room is open). */
export function renderMembers(room) {
  const m = room ? members.get(room) : null;
  const list = document.createDocumentFragment();
  if (!m) {
    ui.membersSummary.textContent = room ? 'Loading who is here…' : '';
    ui.membersList.replaceChildren();
    return;
  }
  for (const u of m.users) {
    const li = node('li', 'member');
    li.dataset.username = u.username;
    li.append(node('span', 'member-name', u.display_name));
    if (u.display_name !== u.username) li.append(node('span', 'member-username', `@${u.username}`));
    list.append(li);
  }
  ui.membersList.replaceChildren(list);
  ui.membersSummary.dataset.users = String(m.users.length);
  ui.membersSummary.dataset.guests = String(m.guests);
  ui.membersSummary.textContent =
    `${plural(m.users.length, 'registered user', 'registered users')} and ` +
    `${plural(m.guests, 'guest', 'guests')} in this room.`;
}
