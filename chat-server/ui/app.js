// chatapp browser client. It speaks docs/protocol.md (version 1) over one WebSocket at /ws.
//
// No build step and no dependencies; it runs under the server's strict Content-Security-Policy
// (no inline script or style, no eval). User text reaches the DOM only through textContent and
// text nodes, never as HTML.
//
// What it guarantees: a message typed here is kept (in memory and in localStorage) until the server
// acks it, and is resent with the same client_id after a reconnect, so it is stored once. Each room
// keeps the highest offset it has seen; a reconnect rejoins with `since`, and every message is keyed
// by its offset, so nothing is shown twice and a gap is either filled or announced.
//
// Stable hooks for tests (ids unless noted):
//   #conn-state        connection state, data-state = connecting | online | reconnecting | offline
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
//     .message-name, .message-time (<time datetime=...>), .message-topic, .message-content
//     .notice          gap / reset notices; .retry-button, .discard-button on failed messages
//   #jump-button       "New messages" when scrolled up
//   #composer-form, #topic-input, #composer-input, #send-button, #composer-counter, #composer-error
//   #menu-button, #sidebar   the phone drawer toggle and the drawer
//   #toasts            error and info toasts (.toast)
'use strict';

(() => {
  const DEFAULT_LIMITS = Object.freeze({
    max_content_bytes: 4096,
    max_name_chars: 64,
    max_topic_chars: 64,
    send_burst: 10,
  });
  const KEYS = Object.freeze({
    identity: 'chatapp.identity',
    rooms: 'chatapp.rooms',
    outbox: 'chatapp.outbox',
  });
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const CONNECT_TIMEOUT_MS = 10000;
  const PING_EVERY_MS = 20000;
  // The server answers every ping, so this much silence means a half-open socket.
  const SILENCE_LIMIT_MS = 45000;
  const GROUP_WINDOW_MS = 5 * 60 * 1000;
  const AUTO_RETRY_MS = 2000;
  const AUTO_RETRY_MAX = 5;
  // Send errors worth retrying by themselves: nothing was stored and the cause passes.
  const TRANSIENT_ERRORS = new Set(['rate_limited', 'unavailable', 'not_joined', 'internal']);
  const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
  const CONTROL = /\p{Cc}/u;
  const CONTROL_BUT_NEWLINE_TAB = /[^\P{Cc}\n\t]/u;
  const CLOSE_REASONS = new Map([
    [1008, 'The server closed the connection after too many invalid requests.'],
    [1009, 'The server closed the connection: a frame was too large.'],
    [1011, 'The server hit an unexpected error. Reconnecting…'],
    [4008, 'The connection fell behind and was reset. Catching up…'],
  ]);

  const $ = (id) => document.getElementById(id);
  const ui = {
    menuButton: $('menu-button'),
    menuUnread: $('menu-unread'),
    connState: $('conn-state'),
    connText: $('conn-text'),
    connDetail: $('conn-detail'),
    reconnectButton: $('reconnect-button'),
    identityButton: $('identity-button'),
    identityAvatar: $('identity-avatar'),
    identityName: $('identity-name'),
    sidebar: $('sidebar'),
    backdrop: $('backdrop'),
    roomList: $('room-list'),
    newRoomForm: $('new-room-form'),
    newRoomInput: $('new-room-input'),
    newRoomError: $('new-room-error'),
    helloPanel: $('hello-panel'),
    helloForm: $('hello-form'),
    nameInput: $('name-input'),
    nameError: $('name-error'),
    emailInput: $('email-input'),
    emailError: $('email-error'),
    helloCancel: $('hello-cancel'),
    roomView: $('room-view'),
    roomTitle: $('room-title'),
    roomOnline: $('room-online'),
    leaveButton: $('leave-button'),
    messages: $('messages'),
    stream: $('message-stream'),
    pendingStream: $('pending-stream'),
    jumpButton: $('jump-button'),
    composerForm: $('composer-form'),
    topicInput: $('topic-input'),
    composerInput: $('composer-input'),
    sendButton: $('send-button'),
    composerHint: $('composer-hint'),
    composerError: $('composer-error'),
    composerCounter: $('composer-counter'),
    emptyView: $('empty-view'),
    emptyRoomsButton: $('empty-rooms-button'),
    toasts: $('toasts'),
  };

  // ---- state ---------------------------------------------------------------------------------

  let limits = { ...DEFAULT_LIMITS };
  let identity = null; // {name, email}; email '' when none
  const rooms = new Map(); // joined rooms by name
  let roomsOnline = new Map(); // every room the server lists -> online count
  let current = null; // name of the open room
  let pendingCreate = null; // room name of an outstanding create_room
  let hiddenUnread = 0; // messages that arrived in the open room while the tab was hidden
  const conn = {
    ws: null,
    state: 'connecting',
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
  };
  // What the open room's DOM currently ends with, so a new message can be appended in place.
  const view = { room: null, last: null };

  /** A joined room: its history (by offset, within one epoch) and its unconfirmed sends. */
  function makeRoom(name) {
    return {
      name,
      epoch: null,
      last: 0, // highest offset seen in `epoch`
      msgs: [], // confirmed messages, ascending offset
      offsets: new Set(),
      notices: [], // {after: offset, text}
      pending: new Map(), // client_id -> pending send, in creation order
      ready: false, // `joined` received on this socket
      joining: false,
      buffer: [], // live messages that arrived while a join was outstanding
      online: null,
      unread: 0,
      topic: '',
      draft: '',
    };
  }

  // ---- small helpers -------------------------------------------------------------------------

  const encoder = new TextEncoder();
  const utf8Bytes = (s) => encoder.encode(s).length;
  const chars = (s) => [...s].length;

  function load(key, fallback) {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  }

  function store(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
    } catch {
      // Storage disabled or full: the page still works, it just forgets on reload.
    }
  }

  function newClientId() {
    if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    // randomUUID needs a secure context; plain http on a LAN address still has getRandomValues.
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function node(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function hashHue(s) {
    let h = 0;
    for (const c of s) h = (h * 31 + c.codePointAt(0)) >>> 0;
    return h % 8;
  }

  function avatarInto(e, name) {
    e.textContent = (name.trim()[0] || '?').toUpperCase();
    e.dataset.hue = String(hashHue(name));
  }

  // ---- validation (the server's rules, docs/protocol.md "Validation") -------------------------

  function validateName(raw) {
    const name = raw.trim();
    if (!name) return { error: 'Please enter a name.' };
    if (chars(name) > limits.max_name_chars) {
      return { error: `A name has at most ${limits.max_name_chars} characters.` };
    }
    if (CONTROL.test(name)) return { error: 'A name cannot contain control characters.' };
    return { value: name };
  }

  function validateEmail(raw) {
    const email = raw.trim();
    if (!email) return { value: '' };
    if (chars(email) > 254) return { error: 'An email has at most 254 characters.' };
    if (/\s/u.test(email) || CONTROL.test(email)) {
      return { error: 'An email cannot contain spaces.' };
    }
    const parts = email.split('@');
    if (parts.length !== 2 || !parts[0] || !parts[1].includes('.')) {
      return { error: 'Use the form name@example.com.' };
    }
    return { value: email };
  }

  function validateTopic(raw) {
    const topic = raw.trim();
    if (!topic) return { value: null };
    if (chars(topic) > limits.max_topic_chars) {
      return { error: `A topic has at most ${limits.max_topic_chars} characters.` };
    }
    if (CONTROL.test(topic)) return { error: 'A topic cannot contain control characters.' };
    return { value: topic };
  }

  function validateContent(raw) {
    if (!raw.trim()) return { error: 'empty' };
    const bytes = utf8Bytes(raw);
    if (bytes > limits.max_content_bytes) {
      return { error: `Too long: ${bytes} of at most ${limits.max_content_bytes} bytes.` };
    }
    if (CONTROL_BUT_NEWLINE_TAB.test(raw)) {
      return { error: 'The message contains control characters.' };
    }
    return { value: raw };
  }

  function validateRoomName(name) {
    if (ROOM_NAME.test(name)) return null;
    return 'Use 1 to 32 of a-z, 0-9, - and _, starting with a letter or digit.';
  }

  // ---- persistence ---------------------------------------------------------------------------

  function saveRooms() {
    const topics = {};
    for (const room of rooms.values()) if (room.topic) topics[room.name] = room.topic;
    store(KEYS.rooms, { joined: [...rooms.keys()], current, topics });
  }

  function saveOutbox() {
    const outbox = [];
    for (const room of rooms.values()) {
      for (const p of room.pending.values()) {
        if (p.status === 'acked') continue; // stored on the server already
        const { clientId, topic, content, created } = p;
        outbox.push({ client_id: clientId, room: room.name, topic, content, created });
      }
    }
    store(KEYS.outbox, outbox);
  }

  function restore() {
    const saved = load(KEYS.identity, null);
    if (saved && typeof saved.name === 'string') {
      const name = validateName(saved.name);
      const email = validateEmail(typeof saved.email === 'string' ? saved.email : '');
      if (name.value && email.value !== undefined) identity = { name: name.value, email: email.value };
    }
    const savedRooms = load(KEYS.rooms, null) || {};
    const joined = Array.isArray(savedRooms.joined) ? savedRooms.joined : ['general'];
    const topics = savedRooms.topics && typeof savedRooms.topics === 'object' ? savedRooms.topics : {};
    for (const name of joined) {
      if (typeof name !== 'string' || validateRoomName(name)) continue;
      const room = makeRoom(name);
      if (typeof topics[name] === 'string') room.topic = topics[name];
      rooms.set(name, room);
    }
    const outbox = load(KEYS.outbox, []);
    for (const p of Array.isArray(outbox) ? outbox : []) {
      if (!p || typeof p.client_id !== 'string' || typeof p.content !== 'string') continue;
      if (typeof p.room !== 'string' || validateRoomName(p.room)) continue;
      if (!rooms.has(p.room)) rooms.set(p.room, makeRoom(p.room));
      const topic = typeof p.topic === 'string' ? p.topic : null;
      rooms.get(p.room).pending.set(p.client_id, makePending(p.room, p.client_id, topic, p.content,
        Number(p.created) || Date.now()));
    }
    const savedCurrent = savedRooms.current;
    current = rooms.has(savedCurrent) ? savedCurrent : (rooms.keys().next().value ?? null);
  }

  // ---- connection ----------------------------------------------------------------------------

  function wsUrl() {
    return `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
  }

  function sendFrame(frame) {
    const ws = conn.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    clearTimeout(conn.timer);
    conn.timer = 0;
    if (conn.ws) return;
    setConnState(conn.everOpened ? 'reconnecting' : 'connecting');
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
    setConnState('online');
    if (identity) sendHello();
    else sendFrame({ type: 'rooms' });
  }

  function onClosed(ws, code) {
    if (ws !== conn.ws) return;
    conn.ws = null;
    conn.identified = false;
    conn.awaitingHello = false;
    for (const room of rooms.values()) {
      room.ready = false;
      room.joining = false;
      room.buffer = []; // the rejoin with `since` brings these back
      for (const p of room.pending.values()) if (p.status === 'sending') p.status = 'queued';
    }
    ui.messages.dataset.ready = 'false';
    const reason = CLOSE_REASONS.get(code);
    if (reason) toast(reason, code === 1008 || code === 1009 ? 'error' : 'info');
    scheduleReconnect();
    renderPending();
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
    setConnState(navigator.onLine === false ? 'offline' : 'reconnecting');
  }

  function reconnectNow() {
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
    renderConnDetail();
  }

  function sendHello() {
    const frame = { type: 'hello', name: identity.name };
    if (identity.email) frame.email = identity.email;
    if (sendFrame(frame)) conn.awaitingHello = true;
  }

  function sendJoin(room) {
    const frame = { type: 'join', room: room.name };
    if (room.epoch !== null) frame.since = { epoch: room.epoch, offset: room.last };
    if (sendFrame(frame)) {
      room.joining = true;
      room.buffer = [];
    }
  }

  // ---- server frames -------------------------------------------------------------------------

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
    const handler = HANDLERS[frame.type];
    if (handler) handler(frame); // unknown types: newer server, ignore (protocol.md)
  }

  const HANDLERS = {
    welcome: onWelcome,
    rooms: onRooms,
    joined: onJoined,
    left: onLeft,
    message: onMessage,
    ack: onAck,
    room_created: onRoomCreated,
    resync: onResync,
    error: onError,
    pong: () => {},
  };

  function onWelcome(f) {
    conn.identified = true;
    conn.awaitingHello = false;
    conn.attempt = 0;
    if (f.limits && typeof f.limits === 'object') limits = { ...DEFAULT_LIMITS, ...f.limits };
    if (typeof f.name === 'string') {
      identity = { name: f.name, email: typeof f.email === 'string' ? f.email : '' };
      store(KEYS.identity, identity);
    }
    hideHello();
    for (const room of rooms.values()) if (!room.ready && !room.joining) sendJoin(room);
    setConnState('online');
    renderAll();
  }

  function onRooms(f) {
    if (!Array.isArray(f.rooms)) return;
    roomsOnline = new Map();
    for (const r of f.rooms) {
      if (r && typeof r.name === 'string') roomsOnline.set(r.name, Number(r.online) || 0);
    }
    renderSidebar();
    renderRoomHeader();
  }

  function onJoined(f) {
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

  function onLeft(f) {
    const room = rooms.get(f.room);
    // Joining again after a leave: this `left` answers the old leave.
    if (!room || room.joining) return;
    removeRoom(f.room);
  }

  function onMessage(f) {
    const room = rooms.get(f.room);
    if (!room) return;
    if (room.joining) {
      room.buffer.push(f);
      return;
    }
    insertMessage(room, f, true);
  }

  function onAck(f) {
    const room = rooms.get(f.room) || roomOfPending(f.client_id);
    const p = room && room.pending.get(f.client_id);
    if (!p) return;
    p.status = 'acked';
    p.offset = f.offset;
    if (room.offsets.has(f.offset)) room.pending.delete(p.clientId);
    saveOutbox();
    flushPending(room);
    if (room.name === current) renderPending();
  }

  function onRoomCreated(f) {
    if (f.room !== pendingCreate) return;
    pendingCreate = null;
    ui.newRoomInput.value = '';
    openRoom(f.room);
  }

  function onResync(f) {
    const room = rooms.get(f.room);
    if (!room) return;
    // Offsets restart in the new epoch: the old ones mean nothing now, so take the fresh page.
    resetHistory(room);
    room.epoch = null;
    addNotice(room, "The server lost this room's history. Earlier messages are gone.");
    sendJoin(room);
    if (room.name === current) renderMessages(true);
  }

  function onError(f) {
    const text = typeof f.message === 'string' && f.message ? f.message : String(f.code);
    if (typeof f.client_id === 'string') {
      const room = roomOfPending(f.client_id);
      if (room) {
        failPending(room, room.pending.get(f.client_id), f.code, text);
        return;
      }
    }
    if (isHelloError(f)) {
      showHello(Boolean(identity));
      fieldError(f.field === 'email' ? ui.emailError : ui.nameError, text);
      return;
    }
    if (isCreateError(f)) {
      pendingCreate = null;
      fieldError(ui.newRoomError, text);
      return;
    }
    switch (f.code) {
      case 'not_identified':
        if (identity) sendHello();
        else showHello(false);
        return;
      case 'no_such_room':
        if (typeof f.room === 'string' && rooms.has(f.room)) {
          removeRoom(f.room);
          toast(`Room #${f.room} does not exist any more.`, 'error');
          return;
        }
        break;
      case 'not_joined':
        if (typeof f.room === 'string' && rooms.has(f.room)) {
          sendJoin(rooms.get(f.room));
          return;
        }
        break;
      default:
        break;
    }
    toast(text, 'error');
  }

  // The protocol does not say which request an error answers; these follow what is outstanding.
  function isHelloError(f) {
    return (conn.awaitingHello || !conn.identified) && f.code === 'invalid_field' &&
      (f.field === 'name' || f.field === 'email') && !(pendingCreate && f.field === 'name');
  }

  function isCreateError(f) {
    if (!pendingCreate) return false;
    return f.code === 'room_exists' || f.code === 'too_many_rooms' ||
      (f.code === 'invalid_field' && f.field === 'name');
  }

  // ---- rooms and history ---------------------------------------------------------------------

  function resetHistory(room) {
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
    if (live && room.epoch !== null && m.offset > room.last + 1) {
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
      renderTitle();
    }
    if (room.name === current) showNewMessage(room, m, i === msgs.length - 1, mine, wasMine);
    return true;
  }

  function dropAckedPending(room) {
    let changed = false;
    for (const p of room.pending.values()) {
      if (p.status === 'acked' && (room.offsets.has(p.offset) || p.offset <= room.last)) {
        room.pending.delete(p.clientId);
        changed = true;
      }
    }
    if (changed) saveOutbox();
  }

  function isMine(m) {
    return Boolean(identity) && m.name === identity.name && (m.email || '') === identity.email;
  }

  function roomOfPending(clientId) {
    for (const room of rooms.values()) if (room.pending.has(clientId)) return room;
    return null;
  }

  function openRoom(name) {
    if (!rooms.has(name)) {
      const room = makeRoom(name);
      rooms.set(name, room);
      if (conn.identified) sendJoin(room);
    }
    switchTo(name);
  }

  function leaveRoom(name) {
    const room = rooms.get(name);
    if (!room) return;
    const unsent = [...room.pending.values()].filter((p) => p.status !== 'acked').length;
    if (unsent && !window.confirm(`${unsent} message(s) in #${name} are not sent yet. Leave anyway?`)) {
      return;
    }
    if (conn.identified) sendFrame({ type: 'leave', room: name });
    removeRoom(name);
  }

  function removeRoom(name) {
    rooms.delete(name);
    saveRooms();
    saveOutbox();
    if (current === name) switchTo(rooms.keys().next().value ?? null);
    else renderSidebar();
  }

  function switchTo(name) {
    const old = rooms.get(current);
    if (old) {
      old.draft = ui.composerInput.value;
      old.topic = ui.topicInput.value;
    }
    current = name;
    const room = rooms.get(name);
    if (room) {
      room.unread = 0;
      ui.composerInput.value = room.draft;
      ui.topicInput.value = room.topic;
    }
    saveRooms();
    closeDrawer();
    renderAll();
    if (room && !coarsePointerOnly()) ui.composerInput.focus();
  }

  // ---- sending -------------------------------------------------------------------------------

  function makePending(roomName, clientId, topic, content, created) {
    return {
      room: roomName, clientId, topic, content, created,
      status: 'queued', // queued | sending | acked | failed
      error: null,
      offset: null,
      autoRetries: 0,
      retryTimer: 0,
    };
  }

  function submitComposer() {
    const room = rooms.get(current);
    if (!room || !identity) return;
    const content = validateContent(ui.composerInput.value);
    const topic = validateTopic(ui.topicInput.value);
    if (content.error || topic.error) {
      renderComposer(true);
      return;
    }
    const p = makePending(room.name, newClientId(), topic.value, content.value, Date.now());
    room.pending.set(p.clientId, p);
    room.topic = ui.topicInput.value.trim();
    saveOutbox();
    saveRooms();
    ui.composerInput.value = '';
    room.draft = '';
    flushPending(room);
    renderPending();
    scrollToBottom();
    renderComposer(false);
  }

  /** Sends queued messages in order, keeping at most `send_burst` unacknowledged on the wire. */
  function flushPending(room) {
    if (!conn.identified || !room.ready) return;
    const maxInFlight = Math.max(1, Number(limits.send_burst) || DEFAULT_LIMITS.send_burst);
    let inFlight = 0;
    for (const p of room.pending.values()) if (p.status === 'sending') inFlight++;
    for (const p of room.pending.values()) {
      if (inFlight >= maxInFlight) break;
      if (p.status !== 'queued') continue;
      const frame = { type: 'send', room: room.name, content: p.content, client_id: p.clientId };
      if (p.topic) frame.topic = p.topic;
      if (!sendFrame(frame)) break;
      p.status = 'sending';
      inFlight++;
    }
  }

  function failPending(room, p, code, text) {
    p.status = 'failed';
    p.error = text;
    if (TRANSIENT_ERRORS.has(code) && p.autoRetries < AUTO_RETRY_MAX) {
      p.autoRetries++;
      clearTimeout(p.retryTimer);
      p.retryTimer = setTimeout(() => retryPending(room.name, p.clientId), AUTO_RETRY_MS * p.autoRetries);
      if (code === 'not_joined' && !room.joining) sendJoin(room);
    }
    flushPending(room);
    if (room.name === current) renderPending();
  }

  function retryPending(roomName, clientId) {
    const room = rooms.get(roomName);
    const p = room && room.pending.get(clientId);
    if (!p || p.status !== 'failed') return;
    clearTimeout(p.retryTimer);
    p.status = 'queued';
    p.error = null;
    flushPending(room);
    if (room.name === current) renderPending();
  }

  function discardPending(roomName, clientId) {
    const room = rooms.get(roomName);
    if (!room) return;
    const p = room.pending.get(clientId);
    if (p) clearTimeout(p.retryTimer);
    room.pending.delete(clientId);
    saveOutbox();
    if (room.name === current) renderPending();
  }

  // ---- identity ------------------------------------------------------------------------------

  function showHello(editing) {
    ui.nameInput.value = identity ? identity.name : ui.nameInput.value;
    ui.emailInput.value = identity ? identity.email : ui.emailInput.value;
    ui.helloCancel.hidden = !editing;
    ui.helloPanel.hidden = false;
    ui.roomView.hidden = true;
    ui.emptyView.hidden = true;
    ui.nameInput.focus();
  }

  function hideHello() {
    ui.helloPanel.hidden = true;
    fieldError(ui.nameError, null);
    fieldError(ui.emailError, null);
    renderMain();
  }

  function submitHello() {
    const name = validateName(ui.nameInput.value);
    const email = validateEmail(ui.emailInput.value);
    fieldError(ui.nameError, name.error || null);
    fieldError(ui.emailError, email.error || null);
    if (name.error) ui.nameInput.focus();
    else if (email.error) ui.emailInput.focus();
    if (name.error || email.error) return;
    identity = { name: name.value, email: email.value };
    store(KEYS.identity, identity);
    if (conn.ws && conn.ws.readyState === WebSocket.OPEN) sendHello();
    hideHello();
    renderAll();
  }

  function fieldError(e, text) {
    e.textContent = text || '';
    e.hidden = !text;
    const input = document.querySelector(`[aria-describedby~="${e.id}"]`);
    if (input) input.setAttribute('aria-invalid', text ? 'true' : 'false');
  }

  // ---- rendering -----------------------------------------------------------------------------

  function renderAll() {
    renderIdentity();
    renderSidebar();
    renderMain();
    renderTitle();
  }

  function setConnState(state) {
    conn.state = state;
    ui.connState.dataset.state = state;
    ui.connText.textContent = {
      connecting: 'Connecting…',
      online: 'Online',
      reconnecting: 'Reconnecting…',
      offline: 'Offline',
    }[state];
    document.body.dataset.conn = state;
    renderConnDetail();
    renderComposer(false);
    renderPending();
  }

  function renderConnDetail() {
    const waiting = !conn.ws && conn.timer && conn.retryAt > Date.now();
    const seconds = Math.ceil((conn.retryAt - Date.now()) / 1000);
    ui.connDetail.textContent = waiting && seconds > 0 ? `in ${seconds}s` : '';
    ui.reconnectButton.hidden = !waiting;
  }

  function renderIdentity() {
    ui.identityButton.hidden = !identity;
    if (!identity) return;
    ui.identityName.textContent = identity.name;
    avatarInto(ui.identityAvatar, identity.name);
    ui.identityButton.title = identity.email
      ? `${identity.name} <${identity.email}>. Change your name or email`
      : `${identity.name}. Change your name or email`;
  }

  function renderSidebar() {
    // Rebuilding the list must not throw a keyboard user's focus away.
    const active = document.activeElement;
    const focused = ui.roomList.contains(active) ? active.dataset.room : undefined;
    const names = [...new Set([...roomsOnline.keys(), ...rooms.keys()])].sort();
    const list = document.createDocumentFragment();
    let totalUnread = 0;
    for (const name of names) {
      const room = rooms.get(name);
      const li = node('li');
      const button = node('button', 'room-button');
      button.type = 'button';
      button.dataset.room = name;
      if (room) button.dataset.joined = 'true';
      if (name === current) button.setAttribute('aria-current', 'page');
      button.append(node('span', 'room-name', name));
      if (!room) button.append(node('span', 'visually-hidden', ' (not joined)'));
      if (room && room.unread) {
        totalUnread += room.unread;
        const badge = node('span', 'room-unread', String(room.unread));
        badge.append(node('span', 'visually-hidden', ' unread'));
        button.append(badge);
      }
      const online = roomsOnline.has(name) ? roomsOnline.get(name) : (room && room.online);
      const count = node('span', 'room-online', String(online ?? 0));
      count.title = `${online ?? 0} online`;
      count.append(node('span', 'visually-hidden', ' online'));
      button.append(count);
      li.append(button);
      list.append(li);
    }
    ui.roomList.replaceChildren(list);
    ui.menuUnread.hidden = totalUnread === 0;
    ui.menuUnread.textContent = String(totalUnread);
    if (focused) {
      const again = ui.roomList.querySelector(`[data-room="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
  }

  function renderMain() {
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
    ui.roomTitle.textContent = room.name;
    const online = roomsOnline.has(room.name) ? roomsOnline.get(room.name) : room.online;
    ui.roomOnline.textContent = online === null || online === undefined ? '' : `${online} online`;
    ui.composerInput.placeholder = `Message #${room.name}`;
  }

  function renderTitle() {
    let unread = hiddenUnread;
    for (const room of rooms.values()) unread += room.unread;
    const where = current ? `#${current} · ` : '';
    document.title = `${unread ? `(${unread}) ` : ''}${where}chatapp`;
  }

  function nearBottom() {
    const m = ui.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < 80;
  }

  function scrollToBottom() {
    ui.messages.scrollTop = ui.messages.scrollHeight;
    ui.jumpButton.hidden = true;
  }

  /** Rebuilds the open room's log; `stick` scrolls to the end. */
  function renderMessages(stick) {
    const room = rooms.get(current);
    if (!room) return;
    const wasNear = nearBottom();
    ui.messages.setAttribute('aria-busy', 'true');
    const out = document.createDocumentFragment();
    const notices = new Map();
    for (const n of room.notices) {
      if (!notices.has(n.after)) notices.set(n.after, []);
      notices.get(n.after).push(n);
    }
    const first = room.msgs.length ? room.msgs[0].offset : Infinity;
    for (const [after, list] of notices) {
      if (after < first) for (const n of list) out.append(node('p', 'notice', n.text));
    }
    let prev = null;
    for (const m of room.msgs) {
      appendMessageNodes(out, m, prev);
      prev = m;
      for (const n of notices.get(m.offset) || []) {
        out.append(node('p', 'notice', n.text));
        prev = null;
      }
    }
    if (!room.msgs.length) {
      out.append(node('p', 'empty-log', room.ready ? 'No messages yet. Say hello!' : 'Loading…'));
    }
    ui.stream.replaceChildren(out);
    ui.messages.dataset.room = room.name;
    ui.messages.dataset.ready = String(room.ready);
    view.room = room.name;
    view.last = prev;
    renderPending();
    ui.messages.setAttribute('aria-busy', 'false');
    if (stick || wasNear) scrollToBottom();
  }

  /** Shows one new message of the open room, appending in place when it goes at the end. */
  function showNewMessage(room, m, atEnd, mine, wasPending) {
    const wasNear = nearBottom();
    if (atEnd && view.room === room.name && view.last && m.offset > view.last.offset) {
      const out = document.createDocumentFragment();
      appendMessageNodes(out, m, view.last);
      ui.stream.append(out);
      view.last = m;
      if (wasPending || room.pending.size) renderPending(); // grouping may have changed
    } else {
      renderMessages(false);
    }
    if (wasNear || mine) scrollToBottom();
    else ui.jumpButton.hidden = false;
  }

  function sameGroup(prev, m) {
    if (!prev || prev.name !== m.name || (prev.email || '') !== (m.email || '')) return false;
    const gap = Date.parse(m.time) - Date.parse(prev.time);
    return gap >= 0 && gap < GROUP_WINDOW_MS && dayKey(prev.time) === dayKey(m.time);
  }

  function dayKey(time) {
    const d = new Date(time);
    return Number.isNaN(d.getTime()) ? '' : d.toDateString();
  }

  function dayLabel(time) {
    const d = new Date(time);
    if (Number.isNaN(d.getTime())) return '';
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (d.toDateString() === today.toDateString()) return 'Today';
    if (d.toDateString() === yesterday.toDateString()) return 'Yesterday';
    return d.toLocaleDateString(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
  }

  function timeElement(time, className) {
    const t = node('time', className);
    const d = new Date(time);
    if (Number.isNaN(d.getTime())) {
      t.textContent = String(time);
      return t;
    }
    t.dateTime = d.toISOString();
    t.textContent = d.toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
    t.title = d.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'long' });
    return t;
  }

  function appendMessageNodes(out, m, prev) {
    if (!prev || dayKey(prev.time) !== dayKey(m.time)) {
      const sep = node('div', 'day-separator');
      sep.setAttribute('role', 'separator');
      sep.append(node('span', '', dayLabel(m.time)));
      out.append(sep);
    }
    const grouped = sameGroup(prev, m);
    const showTopic = Boolean(m.topic) && !(grouped && prev.topic === m.topic);
    const article = messageElement(m.name, m.email, m.time, m.topic, m.content, grouped, showTopic);
    article.dataset.room = m.room;
    article.dataset.offset = String(m.offset);
    if (typeof m.id === 'string') article.dataset.id = m.id;
    if (typeof m.client_id === 'string') article.dataset.clientId = m.client_id;
    if (isMine(m)) article.classList.add('mine');
    out.append(article);
  }

  function messageElement(name, email, time, topic, content, grouped, showTopic) {
    const article = node('article', grouped ? 'message grouped' : 'message');
    const gutter = node('div', 'message-gutter');
    if (grouped) {
      gutter.append(timeElement(time, 'message-time gutter-time'));
    } else {
      const avatar = node('div', 'avatar');
      avatar.setAttribute('aria-hidden', 'true');
      avatarInto(avatar, String(name));
      gutter.append(avatar);
    }
    const body = node('div', 'message-body');
    const head = node('div', grouped ? 'message-head visually-hidden' : 'message-head');
    const who = node('span', 'message-name', String(name));
    if (email) who.title = String(email);
    head.append(who);
    if (!grouped) head.append(timeElement(time, 'message-time'));
    body.append(head);
    if (showTopic) {
      const chip = node('button', 'message-topic', String(topic));
      chip.type = 'button';
      chip.title = 'Reply in this topic';
      body.append(chip);
    }
    const text = node('div', 'message-content');
    appendLinkified(text, String(content));
    body.append(text);
    article.append(gutter, body);
    return article;
  }

  /** Turns http(s) URLs into links; everything, links included, is inserted as text. */
  function appendLinkified(parent, text) {
    const url = /\bhttps?:\/\/[^\s<>"']+[^\s<>"'.,;:!?)\]]/g;
    let at = 0;
    for (const match of text.matchAll(url)) {
      if (match.index > at) parent.append(text.slice(at, match.index));
      const a = node('a', '', match[0]);
      a.href = match[0];
      a.rel = 'noopener noreferrer nofollow';
      a.target = '_blank';
      parent.append(a);
      at = match.index + match[0].length;
    }
    if (at < text.length) parent.append(text.slice(at));
  }

  function pendingStatus(p) {
    switch (p.status) {
      case 'acked':
        return 'Sent';
      case 'failed':
        return p.retryTimer && p.autoRetries <= AUTO_RETRY_MAX
          ? `Not sent: ${p.error} Retrying…` : `Not sent: ${p.error}`;
      case 'sending':
        return 'Sending…';
      default:
        return conn.identified ? 'Sending…' : 'Waiting for the connection…';
    }
  }

  function renderPending() {
    const room = rooms.get(current);
    const out = document.createDocumentFragment();
    let prev = room && view.room === room.name ? view.last : null;
    for (const p of room ? room.pending.values() : []) {
      // Shaped like a message, so it groups under the sender's previous one.
      const m = {
        name: identity ? identity.name : '',
        email: identity ? identity.email : '',
        time: new Date(p.created).toISOString(),
        topic: p.topic,
      };
      const grouped = sameGroup(prev, m);
      const showTopic = Boolean(p.topic) && !(grouped && prev.topic === p.topic);
      const article = messageElement(m.name, m.email, m.time, p.topic, p.content, grouped,
        showTopic);
      prev = m;
      article.classList.add('pending', 'mine');
      if (p.status === 'failed') article.classList.add('failed');
      article.dataset.room = p.room;
      article.dataset.clientId = p.clientId;
      article.dataset.status = p.status;
      const status = node('div', 'message-status', pendingStatus(p));
      if (p.status === 'failed') {
        const retry = node('button', 'retry-button link-button', 'Retry');
        retry.type = 'button';
        const discard = node('button', 'discard-button link-button', 'Discard');
        discard.type = 'button';
        status.append(' ', retry, ' ', discard);
      }
      article.querySelector('.message-body').append(status);
      out.append(article);
    }
    ui.pendingStream.replaceChildren(out);
  }

  function renderComposer(showEmpty) {
    const room = rooms.get(current);
    const enabled = Boolean(room && identity);
    ui.composerInput.disabled = !enabled;
    ui.topicInput.disabled = !enabled;
    const value = ui.composerInput.value;
    const bytes = utf8Bytes(value);
    const max = limits.max_content_bytes;
    ui.composerCounter.textContent = `${bytes} / ${max} bytes`;
    ui.composerCounter.classList.toggle('warn', bytes > max * 0.9 && bytes <= max);
    ui.composerCounter.classList.toggle('over', bytes > max);
    const content = validateContent(value);
    const topic = validateTopic(ui.topicInput.value);
    const contentError = content.error === 'empty' ? (showEmpty ? 'Type a message first.' : null)
      : content.error;
    fieldError(ui.composerError, topic.error || contentError || null);
    ui.topicInput.setAttribute('aria-invalid', topic.error ? 'true' : 'false');
    ui.sendButton.disabled = !enabled || Boolean(content.error) || Boolean(topic.error);
    ui.composerHint.textContent = conn.identified
      ? (coarsePointerOnly() ? 'Tap Send to send' : 'Enter to send, Shift+Enter for a new line')
      : 'Offline: messages are kept and sent when the connection is back';
    autosize();
  }

  function autosize() {
    const t = ui.composerInput;
    if (t.offsetParent === null) return; // hidden: nothing to measure
    t.style.height = 'auto';
    t.style.height = `${Math.min(t.scrollHeight + 2, 200)}px`;
  }

  function coarsePointerOnly() {
    return window.matchMedia('(pointer: coarse)').matches &&
      !window.matchMedia('(any-pointer: fine)').matches;
  }

  function toast(text, kind) {
    const t = node('div', `toast ${kind}`);
    t.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    t.append(node('span', 'toast-text', text));
    const close = node('button', 'toast-close', '×');
    close.type = 'button';
    close.setAttribute('aria-label', 'Dismiss');
    close.addEventListener('click', () => t.remove());
    t.append(close);
    ui.toasts.append(t);
    while (ui.toasts.children.length > 4) ui.toasts.firstElementChild.remove();
    setTimeout(() => t.remove(), kind === 'error' ? 10000 : 5000);
  }

  // ---- drawer (phones) -----------------------------------------------------------------------

  function openDrawer() {
    document.body.classList.add('drawer-open');
    ui.menuButton.setAttribute('aria-expanded', 'true');
    ui.backdrop.hidden = false;
    const first = ui.roomList.querySelector('[aria-current="page"]') || ui.roomList.querySelector('button');
    if (first) first.focus();
  }

  function closeDrawer() {
    if (!document.body.classList.contains('drawer-open')) return;
    document.body.classList.remove('drawer-open');
    ui.menuButton.setAttribute('aria-expanded', 'false');
    ui.backdrop.hidden = true;
  }

  // ---- events --------------------------------------------------------------------------------

  function bindEvents() {
    ui.helloForm.addEventListener('submit', (e) => {
      e.preventDefault();
      submitHello();
    });
    ui.helloCancel.addEventListener('click', hideHello);
    ui.identityButton.addEventListener('click', () => showHello(true));

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
      const room = rooms.get(current);
      if (room) room.draft = ui.composerInput.value;
      renderComposer(false);
    });
    ui.topicInput.addEventListener('input', () => {
      const room = rooms.get(current);
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
    ui.leaveButton.addEventListener('click', () => leaveRoom(current));

    ui.messages.addEventListener('click', (e) => {
      const target = e.target;
      const article = target.closest('.message');
      if (target.closest('.message-topic')) {
        ui.topicInput.value = target.textContent;
        const room = rooms.get(current);
        if (room) room.topic = ui.topicInput.value;
        renderComposer(false);
        ui.composerInput.focus();
      } else if (article && target.closest('.retry-button')) {
        const p = rooms.get(article.dataset.room)?.pending.get(article.dataset.clientId);
        if (p) p.autoRetries = 0;
        retryPending(article.dataset.room, article.dataset.clientId);
      } else if (article && target.closest('.discard-button')) {
        discardPending(article.dataset.room, article.dataset.clientId);
      }
    });
    ui.messages.addEventListener('scroll', () => {
      if (nearBottom()) ui.jumpButton.hidden = true;
    });
    ui.jumpButton.addEventListener('click', scrollToBottom);

    ui.menuButton.addEventListener('click', () => {
      if (document.body.classList.contains('drawer-open')) closeDrawer();
      else openDrawer();
    });
    ui.backdrop.addEventListener('click', closeDrawer);
    ui.emptyRoomsButton.addEventListener('click', openDrawer);
    ui.reconnectButton.addEventListener('click', reconnectNow);

    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') closeDrawer();
      if (e.altKey && (e.key === 'ArrowUp' || e.key === 'ArrowDown')) {
        e.preventDefault();
        const names = [...rooms.keys()].sort();
        if (!names.length) return;
        const i = names.indexOf(current);
        const step = e.key === 'ArrowUp' ? -1 : 1;
        switchTo(names[(i + step + names.length) % names.length]);
      }
    });
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) return;
      hiddenUnread = 0;
      renderTitle();
      if (!conn.ws) reconnectNow();
    });
    window.addEventListener('online', reconnectNow);
    window.addEventListener('offline', () => {
      if (!conn.ws) setConnState('offline');
    });
  }

  function createRoom(name) {
    const error = validateRoomName(name);
    fieldError(ui.newRoomError, error);
    if (error) return;
    if (rooms.has(name) || roomsOnline.has(name)) {
      ui.newRoomInput.value = '';
      openRoom(name);
      return;
    }
    if (!conn.identified || !sendFrame({ type: 'create_room', name })) {
      fieldError(ui.newRoomError, 'Not connected: try again when online.');
      return;
    }
    pendingCreate = name;
  }

  // ---- start ---------------------------------------------------------------------------------

  restore();
  bindEvents();
  renderAll();
  if (!identity) showHello(false);
  connect();
  setInterval(tick, 1000);
})();
