// The Order screen: one order's lines (what, how many, in what state, where they are), its
// customer reference and promise, and the store steps its status allows: Start picking, Mark
// ready, Not found per line (confirmed), Cancel (confirmed, with a reason). After Not found
// it says where the line was re-sourced, or that it was cancelled.

import { segment } from '/store/api.js';
import { confirmAction } from '/store/confirm.js';
import { el, field, replaceChildren, whileBusy } from '/store/dom.js';
import { age, OPEN_STATUSES, promise, status, time } from '/store/format.js';
import { t } from '/store/i18n.js';
import { createNotice, isAbort } from '/store/notice.js';

const CANCEL_REASONS = ['customer', 'damaged', 'store'];

function where(ctx, line) {
  if (line.status === 'in-transit') {
    return line.locationId && line.locationId !== ctx.store.id
      ? t('order.where.transit', { name: ctx.locationName(line.locationId) })
      : t('order.where.transitShort');
  }
  return line.locationId === ctx.store.id ? t('order.where.here') : ctx.locationName(line.locationId);
}

function fact(label, ...value) {
  return [el('dt', { text: label }), el('dd', {}, ...value)];
}

function fulfilmentText(ctx, order) {
  if (order.fulfilment?.type !== 'pickup') return t('order.ship');
  return order.fulfilment.locationId === ctx.store.id
    ? t('order.pickupHere')
    : t('order.pickupAt', { name: ctx.locationName(order.fulfilment.locationId) });
}

// What became of a line reported not found: the lines that replace it, or its cancellation.
export function notFoundOutcome(ctx, order, line) {
  const replacements = order.lines.filter((other) => other.replaces === line.id && other.status !== 'cancelled');
  if (replacements.length === 0) {
    const text = t('order.notFoundCancelled', { line: line.id, sku: line.sku });
    return order.status === 'cancelled' ? `${text} ${t('order.orderCancelledStock')}` : text;
  }
  const places = replacements.map((replacement) => t(replacement.status === 'in-transit' ? 'order.resourcedFrom' : 'order.resourcedAt', {
    quantity: replacement.quantity,
    name: ctx.locationName(replacement.locationId),
  }));
  return t('order.resourced', { line: line.id, sku: line.sku, where: places.join('; ') });
}

