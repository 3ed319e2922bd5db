// How times, durations, numbers and statuses read in the app's language. The queue is about
// promises ("ready by 14:30"), so durations are rounded to the minute, as staff think of them.

import { locale, t } from '/store/i18n.js';

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export function duration(ms) {
  const total = Math.abs(ms);
  if (total < MINUTE) return t('time.lessThanMinute');
  const days = Math.floor(total / DAY);
  const hours = Math.floor((total % DAY) / HOUR);
  const minutes = Math.floor((total % HOUR) / MINUTE);
  if (days > 0) return t('time.days', { d: days, h: hours });
  if (hours > 0) return minutes > 0 ? t('time.hoursMinutes', { h: hours, m: String(minutes).padStart(2, '0') }) : t('time.hours', { h: hours });
  return t('time.minutes', { m: minutes });
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

// 14:30 today, "2 Dec, 14:30" on another day.
export function time(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return '';
  const options = sameDay(date, new Date())
    ? { hour: '2-digit', minute: '2-digit' }
    : { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
  return new Intl.DateTimeFormat(locale(), options).format(date);
}

export function number(value, fractionDigits = 0) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: fractionDigits, minimumFractionDigits: fractionDigits }).format(value);
}

export function status(value) {
  return t(`status.${value}`);
}

export const OPEN_STATUSES = ['allocated', 'picking', 'ready'];

// "under 1 min left" starts a cell or a sentence: its first letter is a capital.
function sentence(text) {
  return text.charAt(0).toLocaleUpperCase(locale()) + text.slice(1);
}

// Where an order stands against its promise: late (past readyBy and not ready yet), time
// left, or ready. Orders without readyBy (ship orders) have no pickup promise.
export function promise(order, now = Date.now()) {
  const { late, text } = standing(order, now);
  return { late, text: sentence(text) };
}

function standing(order, now) {
  if (!order.readyBy) return { late: false, text: t('queue.noPromise') };
  const due = new Date(order.readyBy).getTime();
  if (order.status === 'ready') {
    const readyAt = order.readyAt ? new Date(order.readyAt).getTime() : now;
    return readyAt > due
      ? { late: false, text: t('queue.readyLate', { duration: duration(readyAt - due) }) }
      : { late: false, text: t('queue.readyOnTime') };
  }
  if (now > due) return { late: true, text: t('queue.lateBy', { duration: duration(now - due) }) };
  return { late: false, text: t('queue.timeLeft', { duration: duration(due - now) }) };
}

export function age(order, now = Date.now()) {
  return t('queue.age', { duration: duration(now - new Date(order.createdAt).getTime()) });
}

// The lines that still count: replaced (not-found) lines are history, not work to do.
export function liveLines(order) {
  return order.lines.filter((line) => line.status !== 'not-found');
}
