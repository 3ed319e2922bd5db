// The store choice, for a key bound to several stores (or an admin key, which may work in any
// store): one large button per store. The choice is kept in the tab's sessionStorage.

import { el } from '/store/dom.js';
import { t } from '/store/i18n.js';

export function storeScreen({ stores, choose }) {
  const list = el('ul', { class: 'store-list' }, stores.map((store) => {
    const button = el('button', { type: 'button', class: 'store-choice', 'data-location-id': store.id },
      el('span', { class: 'store-name', text: store.name }),
      el('span', { class: 'store-id', text: store.id }));
    button.addEventListener('click', () => choose(store));
    return el('li', {}, button);
  }));
  const node = el('section', { class: 'screen screen-store card', 'aria-labelledby': 'screen-title' },
    el('h1', { id: 'screen-title', tabindex: '-1', text: t('store.title') }),
    el('p', { class: 'intro', text: stores.length > 0 ? t('store.intro') : t('store.none') }),
    list);
  return { node, title: t('store.title'), focus: list.querySelector('button'), dispose() {} };
}