export function orderScreen(ctx, { id }) {
  const controller = new AbortController();
  const notice = createNotice();
  const heading = el('h1', { id: 'screen-title', tabindex: '-1', text: t('app.loading') });
  const body = el('div', { class: 'order-body' });
  const node = el('section', { class: 'screen screen-order', 'aria-labelledby': 'screen-title' },
    el('p', { class: 'back' }, el('a', { href: '#/queue', class: 'back-link', text: `← ${t('order.back')}` })),
    heading, notice.node, body);
  let order = ctx.live.get(id) ?? null;

  async function act(button, path, payload, action, success) {
    notice.clear();
    await whileBusy(button, async () => {
      try {
        const answer = await ctx.api.post(`/v1/orders/${segment(id)}${path}`, payload, action);
        order = answer;
        ctx.live.apply(answer);
        render();
        notice.success(success(answer));
        focusFirstAction();
      } catch (error) {
        notice.error(error);
      }
    });
  }

  function focusFirstAction() {
    (body.querySelector('.order-actions button') ?? heading).focus();
  }

  async function reportNotFound(button, line) {
    const confirmed = await confirmAction({
      title: t('order.confirmNotFound.title', { sku: line.sku }),
      body: t('order.confirmNotFound.body'),
      confirmLabel: t('order.confirmNotFound.ok'),
      danger: true,
    });
    if (!confirmed) return;
    await act(button, `/lines/${segment(line.id)}/not-found`, undefined, `not-found:${id}:${line.id}`,
      (answer) => notFoundOutcome(ctx, answer, line));
  }

  async function cancel(button) {
    const reason = el('select', { name: 'reason' },
      CANCEL_REASONS.map((value) => el('option', { value, text: t(`order.reason.${value}`) })));
    const confirmed = await confirmAction({
      title: t('order.confirmCancel.title', { number: order.orderNumber }),
      body: t('order.confirmCancel.body'),
      confirmLabel: t('order.confirmCancel.ok'),
      danger: true,
      fields: [field(t('order.confirmCancel.reason'), reason)],
    });
    if (!confirmed) return;
    await act(button, '/cancel', { reason: confirmed.reason }, `cancel:${id}`, () => t('order.cancelled'));
  }

  function actions() {
    const open = OPEN_STATUSES.includes(order.status);
    const handedOver = order.lines.some((line) => ['collected', 'shipped'].includes(line.status));
    const buttons = [];
    if (order.status === 'allocated') {
      const start = el('button', { type: 'button', class: 'button primary', text: t('order.startPicking') });
      start.addEventListener('click', () => act(start, '/picking', undefined, `picking:${id}`, () => t('order.nowPicking')));
      buttons.push(start);
    }
    if (order.status === 'picking' && order.fulfilment?.type === 'pickup') {
      const ready = el('button', { type: 'button', class: 'button primary', text: t('order.markReady') });
      ready.addEventListener('click', () => act(ready, '/ready', undefined, `ready:${id}`, () => t('order.nowReady')));
      buttons.push(ready);
    }
    if (open && !handedOver) {
      const cancelButton = el('button', { type: 'button', class: 'button danger-outline', text: t('order.cancel') });
      cancelButton.addEventListener('click', () => cancel(cancelButton));
      buttons.push(cancelButton);
    }
    return buttons.length > 0 ? el('div', { class: 'order-actions' }, buttons) : null;
  }

  function lineRow(line) {
    const canReport = line.status === 'allocated' && line.locationId === ctx.store.id && ['allocated', 'picking'].includes(order.status);
    const replacedBy = order.lines.filter((other) => other.replaces === line.id).map((other) => other.id);
    const notes = [
      line.replaces && t('order.replaces', { line: line.replaces }),
      replacedBy.length > 0 && t('order.replacedBy', { line: replacedBy.join(', ') }),
    ].filter(Boolean);
    let report = null;
    if (canReport) {
      report = el('button', { type: 'button', class: 'button secondary small', text: t('order.notFound'), 'aria-label': t('order.notFoundLabel', { sku: line.sku }) });
      report.addEventListener('click', () => reportNotFound(report, line));
    }
    return el('tr', { class: line.status === 'not-found' || line.status === 'cancelled' ? 'line-ended' : '' },
      el('td', { 'data-label': t('order.col.sku') }, el('span', { class: 'cell-stack' }, el('span', { class: 'sku', text: line.sku }),
        notes.map((note) => el('span', { class: 'line-note', text: note })))),
      el('td', { 'data-label': t('order.col.quantity'), class: 'numeric', text: String(line.quantity) }),
      el('td', { 'data-label': t('order.col.status') }, el('span', { class: `badge status-${line.status}`, text: status(line.status) })),
      el('td', { 'data-label': t('order.col.where'), text: where(ctx, line) }),
      el('td', { 'data-label': t('order.col.action'), class: 'line-action' }, report));
  }

  function render() {
    heading.textContent = t('order.title', { number: order.orderNumber });
    const due = promise(order);
    replaceChildren(body,
      el('p', { class: 'order-status' }, el('span', { class: `badge large status-${order.status}`, text: status(order.status) }),
        due.late && el('span', { class: 'badge late-badge large', text: t('queue.late') }),
        order.pickupLocked && el('span', { class: 'badge locked-badge large', text: t('order.locked') })),
      el('dl', { class: 'facts' },
        fact(t('order.reference'), order.reference || t('queue.noReference')),
        order.readyBy && fact(t('order.readyBy'), `${time(order.readyBy)} · `, el('span', { class: due.late ? 'due-late' : '', text: due.text })),
        fact(t('order.created'), `${time(order.createdAt)} · ${age(order)}`),
        fact(t('order.fulfilment'), fulfilmentText(ctx, order)),
        order.wrongPickupCodes > 0 && fact(t('collect.code'), t('order.wrongCodes', { count: order.wrongPickupCodes }))),
      actions(),
      el('h2', { text: t('order.lines') }),
      el('table', { class: 'lines responsive' },
        el('thead', {}, el('tr', {},
          ['sku', 'quantity', 'status', 'where', 'action'].map((column) => el('th', {
            scope: 'col', class: { quantity: 'numeric', action: 'line-action' }[column], text: t(`order.col.${column}`),
          })))),
        el('tbody', {}, order.lines.map(lineRow))));
  }

  // The live set tells us when this order changed (another tablet, the customer's
  // notification); an order that left the set is read once more to show how it ended.
  async function reload() {
    try {
      order = await ctx.api.get(`/v1/orders/${segment(id)}`, { signal: controller.signal });
      render();
    } catch (error) {
      if (isAbort(error)) return;
      if (!order) heading.textContent = t('order.title', { number: '' });
      notice.error(error);
    }
  }

  const onChange = (event) => {
    if (event.detail.id !== id) return;
    const held = ctx.live.get(id);
    if (held) {
      order = held;
      render();
    } else {
      reload();
    }
  };
  ctx.live.addEventListener('change', onChange);
  if (order) render();
  reload();

  return {
    node,
    title: t('order.title', { number: order?.orderNumber ?? '' }),
    dispose() {
      controller.abort();
      ctx.live.removeEventListener('change', onChange);
    },
  };
}
