// The one WebSocket to /ws (docs/protocol.md, version 1): connecting with backoff, liveness pings,
// frame dispatch, and the connection's state as a person sees it, including "degraded" while the
// server's store is down (a `health` frame with ready:false, or a send answered `unavailable`,
// until a later ack or `health` ready:true).
//
// It knows nothing about rooms or messages: feature modules register frame handlers with
// `handle()` and hear about opens, closes and state changes through `on()`.

import { renderStatus, toast } from './notices.js';

const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 15000;
const CONNECT_TIMEOUT_MS = 10000;
const PING_EVERY_MS = 20000;
// The server answers every ping, so this much silence means a half-open socket.
const SILENCE_LIMIT_MS = 45000;
const CLOSE_REASONS = new Map([
  [1002, 'The server closed the connection: it received a malformed WebSocket frame.'],
  [1007, 'The server closed the connection: it received text that was not valid UTF-8.'],
  [1008, 'The server closed the connection after too many invalid requests.'],
  [1009, 'The server closed the connection: a frame was too large.'],
  [1011, 'The server could not catch this tab up on missed messages. Reconnecting…'],
  [4008, 'The connection fell behind and was reset. Catching up…'],
  // 4001 (session ended) is told by the `session_ended` error that comes before it.
]);

const conn = {
  ws: null,
  state: 'connecting', // connecting | online | reconnecting | offline
  attempt: 0,
  timer: 0,
  retryAt: 0,
  openedAt: 0,
  lastSeen: 0,
  lastPing: 0,
  pingId: 0,
  everOpened: false,
  identified: false, // welcome received on this socket
  awaitingHello: false,
  healthReason: null, // set while the server says it is not ready
  storeError: null, // set from an `unavailable` error until the next ack
};

const handlers = new Map();
const listeners = { open: [], close: [], state: [] };

/** Routes server frames of one type to `fn`; unknown types are ignored (protocol.md). */
export function handle(type, fn) {
  handlers.set(type, fn);
}

/** `open` (socket open), `close` (socket gone, with the close code), `state` (status changed). */
export function on(event, fn) {
  listeners[event].push(fn);
}

function emit(event, ...args) {
  for (const fn of listeners[event]) fn(...args);
}

/** Sends one frame on the open socket; false when there is none. */
export function sendFrame(frame) {
  const ws = conn.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(frame));
  return true;
}

export const isOpen = () => Boolean(conn.ws) && conn.ws.readyState === WebSocket.OPEN;
/** A `welcome` arrived on this socket: the server takes requests and its limits are known. */
export const isIdentified = () => conn.identified;
export const isAwaitingHello = () => conn.awaitingHello;
export const setAwaitingHello = (value) => {
  conn.awaitingHello = value;
};

/** The state a person sees: `online` becomes `degraded` while the store is known to be down. */
export function connState() {
  if (conn.state === 'online' && (conn.healthReason !== null || conn.storeError !== null)) {
    return 'degraded';
  }
  return conn.state;
}

function retryIn() {
  const waiting = !conn.ws && conn.timer && conn.retryAt > Date.now();
  return waiting ? Math.max(0, Math.ceil((conn.retryAt - Date.now()) / 1000)) : 0;
}

function render() {
  const reason = conn.healthReason ?? conn.storeError;
  renderStatus({ state: connState(), reason, retryIn: retryIn() });
}

function setState(state) {
  conn.state = state;
  render();
  emit('state', connState());
}

function healthChanged(change) {
  const before = connState();
  change();
  render();
  if (connState() !== before) emit('state', connState());
}

/** `health` frame: ready:false says the server cannot serve sends now, ready:true it recovered. */
function onHealth(f) {
  healthChanged(() => {
    conn.healthReason = f.ready === false ? (typeof f.reason === 'string' ? f.reason : '') : null;
    if (f.ready !== false) conn.storeError = null;
  });
}

/** A send was answered `unavailable`: degraded until the next ack. */
export function storeUnavailable(reason) {
  healthChanged(() => {
    conn.storeError = reason || '';
  });
}

/** An ack arrived: the store took a message, so it works. */
export function storeWorks() {
  if (conn.storeError !== null) healthChanged(() => {
    conn.storeError = null;
  });
}

