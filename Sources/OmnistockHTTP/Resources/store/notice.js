// The message area of a screen: successes and errors shown next to what the user did, in a
// live region so that a screen reader announces them. Errors from the API are turned into
// words here, in one place, so every screen explains a refusal the same way.

import { ApiError } from '/store/api.js';
import { el, replaceChildren } from '/store/dom.js';
import { t } from '/store/i18n.js';

export function isAbort(error) {
  return error?.name === 'AbortError';
}

// A refusal of the app's own, already in words for the user (a checkout key at sign-in).
export class UserError extends Error {
  constructor(message) {
    super(message);
    this.name = 'UserError';
  }
}

// What to tell the user about a failed call: a sentence, and for 422 the fault of each field.
export function describeError(error) {
  if (error instanceof UserError) return { text: error.message, details: [] };
  if (!(error instanceof ApiError)) return { text: t('error.unexpected', { message: error?.message ?? String(error) }), details: [] };
  if (error.kind === 'network') return { text: t('error.network'), details: [] };
  if (error.kind === 'timeout') return { text: t('error.timeout'), details: [] };
  const detail = error.problem?.detail;
  switch (error.status) {
    case 401:
      return { text: t('error.unauthorized'), details: [] };
    case 403:
      return { text: detail || t('error.forbidden'), details: [] };
    case 503:
      return { text: t('error.unavailableGaveUp'), details: [] };
    case 422: {
      const details = (error.problem?.errors ?? []).map((fault) => fault.detail).filter((text) => text && text !== detail);
      return { text: detail || t('error.http', { status: 422 }), details };
    }
    default:
      return { text: detail || t('error.http', { status: error.status }), details: [] };
  }
}

// A live region. Errors are announced assertively (they stop the user's flow), the rest
// politely; the region exists before any message so that screen readers track it.
export function createNotice() {
  const node = el('div', { class: 'notice', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' });

  function show(kind, text, details = [], extra = []) {
    node.setAttribute('aria-live', kind === 'error' ? 'assertive' : 'polite');
    node.className = `notice notice-${kind}`;
    replaceChildren(
      node,
      el('p', { class: 'notice-text', text }),
      details.length > 0 && el('ul', { class: 'notice-details' }, details.map((line) => el('li', { text: line }))),
      extra,
    );
  }

  return {
    node,
    success(text, extra) {
      show('success', text, [], extra);
    },
    info(text, extra) {
      show('info', text, [], extra);
    },
    warning(text, extra) {
      show('warning', text, [], extra);
    },
    error(error, extra) {
      if (isAbort(error)) return;
      const { text, details } = typeof error === 'string' ? { text: error, details: [] } : describeError(error);
      show('error', text, details, extra);
    },
    clear() {
      node.className = 'notice';
      node.replaceChildren();
    },
  };
}
