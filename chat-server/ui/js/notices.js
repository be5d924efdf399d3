// What the page tells a person outside the message log: toasts, and the connection status in the
// top bar (connecting, online, degraded, reconnecting, offline) with its retry countdown.
//
// It only renders: the connection module owns the state and passes it in.

import { node, ui } from './dom.js';

const MAX_TOASTS = 4;

/** A dismissable toast; errors are announced as alerts and stay longer. */
export function toast(text, kind) {
  const t = node('div', `toast ${kind}`);
  t.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  t.append(node('span', 'toast-text', text));
  const close = node('button', 'toast-close', '×');
  close.type = 'button';
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', () => t.remove());
  t.append(close);
  ui.toasts.append(t);
  while (ui.toasts.children.length > MAX_TOASTS) ui.toasts.firstElementChild.remove();
  setTimeout(() => t.remove(), kind === 'error' ? 10000 : 5000);
}

const LABELS = Object.freeze({
  connecting: 'Connecting…',
  online: 'Online',
  degraded: 'Degraded',
  reconnecting: 'Reconnecting…',
  offline: 'Offline',
});

/**
 * The status pill. `status` is {state, reason, retryIn}: `reason` says why the server is
 * degraded, `retryIn` is the seconds until the next reconnect attempt (0 when none is waiting).
 */
export function renderStatus(status) {
  ui.connState.dataset.state = status.state;
  document.body.dataset.conn = status.state;
  ui.connText.textContent = LABELS[status.state];
  if (status.state === 'degraded') {
    ui.connState.title = `The server cannot store messages right now${
      status.reason ? ` (${status.reason})` : ''}. Yours are kept and sent when it recovers.`;
  } else {
    ui.connState.removeAttribute('title');
  }
  ui.connDetail.textContent = status.retryIn > 0 ? `in ${status.retryIn}s` : '';
  ui.reconnectButton.hidden = !(status.retryIn > 0);
}
