// A worker's leases on the instance's fixed-window buckets. The primary keeps every bucket and
// counts a lease as used the moment it grants it, so a worker may admit against its lease by itself,
// with no message at all, and the instance still never admits more than the limit: the sum of what
// the workers spend is at most what was leased. A lease is sized to the worker's recent demand
// (about LEASE_TARGET_MS of its traffic on that bucket) and capped by the primary to a share of what
// is left; when the primary runs short it recalls the unused rest from every worker before it
// refuses anyone, so a refusal means the instance as a whole has nothing left. What a worker spent
// from a lease rides on the messages it sends anyway (asks for more, returns, admissions for the
// primary): nothing is sent per request or on a timer while a lease lasts. A lease left unused for
// IDLE_MS goes back, so an idle worker holds none.
//
// What is leased: fixed windows in 'all' mode (request limits, and token budgets charged at response
// end). Concurrency limits and sliding-window quotas ask the primary each time.
import type { AdmitMode, AdmitResult, Charge, Check, CheckResult } from '../limits/store.js';
import type { LeaseGrant, LeaseReport, LeaseWant } from './protocol.js';

/**
 * A lease lasts about this much of the worker's traffic on its bucket, and more is asked for when
 * half of it is spent: the answer has that long to arrive, even from a primary that a busy machine
 * schedules late, before the worker runs dry and sends its admissions to the primary one by one.
 */
export const LEASE_TARGET_MS = 250;
/**
 * Demand older than this is stale: a worker that was idle asks the primary per request again, and
 * a lease it has not spent from for this long goes back.
 */
export const IDLE_MS = 1_000;
/** The shortest interval a rate is computed over, so a burst's first turn does not read as a flood. */
const MIN_RATE_MS = 10;

interface Lease {
  readonly start: number;
  readonly end: number;
  readonly limit: number;
  readonly windowMs: number;
  left: number;
  /** Unleased at the primary when last granted: with `left`, this worker's view of what remains. */
  free: number;
  /** Spent since the last report to the primary. */
  consumed: number;
  /** The last grant's size: more is asked for when less than half of it is left. */
  size: number;
  /** When more was asked for and not granted yet (0: no ask outstanding); asked again after LEASE_TARGET_MS. */
  askedAt: number;
  /** Granted or spent from last at this time: unused for IDLE_MS, it goes back. */
  usedAt: number;
}

interface Demand {
  since: number;
  consumed: number;
  ops: number;
  windowMs: number;
  limit: number;
}

