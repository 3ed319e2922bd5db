// The Sign in screen: the store key typed by staff. The app checks it with GET /v1/me before
// keeping it; a refusal is shown here ("The key is unknown or revoked" for a 401).

import { el, field, whileBusy } from '/store/dom.js';
import { t } from '/store/i18n.js';
import { createNotice } from '/store/notice.js';

// signIn(key) resolves once the app has moved on, or throws what to show (an ApiError or a
// UserError). `message` is shown first ({kind, text}: after a sign-out, or a revoked key).
export function signInScreen({ signIn, message }) {
  const notice = createNotice();
  const keyInput = el('input', {
    type: 'password', autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', required: true, class: 'key-input',
  });
  const submit = el('button', { type: 'submit', class: 'button primary', text: t('signin.submit') });
  const form = el('form', { class: 'signin-form', novalidate: true },
    field(t('signin.key'), keyInput),
    el('div', { class: 'form-actions' }, submit));
  const node = el('section', { class: 'screen screen-signin card', 'aria-labelledby': 'screen-title' },
    el('h1', { id: 'screen-title', tabindex: '-1', text: t('signin.title') }),
    el('p', { class: 'intro', text: t('signin.intro') }),
    notice.node, form);

  if (message?.kind === 'error') notice.error(message.text);
  else if (message) notice.info(message.text);

  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = keyInput.value.trim();
    if (!key) {
      notice.error(t('signin.empty'));
      keyInput.focus();
      return;
    }
    notice.info(t('signin.checking'));
    await whileBusy(submit, async () => {
      try {
        await signIn(key);
      } catch (error) {
        notice.error(error);
        keyInput.select();
      }
    });
  });

  return { node, title: t('signin.title'), focus: keyInput, dispose() {} };
}
