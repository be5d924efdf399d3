// Timed rooms in the browser: the new-room form's two selects (clear interval, expiry after
// inactivity), the timer marker of a timed room in the room list, and the texts people see when a
// room's history is cleared or the room expires. The `cleared` and `expired` frames change rooms,
// so rooms.js handles them and asks this module what to say; this module imports only dom.js.

import { node } from './dom.js';

const timers = new Map(); // room name -> { clear, expire } in minutes, for timed rooms only

const minutes = (id) => Number(document.getElementById(id)?.value) || 0;

/** The `create_room` fields the form's selects ask for (0 = never). */
export function timerChoice() {
  return {
    clear_every_mins: minutes('clear-every-select'),
    expire_after_mins: minutes('expire-after-select'),
  };
}

/** Puts the selects back to "never" (after a room was created). */
export function resetTimerChoice() {
  for (const id of ['clear-every-select', 'expire-after-select']) {
    const select = document.getElementById(id);
    if (select) select.value = '0';
  }
}

/** Remembers each listed room's timers (from a `rooms` frame). */
export function rememberTimers(list) {
  timers.clear();
  for (const r of list) {
    if (!r || typeof r.name !== 'string') continue;
    const clear = Number(r.clear_every_mins) || 0;
    const expire = Number(r.expire_after_mins) || 0;
    if (clear || expire) timers.set(r.name, { clear, expire });
  }
}

/** What a room's timers do, in words; '' for a room without. */
export function timerText(name) {
  const t = timers.get(name);
  if (!t) return '';
  const parts = [];
  if (t.clear) parts.push(`history cleared every ${t.clear} min`);
  if (t.expire) parts.push(`deleted after ${t.expire} min without messages`);
  return parts.join(', ');
}

/** The room list's marker of a timed room, or null. */
export function timerMark(name) {
  const text = timerText(name);
  if (!text) return null;
  const mark = node('span', 'room-timer');
  mark.dataset.timer = 'true';
  mark.title = text;
  const icon = node('span', '', '⏱');
  icon.setAttribute('aria-hidden', 'true');
  mark.append(icon, node('span', 'visually-hidden', ` (${text})`));
  return mark;
}

/** The notice left in a room's log where its history was cleared. */
export const CLEARED_NOTICE = 'History cleared: earlier messages were deleted.';

/** The notice shown when a room expired. */
export const expiredNotice = (room) => `Room #${room} expired: nobody wrote for a while, so it was deleted.`;
