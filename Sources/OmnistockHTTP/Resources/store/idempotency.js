// Idempotency keys for writes. Each user action gets a fresh random UUID; when the action did
// not get a definite answer (the network failed, the request timed out, the service stayed
// unavailable), the key is kept, and the same action retried with the same body reuses it, so
// the server answers the first attempt's outcome instead of doing the work twice.

const pending = new Map();

// crypto.randomUUID exists only in secure contexts; a tablet reaching the service over plain
// HTTP on a shop network still needs keys, built from getRandomValues (available everywhere).
export function uuid() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

// The key for `action` (a name such as "collect:ord_…") sent with `body` (its JSON text, or ''
// for none). A retry with another body is another request, so it gets a new key: reusing the
// old one would be refused as a key reused with a different body.
export function keyFor(action, body) {
  const kept = pending.get(action);
  if (kept && kept.body === body) return kept.key;
  const key = uuid();
  pending.set(action, { key, body });
  return key;
}

// The action got a definite answer (success or a refusal): its next attempt is a new request.
export function settle(action) {
  pending.delete(action);
}

export function forgetAll() {
  pending.clear();
}
