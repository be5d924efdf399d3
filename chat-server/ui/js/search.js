// Search and filters (docs/protocol.md, "Filters and search"): the search box under the room
// header, the results panel (newest first, "Older results" pages with `before: next_before`),
// and the chip that shows the open room's active filter. A filter is sent with the room's
// `join`, so the server sends only matching messages; setting or clearing one starts the room's
// log over from a fresh, filtered page (rooms.js `rejoinFresh`). Filters last for this tab.
//
// Stable hooks for tests: #search-form, #search-input, #search-button, #filter-button,
// #search-error, #filter-chip (#filter-text, #filter-clear), #search-results (#search-summary,
// #search-list > li.search-result[data-offset], #search-more, #search-close).

import { fieldError, node, ui } from './dom.js';
import { sendFrame } from './connection.js';
import { currentName, rejoinFresh } from './rooms.js';

const filters = new Map(); // room -> filter text
let asked = null; // {room, query, field}: the outstanding search or filter
const el = {};

/** The active filter of a room, or null. */
export const filterOf = (room) => filters.get(room) ?? null;

function build() {
  const form = node('form', 'search-form');
  form.id = 'search-form';
  form.setAttribute('role', 'search');
  form.noValidate = true;
  const label = node('label', 'visually-hidden', 'Search or filter this room');
  label.htmlFor = 'search-input';
  el.input = node('input');
  Object.assign(el.input, { id: 'search-input', type: 'search', autocomplete: 'off',
    placeholder: 'Search: #tag from:name "phrase" after:2026-01-31 …' });
  el.input.setAttribute('aria-describedby', 'search-error');
  el.search = node('button', null, 'Search');
  Object.assign(el.search, { id: 'search-button', type: 'submit' });
  el.filter = node('button', null, 'Filter');
  Object.assign(el.filter, { id: 'filter-button', type: 'button',
    title: 'Show only matching messages in this room' });
  form.append(label, el.input, el.search, el.filter);
  el.error = node('p', 'field-error');
  Object.assign(el.error, { id: 'search-error', hidden: true });
  el.error.setAttribute('role', 'alert');
  el.chip = node('div', 'filter-chip');
  Object.assign(el.chip, { id: 'filter-chip', hidden: true });
  el.chipText = node('span');
  el.chipText.id = 'filter-text';
  el.clear = node('button', 'link-button', 'Clear filter');
  Object.assign(el.clear, { id: 'filter-clear', type: 'button' });
  el.chip.append(node('span', 'filter-chip-label', 'Filter:'), el.chipText, el.clear);
  el.panel = node('section', 'search-results');
  Object.assign(el.panel, { id: 'search-results', hidden: true });
  el.panel.setAttribute('aria-label', 'Search results');
  el.summary = node('span', 'search-summary');
  el.summary.id = 'search-summary';
  el.close = node('button', 'link-button', 'Close');
  Object.assign(el.close, { id: 'search-close', type: 'button' });
  const head = node('div', 'search-head');
  head.append(el.summary, el.close);
  el.list = node('ol', 'search-list');
  el.list.id = 'search-list';
  el.more = node('button', null, 'Older results');
  Object.assign(el.more, { id: 'search-more', type: 'button', hidden: true });
  el.panel.append(head, el.list, el.more);
  ui.roomView.querySelector('.room-header').after(form, el.error, el.chip, el.panel);
  return form;
}

function ask(field, before) {
  const room = currentName();
  const query = before === undefined ? el.input.value.trim() : asked?.query;
  if (!room || !query) return;
  fieldError(el.error, '');
  if (field === 'filter') {
    asked = { room, query, field };
    filters.set(room, query);
    rejoinFresh(room);
    renderSearch();
    return;
  }
  const frame = { type: 'search', room, query, limit: 50 };
  if (before !== undefined) frame.before = before;
  if (sendFrame(frame)) asked = { room, query, field, before };
}

/** Binds the search box, the filter chip and the results panel. */
export function bindSearch() {
  build().addEventListener('submit', (e) => {
    e.preventDefault();
    ask('query');
  });
  el.filter.addEventListener('click', () => ask('filter'));
  el.clear.addEventListener('click', () => {
    const room = currentName();
    if (!filters.delete(room)) return;
    rejoinFresh(room);
    renderSearch();
  });
  el.close.addEventListener('click', () => { el.panel.hidden = true; });
  el.more.addEventListener('click', () => ask('query', Number(el.more.dataset.before)));
}

/** A page of `search_results`: the first replaces the list, "Older results" appends. */
export function onSearchResults(f) {
  if (f.room !== currentName()) return;
  const messages = Array.isArray(f.messages) ? f.messages : [];
  if (asked?.before === undefined) el.list.replaceChildren();
  for (const m of messages) {
    const li = node('li', 'search-result');
    li.dataset.offset = String(m.offset);
    const head = node('div', 'search-result-head');
    head.append(node('span', 'message-name', String(m.name)),
      node('span', 'message-time', new Date(m.time).toLocaleString()));
    if (m.topic) head.append(node('span', 'message-topic', String(m.topic)));
    li.append(head, node('div', 'message-content', String(m.content)));
    el.list.append(li);
  }
  const shown = el.list.children.length;
  el.summary.textContent = `${shown} result${shown === 1 ? '' : 's'} for ${f.query}`;
  el.more.hidden = f.more !== true || !Number.isInteger(f.next_before);
  if (!el.more.hidden) el.more.dataset.before = String(f.next_before);
  el.panel.hidden = false;
}

/** A `bad_query` error: shown under the box with where the problem is; true when handled. */
export function onSearchError(f, text) {
  if (f.code !== 'bad_query') return false;
  if (f.field === 'filter' && asked?.field === 'filter') {
    filters.delete(asked.room);
    rejoinFresh(asked.room);
  }
  const at = Number.isInteger(f.position) ? ` (at character ${f.position + 1})` : '';
  fieldError(el.error, `${text}${at}`);
  el.input.focus();
  renderSearch();
  return true;
}

/** Shows the open room's filter chip; hides results of another room. */
export function renderSearch() {
  if (!el.chip) return;
  const filter = filterOf(currentName());
  el.chip.hidden = filter === null;
  el.chipText.textContent = filter ?? '';
  if (asked && asked.room !== currentName()) el.panel.hidden = true;
}