/** `welcome`: requests are accepted now. */
export function welcomed() {
  conn.identified = true;
  conn.awaitingHello = false;
  conn.attempt = 0;
  setState('online');
}

function wsUrl() {
  return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
}

function connect() {
  clearTimeout(conn.timer);
  conn.timer = 0;
  if (conn.ws) return;
  setState(conn.everOpened ? 'reconnecting' : 'connecting');
  let ws;
  try {
    ws = new WebSocket(wsUrl());
  } catch {
    scheduleReconnect();
    return;
  }
  conn.ws = ws;
  conn.openedAt = Date.now();
  ws.addEventListener('open', () => onOpen(ws));
  ws.addEventListener('message', (event) => onFrame(ws, event));
  ws.addEventListener('close', (event) => onClosed(ws, event.code));
}

function onOpen(ws) {
  if (ws !== conn.ws) return;
  conn.everOpened = true;
  conn.lastSeen = conn.lastPing = Date.now();
  conn.healthReason = null; // a new server (maybe another replica) says so again if still true
  setState('online');
  emit('open');
}

function onClosed(ws, code) {
  if (ws !== conn.ws) return;
  conn.ws = null;
  conn.identified = false;
  conn.awaitingHello = false;
  const reason = CLOSE_REASONS.get(code);
  if (reason) toast(reason, [1002, 1007, 1008, 1009].includes(code) ? 'error' : 'info');
  scheduleReconnect();
  emit('close', code);
}

function onFrame(ws, event) {
  if (ws !== conn.ws) return;
  conn.lastSeen = Date.now();
  let frame;
  try {
    frame = JSON.parse(event.data);
  } catch {
    return;
  }
  if (!frame || typeof frame.type !== 'string') return;
  const handler = handlers.get(frame.type);
  if (handler) handler(frame); // unknown types: newer server, ignore (protocol.md)
}

/** Gives up on a socket that stopped answering, without waiting for the browser to notice. */
function dropSocket() {
  const ws = conn.ws;
  if (!ws) return;
  onClosed(ws, 4000);
  try {
    ws.close();
  } catch {
    // already closing
  }
}

function scheduleReconnect() {
  clearTimeout(conn.timer);
  // Exponential backoff with "equal jitter": never hammer a restarting server in lockstep
  // with every other client, never wait longer than BACKOFF_MAX_MS.
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** conn.attempt);
  const delay = ceiling / 2 + (Math.random() * ceiling) / 2;
  conn.attempt = Math.min(conn.attempt + 1, 16);
  conn.retryAt = Date.now() + delay;
  conn.timer = setTimeout(connect, delay);
  setState(navigator.onLine === false ? 'offline' : 'reconnecting');
}

/**
 * Drops the socket and opens a new one at once, so the server reads the session cookie again
 * (after a sign-in or sign-out). The old socket's frames are ignored from here on.
 */
export function restart() {
  const ws = conn.ws;
  if (ws) {
    conn.ws = null;
    conn.identified = false;
    conn.awaitingHello = false;
    emit('close', 1000);
    try {
      ws.close(1000);
    } catch {
      // already closing
    }
  }
  conn.attempt = 0;
  connect();
}

/** Tries again at once (the "Retry now" button, coming back online or to the tab). */
export function reconnectNow() {
  if (conn.ws) return;
  conn.attempt = 0;
  connect();
}

/** Once a second: liveness pings, dead-socket detection and the reconnect countdown. */
function tick() {
  const now = Date.now();
  const ws = conn.ws;
  if (ws && ws.readyState === WebSocket.CONNECTING && now - conn.openedAt > CONNECT_TIMEOUT_MS) {
    dropSocket();
  } else if (ws && ws.readyState === WebSocket.OPEN) {
    if (now - conn.lastSeen > SILENCE_LIMIT_MS) {
      dropSocket();
    } else if (now - conn.lastPing >= PING_EVERY_MS) {
      conn.lastPing = now;
      sendFrame({ type: 'ping', id: ++conn.pingId });
    }
  }
  render();
}

/** Opens the first socket and keeps it alive from then on. */
export function start() {
  handle('health', onHealth);
  handle('pong', () => {});
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden && !conn.ws) reconnectNow();
  });
  window.addEventListener('online', reconnectNow);
  window.addEventListener('offline', () => {
    if (!conn.ws) setState('offline');
  });
  connect();
  setInterval(tick, 1000);
}
