// A Server-Sent Events reader over fetch. EventSource cannot send an Authorization header,
// so the stream is read from a fetch body and parsed here, following the HTML standard's
// rules: lines end in CRLF, LF or CR; `data:` lines join with newlines; `id:` sets the last
// event id; `retry:` the reconnection delay; `:` starts a comment; a blank line dispatches.
// Reconnection backs off from about a second to 15 s, resumes with Last-Event-ID, and gives
// up after a bounded number of attempts in a row (the caller offers to reconnect).

import { ApiError } from '/store/api.js';

// A parser fed with decoded text chunks; onEvent({id, type, data}) per complete event.
export function createSseParser(onEvent, onRetry) {
  let buffer = '';
  let skipLineFeed = false;
  let data = [];
  let type = '';
  let lastId = null;

  function dispatch() {
    if (data.length > 0) onEvent({ id: lastId, type: type || 'message', data: data.join('\n') });
    data = [];
    type = '';
  }

  function line(text) {
    if (text === '') return dispatch();
    if (text.startsWith(':')) return undefined;
    const colon = text.indexOf(':');
    const name = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (name === 'data') data.push(value);
    else if (name === 'event') type = value;
    else if (name === 'id' && !value.includes('\0')) lastId = value;
    else if (name === 'retry' && /^\d+$/.test(value)) onRetry?.(Number(value));
    return undefined;
  }

  return {
    push(chunk) {
      buffer += chunk;
      let start = 0;
      for (let index = 0; index < buffer.length; index += 1) {
        const char = buffer[index];
        if (char === '\n' && skipLineFeed && index === start) {
          // The LF of a CRLF split across two chunks.
          skipLineFeed = false;
          start = index + 1;
          continue;
        }
        skipLineFeed = false;
        if (char === '\r' || char === '\n') {
          line(buffer.slice(start, index));
          if (char === '\r') {
            if (buffer[index + 1] === '\n') index += 1;
            else if (index + 1 === buffer.length) skipLineFeed = true;
          }
          start = index + 1;
        }
      }
      buffer = buffer.slice(start);
    },
    // A stream that ends mid-event drops the incomplete event, as the standard says.
    reset() {
      buffer = '';
      skipLineFeed = false;
      data = [];
      type = '';
    },
    get lastId() {
      return lastId;
    },
  };
}

const MIN_DELAY_MS = 1000;
const MAX_DELAY_MS = 15000;
const MAX_ATTEMPTS = 40;
// The service sends a comment every 15 s while idle; silence for longer means a dead link.
const STALL_MS = 45000;
// A connection that stayed up this long was healthy: the backoff starts again from the bottom.
const HEALTHY_MS = 10000;

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

// options: url (a function of nothing, for the first connection), headers() (the
// Authorization header), onEvent(event), onStatus('connecting'|'live'|'reconnecting'|
// 'offline'|'stopped'), onFatal(ApiError) for refusals that retrying cannot fix (401, 403, 400).
export class EventStream {
  constructor(options) {
    this.options = options;
    this.controller = null;
    this.retryMs = MIN_DELAY_MS;
    this.parser = createSseParser((event) => this.options.onEvent(event), (ms) => {
      this.retryMs = Math.min(Math.max(ms, MIN_DELAY_MS), MAX_DELAY_MS);
    });
  }

  get lastEventId() {
    return this.parser.lastId;
  }

  start() {
    this.stop();
    this.controller = new AbortController();
    this.run(this.controller.signal);
  }

  stop() {
    if (!this.controller) return;
    this.controller.abort();
    this.controller = null;
    this.options.onStatus('stopped');
  }

  async run(signal) {
    let failures = 0;
    while (!signal.aborted) {
      this.options.onStatus(failures === 0 ? 'connecting' : 'reconnecting');
      const began = Date.now();
      let wait = null;
      try {
        await this.connect(signal);
      } catch (error) {
        if (signal.aborted) return;
        if (error instanceof ApiError && error.kind === 'http' && ![429, 503].includes(error.status) && error.status < 500) {
          this.options.onStatus('offline');
          this.options.onFatal?.(error);
          return;
        }
        wait = error.retryAfterMs ?? null;
      }
      if (signal.aborted) return;
      failures = Date.now() - began > HEALTHY_MS ? 1 : failures + 1;
      if (failures > MAX_ATTEMPTS) {
        this.options.onStatus('offline');
        return;
      }
      this.options.onStatus('reconnecting');
      await sleep(wait ?? this.delay(failures), signal);
    }
  }

  // Doubling from the server's retry hint up to 15 s, with ±20 % jitter so that the tablets of
  // a chain do not all come back in the same instant after an outage.
  delay(failures) {
    const base = Math.min(this.retryMs * 2 ** (failures - 1), MAX_DELAY_MS);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  async connect(signal) {
    const controller = new AbortController();
    const abort = () => controller.abort();
    signal.addEventListener('abort', abort, { once: true });
    let stallTimer = null;
    const armStall = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => controller.abort(), STALL_MS);
    };
    try {
      const headers = { Accept: 'text/event-stream', ...this.options.headers() };
      if (this.lastEventId !== null) headers['Last-Event-ID'] = this.lastEventId;
      armStall();
      let response;
      try {
        response = await fetch(this.options.url(), { headers, signal: controller.signal, cache: 'no-store', credentials: 'omit' });
      } catch {
        throw new ApiError('network');
      }
      if (!response.ok) throw await refusal(response);
      this.options.onStatus('live');
      await this.read(response, armStall);
    } finally {
      clearTimeout(stallTimer);
      signal.removeEventListener('abort', abort);
      this.parser.reset();
    }
  }

  async read(response, onBytes) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        onBytes();
        this.parser.push(value);
      }
    } catch {
      // The connection broke or was aborted: the caller reconnects (or has stopped).
    } finally {
      reader.releaseLock();
    }
  }
}

async function refusal(response) {
  let problem = null;
  try {
    problem = await response.json();
  } catch {
    problem = { status: response.status, detail: '' };
  }
  const error = new ApiError('http', response.status, problem);
  const seconds = Number(response.headers.get('Retry-After'));
  if (Number.isFinite(seconds) && seconds > 0) error.retryAfterMs = Math.min(seconds * 1000, MAX_DELAY_MS);
  return error;
}
