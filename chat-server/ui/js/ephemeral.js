// The composer's "Ephemeral: not saved" switch (docs/protocol.md, "Edits, deletions and ephemeral
// messages"): when on, the next message is sent with `ephemeral: true`, so the server delivers it
// live to whoever is in the room and stores it nowhere. It is off by default and turns itself off
// after each send, so a conversation is never left unsaved by a switch someone forgot.
//
// The outbox (outbox.js) keeps an ephemeral message in memory only, never in sessionStorage: one
// that was sent and not acked when the socket closed is dropped with a notice rather than sent
// again, because the server may have delivered it already (it has nothing to deduplicate it
// against) and it would be stale by then anyway. One still queued (never sent) goes out on
// reconnect like any other.

import { node, ui } from './dom.js';

let toggle = null;

/** Adds the switch to the composer's topic row. */
export function bindEphemeral() {
  const label = node('label', 'ephemeral-toggle');
  toggle = node('input');
  toggle.type = 'checkbox';
  toggle.id = 'ephemeral-toggle';
  toggle.name = 'ephemeral';
  label.append(toggle, 'Ephemeral: not saved');
  label.title = 'Send the next message live only: it is not stored and is gone after a reload';
  ui.topicInput.parentElement.append(label);
}

/** Whether the message being sent now is ephemeral; the switch turns off for the next one. */
export function takeEphemeral() {
  if (!toggle || !toggle.checked) return false;
  toggle.checked = false;
  return true;
}
