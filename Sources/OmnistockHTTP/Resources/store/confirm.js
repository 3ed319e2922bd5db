// A modal confirmation for actions that cannot be undone (a line not found, a cancellation).
// It is a native <dialog> opened with showModal(): focus moves into it and stays there, Escape
// closes it, and the page behind is inert, with no focus-trapping code of our own.

import { el } from '/store/dom.js';
import { t } from '/store/i18n.js';

// Resolves to null when dismissed, otherwise to the values of the dialog's fields ({} when it
// has none). `fields` are nodes built by the caller (a reason select), named by `name`.
export function confirmAction({ title, body, confirmLabel, danger = false, fields = [] }) {
  return new Promise((resolve) => {
    const titleId = `dialog-title-${Date.now()}`;
    const form = el('form', { class: 'dialog-form', method: 'dialog' });
    const confirmButton = el('button', { type: 'submit', class: danger ? 'button danger' : 'button primary', text: confirmLabel });
    const backButton = el('button', { type: 'button', class: 'button secondary', text: t('dialog.back') });
    const dialog = el('dialog', { class: 'dialog', 'aria-labelledby': titleId },
      el('h2', { id: titleId, text: title }),
      el('p', { text: body }),
      form);
    form.append(...fields, el('div', { class: 'dialog-actions' }, backButton, confirmButton));

    let result = null;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      result = Object.fromEntries(new FormData(form).entries());
      dialog.close();
    });
    backButton.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(result);
    });

    document.body.append(dialog);
    dialog.showModal();
    // The safe choice has the focus first, so a stray Enter does not confirm.
    backButton.focus();
  });
}
