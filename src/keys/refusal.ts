// What a refused key admission tells the client: the budget that ran out, its period and when it
// resets, or the key's request or token rate. `checks` hold the key's rate checks first, then from
// index `first` one check per budget, in the order of `budgets`.
import { GatewayError } from '../core/errors.js';
import type { Check, CheckResult } from '../limits/store.js';
import { fromMicros, toMicros, windowOf } from './periods.js';
import type { BudgetOf, LiveKey } from './registry.js';

const MINUTE_MS = 60_000;

export function spendRefusal(key: LiveKey, checks: readonly Check[], results: readonly CheckResult[], budgets: readonly BudgetOf[], first: number, now: number, reserve: number, currency: string): GatewayError {
  for (let i = first; i < checks.length; i++) {
    if (results[i]?.over !== true) continue;
    const b = budgets[i - first] as BudgetOf;
    const w = windowOf(b.budget, now);
    const reset = new Date(w.end).toISOString();
    const left = fromMicros(Math.max(0, toMicros(b.budget.amount) - (results[i]?.used ?? 0)));
    const need = reserve > 0 && left > 0 ? ` (this request may cost up to ${fromMicros(reserve)} ${currency}, ${left} ${currency} is left)` : '';
    return new GatewayError(
      'budget_exceeded',
      `Budget exceeded: the budget of ${b.label}, ${b.budget.amount} ${currency} per ${periodName(b.budget.period)}, is exhausted${need}; it resets at ${reset}.`,
      { headers: { 'retry-after': String(Math.max(1, Math.ceil((w.end - now) / 1000))) } },
    );
  }
  const over = results.findIndex((r, i) => i < first && r.over);
  const what = checks[over]?.key.startsWith('k:rpm:') === true ? `${key.doc.rpm ?? 0} requests` : `${key.doc.tpm ?? 0} tokens`;
  const reset = Math.max(1, Math.ceil((results[over]?.resetMs ?? MINUTE_MS) / 1000));
  return new GatewayError('rate_limited', `The API key "${key.id}" is limited to ${what} per minute; retry after ${reset} s.`, { headers: { 'retry-after': String(reset) } });
}

function periodName(p: string): string {
  return p === 'month' ? 'calendar month' : p;
}
