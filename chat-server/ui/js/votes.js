// Votes and the actions under each confirmed message: Reply (replies.js), the reply count (which
// opens the thread), and up/down vote buttons with their counts, the user's own vote pressed
// (aria-pressed). A vote is `vote {room, offset, value}`; the answer (`votes` with `mine`) and
// every change anyone makes (`votes` without it) update the message in place. Counts and
// `my_vote` come with pages too.

import { node, ui } from './dom.js';
import { sendFrame } from './connection.js';
import { getRoom } from './rooms.js';
import { jumpTo, onReplyCount, parentQuote, replyCount, startReply, threadList,
  toggleThread } from './replies.js';

function findMessage(roomName, offset) {
  const room = getRoom(roomName);
  return room ? room.msgs.find((m) => m.offset === offset) : undefined;
}

function voteButton(m, value) {
  const up = value === 1;
  const count = Number(up ? m.votes?.up : m.votes?.down) || 0;
  const b = node('button', `vote-button ${up ? 'vote-up' : 'vote-down'}`);
  b.type = 'button';
  b.dataset.value = String(value);
  b.setAttribute('aria-pressed', String(m.my_vote === value));
  // The name is "Vote up 3": the arrow is hidden from screen readers, the words from sight, so
  // the visible count is part of the accessible name.
  const icon = node('span', 'vote-icon', up ? '▲' : '▼');
  icon.setAttribute('aria-hidden', 'true');
  const label = node('span', 'visually-hidden', up ? 'Vote up ' : 'Vote down ');
  b.append(icon, label, node('span', 'vote-count', String(count)));
  return b;
}

function actions(m) {
  const bar = node('div', 'message-actions vote-actions');
  const reply = node('button', 'reply-button link-button', 'Reply');
  reply.type = 'button';
  reply.setAttribute('aria-label', `Reply to ${m.name}`);
  bar.append(reply, replyCount(m), voteButton(m, 1), voteButton(m, -1));
  const thread = threadList(m);
  if (thread) bar.append(thread);
  return bar;
}

/** Adds the parent quote (for a reply) and the actions bar to a confirmed message's element;
 * a deleted message (tombstone) has no replies or votes, so no bar. */
export function decorateMessage(article, m) {
  const body = article.querySelector('.message-body');
  if (!body) return;
  if (Number.isInteger(m.reply_to)) {
    body.insertBefore(parentQuote(m), body.querySelector('.message-content'));
  }
  if (!m.deleted) body.append(actions(m));
}

/** Redraws the actions of one message if it is on screen, keeping the focus on its button. */
function redraw(roomName, m) {
  const article = ui.messages.querySelector(
    `.message[data-room="${CSS.escape(roomName)}"][data-offset="${m.offset}"]`);
  const old = article && article.querySelector('.vote-actions');
  if (!old) return;
  const active = old.contains(document.activeElement) ? document.activeElement : null;
  let selector = null;
  if (active && active.dataset.value) selector = `.vote-button[data-value="${active.dataset.value}"]`;
  else if (active) selector = active.classList.contains('reply-count') ? '.reply-count' : '.reply-button';
  const fresh = actions(m);
  old.replaceWith(fresh);
  if (selector) fresh.querySelector(selector)?.focus();
}

/** A `votes` frame: new counts for everyone, and `mine` for the voter. */
export function onVotes(f) {
  const m = findMessage(f.room, f.offset);
  if (!m) return;
  m.votes = { up: f.up, down: f.down };
  if (Number.isInteger(f.mine)) m.my_vote = f.mine;
  redraw(f.room, m);
}

export function onReplyCountFrame(f) {
  onReplyCount(f, redraw);
}

export function bindVotes() {
  ui.messages.addEventListener('click', (e) => {
    const article = e.target.closest('.message');
    if (!article || article.classList.contains('pending')) return;
    const room = article.dataset.room;
    const offset = Number(article.dataset.offset);
    const vote = e.target.closest('.vote-button');
    if (vote) {
      const value = Number(vote.dataset.value);
      const m = findMessage(room, offset);
      sendFrame({ type: 'vote', room, offset, value: m && m.my_vote === value ? 0 : value });
    } else if (e.target.closest('.reply-button')) {
      startReply(offset);
    } else if (e.target.closest('.reply-quote')) {
      jumpTo(room, Number(e.target.closest('.reply-quote').dataset.parent));
    } else if (e.target.closest('.reply-count')) {
      toggleThread(room, offset);
      const m = findMessage(room, offset);
      if (m) redraw(room, m);
    } else if (e.target.closest('.thread-reply')) {
      jumpTo(room, Number(e.target.closest('.thread-reply').dataset.offset));
    }
  });
}
