// The primary's part in sharing the endpoint pickers' state (upstream/pool/share.ts): it relays
// each worker's batches to the other workers, at most one message per worker an interval whatever
// the number of workers, and keeps the most recent batches (a bounded number of entries) for a
// worker that (re)starts, so it does not begin with an empty prefix index. Pending prefill figures are
// relayed but not kept: by the time a worker starts they are stale, and newer ones follow.
import { nowMs } from '../core/clock.js';
import type { PickerBatch } from '../upstream/pool/share.js';

/** Blocks and sessions kept for a worker that starts: a few seconds of a busy instance's news. */
const RECENT_ENTRIES = 65_536;

export class PickerRelay {
  private pending: Array<{ readonly from: number; readonly batch: PickerBatch }> = [];
  private timer: NodeJS.Timeout | undefined;
  private armed = false;
  private lastFlush = Number.NEGATIVE_INFINITY;
  private recent: Array<{ readonly batch: PickerBatch; readonly entries: number }> = [];
  private recentEntries = 0;

  constructor(
    private readonly o: {
      /** Ids of the workers connected now. */
      readonly workers: () => readonly number[];
      readonly send: (worker: number, batches: readonly PickerBatch[]) => void;
      readonly intervalMs: number;
      /** Timer and clock; default: Node's (the virtual bench runs this relay in simulated time). */
      readonly later?: (fn: () => void, ms: number) => void;
      readonly clock?: () => number;
    },
  ) {}

  take(from: number, batch: PickerBatch): void {
    this.pending.push({ from, batch });
    this.keep(batch);
    if (this.armed) return;
    this.armed = true;
    // At most one relay an interval: after a quiet interval at once, within one at its end.
    const wait = Math.max(0, this.lastFlush + this.o.intervalMs - this.now());
    if (this.o.later !== undefined) this.o.later(() => this.flush(), wait);
    else {
      this.timer = setTimeout(() => this.flush(), wait);
      this.timer.unref();
    }
  }

  private now(): number {
    return this.o.clock !== undefined ? this.o.clock() : nowMs();
  }

  /** A worker started serving: it learns what the instance's pickers learned most recently. */
  joined(id: number): void {
    if (this.recent.length > 0) this.o.send(id, this.recent.map((r) => r.batch));
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.armed = false;
  }

  private keep(batch: PickerBatch): void {
    let entries = 0;
    for (const p of batch.pools) entries += p.sessions.length + p.blocks.reduce((n, [, hs]) => n + hs.length, 0);
    if (entries === 0) return;
    if (batch.from !== undefined) batch = { pools: batch.pools.map(({ prefill: _, ...p }) => p) };
    this.recent.push({ batch, entries });
    this.recentEntries += entries;
    let drop = 0;
    while (this.recentEntries > RECENT_ENTRIES && drop < this.recent.length - 1) this.recentEntries -= (this.recent[drop++] as { entries: number }).entries;
    if (drop > 0) this.recent = this.recent.slice(drop);
  }

  private flush(): void {
    this.timer = undefined;
    this.armed = false;
    this.lastFlush = this.now();
    const pending = this.pending;
    this.pending = [];
    for (const id of this.o.workers()) {
      const batches = pending.flatMap((p) => (p.from === id ? [] : [p.batch]));
      if (batches.length > 0) this.o.send(id, batches);
    }
  }
}
