// The Stock screen: a SKU's position here (on hand, held, allocated, available, incoming)
// and what the nearest stores have; below, the transfers on their way to this store, each
// received with the quantities that arrived (prefilled with what was sent, editable).

import { query, segment } from '/store/api.js';
import { el, field, replaceChildren, whileBusy } from '/store/dom.js';
import { number, time } from '/store/format.js';
import { t } from '/store/i18n.js';
import { createNotice, isAbort } from '/store/notice.js';

const NEAREST_SHOWN = 5;
const TRANSFER_PAGES = 10;

function figure(label, value, extraClass = '') {
  return el('div', { class: `figure ${extraClass}`.trim() },
    el('dt', { text: label }),
    el('dd', { text: number(value ?? 0) }));
}

export function stockScreen(ctx) {
  const controller = new AbortController();
  const lookupNotice = createNotice();
  const transferNotice = createNotice();
  const skuInput = el('input', { type: 'text', autocomplete: 'off', spellcheck: 'false', enterkeyhint: 'search', autocapitalize: 'characters' });
  const lookupButton = el('button', { type: 'submit', class: 'button primary', text: t('stock.lookup') });
  const lookupForm = el('form', { class: 'inline-form', novalidate: true }, field(t('stock.sku'), skuInput), lookupButton);
  const position = el('div', { class: 'stock-result' });
  const transfers = el('div', { class: 'transfer-list' });
  const node = el('section', { class: 'screen screen-stock', 'aria-labelledby': 'screen-title' },
    el('h1', { id: 'screen-title', tabindex: '-1', text: t('stock.title') }),
    lookupForm, lookupNotice.node, position,
    el('section', { class: 'transfers', 'aria-labelledby': 'transfers-title' },
      el('h2', { id: 'transfers-title', text: t('stock.transfers') }),
      transferNotice.node, transfers));

  lookupForm.addEventListener('submit', (event) => {
    event.preventDefault();
    lookup();
  });

  async function lookup() {
    const sku = skuInput.value.trim();
    lookupNotice.clear();
    position.replaceChildren();
    if (!sku) {
      lookupNotice.error(t('stock.emptySku'));
      skuInput.focus();
      return;
    }
    await whileBusy(lookupButton, async () => {
      try {
        const near = `${ctx.store.latitude},${ctx.store.longitude}`;
        const [here, availability] = await Promise.all([
          ctx.api.get(`/v1/stock/${segment(ctx.store.id)}/${segment(sku)}`, { signal: controller.signal }),
          ctx.api.get(`/v1/availability${query({ sku, near })}`, { signal: controller.signal }),
        ]);
        renderPosition(sku, here, availability.items?.[0]);
      } catch (error) {
        lookupNotice.error(error);
      }
    });
  }

  function renderPosition(sku, here, item) {
    const others = (item?.pickup ?? []).filter((entry) => entry.locationId !== ctx.store.id && entry.available > 0).slice(0, NEAREST_SHOWN);
    replaceChildren(position,
      el('h2', { text: t('stock.here', { name: ctx.store.name }) }),
      el('dl', { class: 'figures' },
        figure(t('stock.onHand'), here.onHand),
        figure(t('stock.held'), here.held),
        figure(t('stock.allocated'), here.allocated),
        figure(t('stock.available'), here.available, 'figure-main'),
        figure(t('stock.incoming'), here.incoming)),
      el('h2', { text: t('stock.nearest') }),
      others.length === 0
        ? el('p', { class: 'empty', text: t('stock.noNearest', { sku }) })
        : el('table', { class: 'nearest' },
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col', text: t('stock.col.store') }),
            el('th', { scope: 'col', class: 'numeric', text: t('stock.col.available') }),
            el('th', { scope: 'col', class: 'numeric', text: t('stock.col.distance') }))),
          el('tbody', {}, others.map((entry) => el('tr', {},
            el('td', { text: entry.name || ctx.locationName(entry.locationId) }),
            el('td', { class: 'numeric', text: number(entry.available) }),
            el('td', { class: 'numeric', text: entry.distanceKm === undefined ? '—' : t('stock.km', { distance: number(entry.distanceKm, 1) }) }))))));
  }

  async function loadTransfers() {
    try {
      const list = [];
      let after;
      for (let page = 0; page < TRANSFER_PAGES; page += 1) {
        const answer = await ctx.api.get(`/v1/transfers${query({ toLocationId: ctx.store.id, status: 'in-transit', after })}`, { signal: controller.signal });
        list.push(...(answer.transfers ?? []));
        if (!answer.next) break;
        after = answer.next;
      }
      renderTransfers(list.filter((transfer) => transfer.status === 'in-transit'));
    } catch (error) {
      if (!isAbort(error)) transferNotice.error(error);
    }
  }

  function transferCard(transfer) {
    const inputs = transfer.lines.map((line) => el('input', {
      type: 'number', min: '0', max: String(line.quantity), step: '1', value: String(line.quantity), inputmode: 'numeric',
      class: 'quantity', 'aria-label': t('stock.arrivedLabel', { sku: line.sku }),
    }));
    const receive = el('button', { type: 'submit', class: 'button primary', text: t('stock.receive') });
    const form = el('form', { class: 'transfer-card', novalidate: true, 'data-transfer-id': transfer.id },
      el('h3', { text: t('stock.transferFrom', { name: ctx.locationName(transfer.fromLocationId) }) }),
      el('p', { class: 'transfer-meta' },
        el('span', { text: t('stock.dispatched', { time: time(transfer.dispatchedAt) }) }),
        transfer.reference && el('span', { text: t('stock.reference', { reference: transfer.reference }) }),
        transfer.orderId && el('span', { text: t('stock.forOrder') })),
      el('table', { class: 'lines' },
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col', text: t('order.col.sku') }),
          el('th', { scope: 'col', class: 'numeric', text: t('stock.col.sent') }),
          el('th', { scope: 'col', text: t('stock.col.arrived') }))),
        el('tbody', {}, transfer.lines.map((line, index) => el('tr', {},
          el('td', {}, el('span', { class: 'sku', text: line.sku })),
          el('td', { class: 'numeric', text: String(line.quantity) }),
          el('td', {}, inputs[index]))))),
      el('div', { class: 'form-actions' }, receive));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      receiveTransfer(receive, transfer, inputs);
    });
    return form;
  }

  async function receiveTransfer(button, transfer, inputs) {
    transferNotice.clear();
    const lines = transfer.lines.map((line, index) => ({
      sku: line.sku,
      quantity: Math.min(line.quantity, Math.max(0, Math.floor(Number(inputs[index].value) || 0))),
    }));
    await whileBusy(button, async () => {
      try {
        const answer = await ctx.api.post(`/v1/transfers/${segment(transfer.id)}/receive`, { lines }, `receive:${transfer.id}`);
        const received = lines.reduce((sum, line) => sum + line.quantity, 0);
        const lost = (answer?.lines ?? []).reduce((sum, line) => sum + (line.lost ?? 0), 0);
        transferNotice.success([t('stock.received', { count: received }), lost > 0 && t('stock.receivedLost', { count: lost })].filter(Boolean).join(' '));
        refreshTransfers();
      } catch (error) {
        transferNotice.error(error);
      }
    });
  }

  // A list being edited is not replaced under the user's fingers: a refresh from the stream
  // keeps the cards whose transfer is still on its way, and only adds or removes others.
  function renderTransfers(list) {
    const kept = new Map([...transfers.querySelectorAll('.transfer-card')].map((card) => [card.dataset.transferId, card]));
    replaceChildren(transfers, list.length === 0
      ? el('p', { class: 'empty', text: t('stock.noTransfers') })
      : list.map((transfer) => kept.get(transfer.id) ?? transferCard(transfer)));
  }

  // Transfer events of other stores are skipped; a burst of ours (an order re-sourced line by
  // line) gives one read in flight and at most one more after it.
  let loading = null;
  let again = false;
  function refreshTransfers() {
    if (loading) {
      again = true;
      return;
    }
    loading = loadTransfers().finally(() => {
      loading = null;
      if (again) {
        again = false;
        refreshTransfers();
      }
    });
  }
  const onTransfer = (event) => {
    const locations = event.detail?.locationIds ?? [];
    if (locations.length === 0 || locations.includes(ctx.store.id)) refreshTransfers();
  };
  ctx.live.addEventListener('transfer', onTransfer);
  refreshTransfers();

  return {
    node,
    title: t('stock.title'),
    dispose() {
      controller.abort();
      ctx.live.removeEventListener('transfer', onTransfer);
    },
  };
}
