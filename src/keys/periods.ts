// Budget windows. `1d`/`7d`/`30d` roll from the budget's anchor in whole periods, so a budget made
// at 14:00 resets at 14:00; `month` is the calendar month in UTC. The window's id names the period
// instance: it keys the live counter and the durable spend, so a new period starts from zero by
// itself and an old period's counter is never read again.
import type { Budget, Period } from './model.js';

const DAY_MS = 86_400_000;

export interface BudgetWindow {
  /** e.g. `30d:2026-12-01T14:00:00.000Z` or `month:2026-12`. */
  readonly id: string;
  readonly start: number;
  readonly end: number;
}

export function windowOf(b: Pick<Budget, 'period' | 'anchor'>, now: number): BudgetWindow {
  if (b.period === 'month') {
    const d = new Date(now);
    const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    const end = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
    return { id: `month:${new Date(start).toISOString().slice(0, 7)}`, start, end };
  }
  const len = periodDays(b.period) * DAY_MS;
  const anchor = Date.parse(b.anchor);
  const base = Number.isFinite(anchor) ? anchor : 0;
  const start = base + Math.floor((now - base) / len) * len;
  return { id: `${b.period}:${new Date(start).toISOString()}`, start, end: start + len };
}

function periodDays(p: Exclude<Period, 'month'>): number {
  switch (p) {
    case '1d':
      return 1;
    case '7d':
      return 7;
    case '30d':
      return 30;
  }
}

/** Money as integer micro-units of the currency: sums stay exact across millions of requests. */
export function toMicros(amount: number): number {
  return Math.round(amount * 1_000_000);
}

export function fromMicros(micros: number): number {
  return micros / 1_000_000;
}
