// Messages typed here until the server stored them: queued, sent in order, acked, failed and
// retried. A message is kept (in memory and in this tab's sessionStorage) until it is acked, and
// resent with the same client_id after a reconnect, so the server stores it once. Ephemeral ones
// are the exception (ephemeral.js says why): memory only, and dropped if in flight at a close.
//
// Pacing follows `welcome.limits` only: at most `send_burst` sends unanswered, and no faster than
// a `send_rate_per_s` token bucket of `send_burst` tokens. Nothing is sent before a welcome.

import { isIdentified, sendFrame, storeUnavailable, storeWorks } from './connection.js';
import { limit, utf8Bytes } from './limits.js';
import { KEYS, load, newClientId, remove, store } from './storage.js';
import { allRooms, currentRoom, getRoom, roomOf, sendJoin } from './rooms.js';
import { renderPending } from './messages.js';
import { toast } from './notices.js';

const AUTO_RETRY_MS = 2000;
const AUTO_RETRY_MAX = 5;
// Send errors worth retrying by themselves: nothing was stored and the cause passes.
const TRANSIENT_ERRORS = new Set(['rate_limited', 'unavailable', 'not_joined', 'internal']);

// The server counts tokens when a frame arrives, not when it left here: a frame held up on the
// way makes the next one look early. Pacing each send this much later than the rate allows keeps
// clear of that, and the slack adds up over a run of sends.
const PACING_SLACK_S = 0.1;

const bucket = { tokens: 0, at: 0, timer: 0 };

/** One message on its way: `status` is queued | sending | acked | failed. */
function makePending(roomName, clientId, topic, content, created, replyTo = null, ephemeral = false) {
  return {
    room: roomName, clientId, topic, content, created, replyTo, ephemeral,
    status: 'queued',
    error: null,
    offset: null,
    autoRetries: 0,
    retryTimer: 0,
  };
}

export function saveOutbox() {
  const outbox = [];
  for (const room of allRooms()) {
    for (const p of room.pending.values()) {
      if (p.status === 'acked') continue; // stored on the server already
      if (p.ephemeral) continue; // stale after a reload: never kept
      const { clientId, topic, content, created, replyTo } = p;
      outbox.push({ client_id: clientId, room: room.name, topic, content, created,
        reply_to: replyTo });
    }
  }
  store('tab', KEYS.outbox, outbox);
}

/**
 * This tab's unsent messages from before a reload. A tab without any adopts the outbox an older
 * version of the page kept in localStorage (shared by every tab), and removes it there, so only
 * one tab sends it. `ensureRoom(name)` returns the room a message goes to.
 */
export function restoreOutbox(ensureRoom, validRoom) {
  let outbox = load('tab', KEYS.outbox, null);
  if (!Array.isArray(outbox)) {
    outbox = load('shared', KEYS.outbox, []);
    remove('shared', KEYS.outbox);
  }
  for (const p of Array.isArray(outbox) ? outbox : []) {
    if (!p || typeof p.client_id !== 'string' || typeof p.content !== 'string') continue;
    if (!validRoom(p.room)) continue;
    const topic = typeof p.topic === 'string' ? p.topic : null;
    const created = Number(p.created) || Date.now();
    const replyTo = Number.isInteger(p.reply_to) ? p.reply_to : null;
    const pending = makePending(p.room, p.client_id, topic, p.content, created, replyTo);
    ensureRoom(p.room).pending.set(p.client_id, pending);
  }
  saveOutbox();
}

/** Queues a new message for `room` (a reply to `replyTo`; `ephemeral`: stored nowhere) and sends
 * it when it may. */
export function enqueue(room, topic, content, replyTo = null, ephemeral = false) {
  const p = makePending(room.name, newClientId(limit('max_client_id_chars')), topic, content,
    Date.now(), replyTo, ephemeral);
  room.pending.set(p.clientId, p);
  saveOutbox();
  flushPending(room);
}

/** A fresh welcome: the server's bucket for this connection starts full. */
export function resetPacing() {
  bucket.tokens = limit('send_burst') ?? 0;
  bucket.at = Date.now();
}

/** Takes a send token; when none is left, flushes every room again once one has refilled. */
function takeToken() {
  const serverRate = limit('send_rate_per_s');
  const burst = limit('send_burst');
  if (!serverRate || !burst) return true; // the server did not say: it answers rate_limited
  const rate = 1 / (1 / serverRate + PACING_SLACK_S);
  const now = Date.now();
  bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
  bucket.at = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return true;
  }
  clearTimeout(bucket.timer);
  const wait = Math.ceil(((1 - bucket.tokens) / rate) * 1000);
  bucket.timer = setTimeout(() => {
    for (const room of allRooms()) flushPending(room);
  }, wait);
  return false;
}

