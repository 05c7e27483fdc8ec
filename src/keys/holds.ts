// Durable holds on budgets, for a process whose live budget counters are in its own memory. Spend
// reaches the durable journal lazily (every half second), so a process killed outright would forget
// what it admitted since. To keep a restart from handing that money out again, a process first takes
// a durable *hold* on each budget it admits against (a journal entry under the subject
// `hold:<subject>`) and admits only within it: an admission whose worst case the process's hold still
// covers does no I/O; one that does not waits for one write that extends the hold by a share of the
// budget. Each lazy spend write moves the real cost from the hold to the spend in the same line, and a
// clean shutdown returns what is left of the hold. After a crash the live counters are rebuilt from
// spend plus holds: the crashed process's unreturned hold is counted as spent, so the budget errs on
// the side of refusing (by at most that hold and the worst cases of the requests it had in flight),
// never of overspending.
import type { SpendEntry, StateStore } from '../state/store.js';

/** Journal subjects of holds: `hold:key:<id>` holds for `key:<id>`. */
export const HOLD_PREFIX = 'hold:';
/** A hold is extended by this share of the budget, or by HOLD_REQUESTS worst cases when that is more. */
const HOLD_SHARE = 0.01;
const HOLD_REQUESTS = 4;

/** One budget window a request is admitted under. */
export interface HeldBudget {
  readonly subject: string;
  readonly window: string;
  readonly counter: string;
  readonly windowMs: number;
  /** The budget's amount, in micros. */
  readonly limit: number;
  /** When the window ends (ms since the epoch). */
  readonly end: number;
}

/** This process's hold on one budget window: what of the journalled hold is neither reserved nor spent. */
interface Hold {
  readonly subject: string;
  readonly window: string;
  readonly limit: number;
  readonly end: number;
  /** What the latest admission left of the budget: a hold never reaches further. */
  left: number;
  free: number;
}

/** The journal entry taking `micros` of spend out of the hold on `subject`'s `window`. */
export function spentFromHold(subject: string, window: string, micros: number): SpendEntry {
  return { subject: HOLD_PREFIX + subject, window, micros: -micros };
}

export class BudgetHolds {
  private readonly holds = new Map<string, Hold>();
  private extending: Promise<void> | undefined;

  constructor(private readonly state: StateStore) {}

  /**
   * Takes an admitted worst case (`reserved`) out of this process's hold on each of `budgets`,
   * extending (durably, before the request goes anywhere) each hold that does not cover it. `left[i]`
   * is what the admission left of budget i. Rejects when the journal could not be written twice.
   */
  async take(budgets: readonly HeldBudget[], reserved: number, left: readonly number[]): Promise<void> {
    const mine = budgets.map((b, i) => {
      const k = `${b.subject}\u0000${b.window}`;
      let h = this.holds.get(k);
      if (h === undefined) this.holds.set(k, (h = { subject: b.subject, window: b.window, limit: b.limit, end: b.end, left: 0, free: 0 }));
      h.free -= reserved;
      h.left = left[i] ?? 0;
      return h;
    });
    let failures = 0;
    while (mine.some((h) => h.free < 0)) {
      if (this.extending !== undefined) {
        await this.extending.catch(() => undefined);
        continue;
      }
      try {
        this.extending = this.extend(reserved);
        await this.extending;
      } catch (err) {
        if (++failures < 2) continue;
        throw err;
      } finally {
        this.extending = undefined;
      }
    }
  }

  /** One durable write extending every hold that is short, each by what it lacks plus a share of its budget. */
  private async extend(reserve: number): Promise<void> {
    const grants: Array<[Hold, number]> = [];
    for (const h of this.holds.values()) {
      if (h.free >= 0) continue;
      grants.push([h, -h.free + Math.max(0, Math.min(h.left, Math.max(Math.ceil(h.limit * HOLD_SHARE), HOLD_REQUESTS * reserve)))]);
    }
    if (grants.length === 0) return;
    await this.state.addSpend(grants.map(([h, micros]) => ({ subject: HOLD_PREFIX + h.subject, window: h.window, micros })));
    for (const [h, micros] of grants) h.free += micros;
  }

  /** Gives back to the holds on `budgets` what a request reserved and did not spend (a negative `unspent`: it spent more). */
  settle(budgets: readonly HeldBudget[], unspent: number): void {
    for (const b of budgets) {
      const h = this.holds.get(`${b.subject}\u0000${b.window}`);
      if (h !== undefined) h.free += unspent;
    }
  }

  /** The entries giving back the unused holds of windows that have ended; those holds are forgotten. */
  ended(now: number): SpendEntry[] {
    const out: SpendEntry[] = [];
    for (const [k, h] of this.holds) {
      if (h.end > now) continue;
      if (h.free > 0) out.push(spentFromHold(h.subject, h.window, h.free));
      this.holds.delete(k);
    }
    return out;
  }

  /** Journals the return of the holds' unused part (requests still in flight keep theirs). */
  async returnUnused(): Promise<void> {
    const unused = [...this.holds.values()].filter((h) => h.free > 0);
    if (unused.length === 0) return;
    await this.state.addSpend(unused.map((h) => spentFromHold(h.subject, h.window, h.free)));
    for (const h of unused) h.free = 0;
  }
}
