// The in-process store for local limits. Check and consume happen in one synchronous call, so a limit
// of L admits exactly L requests per window however many arrive at once. Counters outlive config
// reloads (keys carry the rule's stable id) and are swept once their window is long gone.
import { decide, type AdmitMode, type AdmitResult, type Charge, type Check, type LimitStore, type Release } from './store.js';

interface Counter {
  /** Window start (ms). Fixed windows start at their first counted request; sliding ones on the clock. */
  start: number;
  count: number;
  /** Sliding windows: the previous window's count. */
  prev: number;
  windowMs: number;
}

const SWEEP_EVERY_MS = 10_000;

export class MemoryStore implements LimitStore {
  readonly name = 'memory' as const;
  private readonly counters = new Map<string, Counter>();
  private readonly leases = new Map<string, Map<string, number>>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now) {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_EVERY_MS);
    this.sweeper.unref();
  }

  admit(checks: readonly Check[], mode: AdmitMode): AdmitResult {
    const now = this.now();
    const results: Array<{ used: number; over: boolean; resetMs: number }> = [];
    for (const c of checks) {
      let used: number;
      let resetMs = 0;
      let isOver: boolean;
      if (c.kind === 'concurrency') {
        used = this.liveLeases(c.key, now);
        isOver = used >= c.limit;
      } else {
        const counter = this.counter(c, now);
        used = c.kind === 'sliding' ? slidingUsed(counter, now) : counter.count;
        resetMs = Math.max(0, counter.start + c.windowMs - now);
        isOver = c.cost > 0 ? used + c.cost > c.limit : used >= c.limit;
      }
      results.push({ used, over: isOver, resetMs });
    }
    const admitted = decide(checks, results, mode);
    if (admitted) {
      for (let i = 0; i < checks.length; i++) {
        const c = checks[i] as Check;
        const res = results[i] as (typeof results)[number];
        if (c.kind === 'concurrency') {
          let set = this.leases.get(c.key);
          if (set === undefined) this.leases.set(c.key, (set = new Map<string, number>()));
          set.set(c.leaseId, now + c.windowMs);
          res.used += 1;
        } else if (c.cost > 0) {
          const counter = this.counter(c, now);
          if (c.kind === 'window' && counter.count === 0) counter.start = now;
          counter.count += c.cost;
          res.used += c.cost;
          if (c.kind === 'window') res.resetMs = counter.start + c.windowMs - now;
        }
      }
    }
    return { admitted, results };
  }

  settle(charges: readonly Charge[], releases: readonly Release[]): void {
    const now = this.now();
    for (const ch of charges) {
      if (ch.amount === 0) continue;
      const counter = this.counter({ kind: ch.kind, key: ch.key, windowMs: ch.windowMs }, now);
      if (ch.kind === 'window' && counter.count === 0 && ch.amount > 0) counter.start = now;
      counter.count = Math.max(0, counter.count + ch.amount);
    }
    for (const r of releases) {
      const set = this.leases.get(r.key);
      if (set === undefined) continue;
      set.delete(r.leaseId);
      if (set.size === 0) this.leases.delete(r.key);
    }
  }

  /**
   * Counts `amount` of a fixed-window bucket as used on behalf of a lease holder (another process
   * that admits against it by itself); returns the window the lease belongs to. Nothing is checked:
   * the caller sizes the lease from `peek`.
   */
  lease(key: string, windowMs: number, amount: number): { start: number; used: number } {
    const now = this.now();
    const counter = this.counter({ kind: 'window', key, windowMs }, now);
    if (counter.count === 0) counter.start = now;
    counter.count += amount;
    return { start: counter.start, used: counter.count };
  }

  /** The unused part of a lease comes back, unless its window has already ended. */
  giveBack(key: string, windowMs: number, start: number, amount: number): void {
    const counter = this.counters.get(key);
    if (counter === undefined) return;
    this.roll(counter, 'window', windowMs, this.now());
    if (counter.start === start) counter.count = Math.max(0, counter.count - amount);
  }

  /** Current usage of a window bucket without changing it (for gauges and tests). */
  peek(kind: 'window' | 'sliding', key: string, windowMs: number): number {
    const now = this.now();
    const counter = this.counters.get(key);
    if (counter === undefined) return 0;
    this.roll(counter, kind, windowMs, now);
    return kind === 'sliding' ? slidingUsed(counter, now) : counter.count;
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    return Promise.resolve();
  }

  get size(): number {
    return this.counters.size + this.leases.size;
  }

  private counter(c: { kind: 'window' | 'sliding' | 'concurrency'; key: string; windowMs: number }, now: number): Counter {
    let counter = this.counters.get(c.key);
    if (counter === undefined) {
      counter = { start: c.kind === 'sliding' ? now - (now % c.windowMs) : now, count: 0, prev: 0, windowMs: c.windowMs };
      this.counters.set(c.key, counter);
      return counter;
    }
    this.roll(counter, c.kind, c.windowMs, now);
    return counter;
  }

  private roll(counter: Counter, kind: string, windowMs: number, now: number): void {
    if (kind === 'sliding') {
      const start = now - (now % windowMs);
      if (start === counter.start) return;
      counter.prev = start - counter.start === windowMs ? counter.count : 0;
      counter.count = 0;
      counter.start = start;
    } else if (now - counter.start >= windowMs) {
      counter.start = now;
      counter.count = 0;
    }
  }

  private liveLeases(key: string, now: number): number {
    const set = this.leases.get(key);
    if (set === undefined) return 0;
    for (const [id, expires] of set) if (expires <= now) set.delete(id);
    return set.size;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, c] of this.counters) if (now - c.start >= 2 * c.windowMs) this.counters.delete(key);
    for (const key of [...this.leases.keys()]) if (this.liveLeases(key, now) === 0) this.leases.delete(key);
  }
}

function slidingUsed(c: Counter, now: number): number {
  const weight = 1 - (now - c.start) / c.windowMs;
  return Math.floor(c.prev * Math.max(0, weight) + c.count);
}
