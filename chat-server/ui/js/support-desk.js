// The agent's support page: the "Support desk" button in the sidebar (with the count of waiting
// and unread conversations), the page itself (the queue of support-queue.js beside the open
// conversation), and the conversations the agent has open, as a row of tabs above the message
// view. On a desktop the queue and the conversation show side by side; at a phone's width one at
// a time, with "Back to the queue". An open conversation is a joined room like any other (rooms.js),
// so its log, typing, receipts and composer are the ordinary ones; closing a tab leaves the room.
//
// The page is this tab's choice (sessionStorage), shown to agents only (`welcome.user.agent`).

import { node, ui } from './dom.js';
import { isIdentified, sendFrame } from './connection.js';
import { isAgent } from './account.js';
import { allRoomNames, currentName, openRoom, removeRoom } from './rooms.js';
import { closeDrawer } from './sidebar.js';
import { KEYS, load, store } from './storage.js';
import { conversation, isSupportRoom } from './support.js';
import { renderQueue, supportCount } from './support-queue.js';

const desk = {
  page: load('tab', KEYS.desk, 'chat') === 'support' ? 'support' : 'chat',
  pane: 'queue', // at a phone's width: 'queue' or 'conversation'
};

/** Whether the support page is what this agent sees now. */
export const deskShown = () => desk.page === 'support' && isAgent();

function setPage(page) {
  desk.page = page;
  store('tab', KEYS.desk, page);
  renderDesk();
}

/** Shows a conversation on the support page (joining its room when not joined yet). */
export function openConversation(room) {
  if (!isSupportRoom(room)) return;
  desk.page = 'support';
  store('tab', KEYS.desk, 'support');
  desk.pane = 'conversation';
  openRoom(room);
  renderDesk();
}

const openRooms = () => allRoomNames().filter(isSupportRoom);

function tabLabel(room) {
  const c = conversation(room);
  return c ? c.client_name || c.client : room;
}

function renderTabs() {
  const list = document.createDocumentFragment();
  const active = document.activeElement;
  const focused = ui.supportTabList.contains(active) ? active.dataset.tab : null;
  for (const room of openRooms()) {
    const li = node('li', 'support-tab');
    const open = node('button', 'support-tab-open', tabLabel(room));
    open.type = 'button';
    open.dataset.tab = room;
    open.dataset.kind = 'open';
    if (room === currentName()) open.setAttribute('aria-current', 'true');
    const c = conversation(room);
    if (c?.state) li.dataset.state = c.state;
    const close = node('button', 'support-tab-close', '×');
    close.type = 'button';
    close.dataset.tab = room;
    close.dataset.kind = 'close';
    close.setAttribute('aria-label', `Close the tab of ${tabLabel(room)}`);
    li.append(open, close);
    list.append(li);
  }
  ui.supportTabList.replaceChildren(list);
  if (focused) ui.supportTabList.querySelector(`[data-tab="${CSS.escape(focused)}"]`)?.focus();
}

function renderNav() {
  ui.supportNav.hidden = !isAgent();
  ui.supportNav.setAttribute('aria-pressed', String(deskShown()));
  const count = supportCount();
  ui.supportNavBadge.hidden = count === 0;
  ui.supportNavBadge.replaceChildren(String(count),
    node('span', 'visually-hidden', ' waiting or unread'));
}

/** Draws the page switch, the page and its tabs from the state now. */
export function renderDesk() {
  renderNav();
  const shown = deskShown();
  document.body.dataset.page = shown ? 'support' : 'chat';
  ui.supportView.hidden = !shown;
  ui.supportTabs.hidden = !shown;
  const conv = shown && isSupportRoom(currentName()) && openRooms().includes(currentName());
  document.body.dataset.conversation = conv ? 'open' : 'none';
  if (!conv) desk.pane = 'queue';
  document.body.dataset.pane = desk.pane;
  ui.supportEmpty.hidden = !shown || conv;
  if (!shown) return;
  renderTabs();
  renderQueue();
}

function closeTab(room) {
  if (isIdentified()) sendFrame({ type: 'leave', room });
  removeRoom(room);
  const next = openRooms()[0];
  if (next) openRoom(next);
  renderDesk();
}

export function bindSupportDesk() {
  ui.supportNav.addEventListener('click', () => {
    const to = deskShown() ? 'chat' : 'support';
    if (to === 'chat' && isSupportRoom(currentName())) {
      const other = allRoomNames().find((r) => !isSupportRoom(r));
      if (other) openRoom(other);
    }
    setPage(to);
    closeDrawer();
    if (to === 'support') ui.supportTitle.focus();
  });
  // A room picked in the sidebar is a chat room: back to the chat page.
  ui.roomList.addEventListener('click', (e) => {
    const b = e.target.closest('.room-button');
    if (b && !isSupportRoom(b.dataset.room) && desk.page === 'support') setPage('chat');
  }, true);
  ui.supportTabList.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-tab]');
    if (!b) return;
    if (b.dataset.kind === 'close') closeTab(b.dataset.tab);
    else openConversation(b.dataset.tab);
  });
  ui.supportBack.addEventListener('click', () => {
    desk.pane = 'queue';
    renderDesk();
    ui.supportTitle.focus();
  });
  new MutationObserver(renderDesk).observe(ui.messages, { attributeFilter: ['data-room'] });
}
