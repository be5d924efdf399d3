// The server's limits and the validation rules built on them (docs/protocol.md "Validation").
//
// Every number comes from `welcome.limits`; there are no defaults here. Until a welcome arrived
// the limits are unknown: checks that need one are skipped (the server still validates) and the
// other modules send nothing but `hello` and `rooms`.

let known = null;

/** Takes the limits of a `welcome`, keeping only positive numbers. */
export function setLimits(raw) {
  const next = {};
  if (raw && typeof raw === 'object') {
    for (const [name, value] of Object.entries(raw)) {
      if (typeof value === 'number' && Number.isFinite(value) && value > 0) next[name] = value;
    }
  }
  known = next;
}

/** One limit from the last welcome, or undefined when the server did not send it (yet). */
export function limit(name) {
  return known ? known[name] : undefined;
}

const encoder = new TextEncoder();
export const utf8Bytes = (s) => encoder.encode(s).length;
const chars = (s) => [...s].length;

const CONTROL = /\p{Cc}/u;
const CONTROL_BUT_NEWLINE_TAB = /[^\P{Cc}\n\t]/u;
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export function validateName(raw) {
  const name = raw.trim();
  const max = limit('max_name_chars');
  if (!name) return { error: 'Please enter a name.' };
  if (max && chars(name) > max) return { error: `A name has at most ${max} characters.` };
  if (CONTROL.test(name)) return { error: 'A name cannot contain control characters.' };
  return { value: name };
}

export function validateEmail(raw) {
  const email = raw.trim();
  const max = limit('max_email_chars');
  if (!email) return { value: '' };
  if (max && chars(email) > max) return { error: `An email has at most ${max} characters.` };
  if (/\s/u.test(email) || CONTROL.test(email)) {
    return { error: 'An email cannot contain spaces.' };
  }
  const parts = email.split('@');
  if (parts.length !== 2 || !parts[0] || !parts[1].includes('.')) {
    return { error: 'Use the form name@example.com.' };
  }
  return { value: email };
}

export function validateTopic(raw) {
  const topic = raw.trim();
  const max = limit('max_topic_chars');
  if (!topic) return { value: null };
  if (max && chars(topic) > max) return { error: `A topic has at most ${max} characters.` };
  if (CONTROL.test(topic)) return { error: 'A topic cannot contain control characters.' };
  return { value: topic };
}

export function validateContent(raw) {
  if (!raw.trim()) return { error: 'empty' };
  const bytes = utf8Bytes(raw);
  const max = limit('max_content_bytes');
  if (max && bytes > max) return { error: `Too long: ${bytes} of at most ${max} bytes.` };
  if (CONTROL_BUT_NEWLINE_TAB.test(raw)) {
    return { error: 'The message contains control characters.' };
  }
  return { value: raw };
}

/** The rule for room names, worded with the server's length limit once it is known. */
export function roomNameRule() {
  const max = limit('max_room_chars');
  const length = max ? `1 to ${max} of ` : '';
  return `Use ${length}a-z, 0-9, - and _, starting with a letter or digit.`;
}

/** null when `name` is a valid room name, else the rule it breaks. */
export function validateRoomName(name) {
  const max = limit('max_room_chars');
  if (typeof name === 'string' && ROOM_NAME.test(name) && !(max && chars(name) > max)) return null;
  return roomNameRule();
}
