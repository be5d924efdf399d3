// Who is signed in on this browser, and the HTTP calls that change it (docs/protocol.md,
// "Accounts"): the account from `welcome.user` (null for a guest) and `welcome.guest_posting`,
// the JSON requests to /api/*, the account button or "Log in" in the top bar, and the session
// ending under us (`session_ended`, `login_required`).
//
// The session is an HttpOnly cookie this page never sees: after a sign-in or sign-out the socket
// is opened again so the server reads the new cookie, and the `welcome` that follows is the
// truth about who we are. The forms themselves are account-dialog.js's.

import { avatarInto, ui } from './dom.js';
import { restart } from './connection.js';

const account = {
  user: null, // {username, display_name, email, admin, agent} or null for a guest
  guestPosting: false,
  known: false, // a `welcome` said so on some socket
  changing: false, // a password change is under way: our old session ends on purpose
};
const listeners = [];

/** The signed-in account, or null for a guest. */
export const currentUser = () => account.user;
/** Whether the server lets guests post (`welcome.guest_posting`). */
export const guestPosting = () => account.guestPosting;
/** Whether a `welcome` told us who we are yet. */
export const accountKnown = () => account.known;
export const isAdmin = () => Boolean(account.user && account.user.admin);
/** Whether the signed-in user answers support conversations (`welcome.user.agent`). */
export const isAgent = () => Boolean(account.user && account.user.agent);
/** The name a person sees for a user object: the display name, else the username. */
export const userLabel = (u) => (u && (u.display_name || u.username)) || '';

/** Calls `fn()` after the account changed (signed in, out, or another account). */
export function onAccountChange(fn) {
  listeners.push(fn);
}

function parseUser(u) {
  if (!u || typeof u !== 'object' || typeof u.username !== 'string') return null;
  return {
    username: u.username,
    display_name: typeof u.display_name === 'string' ? u.display_name : u.username,
    email: typeof u.email === 'string' ? u.email : '',
    admin: u.admin === true,
    agent: u.agent === true, // answers support conversations (true for admins too)
  };
}

/** `tell`: whether the listeners hear of a change (not on the first `welcome`, which only says
 * who we were all along). */
function setUser(user, tell = true) {
  const before = account.user ? account.user.username : null;
  account.user = user;
  renderAccount();
  if (tell && (user ? user.username : null) !== before) for (const fn of listeners) fn();
}

/** `welcome`: the account of this socket's session and whether guests may post. */
export function acceptAccount(f) {
  const first = !account.known;
  account.known = true;
  // A server from before accounts does not say, and lets everyone post.
  account.guestPosting = f.guest_posting !== false;
  setUser(parseUser(f.user), !first);
}

/** An HTTP answer signed us in (register, login): reconnect so the socket carries the cookie. */
export function signedIn(user) {
  setUser(parseUser(user));
  restart();
}

/** Logged out or deleted here: a guest from now on. */
export function signedOut() {
  setUser(null);
  restart();
}

/** The server says this socket's session ended (logged out elsewhere, expired, deleted). */
export function sessionEnded() {
  if (account.changing) return false; // our own password change: the new cookie follows
  setUser(null);
  return true;
}

/** Wraps a password change: the old session ends by design and the socket moves to the new one. */
export async function changingSession(request) {
  account.changing = true;
  try {
    const answer = await request();
    if (answer.ok) restart();
    return answer;
  } finally {
    account.changing = false;
  }
}

/**
 * A JSON request to the server. Returns {ok: true, data} (data null for 204) or
 * {ok: false, status, error: {code, message, field?}} in the server's error shape, also for a
 * network failure, so the forms show every failure the same way.
 */
export async function api(method, path, body) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    return { ok: false, status: 0, error: { code: 'network',
      message: 'Could not reach the server. Check your connection and try again.' } };
  }
  let data = null;
  if (response.status !== 204) data = await response.json().catch(() => null);
  if (response.ok) return { ok: true, data };
  const error = data && data.error && typeof data.error === 'object' ? data.error : {};
  const message = typeof error.message === 'string' && error.message ? error.message
    : `The server answered ${response.status}.`;
  const retry = Number(response.headers.get('Retry-After'));
  // Failed logins and rate limits say when the next try is heard.
  const wait = retry > 0 ? ` Try again in ${retry} s.` : '';
  return {
    ok: false,
    status: response.status,
    error: {
      code: typeof error.code === 'string' ? error.code : `http_${response.status}`,
      message: message + wait,
      field: typeof error.field === 'string' ? error.field : undefined,
    },
  };
}

/** The top bar: "Log in" for a guest, the account's name for a member. */
export function renderAccount() {
  const user = account.user;
  ui.loginButton.hidden = Boolean(user) || !account.known;
  ui.accountButton.hidden = !user;
  document.body.dataset.account = user ? 'user' : (account.known ? 'guest' : 'unknown');
  if (!user) return;
  const label = userLabel(user);
  ui.accountName.textContent = label;
  avatarInto(ui.accountAvatar, label);
  ui.accountButton.title = `Signed in as ${user.username}${user.admin ? ' (admin)' : ''}`;
}
