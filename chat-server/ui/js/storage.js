// What the page remembers, and where.
//
// Each browser tab is its own member of the chat: its identity, joined rooms and unsent messages
// live in sessionStorage (per tab, kept across a reload of that tab). localStorage, shared by all
// tabs of the origin, only remembers the last name, email and room list, to prefill a new tab.
// Storage may be disabled or full: then the page still works and forgets on reload.

export const KEYS = Object.freeze({
  tab: 'chatapp.tab', // sessionStorage: this tab's id
  identity: 'chatapp.identity', // both: this tab's identity / the remembered one
  rooms: 'chatapp.rooms', // both: this tab's rooms / the remembered list
  outbox: 'chatapp.outbox', // sessionStorage: this tab's unsent messages
  created: 'chatapp.created', // localStorage: rooms each account created in this browser
  theme: 'chatapp.theme', // localStorage: light / dark / system and the accent (theme.js)
  support: 'chatapp.support', // localStorage: a guest's support room and resume token
  desk: 'chatapp.desk', // sessionStorage: an agent's page, chat or support (support-desk.js)
});

/** `tab` is this tab's sessionStorage, `shared` is localStorage. */
function area(where) {
  try {
    return where === 'tab' ? window.sessionStorage : window.localStorage;
  } catch {
    return null;
  }
}

export function load(where, key, fallback) {
  try {
    const raw = area(where)?.getItem(key) ?? null;
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

export function store(where, key, value) {
  try {
    area(where)?.setItem(key, JSON.stringify(value));
  } catch {
    // Storage disabled or full: the page still works, it just forgets on reload.
  }
}

export function remove(where, key) {
  try {
    area(where)?.removeItem(key);
  } catch {
    // as above
  }
}

function randomHex(bytes) {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

let tab = null;

/** This tab's id: random once per tab, kept across reloads of the tab. */
function tabId() {
  if (tab) return tab;
  const saved = load('tab', KEYS.tab, null);
  tab = typeof saved === 'string' && /^[0-9a-f]{8}$/.test(saved) ? saved : randomHex(4);
  store('tab', KEYS.tab, tab);
  return tab;
}

/**
 * A fresh client_id: this tab's id, then random hex. The prefix is how a tab tells its own
 * messages from those of another tab with the same name. `maxChars` comes from `welcome.limits`.
 */
export function newClientId(maxChars) {
  const id = `${tabId()}-${randomHex(16)}`;
  if (!(maxChars > 0) || id.length <= maxChars) return id;
  // A tighter server: keep the tab prefix while 8 random hex digits still fit after it.
  return maxChars >= 17 ? id.slice(0, maxChars) : randomHex(16).slice(0, maxChars);
}

/** Whether a client_id was made by this tab. */
export function madeHere(clientId) {
  return typeof clientId === 'string' && clientId.startsWith(`${tabId()}-`);
}