export class Leases {
  private readonly held = new Map<string, Lease>();
  private readonly demand = new Map<string, Demand>();
  private readonly wanted = new Set<string>();
  private reports: LeaseReport[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** Admits from the leases alone, or undefined when the primary must decide. Never refuses. */
  tryAdmit(checks: readonly Check[], mode: AdmitMode): AdmitResult | undefined {
    if (mode !== 'all' || checks.length === 0) return undefined;
    const now = this.now();
    // Two checks on one bucket must fit together (the engine's keys are one per rule, so this is rare).
    const need = checks.length > 1 ? new Map<string, number>() : undefined;
    for (const c of checks) {
      if (c.kind !== 'window') return undefined;
      const l = this.valid(c.key, c.windowMs, c.limit, now);
      const cost = c.cost + (need?.get(c.key) ?? 0);
      need?.set(c.key, cost);
      // A cost-0 check (a token budget charged later) passes while any budget is left, as in one store.
      if (l === undefined || (cost > 0 ? l.left < cost : l.left <= 0)) return undefined;
    }
    const results: CheckResult[] = [];
    for (const c of checks) {
      const l = this.held.get(c.key) as Lease;
      this.spend(c.key, l, c.cost, now);
      this.demandOf(c.key, c.windowMs, c.limit, now).ops++;
      // Never more than really remains: other workers' unused leases are not counted as remaining.
      results.push({ used: Math.min(c.limit, Math.max(0, c.limit - l.left - l.free)), over: false, resetMs: l.end - now });
    }
    return { admitted: true, results };
  }

  /**
   * The primary will decide these checks: a lease too small for its check goes back first (it would
   * otherwise sit unused while the primary refuses), and the demand is noted for the next grant.
   */
  goingRemote(checks: readonly Check[]): void {
    const now = this.now();
    for (const c of checks) {
      if (c.kind !== 'window') continue;
      const d = this.demandOf(c.key, c.windowMs, c.limit, now);
      d.ops++;
      d.consumed += c.cost;
      this.wanted.add(c.key);
      const l = this.valid(c.key, c.windowMs, c.limit, now);
      if (l !== undefined && (c.cost > 0 ? l.left < c.cost : l.left <= 0)) this.giveUp(c.key, l);
    }
  }

  /** Spends positive window charges from the leases; returns what the primary must apply. */
  charge(charges: readonly Charge[]): Charge[] {
    const rest: Charge[] = [];
    const now = this.now();
    for (const ch of charges) {
      // A refund (a reservation larger than the real cost) goes to the primary: it may belong to a
      // window that has ended, which a lease of the current window must not be credited with.
      const l = ch.kind === 'window' && ch.amount > 0 ? this.held.get(ch.key) : undefined;
      if (l === undefined || l.end <= now || l.windowMs !== ch.windowMs || l.left <= 0) {
        rest.push(ch);
        continue;
      }
      const take = Math.min(ch.amount, l.left);
      this.spend(ch.key, l, take, now);
      if (take < ch.amount) {
        rest.push({ ...ch, amount: ch.amount - take });
        this.demandOf(ch.key, l.windowMs, l.limit, now).consumed += ch.amount - take;
      }
    }
    return rest;
  }

  grant(g: LeaseGrant): void {
    const now = this.now();
    if (g.end <= now) return;
    const l = this.held.get(g.key);
    if (l !== undefined && l.start === g.start) {
      l.left += g.amount;
      l.free = g.free;
      l.size = g.amount;
      // Answered: the next ask may go as soon as half of this grant is spent.
      l.askedAt = 0;
      l.usedAt = now;
      return;
    }
    // A lease of an ended window is void at the primary too: nothing to report.
    this.held.set(g.key, { start: g.start, end: g.end, limit: g.limit, windowMs: g.end - g.start, left: g.amount, free: g.free, consumed: 0, size: g.amount, askedAt: 0, usedAt: now });
  }

  /** Gives back every unused lease on these keys (the primary is short and an admission waits). */
  recall(keys: readonly string[]): void {
    for (const k of keys) {
      const l = this.held.get(k);
      if (l !== undefined) this.giveUp(k, l);
    }
  }

  /** Gives back the leases nothing was spent from for IDLE_MS; whether any went back (to report). */
  returnIdle(): boolean {
    const now = this.now();
    for (const [key, l] of this.held) {
      if (l.end <= now) this.held.delete(key);
      else if (now - l.usedAt >= IDLE_MS) this.giveUp(key, l);
    }
    return this.reports.length > 0;
  }

  get holding(): boolean {
    return this.held.size > 0;
  }

  /** Consumption and returns not yet reported, to send with the next message. */
  takeReports(): LeaseReport[] {
    const now = this.now();
    for (const [key, l] of this.held) {
      if (l.end <= now) this.held.delete(key);
      if (l.consumed === 0 || l.end <= now) continue;
      this.reports.push({ key, start: l.start, windowMs: l.windowMs, consumed: l.consumed, returned: 0 });
      l.consumed = 0;
    }
    const out = this.reports;
    this.reports = [];
    return out;
  }

  get unreported(): boolean {
    return this.reports.length > 0;
  }

  /** Leases to ask for now, sized to recent demand; empty for a worker with little traffic. */
  takeWants(): LeaseWant[] {
    const now = this.now();
    const out: LeaseWant[] = [];
    for (const key of this.wanted) {
      const d = this.demand.get(key);
      if (d === undefined) continue;
      const elapsed = now - d.since;
      if (elapsed > IDLE_MS) {
        // Stale: start measuring again from this request.
        Object.assign(d, { since: now, consumed: 0, ops: 0 });
        continue;
      }
      // One request now and then keeps asking the primary: its answers (remaining headers) stay exact.
      if (d.ops < 2) continue;
      const amount = Math.min(d.limit, Math.ceil((d.consumed * LEASE_TARGET_MS) / Math.max(elapsed, MIN_RATE_MS)));
      Object.assign(d, { since: now, consumed: 0, ops: 0 });
      if (amount > 0) out.push({ key, windowMs: d.windowMs, limit: d.limit, amount });
      const l = this.held.get(key);
      if (l !== undefined) l.askedAt = now;
    }
    this.wanted.clear();
    if (this.demand.size > 1_000) for (const [key, d] of this.demand) if (now - d.since > IDLE_MS) this.demand.delete(key);
    return out;
  }

  get wanting(): boolean {
    return this.wanted.size > 0;
  }

  private valid(key: string, windowMs: number, limit: number, now: number): Lease | undefined {
    const l = this.held.get(key);
    if (l === undefined) return undefined;
    if (l.end <= now) {
      this.held.delete(key);
      return undefined;
    }
    // The rule changed under the same key (a reload): the old lease goes back.
    if (l.windowMs !== windowMs || l.limit !== limit) {
      this.giveUp(key, l);
      return undefined;
    }
    return l;
  }

  private spend(key: string, l: Lease, amount: number, now: number): void {
    l.usedAt = now;
    if (amount > 0) {
      l.left -= amount;
      l.consumed += amount;
      this.demandOf(key, l.windowMs, l.limit, now).consumed += amount;
    }
    // Ask for more before it runs out, so the worker keeps admitting by itself.
    if (l.left < l.size / 2 && now - l.askedAt > LEASE_TARGET_MS) {
      l.askedAt = now;
      this.wanted.add(key);
    }
  }

  private giveUp(key: string, l: Lease): void {
    this.held.delete(key);
    this.reports.push({ key, start: l.start, windowMs: l.windowMs, consumed: l.consumed, returned: l.left });
  }

  private demandOf(key: string, windowMs: number, limit: number, now: number): Demand {
    let d = this.demand.get(key);
    if (d === undefined) this.demand.set(key, (d = { since: now, consumed: 0, ops: 0, windowMs, limit }));
    d.windowMs = windowMs;
    d.limit = limit;
    return d;
  }
}
