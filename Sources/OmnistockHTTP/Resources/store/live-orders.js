// The store's open orders, kept live. The queue is read once (every page, bounded), then the
// event stream is followed from the position that read reflects, so no change between the
// read and the stream is missed. For each order event the order is read again and upserted,
// or dropped once it is no longer open or no longer ours; events may repeat what the queue
// already shows, and a read older than the one held (a lower version) is ignored, so applying
// an event twice changes nothing.

import { ApiError, query, segment } from '/store/api.js';
import { OPEN_STATUSES } from '/store/format.js';
import { EventStream } from '/store/sse.js';

const PAGE_SIZE = 200;
const MAX_PAGES = 25;
const READ_ATTEMPTS = 3;
const READ_RETRY_MS = 2000;

const ORDER_EVENTS = [
  'order.created', 'order.picking', 'order.ready', 'order.collected', 'order.pickup-code-refused',
  'order.pickup-unlocked', 'order.shipped', 'order.cancelled', 'order.line-not-found',
  'order.transfer-received', 'order.expired', 'order.returned',
];
const TRANSFER_EVENTS = ['transfer.dispatched', 'transfer.received'];

// The order id of an event: its stream is `order-<id>`; the payload's order is the fallback.
export function orderIdOf(event) {
  if (typeof event.stream === 'string' && event.stream.startsWith('order-')) return event.stream.slice('order-'.length);
  return event.data?.order?.id ?? event.data?.orderId ?? null;
}

// In the store's queue: its pickup location is the store, or a line is allocated there (a
// ship order served from this store).
export function belongsTo(order, storeId) {
  if (order.fulfilment?.type === 'pickup' && order.fulfilment.locationId === storeId) return true;
  return order.lines.some((line) => line.locationId === storeId && line.status === 'allocated');
}

function sortKey(order) {
  const promise = order.readyBy ? new Date(order.readyBy).getTime() : Number.POSITIVE_INFINITY;
  return [promise, new Date(order.createdAt).getTime(), order.id];
}

// Oldest promise first; orders without a promise (ship orders) after, oldest first.
function compare(a, b) {
  const left = sortKey(a);
  const right = sortKey(b);
  for (let index = 0; index < left.length; index += 1) {
    if (left[index] < right[index]) return -1;
    if (left[index] > right[index]) return 1;
  }
  return 0;
}

export class LiveOrders extends EventTarget {
  constructor({ api, storeId, authorization, onFatal }) {
    super();
    this.api = api;
    this.storeId = storeId;
    this.orders = new Map();
    this.reading = new Map();
    this.dirty = new Set();
    this.loaded = false;
    this.status = 'connecting';
    this.position = null;
    this.reader = null;
    this.stream = new EventStream({
      url: () => `/v1/events/stream${query({ after: this.position, type: [...ORDER_EVENTS, ...TRANSFER_EVENTS] })}`,
      headers: authorization,
      onEvent: (event) => this.onEvent(event),
      onStatus: (status) => this.setStatus(status),
      onFatal,
    });
  }

  // Reads the queue (throws the ApiError when it cannot), then goes live. A stop() while the
  // queue is being read aborts the read, and the stream is then never started.
  async start() {
    this.reader?.abort();
    this.reader = new AbortController();
    const { signal } = this.reader;
    this.setStatus('connecting');
    const { orders, position } = await this.readQueue(signal);
    if (signal.aborted) return;
    this.orders = new Map(orders.map((order) => [order.id, order]));
    this.position = position;
    this.loaded = true;
    this.changed();
    this.stream.start();
  }

  stop() {
    this.reader?.abort();
    this.stream.stop();
    this.orders.clear();
    this.loaded = false;
  }

  reconnect() {
    this.stream.start();
  }

