// The KPIs screen: the signed-in store's figures over a window (the last 24 hours, 7 days or
// 30 days), each with its numerator and denominator, from GET /v1/kpis; three charts drawn by
// the page (the order-to-ready distribution against the promise, no-show and order error rates
// per day, availability per store), each with a text alternative. An admin key also sees every
// store side by side: one read for all locations, and one per store (a bounded number).

import { query } from '/store/api.js';
import { barChart, lineChart, ratioBars } from '/store/chart.js';
import { el, replaceChildren } from '/store/dom.js';
import { duration, number } from '/store/format.js';
import { locale, t } from '/store/i18n.js';
import { createNotice } from '/store/notice.js';

const HOUR = 3600 * 1000;
const WINDOWS = [
  { key: '24h', hours: 24, granularity: 'hour' },
  { key: '7d', hours: 24 * 7, granularity: 'day' },
  { key: '30d', hours: 24 * 30, granularity: 'day' },
];
const DEFAULT_WINDOW = '7d';
const MAX_STORES = 20;        // the per-store reads of the admin view
const CONCURRENCY = 4;        // of those reads at a time
const BINS = 16;              // of the order-to-ready distribution, the last one for longer
const NAME_CHARS = 22;        // of a location's name in a chart (the tables have it whole)

// The window chosen last, kept while the app runs (a language switch builds the screen again).
let chosenWindow = DEFAULT_WINDOW;

function percent(value, digits = 1) {
  return new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: digits }).format(value);
}

function ratioText(ratio) {
  return ratio?.value === null || ratio?.value === undefined ? '—' : percent(ratio.value);
}

function ofText(ratio) {
  return t('kpi.of', { numerator: number(ratio?.numerator ?? 0), denominator: number(ratio?.denominator ?? 0) });
}

function seconds(value) {
  return value === undefined || value === null ? '—' : duration(value * 1000);
}

function shortName(name) {
  return name.length > NAME_CHARS ? `${name.slice(0, NAME_CHARS - 1)}…` : name;
}

// Runs `work` over `items` with at most `limit` at a time; the results in order.
async function bounded(items, limit, work) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// Orders per whole minute, in BINS bins of a width that puts the promise a few bins in (15
// minutes for a two-hour promise: 0-15 min … 3 h 30-3 h 45, then 3 h 45 and more).
function distributionBins(distribution, promiseSeconds) {
  const promiseMinutes = Math.max(1, Math.round(promiseSeconds / 60));
  const width = Math.max(1, Math.round(promiseMinutes / 8));
  const bins = Array.from({ length: BINS }, (_, index) => ({
    from: index * width, to: index === BINS - 1 ? null : (index + 1) * width, value: 0,
  }));
  for (const { minute, orders } of distribution ?? []) {
    const index = Math.min(BINS - 1, Math.floor(minute / width));
    bins[index].value += orders;
  }
  for (const bin of bins) {
    bin.over = bin.from >= promiseMinutes;
    bin.edge = minutesLabel(bin.from);
    bin.label = bin.to === null ? t('kpi.dist.longerShort', { from: minutesLabel(bin.from) }) : bin.edge;
    bin.range = bin.to === null ? t('kpi.dist.longer', { from: minutesLabel(bin.from) }) : t('kpi.dist.range', { from: minutesLabel(bin.from), to: minutesLabel(bin.to) });
  }
  return { bins, width, promiseAt: promiseMinutes / width };
}

function minutesLabel(minutes) {
  if (minutes === 0) return '0';
  if (minutes % 60 === 0) return t('time.hours', { h: minutes / 60 });
  if (minutes > 60) return t('time.hoursMinutes', { h: Math.floor(minutes / 60), m: String(minutes % 60).padStart(2, '0') });
  return t('time.minutes', { m: minutes });
}

function seriesLabel(entry, granularity) {
  const date = new Date(entry.from);
  const options = granularity === 'hour'
    ? { hour: '2-digit', minute: '2-digit' }
    : { day: 'numeric', month: 'short', timeZone: 'UTC' };
  return new Intl.DateTimeFormat(locale(), options).format(date);
}

