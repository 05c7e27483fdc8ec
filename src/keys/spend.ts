// Admission and settlement of a virtual key's request against its limits and budgets. Everything a
// request is checked against (the key's rpm and tpm, the key's, team's and organisation's budgets)
// is one atomic admission on the limit store: in process (or the instance's primary) for one
// instance, Redis when replicas share one, so 200 concurrent requests against budget for 50 admit
// exactly 50 anywhere. Admission reserves the worst-case cost; settlement replaces it with the real
// cost once the response has ended and writes the real cost to the durable spend journal, lazily;
// holds.ts keeps that laziness from overspending after a crash. When the limit store does not
// answer, the failure modes decide: refuse, or admit unchecked and charge the counters later.
import { flatCost, type Rates } from '../accounting/rates.js';
import type { CostInput } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { makeUsage, type Usage } from '../core/usage.js';
import type { Charge, Check, CheckResult, LimitStore } from '../limits/store.js';
import type { StateStore } from '../state/store.js';
import { BudgetHolds, spentFromHold, type HeldBudget } from './holds.js';
import { fromMicros, toMicros, windowOf } from './periods.js';
import { spendRefusal } from './refusal.js';
import type { BudgetOf, KeyRegistry, LiveKey } from './registry.js';

const MINUTE_MS = 60_000;
/** Live budget counters outlive their period by this much, so one never expires while it is read. */
const COUNTER_SLACK_MS = 86_400_000;
const JOURNAL_FLUSH_MS = 500;
const OUTAGE_LOG_MS = 10_000;

export interface SpendObserver {
  /** What is left of a budget after an admission; `subject` as in BudgetOf. */
  remaining(subject: string, period: string, amount: number): void;
  softLimitReached(subject: string, period: string): void;
}

/** What settlement needs of an admitted request. */
export interface SpendTicket {
  readonly key: LiveKey;
  readonly workload: string;
  readonly reservedMicros: number;
  readonly budgets: readonly HeldBudget[];
  readonly tpmCounter: string | undefined;
}

/**
 * What an admission does when the limit store does not answer: `open` admits (logged), `closed`
 * refuses with 503. A key's request and token rates follow the rate limits' mode; its budgets have
 * their own, because over-admitting money is not the same trade-off as over-admitting requests.
 */
export interface StoreFailureModes {
  readonly rates: 'open' | 'closed';
  readonly budgets: 'open' | 'closed';
}

export function budgetCounter(subject: string, window: string): string {
  return `b:${subject}:${window}`;
}

export class KeySpend {
  private pending = new Map<string, number>();
  private flushing: Promise<void> | undefined;
  /** Only when the live counters are in this instance's memory, which a crash loses. Counters on Redis outlive a gateway's crash and need none. */
  private readonly holds: BudgetHolds | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly softWarned = new Set<string>();
  /** Charges the store refused at settlement (it was unreachable), per counter, kept to apply later. */
  private unsettled = new Map<string, Charge>();
  private readonly outageWarned = new Map<string, { at: number; requests: number }>();

  constructor(
    private readonly registry: KeyRegistry,
    private readonly store: () => LimitStore,
    private readonly state: StateStore,
    private readonly rates: Rates | undefined,
    private readonly observer: SpendObserver,
    private readonly logger: Logger,
    private readonly failure: StoreFailureModes,
    /** Whether admissions take durable holds (see holds.ts). */
    holding: boolean,
    private readonly now: () => number = Date.now,
  ) {
    this.holds = holding ? new BudgetHolds(state) : undefined;
    this.timer = setInterval(() => void this.flush(), JOURNAL_FLUSH_MS);
    this.timer.unref();
  }

  /**
   * Admits a request of `key` to `model` (the model the backend is asked for) against the key's
   * rates and every budget not scoped to a backend, or throws the 429. `estimate` is the request's
   * worst case: its prompt and its maximum output.
   */
  async admit(key: LiveKey, workload: string, model: string, estimate: () => CostInput): Promise<SpendTicket | undefined> {
    const budgets = this.registry.budgetsOf(key).filter((b) => b.budget.backend === undefined);
    const rates: Check[] = [];
    if (key.doc.rpm !== undefined) rates.push(check(`k:rpm:${key.id}`, key.doc.rpm, MINUTE_MS, 1));
    const tpmCounter = key.doc.tpm === undefined ? undefined : `k:tpm:${key.id}`;
    if (tpmCounter !== undefined && key.doc.tpm !== undefined) rates.push(check(tpmCounter, key.doc.tpm, MINUTE_MS, 0));
    return this.run(key, workload, model, estimate, budgets, rates, tpmCounter);
  }

  /** Whether `key` (its team, its organisation) has a budget on `backend`. */
  hasBackendBudget(key: LiveKey, backend: string): boolean {
    return this.registry.budgetsOf(key).some((b) => b.budget.backend === backend);
  }

