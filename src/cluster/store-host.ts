// The primary's side of the shared local limits: one MemoryStore for every worker. Workers admit
// most requests from leases of the fixed-window buckets (leases.ts), which this store counts as
// used from the moment they are granted; admissions they cannot decide come here. Before it
// refuses one while leases of the exhausted bucket are out, it recalls them from every worker and
// decides again once they are back. It remembers which worker holds which concurrency slot and
// lease: a dead worker's slots return to the pool at once, its leases stay counted as used until
// their windows end (what it spent from them since it last said is unknown, so a crash can only
// make the instance admit less than the limit, never more).
import { MemoryStore } from '../limits/memory.js';
import type { AdmitResult } from '../limits/store.js';
import type { AdmitOp, LeaseGrant, LeaseReport, LeaseWant, StoreOp } from './protocol.js';

export type LeaseEvent = 'granted' | 'recalled' | 'decided' | 'stranded';

/** A worker that does not answer a recall in time is passed over: its leases stay counted as used. */
const RECALL_TIMEOUT_MS = 1_000;

interface Held {
  readonly start: number;
  readonly windowMs: number;
  /** Granted, minus what the worker reported spent or gave back. */
  left: number;
}

type Waiting = readonly [number, AdmitOp | { readonly want: readonly LeaseWant[] }];

export interface Answer {
  readonly results: Array<readonly [number, AdmitResult]>;
  readonly grants: LeaseGrant[];
}

export interface StoreHostLinks {
  /** The workers that can hold leases (connected ones). */
  workers(): readonly number[];
  recall(worker: number, keys: readonly string[]): void;
  /** Admissions that waited for a recall can be decided now. */
  wake(): void;
  /** For the instance's metrics. */
  event(e: LeaseEvent): void;
}

export class StoreHost {
  readonly store = new MemoryStore();
  private readonly slots = new Map<number, Map<string, { key: string; leaseId: string }>>();
  private readonly held = new Map<number, Map<string, Held>>();
  /** Keys being recalled, with the workers that have not answered yet. */
  private readonly recalling = new Map<string, { readonly workers: Set<number>; readonly timer: NodeJS.Timeout }>();
  private pending: Waiting[] = [];
  /** Admissions waiting for a recall; decided again (once) when it ends. */
  private parked: Waiting[] = [];
  private readonly retried = new WeakSet<AdmitOp>();

  constructor(private readonly links: StoreHostLinks) {}

  /**
   * Takes one batch from worker `worker`: settlements and lease reports apply at once, admissions
   * and lease requests wait for `admitQueued`. A settlement always belongs to a request admitted
   * earlier, so applying it first is safe; waiting with admissions until every message that arrived
   * together has been read keeps cause before effect across workers: a response settles before its
   * last bytes leave, so the charge of a response a client has seen is in the store before the
   * client's next request is admitted, even when both messages wait in the primary's pipes at once.
   */
  take(worker: number, ops: readonly StoreOp[]): void {
    for (const op of ops) {
      if ('id' in op || 'want' in op) this.pending.push([worker, op]);
      else if ('leases' in op) {
        this.reported(worker, op.leases);
        if (op.recalled !== undefined) this.answeredRecall(worker, op.recalled);
      } else {
        this.store.settle(op.charges, op.releases);
        const mine = this.slots.get(worker);
        if (mine !== undefined) for (const r of op.releases) mine.delete(`${r.key}\u0000${r.leaseId}`);
      }
    }
  }

  /** Decides the waiting admissions in arrival order and grants leases; the answers by worker. */
  admitQueued(): Map<number, Answer> {
    const out = new Map<number, Answer>();
    const answer = (worker: number): Answer => {
      let a = out.get(worker);
      if (a === undefined) out.set(worker, (a = { results: [], grants: [] }));
      return a;
    };
    const pending = this.pending;
    this.pending = [];
    for (const entry of pending) {
      const [worker, op] = entry;
      if ('want' in op) {
        for (const w of op.want) {
          const g = this.recalling.has(w.key) ? undefined : this.lease(worker, w);
          if (g === undefined) continue;
          answer(worker).grants.push(g);
          this.links.event('granted');
        }
        continue;
      }
      // Later admissions on a bucket being recalled wait behind the one that started the recall.
      if (op.checks.some((c) => this.recalling.has(c.key))) {
        this.parked.push(entry);
        continue;
      }
      const r = this.store.admit(op.checks, op.mode);
      this.links.event('decided');
      if (!r.admitted && !this.retried.has(op)) {
        const short = op.checks.filter((c, i) => c.kind === 'window' && r.results[i]?.over === true && this.leasedOut(c.key)).map((c) => c.key);
        if (short.length > 0) {
          // The refusal would be wrong if the unused leases elsewhere cover it: undo nothing (a
          // refused admission consumed nothing), get them back, and decide again.
          this.retried.add(op);
          this.parked.push(entry);
          this.startRecall(short);
          continue;
        }
      }
      if (r.admitted) for (const c of op.checks) if (c.kind === 'concurrency') this.slotsOf(worker).set(`${c.key}\u0000${c.leaseId}`, { key: c.key, leaseId: c.leaseId });
      answer(worker).results.push([op.id, r]);
    }
    return out;
  }

