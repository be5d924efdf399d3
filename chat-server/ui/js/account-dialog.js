// The account dialog: the register and log-in forms for a guest; for a member, who they are,
// log out, change password, and delete the account behind a second, password-confirmed step.
//
// A modal <dialog> (focus stays inside, Escape closes it). Each field shows its own error: the
// checks here mirror the server's rules for a quick answer, and the server's
// `{error: {code, message, field}}` lands on the field it names, or above the form without one.

import { fieldError, ui } from './dom.js';
import { api, changingSession, currentUser, signedIn, signedOut, userLabel } from './account.js';
import { toast } from './notices.js';

const USERNAME = /^[A-Za-z0-9_-]{3,32}$/;
const PASSWORD_MIN = 8;
const PASSWORD_MAX = 128;

const TITLES = Object.freeze({ login: 'Log in', register: 'Create an account', settings: 'Account' });
// What submitting each form asks, and what the client checks first. `prefix` names the error
// elements: `${prefix}-error` above the form, `${prefix}-${field}-error` under a field.
const FORMS = Object.freeze({
  login: { prefix: 'login', fields: ['username', 'password'] },
  register: { prefix: 'register', fields: ['username', 'display_name', 'email', 'password'] },
  password: { prefix: 'password', fields: ['current_password', 'new_password'] },
  delete: { prefix: 'delete', fields: ['password'] },
});

const formOf = (kind) => ({
  login: ui.loginForm,
  register: ui.registerForm,
  password: ui.passwordForm,
  delete: ui.deleteForm,
}[kind]);

function errorBox(kind, field) {
  const { prefix } = FORMS[kind];
  return document.getElementById(field ? `${prefix}-${field}-error` : `${prefix}-error`);
}

function clearErrors(kind) {
  fieldError(errorBox(kind), null);
  for (const field of FORMS[kind].fields) fieldError(errorBox(kind, field), null);
}

/** Shows `errors` ({field: text}, '' for the whole form); focuses the first field at fault. */
function showErrors(kind, errors) {
  clearErrors(kind);
  let first = null;
  for (const [field, text] of Object.entries(errors)) {
    const box = errorBox(kind, field || undefined) || errorBox(kind);
    fieldError(box, text);
    const input = field ? formOf(kind).elements.namedItem(field) : null;
    if (input && !first) first = input;
  }
  if (first) first.focus();
  return Object.keys(errors).length > 0;
}

function values(kind) {
  const form = formOf(kind);
  const out = {};
  for (const field of FORMS[kind].fields) out[field] = form.elements.namedItem(field).value;
  return out;
}

function checkPassword(errors, field, value, required) {
  if (!value) {
    if (required) errors[field] = 'Enter a password.';
  } else if ([...value].length < PASSWORD_MIN || [...value].length > PASSWORD_MAX) {
    errors[field] = `A password has ${PASSWORD_MIN} to ${PASSWORD_MAX} characters.`;
  }
}

/** The client's own checks, before asking the server. */
function check(kind, v) {
  const errors = {};
  if (kind === 'register' && !USERNAME.test(v.username.trim())) {
    errors.username = 'A username has 3 to 32 letters, digits, - and _.';
  }
  if (kind === 'login' && !v.username.trim()) errors.username = 'Enter your username.';
  if (kind === 'login' && !v.password) errors.password = 'Enter your password.';
  if (kind === 'register') checkPassword(errors, 'password', v.password, true);
  if (kind === 'password') {
    if (!v.current_password) errors.current_password = 'Enter your current password.';
    checkPassword(errors, 'new_password', v.new_password, true);
  }
  if (kind === 'delete' && !v.password) errors.password = 'Enter your password to confirm.';
  return errors;
}

/** Sends one form; shows the server's errors on their fields. Returns the answer when it worked. */
async function submit(kind, method, path, body) {
  if (showErrors(kind, check(kind, values(kind)))) return null;
  const form = formOf(kind);
  const buttons = [...form.querySelectorAll('button')];
  for (const b of buttons) b.disabled = true;
  form.setAttribute('aria-busy', 'true');
  const answer = kind === 'password'
    ? await changingSession(() => api(method, path, body))
    : await api(method, path, body);
  for (const b of buttons) b.disabled = false;
  form.setAttribute('aria-busy', 'false');
  if (answer.ok) return answer;
  const { field, message } = answer.error;
  const known = field && FORMS[kind].fields.includes(field);
  showErrors(kind, { [known ? field : '']: message });
  return null;
}