  /** Admits an attempt on `backend` against the budgets scoped to it; throws the 429 (the caller tries the next candidate). */
  async admitBackend(key: LiveKey, workload: string, backend: string, model: string, estimate: () => CostInput): Promise<SpendTicket | undefined> {
    const budgets = this.registry.budgetsOf(key).filter((b) => b.budget.backend === backend);
    return this.run(key, workload, model, estimate, budgets, [], undefined);
  }

  private async run(key: LiveKey, workload: string, model: string, estimate: () => CostInput, budgets: readonly BudgetOf[], checks: Check[], tpmCounter: string | undefined): Promise<SpendTicket | undefined> {
    if (budgets.length === 0 && checks.length === 0) return undefined;
    const now = this.now();
    const reserve = budgets.length === 0 ? 0 : this.costMicros(workload, model, worstCase(estimate()));
    const first = checks.length;
    const held: HeldBudget[] = [];
    for (const b of budgets) {
      const w = windowOf(b.budget, now);
      const counter = budgetCounter(b.subject, w.id);
      const windowMs = w.end - now + COUNTER_SLACK_MS;
      const limit = toMicros(b.budget.amount);
      checks.push(check(counter, limit, windowMs, reserve));
      held.push({ subject: b.subject, window: w.id, counter, windowMs, limit, end: w.end });
    }
    let admitted: boolean;
    let results: readonly CheckResult[];
    try {
      const r = await this.store().admit(checks, 'all');
      admitted = r.admitted;
      results = r.results;
      if (this.outageWarned.size > 0) this.outageWarned.clear();
    } catch (err) {
      return this.unreachable(key, workload, budgets, held, tpmCounter, err);
    }
    budgets.forEach((b, i) => this.report(b, results[first + i], now));
    if (!admitted) throw spendRefusal(key, checks, results, budgets, first, now, reserve, this.rates?.currency ?? '');
    const ticket: SpendTicket = { key, workload, reservedMicros: reserve, budgets: held, tpmCounter };
    if (reserve > 0 && this.holds !== undefined) await this.hold(this.holds, ticket, held.map((b, i) => b.limit - (results[first + i]?.used ?? 0)));
    return ticket;
  }

  /**
   * Takes the admitted worst case out of this process's holds. When the journal cannot be written,
   * the budgets' failure mode decides: open admits without a durable hold, closed refuses with 503.
   */
  private async hold(holds: BudgetHolds, t: SpendTicket, left: readonly number[]): Promise<void> {
    try {
      await holds.take(t.budgets, t.reservedMicros, left);
    } catch (err) {
      this.logger.warn('the spend journal cannot be written: budget holds are not durable', { err });
      if (this.failure.budgets === 'open') return;
      this.settle({ ...t, tpmCounter: undefined }, '', makeUsage({}));
      throw new GatewayError('state_store_unavailable', 'The budget journal (state store) cannot be written and this gateway fails closed; retry shortly.', { headers: { 'retry-after': '1' } });
    }
  }

  /**
   * The store did not answer. Closed: the 503, naming the store and the mode. Open: the request goes
   * through unchecked, and its ticket (nothing reserved) still settles the real cost, into the
   * journal at once and into the live counters when the store answers again.
   */
  private unreachable(key: LiveKey, workload: string, budgets: readonly BudgetOf[], held: HeldBudget[], tpmCounter: string | undefined, err: unknown): SpendTicket | undefined {
    const store = this.store().name === 'redis' ? 'Redis' : "the instance's limit store";
    const money = budgets.length > 0;
    const mode = money ? this.failure.budgets : this.failure.rates;
    const flag = money ? '--budget-failure-mode' : '--rate-limit-failure-mode';
    const what = money ? 'budgets' : 'request and token rates';
    if (mode === 'closed') {
      this.warnOutage(`${store} is unreachable: requests with a virtual key are refused (${flag} closed)`, key.id, err);
      throw new GatewayError(
        'rate_limit_unavailable',
        `The virtual key's ${what} cannot be checked: ${store} (where this gateway counts them) is unreachable, and the gateway refuses requests it cannot count (${flag} closed); retry shortly.`,
        { headers: { 'retry-after': '1' } },
      );
    }
    this.warnOutage(`${store} is unreachable: requests with a virtual key are admitted without checking their ${what} (${flag} open)`, key.id, err);
    return money || tpmCounter !== undefined ? { key, workload, reservedMicros: 0, budgets: held, tpmCounter } : undefined;
  }

  /** One line per key and message every OUTAGE_LOG_MS while the store is down, with how many requests it stands for. */
  private warnOutage(msg: string, keyId: string, err: unknown): void {
    const k = `${keyId}\u0000${msg}`;
    const now = this.now();
    const w = this.outageWarned.get(k) ?? { at: -Infinity, requests: 0 };
    w.requests++;
    this.outageWarned.set(k, w);
    if (now - w.at < OUTAGE_LOG_MS) return;
    this.logger.warn(msg, { key: keyId, requests: w.requests, err });
    w.at = now;
    w.requests = 0;
  }

