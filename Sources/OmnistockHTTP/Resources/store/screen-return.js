// The Return screen: an order number (of any store: a web order may come back anywhere)
// gives the lines that can still be returned; staff choose how many units of each come back
// and whether they go back to stock or are set aside as damaged, then record the return at
// this store.

import { ApiError, segment } from '/store/api.js';
import { el, field, replaceChildren, whileBusy } from '/store/dom.js';
import { status } from '/store/format.js';
import { t } from '/store/i18n.js';
import { createNotice, isAbort } from '/store/notice.js';

// The API takes return lines per SKU; order lines of the same SKU and condition are summed.
export function returnLines(choices) {
  const bySku = new Map();
  for (const { sku, quantity, restock } of choices) {
    if (quantity <= 0) continue;
    const key = `${sku}\u0000${restock}`;
    const held = bySku.get(key);
    if (held) held.quantity += quantity;
    else bySku.set(key, { sku, quantity, restock });
  }
  return [...bySku.values()];
}

export function returnScreen(ctx) {
  const controller = new AbortController();
  const notice = createNotice();
  const numberInput = el('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', enterkeyhint: 'search', required: true });
  const findButton = el('button', { type: 'submit', class: 'button primary', text: t('return.find') });
  const findForm = el('form', { class: 'inline-form', novalidate: true },
    field(t('return.number'), numberInput), findButton);
  const result = el('div', { class: 'return-result' });
  const node = el('section', { class: 'screen screen-return', 'aria-labelledby': 'screen-title' },
    el('h1', { id: 'screen-title', tabindex: '-1', text: t('return.title') }),
    el('p', { class: 'intro', text: t('return.intro') }),
    findForm, notice.node, result);

  findForm.addEventListener('submit', (event) => {
    event.preventDefault();
    find();
  });

  async function find() {
    const number = numberInput.value.trim();
    notice.clear();
    result.replaceChildren();
    if (!number) {
      notice.error(t('return.emptyNumber'));
      numberInput.focus();
      return;
    }
    await whileBusy(findButton, async () => {
      try {
        const order = await ctx.api.get(`/v1/returnable-orders/${segment(number)}`, { signal: controller.signal });
        renderOrder(order);
      } catch (error) {
        if (isAbort(error)) return;
        if (error instanceof ApiError && error.status === 404) notice.error(t('return.notFound', { number }));
        else notice.error(error);
      }
    });
  }

  function lineRow(line) {
    const returnable = Math.max(0, Number(line.returnable ?? 0));
    const quantity = el('input', {
      type: 'number', min: '0', max: String(returnable), step: '1', value: '0', inputmode: 'numeric', class: 'quantity',
      'aria-label': t('return.quantityLabel', { sku: line.sku }), disabled: returnable === 0,
    });
    const condition = el('select', { 'aria-label': t('return.conditionLabel', { sku: line.sku }), disabled: returnable === 0 },
      el('option', { value: 'restock', text: t('return.restock') }),
      el('option', { value: 'damaged', text: t('return.damaged') }));
    const row = el('tr', { class: returnable === 0 ? 'line-ended' : '' },
      el('td', { 'data-label': t('return.col.sku') }, el('span', { class: 'cell-stack' }, el('span', { class: 'sku', text: line.sku }),
        el('span', { class: 'line-note', text: status(line.status) }))),
      el('td', { 'data-label': t('return.col.bought'), class: 'numeric', text: String(line.quantity) }),
      el('td', { 'data-label': t('return.col.returnable'), class: 'numeric', text: String(returnable) }),
      el('td', { 'data-label': t('return.col.quantity') }, quantity),
      el('td', { 'data-label': t('return.col.condition') }, condition));
    return { row, line, quantity, condition, returnable };
  }

  function renderOrder(order) {
    const rows = order.lines.map(lineRow);
    const anything = rows.some((row) => row.returnable > 0);
    const submit = el('button', { type: 'submit', class: 'button primary', text: t('return.submit') });
    const form = el('form', { class: 'return-form', novalidate: true },
      el('table', { class: 'lines responsive' },
        el('thead', {}, el('tr', {},
          ['sku', 'bought', 'returnable', 'quantity', 'condition'].map((column) => el('th', {
            scope: 'col', class: ['bought', 'returnable'].includes(column) ? 'numeric' : undefined, text: t(`return.col.${column}`),
          })))),
        el('tbody', {}, rows.map((row) => row.row))),
      anything ? el('div', { class: 'form-actions' }, submit) : el('p', { class: 'empty', text: t('return.nothing') }));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      record(submit, order, rows);
    });
    replaceChildren(result,
      el('h2', { text: t('return.order', { number: order.orderNumber }) }),
      el('p', { class: 'order-status' }, el('span', { class: `badge status-${order.status}`, text: status(order.status) })),
      form);
  }

  async function record(button, order, rows) {
    notice.clear();
    const choices = rows.map((row) => ({
      sku: row.line.sku,
      quantity: Math.min(row.returnable, Math.max(0, Math.floor(Number(row.quantity.value) || 0))),
      restock: row.condition.value === 'restock',
    }));
    const lines = returnLines(choices);
    if (lines.length === 0) {
      notice.error(t('return.noneChosen'));
      rows.find((row) => row.returnable > 0)?.quantity.focus();
      return;
    }
    await whileBusy(button, async () => {
      try {
        await ctx.api.post(`/v1/orders/${segment(order.id)}/returns`, { locationId: ctx.store.id, lines }, `return:${order.id}`);
        const restocked = lines.filter((line) => line.restock).reduce((sum, line) => sum + line.quantity, 0);
        const damaged = lines.filter((line) => !line.restock).reduce((sum, line) => sum + line.quantity, 0);
        result.replaceChildren();
        notice.success(t('return.done', { restocked, damaged }));
        numberInput.select();
      } catch (error) {
        notice.error(error);
      }
    });
  }

  return {
    node,
    title: t('return.title'),
    dispose() {
      controller.abort();
    },
  };
}
