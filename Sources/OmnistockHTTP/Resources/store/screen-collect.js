// The Collect screen: the store's ready orders (filtered by order number or reference), and
// for the one chosen, the pickup code check. A wrong code says how many attempts are left;
// after too many the order is locked, and staff who have checked the customer can Unlock it.
// The right code hands the order over, and it leaves the list.

import { ApiError, segment } from '/store/api.js';
import { el, field, replaceChildren, whileBusy } from '/store/dom.js';
import { liveLines, time } from '/store/format.js';
import { t } from '/store/i18n.js';
import { createNotice } from '/store/notice.js';
import { scanSupported, startScan } from '/store/scanner.js';

function matches(order, filter) {
  if (!filter) return true;
  const needle = filter.toLowerCase();
  return order.orderNumber.toLowerCase().includes(needle) || (order.reference ?? '').toLowerCase().includes(needle);
}

export function collectScreen(ctx) {
  const notice = createNotice();
  const filterInput = el('input', { type: 'search', autocomplete: 'off', spellcheck: 'false', enterkeyhint: 'search' });
  const list = el('ul', { class: 'ready-list', 'aria-label': t('collect.filterHint') });
  const listNote = el('p', { class: 'empty', hidden: true });
  const panel = el('div', { class: 'collect-panel', 'aria-live': 'off' });
  const node = el('section', { class: 'screen screen-collect', 'aria-labelledby': 'screen-title' },
    el('h1', { id: 'screen-title', tabindex: '-1', text: t('collect.title') }),
    el('div', { class: 'collect-layout' },
      el('div', { class: 'collect-list' }, field(t('collect.filter'), filterInput, t('collect.filterHint')), list, listNote),
      el('div', { class: 'collect-detail' }, panel, notice.node)));

  let selectedId = null;
  // Orders this page saw locked (the 5th wrong code, or a 409), before the event's re-read.
  const locked = new Set();
  let scan = null;
  let codeInput = null;

  function readyOrders() {
    return ctx.live.list().filter((order) => order.status === 'ready');
  }

  function renderList() {
    const filter = filterInput.value.trim();
    const all = readyOrders();
    const shown = all.filter((order) => matches(order, filter));
    replaceChildren(list, shown.map((order) => {
      const button = el('button', {
        type: 'button', class: 'ready-order', 'aria-pressed': String(order.id === selectedId), 'data-order-id': order.id,
      },
      el('span', { class: 'order-number', text: order.orderNumber }),
      el('span', { class: 'order-reference', text: order.reference || t('queue.noReference') }),
      el('span', { class: 'order-age', text: order.readyAt ? t('collect.readySince', { time: time(order.readyAt) }) : '' }));
      button.addEventListener('click', () => select(order.id));
      return el('li', {}, button);
    }));
    listNote.hidden = shown.length > 0;
    listNote.textContent = all.length === 0 ? t('collect.empty') : t('collect.noMatch', { filter });
  }

  function select(id) {
    stopScan();
    selectedId = id;
    codeInput = null;
    notice.clear();
    renderList();
    renderPanel();
    (codeInput ?? panel.querySelector('button'))?.focus();
  }

  function isLocked(order) {
    return order.pickupLocked || locked.has(order.id);
  }

  function renderPanel() {
    const order = selectedId ? ctx.live.get(selectedId) : null;
    if (!order || order.status !== 'ready') {
      replaceChildren(panel, el('p', { class: 'hint', text: t('collect.choose') }));
      return;
    }
    const lines = liveLines(order).filter((line) => line.status !== 'cancelled');
    replaceChildren(panel,
      el('h2', { text: t('collect.selected', { number: order.orderNumber }) }),
      el('p', { class: 'order-reference', text: order.reference || t('queue.noReference') }),
      el('ul', { class: 'item-list' }, lines.map((line) => el('li', {}, el('span', { class: 'sku', text: line.sku }), ` × ${line.quantity}`))),
      isLocked(order) ? lockedBox(order) : codeForm(order));
  }

  function lockedBox(order) {
    const unlock = el('button', { type: 'button', class: 'button primary', text: t('collect.unlock') });
    unlock.addEventListener('click', () => unlockOrder(unlock, order));
    return el('div', { class: 'locked-box' },
      el('p', { class: 'locked-title', text: t('collect.locked') }),
      el('p', { text: t('collect.lockedHint') }),
      unlock);
  }

  function codeForm(order) {
    codeInput ??= el('input', {
      type: 'text', autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', maxlength: '8',
      inputmode: 'text', enterkeyhint: 'done', class: 'code-input',
    });
    const submit = el('button', { type: 'submit', class: 'button primary', text: t('collect.submit') });
    const form = el('form', { class: 'code-form', novalidate: true },
      field(t('collect.code'), codeInput, t('collect.codeHint')),
      el('div', { class: 'form-actions' }, submit, scanSupported() && scanButton()),
      el('div', { class: 'scanner' }));
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      collect(submit, order);
    });
    return form;
  }

  function scanButton() {
    const button = el('button', { type: 'button', class: 'button secondary', text: t('collect.scan') });
    button.addEventListener('click', () => (scan ? stopScan() : beginScan(button)));
    return button;
  }

  async function beginScan(button) {
    button.textContent = t('collect.stopScan');
    notice.info(t('collect.scanning'));
    scan = startScan(panel.querySelector('.scanner'));
    try {
      const code = await scan.done;
      if (code && codeInput) {
        codeInput.value = code;
        notice.clear();
        panel.querySelector('.code-form')?.requestSubmit();
      }
    } catch (error) {
      notice.error(t('collect.scanFailed', { reason: error.message }));
    } finally {
      scan = null;
      button.textContent = t('collect.scan');
    }
  }

  function stopScan() {
    scan?.stop();
    scan = null;
  }

  async function collect(button, order) {
    const code = codeInput.value.trim().toUpperCase();
    if (!code) {
      notice.error(t('collect.emptyCode'));
      codeInput.focus();
      return;
    }
    await whileBusy(button, async () => {
      try {
        const answer = await ctx.api.post(`/v1/orders/${segment(order.id)}/collect`, { pickupCode: code }, `collect:${order.id}`);
        ctx.live.apply(answer);
        selectedId = null;
        codeInput = null;
        renderList();
        renderPanel();
        notice.success(t('collect.collected', { number: answer.orderNumber }));
      } catch (error) {
        refused(error, order);
      }
    });
  }

  function refused(error, order) {
    const wrong = error instanceof ApiError ? error.errorWith('pickup-code-wrong') : null;
    if (wrong) {
      const left = Number(wrong.attemptsLeft ?? 0);
      if (left <= 0) return showLocked(order);
      notice.error(t('collect.wrong', { count: left }));
      codeInput.select();
      ctx.live.refresh(order.id);
      return undefined;
    }
    if (error instanceof ApiError && error.hasCode('pickup-locked')) return showLocked(order);
    notice.error(error);
    return undefined;
  }

  function showLocked(order) {
    locked.add(order.id);
    codeInput = null;
    renderPanel();
    notice.error(t('collect.locked'));
    panel.querySelector('.locked-box button')?.focus();
    ctx.live.refresh(order.id);
  }

  async function unlockOrder(button, order) {
    notice.clear();
    await whileBusy(button, async () => {
      try {
        const answer = await ctx.api.post(`/v1/orders/${segment(order.id)}/unlock`, undefined, `unlock:${order.id}`);
        locked.delete(order.id);
        ctx.live.apply(answer);
        renderPanel();
        notice.success(t('collect.unlocked'));
        codeInput?.focus();
      } catch (error) {
        notice.error(error);
      }
    });
  }

  // Another tablet may collect or unlock the order shown: the panel follows, without losing
  // what is being typed (the code input is kept while the same order stays selected).
  const onChange = (event) => {
    renderList();
    if (event.detail.id && event.detail.id === selectedId) {
      const order = ctx.live.get(selectedId);
      if (order && !order.pickupLocked && locked.has(order.id) && order.wrongPickupCodes === 0) locked.delete(order.id);
      const showsLock = Boolean(panel.querySelector('.locked-box'));
      if (!order || order.status !== 'ready' || showsLock !== isLocked(order)) renderPanel();
    }
  };
  filterInput.addEventListener('input', renderList);
  ctx.live.addEventListener('change', onChange);
  renderList();
  renderPanel();

  return {
    node,
    title: t('collect.title'),
    dispose() {
      stopScan();
      ctx.live.removeEventListener('change', onChange);
    },
  };
}
