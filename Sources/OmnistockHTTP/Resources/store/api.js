// The client of the public /v1 API. Every call carries the session's key as a bearer token,
// has a timeout, and fails with an ApiError that says what happened (no answer, a timeout, or
// the problem document the service sent). 503 answers are retried a bounded number of times,
// honouring Retry-After, since the service says nothing was changed.

import * as idempotency from '/store/idempotency.js';

const TIMEOUT_MS = 15000;
const UNAVAILABLE_ATTEMPTS = 3;
const RETRY_AFTER_MAX_MS = 5000;

export class ApiError extends Error {
  // kind: 'network' (no answer), 'timeout', or 'http' (an answer with `status` and, usually,
  // a problem+json document in `problem`).
  constructor(kind, status = 0, problem = null) {
    super(problem?.detail || `${kind}${status ? ` ${status}` : ''}`);
    this.name = 'ApiError';
    this.kind = kind;
    this.status = status;
    this.problem = problem;
  }

  // True when the problem's type or one of its errors has this code (`pickup-code-wrong`).
  hasCode(code) {
    const type = String(this.problem?.type ?? '');
    if (type.endsWith(`/${code}`)) return true;
    return (this.problem?.errors ?? []).some((error) => error.code === code);
  }

  errorWith(code) {
    return (this.problem?.errors ?? []).find((error) => error.code === code);
  }

  // No definite answer: the request may or may not have been applied.
  get uncertain() {
    return this.kind !== 'http' || this.status === 503;
  }
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function retryDelay(response) {
  const seconds = Number(response.headers.get('Retry-After'));
  const ms = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000;
  return Math.min(ms, RETRY_AFTER_MAX_MS);
}

async function readProblem(response) {
  const text = await response.text().catch(() => '');
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed === 'object') return parsed;
  } catch {
    // Not JSON (a proxy's error page): keep its status only.
  }
  return { status: response.status, detail: '' };
}

// One fetch with a timeout; the caller's signal (a screen being left) aborts it too.
async function fetchOnce(url, init, signal) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException('timeout', 'TimeoutError')), TIMEOUT_MS);
  const abort = () => controller.abort(signal.reason);
  signal?.addEventListener('abort', abort, { once: true });
  try {
    return await fetch(url, { ...init, signal: controller.signal, cache: 'no-store', credentials: 'omit' });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(controller.signal.aborted ? 'timeout' : 'network');
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', abort);
  }
}

// hooks.key(): the key to send; hooks.onUnauthorized(): the key was refused (401) while
// signed in; hooks.onUnavailable(bool): the service answers 503 and the client is retrying.
export function createApi(hooks) {
  async function request(method, path, { body, idempotencyKey, key, signal } = {}) {
    const headers = { Accept: 'application/json', Authorization: `Bearer ${key ?? hooks.key() ?? ''}` };
    if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const init = { method, headers, body };
    for (let attempt = 1; ; attempt += 1) {
      const response = await fetchOnce(path, init, signal);
      if (response.status === 503 && attempt < UNAVAILABLE_ATTEMPTS) {
        hooks.onUnavailable?.(true);
        await sleep(retryDelay(response));
        continue;
      }
      hooks.onUnavailable?.(false);
      return answer(response, key === undefined);
    }
  }

  async function answer(response, sessionKey) {
    if (response.ok) {
      const text = await response.text();
      return text ? JSON.parse(text) : null;
    }
    const problem = await readProblem(response);
    if (response.status === 401 && sessionKey) hooks.onUnauthorized?.();
    throw new ApiError('http', response.status, problem);
  }

  return {
    get(path, options) {
      return request('GET', path, options);
    },

    // A write. `action` names the user action for idempotency (see idempotency.js); a body of
    // undefined sends none, as the store steps (picking, ready, unlock, not-found) want.
    async post(path, body, action, options = {}) {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const name = action ?? `${path}:${idempotency.uuid()}`;
      const idempotencyKey = idempotency.keyFor(name, text ?? '');
      try {
        const result = await request('POST', path, { ...options, body: text, idempotencyKey });
        idempotency.settle(name);
        return result;
      } catch (error) {
        if (!(error instanceof ApiError) || !error.uncertain) idempotency.settle(name);
        throw error;
      }
    },
  };
}

// Builds a query string from an object; arrays repeat the parameter (type=a&type=b).
export function query(parameters) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(parameters)) {
    if (value === undefined || value === null || value === '') continue;
    for (const item of Array.isArray(value) ? value : [value]) search.append(name, String(item));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

export function segment(value) {
  return encodeURIComponent(value);
}