  get waiting(): number {
    return this.pending.length;
  }

  /**
   * A worker exited: the requests it held are gone, and so are their concurrency slots. Its leases
   * are not given back: it may have admitted requests from them that it never reported (and that
   * may have been answered), so what it held stays counted as used until each lease's window ends.
   * Returns what stayed counted: leases and budget units (requests or tokens).
   */
  workerGone(worker: number): { leases: number; units: number } {
    this.pending = this.pending.filter(([w]) => w !== worker);
    this.parked = this.parked.filter(([w]) => w !== worker);
    const mine = this.slots.get(worker);
    this.slots.delete(worker);
    if (mine !== undefined && mine.size > 0) this.store.settle([], [...mine.values()]);
    const leases = this.held.get(worker);
    this.held.delete(worker);
    const stranded = { leases: 0, units: 0 };
    const now = Date.now();
    for (const h of leases?.values() ?? []) {
      if (h.left <= 0 || h.start + h.windowMs <= now) continue;
      stranded.leases++;
      stranded.units += h.left;
      this.links.event('stranded');
    }
    for (const [key, r] of this.recalling) if (r.workers.delete(worker) && r.workers.size === 0) this.recallDone(key);
    return stranded;
  }

  /** Leases out with workers now (for the instance's metrics). */
  get leasesHeld(): number {
    const now = Date.now();
    let n = 0;
    for (const mine of this.held.values()) for (const h of mine.values()) if (h.start + h.windowMs > now) n++;
    return n;
  }

  close(): Promise<void> {
    for (const r of this.recalling.values()) clearTimeout(r.timer);
    return this.store.close();
  }

  private lease(worker: number, w: LeaseWant): LeaseGrant | undefined {
    const used = this.store.peek('window', w.key, w.windowMs);
    // At most a share of what is left, so every worker can get some and the last of the budget is
    // decided here, one request at a time.
    const share = Math.floor((w.limit - used) / (2 * Math.max(1, this.links.workers().length)));
    const amount = Math.min(w.amount, share);
    if (amount < 1) return undefined;
    const { start, used: after } = this.store.lease(w.key, w.windowMs, amount);
    const mine = this.heldBy(worker);
    const h = mine.get(w.key);
    if (h !== undefined && h.start === start) h.left += amount;
    else mine.set(w.key, { start, windowMs: w.windowMs, left: amount });
    return { key: w.key, start, end: start + w.windowMs, limit: w.limit, amount, free: Math.max(0, w.limit - after) };
  }

  private reported(worker: number, reports: readonly LeaseReport[]): void {
    const mine = this.held.get(worker);
    for (const r of reports) {
      const h = mine?.get(r.key);
      if (h !== undefined && h.start === r.start) {
        h.left -= r.consumed + r.returned;
        if (h.left <= 0) mine?.delete(r.key);
      }
      if (r.returned > 0) this.store.giveBack(r.key, r.windowMs, r.start, r.returned);
    }
  }

  /** Some worker may hold an unused lease on this bucket's current window. */
  private leasedOut(key: string): boolean {
    const now = Date.now();
    let any = false;
    for (const mine of this.held.values()) {
      const h = mine.get(key);
      if (h === undefined) continue;
      if (h.start + h.windowMs <= now) mine.delete(key);
      else any = true;
    }
    return any;
  }

  private startRecall(keys: readonly string[]): void {
    const workers = this.links.workers();
    const fresh = keys.filter((k) => !this.recalling.has(k));
    if (fresh.length === 0) return;
    for (const key of fresh) {
      const timer = setTimeout(() => this.recallDone(key), RECALL_TIMEOUT_MS);
      timer.unref();
      this.recalling.set(key, { workers: new Set(workers), timer });
    }
    this.links.event('recalled');
    for (const w of workers) this.links.recall(w, fresh);
    if (workers.length === 0) for (const k of fresh) this.recallDone(k);
  }

  private answeredRecall(worker: number, keys: readonly string[]): void {
    for (const key of keys) {
      const r = this.recalling.get(key);
      if (r !== undefined && r.workers.delete(worker) && r.workers.size === 0) this.recallDone(key);
    }
  }

  private recallDone(key: string): void {
    const r = this.recalling.get(key);
    if (r === undefined) return;
    clearTimeout(r.timer);
    this.recalling.delete(key);
    // The parked admissions go first, in their order, ahead of anything that arrived since.
    this.pending = [...this.parked, ...this.pending];
    this.parked = [];
    this.links.wake();
  }

  private slotsOf(worker: number): Map<string, { key: string; leaseId: string }> {
    let m = this.slots.get(worker);
    if (m === undefined) this.slots.set(worker, (m = new Map<string, { key: string; leaseId: string }>()));
    return m;
  }

  private heldBy(worker: number): Map<string, Held> {
    let m = this.held.get(worker);
    if (m === undefined) this.held.set(worker, (m = new Map<string, Held>()));
    return m;
  }
}