async function login() {
  const v = values('login');
  const answer = await submit('login', 'POST', '/api/login',
    { username: v.username.trim(), password: v.password });
  if (!answer) return;
  closeAccount();
  signedIn(answer.data && answer.data.user);
  ui.accountButton.focus(); // its name says who is signed in now
}

async function register() {
  const v = values('register');
  const body = { username: v.username.trim(), password: v.password };
  if (v.display_name.trim()) body.display_name = v.display_name.trim();
  if (v.email.trim()) body.email = v.email.trim();
  const answer = await submit('register', 'POST', '/api/register', body);
  if (!answer) return;
  closeAccount();
  signedIn(answer.data && answer.data.user);
  ui.accountButton.focus();
}

async function logout() {
  ui.logoutButton.disabled = true;
  const answer = await api('POST', '/api/logout', {});
  ui.logoutButton.disabled = false;
  // A session the server no longer knows is as good as logged out.
  if (!answer.ok && answer.error.code !== 'login_required') {
    toast(answer.error.message, 'error');
    return;
  }
  closeAccount();
  signedOut();
  ui.loginButton.focus(); // the guest notice says the rest
}

async function changePassword() {
  const v = values('password');
  ui.passwordDone.textContent = '';
  const answer = await submit('password', 'POST', '/api/password', v);
  if (!answer) return;
  ui.passwordForm.reset();
  ui.passwordDone.textContent = 'Password changed. Your other sessions were signed out.';
}

async function deleteAccount() {
  const answer = await submit('delete', 'POST', '/api/account/delete', values('delete'));
  if (!answer) return;
  closeAccount();
  signedOut();
  toast('Your account was deleted.', 'info');
}

function showDeleteStep(open) {
  ui.deleteForm.reset();
  clearErrors('delete');
  ui.deleteForm.hidden = !open;
  ui.deleteStart.hidden = open;
  (open ? ui.deleteForm.elements.namedItem('password') : ui.deleteStart).focus();
}

/** Opens the dialog on `view`: 'login', 'register' or 'settings' (signed in only). */
export function openAccount(view) {
  const user = currentUser();
  const shown = user ? 'settings' : (view === 'register' ? 'register' : 'login');
  ui.loginForm.hidden = shown !== 'login';
  ui.registerForm.hidden = shown !== 'register';
  ui.accountSettings.hidden = shown !== 'settings';
  ui.accountTitle.textContent = TITLES[shown];
  if (user) {
    ui.accountWho.textContent = `Signed in as ${userLabel(user)} (${user.username})` +
      `${user.email ? `, ${user.email}` : ''}${user.admin ? '. You are an admin.' : '.'}`;
    ui.passwordForm.reset();
    ui.passwordDone.textContent = '';
    clearErrors('password');
    ui.deleteForm.hidden = true;
    ui.deleteStart.hidden = false;
  } else {
    clearErrors(shown);
  }
  if (!ui.accountDialog.open) ui.accountDialog.showModal();
  const first = user ? ui.logoutButton : formOf(shown).elements.namedItem('username');
  first.focus();
}

export function closeAccount() {
  if (ui.accountDialog.open) ui.accountDialog.close();
  ui.loginForm.reset();
  ui.registerForm.reset();
  ui.deleteForm.reset();
}

function onSubmit(form, fn) {
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    fn();
  });
}

export function bindAccountDialog() {
  onSubmit(ui.loginForm, login);
  onSubmit(ui.registerForm, register);
  onSubmit(ui.passwordForm, changePassword);
  onSubmit(ui.deleteForm, deleteAccount);
  ui.logoutButton.addEventListener('click', logout);
  ui.deleteStart.addEventListener('click', () => showDeleteStep(true));
  ui.deleteCancel.addEventListener('click', () => showDeleteStep(false));
  ui.toRegister.addEventListener('click', () => openAccount('register'));
  ui.toLogin.addEventListener('click', () => openAccount('login'));
  ui.accountClose.addEventListener('click', closeAccount);
  ui.accountDialog.addEventListener('close', () => {
    ui.loginForm.reset();
    ui.registerForm.reset();
    ui.deleteForm.reset();
  });
  ui.loginButton.addEventListener('click', () => openAccount('login'));
  ui.accountButton.addEventListener('click', () => openAccount('settings'));
  for (const [button, view] of [[ui.guestRegister, 'register'], [ui.guestLogin, 'login'],
    [ui.helloRegister, 'register'], [ui.helloLogin, 'login']]) {
    button.addEventListener('click', () => openAccount(view));
  }
}
