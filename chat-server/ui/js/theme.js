// Themes: light / dark / system and an accent colour, chosen in a panel behind the top bar's
// appearance button and applied at once as two attributes on <html> (data-theme, data-accent)
// that theme.css turns into colours: no style attribute, nothing from user data in CSS.
//
// The choice is this browser's: kept in localStorage (shared by its tabs, which follow a change
// made in another tab) and not on the server, so it does not follow a user to another browser.
// The accents' colours and their contrast checks live in theme.css and src/ui/theme_tests.rs;
// the ids below must match theme.css (that test checks it).

import { node } from './dom.js';
import { KEYS, load, store } from './storage.js';

/** The modes: `system` follows the operating system's light or dark setting. */
export const MODES = Object.freeze([
  { id: 'system', label: 'System' },
  { id: 'light', label: 'Light' },
  { id: 'dark', label: 'Dark' },
]);

/** The accents, first the default (app.css's own colours). */
export const ACCENTS = Object.freeze([
  { id: 'indigo', label: 'Indigo' },
  { id: 'teal', label: 'Teal' },
  { id: 'green', label: 'Green' },
  { id: 'orange', label: 'Orange' },
  { id: 'rose', label: 'Rose' },
  { id: 'violet', label: 'Violet' },
]);

const DEFAULT = Object.freeze({ mode: 'system', accent: 'indigo' });

const known = (list, id) => list.some((x) => x.id === id);

/** A stored choice, with anything unknown (an older page, a hand edit) replaced by the default. */
function sanitize(saved) {
  const s = saved && typeof saved === 'object' ? saved : {};
  return {
    mode: known(MODES, s.mode) ? s.mode : DEFAULT.mode,
    accent: known(ACCENTS, s.accent) ? s.accent : DEFAULT.accent,
  };
}

let current = sanitize(load('shared', KEYS.theme, null));

function apply() {
  const root = document.documentElement;
  root.dataset.theme = current.mode;
  root.dataset.accent = current.accent;
  for (const input of document.querySelectorAll('#theme-panel input[type="radio"]')) {
    input.checked = current[input.name === 'theme-mode' ? 'mode' : 'accent'] === input.value;
  }
}

function choose(change) {
  current = sanitize({ ...current, ...change });
  store('shared', KEYS.theme, current);
  apply();
}

/** One radio group: a fieldset with a legend, a label around each radio. */
function radioGroup(legend, name, list, swatches) {
  const set = node('fieldset');
  set.append(node('legend', null, legend));
  const options = node('div', 'theme-options');
  for (const item of list) {
    const label = node('label');
    const input = node('input');
    input.type = 'radio';
    input.name = name;
    input.value = item.id;
    label.append(input);
    if (swatches) {
      const swatch = node('span', 'theme-swatch');
      swatch.dataset.accent = item.id;
      swatch.setAttribute('aria-hidden', 'true');
      label.append(swatch);
    }
    label.append(item.label);
    options.append(label);
  }
  set.append(options);
  return set;
}

function buildPanel() {
  const panel = node('section', 'theme-panel');
  panel.id = 'theme-panel';
  panel.hidden = true;
  panel.setAttribute('aria-labelledby', 'theme-title');
  const title = node('h2', null, 'Appearance');
  title.id = 'theme-title';
  panel.append(title, radioGroup('Mode', 'theme-mode', MODES, false),
    radioGroup('Accent colour', 'theme-accent', ACCENTS, true));
  panel.addEventListener('change', (e) => {
    const input = e.target;
    if (input.name === 'theme-mode') choose({ mode: input.value });
    if (input.name === 'theme-accent') choose({ accent: input.value });
  });
  return panel;
}

function buildButton() {
  const button = node('button', 'icon-button theme-button');
  button.id = 'theme-button';
  button.type = 'button';
  button.title = 'Appearance: light or dark, accent colour';
  button.setAttribute('aria-controls', 'theme-panel');
  button.setAttribute('aria-expanded', 'false');
  const icon = node('span', 'theme-icon');
  icon.setAttribute('aria-hidden', 'true');
  button.append(icon, node('span', 'visually-hidden', 'Appearance'));
  return button;
}

/** Adds the button and, right after it in the tab order, its panel (drawn fixed below the top
 * bar) before the top bar's identity button. */
export function bindTheme() {
  const button = buildButton();
  const panel = buildPanel();
  const identity = document.querySelector('#identity-button');
  identity.before(button, panel);
  const setOpen = (open, focusBack) => {
    panel.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
    if (open) panel.querySelector('input:checked')?.focus();
    else if (focusBack) button.focus();
  };
  button.addEventListener('click', () => setOpen(panel.hidden, false));
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') setOpen(false, true);
  });
  // Tabbing out of the panel closes it, as clicking elsewhere does.
  panel.addEventListener('focusout', (e) => {
    const to = e.relatedTarget;
    if (to && !panel.contains(to) && to !== button) setOpen(false, false);
  });
  document.addEventListener('click', (e) => {
    if (!panel.hidden && !panel.contains(e.target) && !button.contains(e.target)) {
      setOpen(false, false);
    }
  });
  // Another tab of this browser chose: follow it.
  window.addEventListener('storage', (e) => {
    if (e.key !== KEYS.theme) return;
    current = sanitize(load('shared', KEYS.theme, null));
    apply();
  });
  apply();
}

// At import, before the page is drawn by app.js: the remembered colours from the first paint.
apply();