  // Every page of the open orders; the position is the first page's (the oldest reading), so
  // the stream replays anything that happened while the later pages were read.
  async readQueue(signal) {
    const orders = [];
    let position = null;
    let after;
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const answer = await this.api.get(`/v1/orders${query({ locationId: this.storeId, limit: PAGE_SIZE, after })}`, { signal });
      orders.push(...answer.orders);
      if (position === null && Number.isInteger(answer.position)) position = answer.position;
      if (!answer.next) break;
      after = answer.next;
    }
    return { orders: orders.filter((order) => OPEN_STATUSES.includes(order.status)), position };
  }

  list() {
    return [...this.orders.values()].sort(compare);
  }

  get(id) {
    return this.orders.get(id);
  }

  counts(now = Date.now()) {
    const counts = { allocated: 0, picking: 0, ready: 0, late: 0 };
    for (const order of this.orders.values()) {
      counts[order.status] += 1;
      if (order.readyBy && order.status !== 'ready' && new Date(order.readyBy).getTime() < now) counts.late += 1;
    }
    return counts;
  }

  // Applies an order as read (an action's answer or a fresh read): kept while open and ours,
  // dropped otherwise. An older version than the one held is ignored.
  apply(order) {
    const held = this.orders.get(order.id);
    if (held && Number.isInteger(held.version) && Number.isInteger(order.version) && order.version < held.version) return;
    const merged = held?.readyBy && !order.readyBy ? { ...order, readyBy: held.readyBy } : order;
    if (OPEN_STATUSES.includes(order.status) && belongsTo(order, this.storeId)) this.orders.set(order.id, merged);
    else if (!this.orders.delete(order.id)) return;
    this.changed(order.id);
  }

  drop(id) {
    if (this.orders.delete(id)) this.changed(id);
  }

  onEvent(message) {
    let event;
    try {
      event = JSON.parse(message.data);
    } catch {
      return;
    }
    if (Number.isInteger(event.position)) this.position = event.position;
    if (TRANSFER_EVENTS.includes(event.type)) {
      this.dispatchEvent(new CustomEvent('transfer', { detail: event }));
      return;
    }
    const id = orderIdOf(event);
    if (id && (this.orders.has(id) || this.mayConcern(event))) this.refresh(id);
  }

  // Whether an event of an order not in the queue may bring it in. The event's own snapshot
  // of the order says whether it is open and ours: the order of another store returned here
  // (which this key may not read) or an order already finished needs no read at all.
  mayConcern(event) {
    const locations = Array.isArray(event.locationIds) ? event.locationIds : [];
    if (locations.length > 0 && !locations.includes(this.storeId)) return false;
    const snapshot = event.data?.order;
    if (!snapshot || !Array.isArray(snapshot.lines)) return true;
    return OPEN_STATUSES.includes(snapshot.status) && belongsTo(snapshot, this.storeId);
  }

  // Reads the order again; events for an order already being read are coalesced into one
  // more read after it, so the last read always follows the last event.
  refresh(id) {
    if (this.reading.has(id)) {
      this.dirty.add(id);
      return this.reading.get(id);
    }
    const read = this.read(id).finally(() => {
      this.reading.delete(id);
      if (this.dirty.delete(id)) this.refresh(id);
    });
    this.reading.set(id, read);
    return read;
  }

  async read(id) {
    for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt += 1) {
      try {
        this.apply(await this.api.get(`/v1/orders/${segment(id)}`));
        return;
      } catch (error) {
        if (error instanceof ApiError && [403, 404].includes(error.status)) {
          this.drop(id);
          return;
        }
        if (error instanceof ApiError && error.kind === 'http' && error.status !== 503) return;
        if (attempt < READ_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, READ_RETRY_MS));
      }
    }
  }

  setStatus(status) {
    if (this.status === status) return;
    this.status = status;
    this.dispatchEvent(new CustomEvent('status', { detail: status }));
  }

  changed(id) {
    this.dispatchEvent(new CustomEvent('change', { detail: { id } }));
  }
}