  /** Replaces the reservation with the real cost (the usage the ledger records for the request). */
  settle(t: SpendTicket, model: string, usage: Usage): void {
    const actual = this.costMicros(t.workload, model, usage);
    const charges: Charge[] = [];
    const delta = actual - t.reservedMicros;
    if (delta !== 0) for (const b of t.budgets) charges.push({ kind: 'window', key: b.counter, windowMs: b.windowMs, amount: delta });
    if (t.tpmCounter !== undefined && usage.total > 0) charges.push({ kind: 'window', key: t.tpmCounter, windowMs: MINUTE_MS, amount: usage.total });
    if (charges.length > 0) void this.charge(charges);
    this.holds?.settle(t.budgets, t.reservedMicros - actual);
    if (actual > 0) {
      for (const b of t.budgets) {
        const k = `${b.subject}\u0000${b.window}`;
        this.pending.set(k, (this.pending.get(k) ?? 0) + actual);
      }
    }
  }

  private async charge(charges: readonly Charge[]): Promise<boolean> {
    try {
      await this.store().settle(charges, []);
      return true;
    } catch (err) {
      for (const c of charges) {
        const k = `${c.key}\u0000${c.windowMs}`;
        const had = this.unsettled.get(k);
        this.unsettled.set(k, had === undefined ? c : { ...had, amount: had.amount + c.amount });
      }
      this.logger.warn('charging a virtual key failed; the charge is kept until the limit store answers', { err });
      return false;
    }
  }

  /** Applies the charges kept while the store was unreachable (it answers again and kept its data). */
  async retryUnsettled(): Promise<void> {
    if (this.unsettled.size === 0) return;
    const charges = [...this.unsettled.values()];
    this.unsettled = new Map();
    if (await this.charge(charges)) this.logger.info('charges missed while the limit store was unreachable are applied', { counters: charges.length });
  }

  /** Forgets the kept charges: the counters are being rebuilt from the journal, which has them. */
  dropUnsettled(): void {
    this.unsettled = new Map();
  }

  /**
   * Writes the spend settled so far to the durable journal (all of a batch or none; retried), and
   * gives back the holds on windows that have ended.
   */
  flush(): Promise<void> {
    if (this.flushing !== undefined) return this.flushing;
    const ended = this.holds?.ended(this.now()) ?? [];
    if (this.pending.size === 0 && ended.length === 0) return Promise.resolve();
    const batch = this.pending;
    this.pending = new Map();
    // The real cost moves from the hold to the spend in one journal line: their sum never drops.
    const entries = [...batch].flatMap(([k, micros]) => {
      const [subject, window] = k.split('\u0000') as [string, string];
      const spent = { subject, window, micros };
      return this.holds === undefined ? [spent] : [spent, spentFromHold(subject, window, micros)];
    });
    entries.push(...ended);
    this.flushing = this.state
      .addSpend(entries)
      .catch((err: unknown) => {
        // Kept for the next flush: the journal is behind, never short.
        for (const [k, v] of batch) this.pending.set(k, (this.pending.get(k) ?? 0) + v);
        this.logger.warn('writing spend to the state store failed; retrying', { err });
      })
      .finally(() => {
        this.flushing = undefined;
      });
    return this.flushing;
  }

  /** Journals the spend so far and returns the holds' unused part (requests still in flight keep theirs). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    await this.flush();
    try {
      await this.holds?.returnUnused();
    } catch (err) {
      this.logger.warn('returning the unused budget holds failed: until their periods end, budgets count them as spent', { err });
    }
  }

  private costMicros(workload: string, model: string, usage: Usage): number {
    if (this.rates === undefined) return 0;
    const c = flatCost(this.rates, workload, model, usage);
    return c === undefined ? 0 : toMicros(c);
  }

  private report(b: BudgetOf, r: CheckResult | undefined, now: number): void {
    if (r === undefined) return;
    const limit = toMicros(b.budget.amount);
    this.observer.remaining(b.subject, b.budget.period, fromMicros(Math.max(0, limit - r.used)));
    const soft = b.budget.soft;
    if (soft === undefined || r.used < toMicros(soft)) return;
    const w = windowOf(b.budget, now);
    const k = `${b.subject}\u0000${w.id}`;
    if (this.softWarned.has(k)) return;
    this.softWarned.add(k);
    this.observer.softLimitReached(b.subject, b.budget.period);
    this.logger.warn('budget soft limit reached', { subject: b.subject, period: b.budget.period, window: w.id, soft, amount: b.budget.amount, spent: fromMicros(r.used) });
  }
}

function check(key: string, limit: number, windowMs: number, cost: number): Check {
  return { kind: 'window', key, limit, windowMs, cost, shadow: false, leaseId: '' };
}

/** The estimate's tokens as a usage: every prompt token at the full input price, the whole output allowance. */
function worstCase(e: CostInput): Usage {
  return makeUsage({ input: e.inputTokens, output: e.outputTokens });
}