function periodText(answer) {
  const format = new Intl.DateTimeFormat(locale(), { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
  return t('kpi.period', { from: format.format(new Date(answer.from)), to: format.format(new Date(answer.to)) });
}

// A small table, the text alternative of a chart, behind a disclosure.
function dataTable(caption, headers, rows) {
  return el('details', { class: 'chart-data' },
    el('summary', { text: t('kpi.showTable') }),
    el('table', { class: 'chart-table' },
      el('caption', { class: 'visually-hidden', text: caption }),
      el('thead', {}, el('tr', {}, headers.map((header, index) => el('th', { scope: 'col', class: index ? 'numeric' : '', text: header })))),
      el('tbody', {}, rows.map((row) => el('tr', {}, row.map((cell, index) => (index
        ? el('td', { class: 'numeric', text: cell })
        : el('th', { scope: 'row', text: cell }))))))));
}

function chartFigure(kind, title, chart, summary, table) {
  const id = `chart-${kind}-title`;
  return el('figure', { class: `chart chart-${kind}`, 'aria-labelledby': id, 'data-chart': kind },
    el('h3', { id, class: 'chart-title', text: title }),
    el('div', { class: 'chart-frame' }, chart),
    el('figcaption', { class: 'chart-summary', text: summary }),
    table);
}

export function kpisScreen(ctx) {
  const notice = createNotice();
  const admin = ctx.role === 'admin';
  const windowButtons = WINDOWS.map((choice) => {
    const button = el('button', { type: 'button', class: 'button secondary window-option', 'data-window': choice.key, text: t(`kpi.window.${choice.key}`) });
    button.addEventListener('click', () => {
      if (chosenWindow === choice.key && node.dataset.state !== 'error') return;
      chosenWindow = choice.key;
      load();
    });
    return button;
  });
  const refresh = el('button', { type: 'button', class: 'button secondary', text: t('kpi.refresh') });
  refresh.addEventListener('click', () => load());
  const period = el('p', { class: 'kpi-period' });
  const results = el('div', { class: 'kpi-results' });
  const node = el('section', { class: 'screen screen-kpis', 'aria-labelledby': 'screen-title' },
    el('h1', { id: 'screen-title', tabindex: '-1', text: t('kpi.title') }),
    el('p', { class: 'intro', text: admin ? t('kpi.introAdmin', { name: ctx.store.name }) : t('kpi.intro', { name: ctx.store.name }) }),
    el('div', { class: 'kpi-controls' },
      el('div', { class: 'window-choice', role: 'group', 'aria-label': t('kpi.window') }, windowButtons),
      refresh),
    period, notice.node, results);

  let generation = 0;
  let loadController = null;
  let shown = null;      // the last answers, drawn again when the width changes

  async function load() {
    generation += 1;
    const mine = generation;
    loadController?.abort();
    loadController = new AbortController();
    const { signal } = loadController;
    const choice = WINDOWS.find((candidate) => candidate.key === chosenWindow) ?? WINDOWS[1];
    for (const button of windowButtons) button.setAttribute('aria-pressed', String(button.dataset.window === choice.key));
    const to = new Date();
    const from = new Date(to.getTime() - choice.hours * HOUR);
    const range = { from: from.toISOString(), to: to.toISOString() };
    node.dataset.window = choice.key;
    node.dataset.state = 'loading';
    notice.clear();
    results.setAttribute('aria-busy', 'true');
    replaceChildren(results, el('p', { class: 'loading', text: t('kpi.loading') }));
    const read = (parameters) => ctx.api.get(`/v1/kpis${query(parameters)}`, { signal });
    try {
      const list = admin ? ctx.stores.slice(0, MAX_STORES) : [];
      const others = list.filter((store) => store.id !== ctx.store.id);
      const [figures, all, perStore] = await Promise.all([
        read({ ...range, locationId: ctx.store.id, granularity: choice.granularity }),
        admin ? read(range) : null,
        bounded(others, CONCURRENCY, (store) => read({ ...range, locationId: store.id })),
      ]);
      if (mine !== generation) return;
      const answers = new Map(others.map((store, index) => [store.id, perStore[index]]));
      answers.set(ctx.store.id, figures);
      const stores = list.map((store) => ({ store, figures: answers.get(store.id) }));
      shown = { figures, all, stores, choice, truncated: admin && ctx.stores.length > MAX_STORES };
      node.dataset.from = figures.from;
      node.dataset.to = figures.to;
      draw();
      node.dataset.state = 'ready';
    } catch (error) {
      if (mine !== generation || signal.aborted) return;
      node.dataset.state = 'error';
      results.removeAttribute('aria-busy');
      results.replaceChildren();
      period.textContent = '';
      notice.error(error);
    }
  }

  function chartWidth() {
    // The results' width less a chart card's padding and border (app.css: 1rem, 0.75rem on phones).
    const measured = results.clientWidth || node.clientWidth || 680;
    const inset = matchMedia('(max-width: 640px)').matches ? 26 : 34;
    return Math.max(280, Math.min(1040, Math.floor(measured) - inset));
  }

  function draw() {
    if (!shown) return;
    const { figures, all, stores, choice, truncated } = shown;
    const width = chartWidth();
    drawnWidth = width;
    period.textContent = periodText(figures);
    results.removeAttribute('aria-busy');
    replaceChildren(results,
      el('h2', { class: 'kpi-heading', text: t('kpi.storeFigures', { name: ctx.store.name }) }),
      figureList(figures),
      el('h2', { class: 'kpi-heading', text: t('kpi.charts') }),
      el('div', { class: 'chart-grid-layout' },
        distributionChart(figures, width),
        seriesChart(figures, choice, width),
        availabilityChart(admin ? all : figures, width)),
      admin && storesTable(all, stores, truncated));
  }

  function figureList(figures) {
    const error = figures.orderErrorRate;
    const ready = figures.orderToReady;
    const card = (key, label, value, detail, extra = '') => el('div', { class: `kpi ${extra}`.trim(), 'data-kpi': key },
      el('dt', { text: label }),
      el('dd', { class: 'kpi-value', text: value }),
      detail && el('dd', { class: 'kpi-detail', text: detail }));
    const ratio = (key, label, item, detailKey) => card(key, label, ratioText(item), t(detailKey, { of: ofText(item) }));
    return el('dl', { class: 'kpis' },
      ratio('unifiedAvailability', t('kpi.availability'), figures.unifiedAvailability, 'kpi.detail.positions'),
      card('orderErrorRate', t('kpi.errorRate'), ratioText(error),
        [t('kpi.detail.orders', { of: ofText(error) }), t('kpi.detail.errors', { lines: number(error.linesNotFound), cancelled: number(error.ordersCancelledForStock) })].join(' · ')),
      ratio('clickAndCollectShare', t('kpi.clickAndCollect'), figures.clickAndCollectShare, 'kpi.detail.orders'),
      card('orderToReady', t('kpi.orderToReady'), seconds(ready.medianSeconds),
        t('kpi.detail.toReady', { p90: seconds(ready.p90Seconds), count: ready.orders, orders: number(ready.orders) })),
      card('withinPromise', t('kpi.withinPromise', { promise: duration(ready.promiseSeconds * 1000) }), ratioText(ready.withinPromiseShare),
        t('kpi.detail.readyOrders', { of: ofText(ready.withinPromiseShare) })),
      ratio('noShowRate', t('kpi.noShow'), figures.noShowRate, 'kpi.detail.readyOrders'),
      ratio('splitShipmentRate', t('kpi.split'), figures.splitShipmentRate, 'kpi.detail.orders'),
      ratio('holdConversionRate', t('kpi.holds'), figures.holdConversionRate, 'kpi.detail.holds'),
      card('transfersInFlight', t('kpi.transfers'), number(figures.transfersInFlight), t('kpi.detail.transfers')),
      card('oversells', t('kpi.oversells'), number(figures.oversells),
        figures.oversells ? t('kpi.detail.oversellsBad') : t('kpi.detail.oversells'), figures.oversells ? 'kpi-alert' : ''));
  }

  function distributionChart(figures, width) {
    const ready = figures.orderToReady;
    const promise = ready.promiseSeconds;
    const { bins, promiseAt } = distributionBins(figures.readyDistribution, promise);
    const promiseText = duration(promise * 1000);
    const label = t('kpi.dist.label', { count: ready.orders, orders: number(ready.orders), promise: promiseText });
    const chart = barChart({
      width, label, bins,
      xTitle: t('kpi.dist.x'), yTitle: t('kpi.dist.y'),
      tickEvery: width < 520 ? 4 : 2,
      marker: { at: promiseAt, seconds: promise, label: t('kpi.dist.promise', { promise: promiseText }) },
      formatValue: (value) => number(value),
    });
    const summary = ready.orders === 0
      ? t('kpi.dist.none')
      : t('kpi.dist.summary', {
        count: ready.orders, orders: number(ready.orders), median: seconds(ready.medianSeconds), p90: seconds(ready.p90Seconds),
        within: ofText(ready.withinPromiseShare), promise: promiseText,
      });
    return chartFigure('distribution', t('kpi.dist.title'), chart, summary,
      dataTable(t('kpi.dist.title'), [t('kpi.dist.col.range'), t('kpi.dist.col.orders')],
        bins.filter((bin) => bin.value > 0).map((bin) => [bin.range, number(bin.value)])));
  }

  function seriesChart(figures, choice, width) {
    const series = figures.series ?? [];
    const perHour = choice.granularity === 'hour';
    const points = series.map((entry) => ({ label: seriesLabel(entry, choice.granularity) }));
    const lines = [
      { key: 'noShowRate', name: t('kpi.noShow'), kind: 'a', values: series.map((entry) => entry.noShowRate?.value ?? null) },
      { key: 'orderErrorRate', name: t('kpi.errorRate'), kind: 'b', values: series.map((entry) => entry.orderErrorRate?.value ?? null) },
    ];
    const title = perHour ? t('kpi.series.titleHour') : t('kpi.series.titleDay');
    const label = t('kpi.series.label', { title, count: series.length });
    const slots = Math.max(1, Math.floor((width - 80) / (perHour ? 56 : 64)));
    const chart = lineChart({
      width, label, points, lines,
      xTitle: perHour ? t('kpi.series.xHour') : t('kpi.series.xDay'), yTitle: t('kpi.series.y'),
      tickEvery: Math.max(1, Math.ceil(points.length / slots)),
      formatValue: (value) => percent(value, 0),
    });
    const legend = el('ul', { class: 'chart-legend' }, lines.map((line) => el('li', { class: `legend-${line.kind}` },
      el('span', { class: 'legend-swatch', 'aria-hidden': 'true' }), line.name)));
    const summary = t('kpi.series.summary', {
      noShow: `${ratioText(figures.noShowRate)} (${ofText(figures.noShowRate)})`,
      errors: `${ratioText(figures.orderErrorRate)} (${ofText(figures.orderErrorRate)})`,
    });
    const figure = chartFigure('series', title, chart, summary,
      dataTable(title, [perHour ? t('kpi.series.colHour') : t('kpi.series.colDay'), t('kpi.noShow'), t('kpi.errorRate')],
        series.map((entry, index) => [points[index].label,
          `${ratioText(entry.noShowRate)} (${ofText(entry.noShowRate)})`,
          `${ratioText(entry.orderErrorRate)} (${ofText(entry.orderErrorRate)})`])));
    figure.querySelector('.chart-frame').after(legend);
    return figure;
  }

  function availabilityChart(figures, width) {
    const locations = figures?.availabilityByLocation ?? [];
    const rows = locations.map((entry) => ({
      id: entry.locationId,
      name: shortName(entry.name || ctx.locationName(entry.locationId)),
      value: entry.availability?.value ?? null,
      text: `${ratioText(entry.availability)} · ${ofText(entry.availability)}`,
    }));
    const title = admin ? t('kpi.avail.titleAll') : t('kpi.avail.title');
    const chart = ratioBars({ width, label: t('kpi.avail.label', { title, count: rows.length }), rows, xTitle: t('kpi.avail.x'), formatValue: (value) => percent(value, 0) });
    const known = locations.filter((entry) => entry.availability?.value !== null && entry.availability?.value !== undefined);
    let summary = t('kpi.avail.none');
    if (known.length === 1) {
      summary = t('kpi.avail.one', { name: known[0].name || known[0].locationId, value: ratioText(known[0].availability), of: ofText(known[0].availability) });
    } else if (known.length > 1) {
      const sorted = [...known].sort((a, b) => b.availability.value - a.availability.value);
      const [best, worst] = [sorted[0], sorted[sorted.length - 1]];
      summary = t('kpi.avail.many', {
        count: locations.length, best: best.name || best.locationId, bestValue: ratioText(best.availability),
        worst: worst.name || worst.locationId, worstValue: ratioText(worst.availability),
      });
    }
    return chartFigure('availability', title, chart, summary,
      dataTable(title, [t('kpi.col.location'), t('kpi.availability')],
        locations.map((entry) => [entry.name || ctx.locationName(entry.locationId), `${ratioText(entry.availability)} (${ofText(entry.availability)})`])));
  }

  // Every store side by side (admin keys): one row per store, and the total of every location.
  function storesTable(all, stores, truncated) {
    const columns = [
      ['unifiedAvailability', t('kpi.availability'), (f) => f.unifiedAvailability],
      ['orderErrorRate', t('kpi.errorRate'), (f) => f.orderErrorRate],
      ['clickAndCollectShare', t('kpi.clickAndCollect'), (f) => f.clickAndCollectShare],
      ['orderToReady', t('kpi.col.median'), null],
      ['withinPromise', t('kpi.col.withinPromise'), (f) => f.orderToReady.withinPromiseShare],
      ['noShowRate', t('kpi.noShow'), (f) => f.noShowRate],
      ['splitShipmentRate', t('kpi.split'), (f) => f.splitShipmentRate],
      ['transfersInFlight', t('kpi.col.transfers'), 'count'],
      ['oversells', t('kpi.oversells'), 'count'],
    ];
    const cells = (figures) => columns.map(([key, label, pick]) => {
      if (!figures) return el('td', { 'data-label': label, 'data-kpi': key, text: '—' });
      if (pick === null) {
        return el('td', { class: 'numeric', 'data-label': label, 'data-kpi': key },
          el('span', { class: 'cell-stack' },
            el('span', { class: 'kpi-cell-value', text: seconds(figures.orderToReady.medianSeconds) }),
            el('span', { class: 'kpi-cell-detail', text: t('kpi.detail.readyCount', { count: figures.orderToReady.orders, orders: number(figures.orderToReady.orders) }) })));
      }
      if (pick === 'count') {
        const value = figures[key];
        return el('td', { class: `numeric${key === 'oversells' && value ? ' kpi-alert-cell' : ''}`, 'data-label': label, 'data-kpi': key, text: number(value) });
      }
      const ratio = pick(figures);
      return el('td', { class: 'numeric', 'data-label': label, 'data-kpi': key, 'data-numerator': ratio.numerator, 'data-denominator': ratio.denominator },
        el('span', { class: 'cell-stack' },
          el('span', { class: 'kpi-cell-value', text: ratioText(ratio) }),
          el('span', { class: 'kpi-cell-detail', text: ofText(ratio) })));
    });
    return el('section', { class: 'kpi-stores', 'aria-labelledby': 'kpi-stores-title' },
      el('h2', { id: 'kpi-stores-title', class: 'kpi-heading', text: t('kpi.stores.title') }),
      el('p', { class: 'intro', text: t('kpi.stores.intro') }),
      el('div', { class: 'table-scroll' },
        el('table', { class: 'kpi-table responsive' },
          el('caption', { class: 'visually-hidden', text: t('kpi.stores.title') }),
          el('thead', {}, el('tr', {},
            el('th', { scope: 'col', text: t('kpi.col.store') }),
            columns.map(([, label]) => el('th', { scope: 'col', class: 'numeric', text: label })))),
          el('tbody', {},
            stores.map(({ store, figures }) => el('tr', { 'data-location-id': store.id, class: store.id === ctx.store.id ? 'is-current' : '' },
              el('th', { scope: 'row', 'data-label': t('kpi.col.store') },
                el('span', { class: 'cell-stack' }, el('span', { text: store.name }), el('span', { class: 'store-id', text: store.id }))),
              cells(figures))),
            all && el('tr', { class: 'kpi-total', 'data-location-id': '*' },
              el('th', { scope: 'row', 'data-label': t('kpi.col.store'), text: t('kpi.stores.all') }),
              cells(all))))),
      truncated && el('p', { class: 'hint', text: t('kpi.stores.truncated', { count: MAX_STORES }) }));
  }

  // Charts are drawn to the width they have: a turn of the tablet draws them again.
  let drawnWidth = 0;
  let resizeTimer = null;
  const onResize = () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (shown && node.dataset.state === 'ready' && Math.abs(chartWidth() - drawnWidth) > 24) draw();
    }, 150);
  };
  window.addEventListener('resize', onResize);
  // The node is put in the page after this returns; the first read starts then (its width known).
  queueMicrotask(load);

  return {
    node,
    title: t('kpi.title'),
    dispose() {
      generation += 1;
      loadController?.abort();
      clearTimeout(resizeTimer);
      window.removeEventListener('resize', onResize);
    },
  };
}
