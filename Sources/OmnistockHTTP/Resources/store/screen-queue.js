// The Queue screen: the store's open orders, oldest promise first, with their age and how they
// stand against readyBy, and the counts per status. It follows the live order set: new orders
// appear and finished ones leave without a reload; the times are refreshed every 30 s.

import { el, replaceChildren } from '/store/dom.js';
import { age, liveLines, promise, status } from '/store/format.js';
import { t } from '/store/i18n.js';

const CLOCK_MS = 30000;

function countPill(name, value, extraClass = '') {
  return el('li', { class: `count count-${name} ${extraClass}`.trim() },
    el('span', { class: 'count-value', text: String(value) }),
    el('span', { class: 'count-label', text: t(`queue.count.${name}`) }));
}

function orderRow(order, now) {
  const due = promise(order, now);
  const lines = liveLines(order);
  const items = lines.reduce((sum, line) => sum + line.quantity, 0);
  return el('li', { class: due.late ? 'order-item late' : 'order-item' },
    el('a', { class: 'order-row', href: `#/order/${encodeURIComponent(order.id)}`, 'data-order-id': order.id },
      el('span', { class: 'order-main' },
        el('span', { class: 'order-number', text: order.orderNumber }),
        el('span', { class: 'order-reference', text: order.reference || t('queue.noReference') })),
      el('span', { class: `badge status-${order.status}`, text: status(order.status) }),
      el('span', { class: 'order-lines', text: `${t('queue.lines', { count: lines.length })} · ${t('queue.items', { count: items })}` }),
      el('span', { class: 'order-age', text: age(order, now) }),
      el('span', { class: 'order-due' },
        el('span', { class: due.late ? 'badge late-badge' : '', text: due.text }))));
}

export function queueScreen(ctx) {
  const summary = el('p', { class: 'queue-summary', id: 'queue-summary' });
  const counts = el('ul', { class: 'counts', 'aria-label': t('queue.countsLabel') });
  const live = el('div', { class: 'queue-live', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' }, summary, counts);
  const list = el('ul', { class: 'order-list', 'aria-label': t('queue.listLabel') });
  const empty = el('p', { class: 'empty', hidden: true, text: t('queue.empty') });
  const node = el('section', { class: 'screen screen-queue', 'aria-labelledby': 'screen-title' },
    el('h1', { id: 'screen-title', tabindex: '-1', text: t('queue.title') }),
    live, list, empty);

  // The live region holds only the counts: announcing whole lists on each event would drown
  // a screen reader user, while "5 open orders, 1 late" is what they need to hear. It is
  // rewritten only when a count changed, so the 30 s clock does not repeat it.
  let shownCounts = '';
  function renderCounts(now) {
    const value = ctx.live.counts(now);
    const signature = JSON.stringify(value);
    if (signature === shownCounts) return;
    shownCounts = signature;
    const total = value.allocated + value.picking + value.ready;
    summary.textContent = t('queue.summary', { count: total });
    replaceChildren(counts,
      countPill('allocated', value.allocated),
      countPill('picking', value.picking),
      countPill('ready', value.ready),
      countPill('late', value.late, value.late > 0 ? 'has-late' : ''));
  }

  function render() {
    const now = Date.now();
    if (!ctx.live.loaded) {
      summary.textContent = t('queue.loading');
      return;
    }
    renderCounts(now);
    const orders = ctx.live.list();
    replaceChildren(list, orders.map((order) => orderRow(order, now)));
    empty.hidden = orders.length > 0;
  }

  const onChange = () => render();
  ctx.live.addEventListener('change', onChange);
  const clock = setInterval(render, CLOCK_MS);
  render();

  return {
    node,
    title: t('queue.title'),
    dispose() {
      ctx.live.removeEventListener('change', onChange);
      clearInterval(clock);
    },
  };
}