/** Sends queued messages in order while the connection, the room and the limits allow. */
export function flushPending(room) {
  if (!isIdentified() || !room.ready) return;
  const maxInFlight = limit('send_burst') ?? Infinity;
  const maxBytes = limit('max_content_bytes');
  let inFlight = 0;
  for (const p of room.pending.values()) if (p.status === 'sending') inFlight++;
  for (const p of room.pending.values()) {
    if (inFlight >= maxInFlight) break;
    if (p.status !== 'queued') continue;
    if (maxBytes && utf8Bytes(p.content) > maxBytes) {
      // Typed before the limits were known: the server would refuse it.
      failPending(room, p, 'invalid_field', `Too long: at most ${maxBytes} bytes.`);
      continue;
    }
    if (!takeToken()) break;
    const frame = { type: 'send', room: room.name, content: p.content, client_id: p.clientId };
    if (p.topic) frame.topic = p.topic;
    if (p.replyTo) frame.reply_to = p.replyTo;
    if (p.ephemeral) frame.ephemeral = true;
    if (!sendFrame(frame)) break;
    p.status = 'sending';
    inFlight++;
  }
}

/** Messages sent but not answered go back to the queue when the socket closes; ephemeral ones
 * are dropped instead (the server may have delivered them, and they would be stale). */
export function requeueSending(room) {
  let dropped = 0;
  for (const p of room.pending.values()) {
    if (p.status !== 'sending') continue;
    if (p.ephemeral) {
      room.pending.delete(p.clientId);
      dropped++;
    } else {
      p.status = 'queued';
    }
  }
  if (dropped) {
    toast(`The connection dropped while an ephemeral message to ${room.name} was on its way: ` +
      'it may not have arrived, and it is not sent again.', 'error');
  }
}

export function onAck(f) {
  storeWorks();
  const room = getRoom(f.room) || roomOf(f.client_id);
  const p = room && room.pending.get(f.client_id);
  if (!p) return;
  if (f.ephemeral === true) {
    // Delivered, and shown from the room's own `message` frame: nothing to keep.
    room.pending.delete(p.clientId);
    flushPending(room);
    if (room === currentRoom()) renderPending();
    return;
  }
  p.status = 'acked';
  p.offset = f.offset;
  if (room.offsets.has(f.offset)) room.pending.delete(p.clientId);
  saveOutbox();
  flushPending(room);
  if (room === currentRoom()) renderPending();
}

/** An `error` that names one of our client_ids; false when it is not ours. */
export function onSendError(f, text) {
  const room = roomOf(f.client_id);
  const p = room && room.pending.get(f.client_id);
  if (!p) return false;
  if (f.code === 'unavailable') storeUnavailable(text);
  failPending(room, p, f.code, text);
  return true;
}

/** After a join: acked messages that are in the history now are shown from there. */
export function dropAckedPending(room) {
  let changed = false;
  for (const p of room.pending.values()) {
    if (p.status === 'acked' && (room.offsets.has(p.offset) || p.offset <= room.last)) {
      room.pending.delete(p.clientId);
      changed = true;
    }
  }
  if (changed) saveOutbox();
}

function failPending(room, p, code, text) {
  p.status = 'failed';
  p.error = text;
  if (TRANSIENT_ERRORS.has(code) && p.autoRetries < AUTO_RETRY_MAX) {
    p.autoRetries++;
    clearTimeout(p.retryTimer);
    p.retryTimer = setTimeout(() => retryPending(room.name, p.clientId),
      AUTO_RETRY_MS * p.autoRetries);
    if (code === 'not_joined' && !room.joining) sendJoin(room);
  }
  flushPending(room);
  if (room === currentRoom()) renderPending();
}

/** Whether a failed message will be retried by itself. */
export const retriesByItself = (p) => Boolean(p.retryTimer) && p.autoRetries <= AUTO_RETRY_MAX;

/** Queues a failed message again; `byHand` restarts its automatic retries. */
export function retryPending(roomName, clientId, byHand) {
  const room = getRoom(roomName);
  const p = room && room.pending.get(clientId);
  if (!p || p.status !== 'failed') return;
  if (byHand) p.autoRetries = 0;
  clearTimeout(p.retryTimer);
  p.retryTimer = 0;
  p.status = 'queued';
  p.error = null;
  flushPending(room);
  if (room === currentRoom()) renderPending();
}

/** The account changed: what was typed under the old one is never sent under the new one. */
export function dropUnsent() {
  for (const room of allRooms()) {
    for (const p of room.pending.values()) clearTimeout(p.retryTimer);
    room.pending.clear();
  }
  saveOutbox();
  renderPending();
}

export function discardPending(roomName, clientId) {
  const room = getRoom(roomName);
  if (!room) return;
  const p = room.pending.get(clientId);
  if (p) clearTimeout(p.retryTimer);
  room.pending.delete(clientId);
  saveOutbox();
  if (room === currentRoom()) renderPending();
}

/** How many messages of a room are not stored yet. */
export const unsentCount = (room) =>
  [...room.pending.values()].filter((p) => p.status !== 'acked').length;
