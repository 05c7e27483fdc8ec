// The primary's part in sharing the endpoint pickers' state (upstream/pool/share.ts): it relays
// each worker's batches to the others, at most one message per worker an interval whatever the
// number of workers, and keeps the one thing a worker cannot rebuild from later traffic: every
// worker's latest in-flight counts, which a restarted worker is told at once and which leave with a
// worker that dies.
import type { PeerBatch, PickerBatch, PoolDelta } from '../upstream/pool/share.js';

export interface RelayMessage {
  readonly peers: readonly PeerBatch[];
  readonly gone?: readonly number[];
}

export class PickerRelay {
  private pending: PeerBatch[] = [];
  private gone: number[] = [];
  private timer: NodeJS.Timeout | undefined;
  /** Worker → pool → its latest in-flight counts (as a delta with nothing else in it). */
  private readonly inflight = new Map<number, Map<string, PoolDelta>>();

  constructor(
    private readonly o: {
      /** Ids of the workers connected now. */
      readonly workers: () => readonly number[];
      readonly send: (worker: number, m: RelayMessage) => void;
      readonly intervalMs: number;
    },
  ) {}

  take(from: number, batch: PickerBatch): void {
    this.pending.push({ from, batch });
    for (const d of batch.pools) {
      if (d.inflight === undefined) continue;
      let pools = this.inflight.get(from);
      if (pools === undefined) this.inflight.set(from, (pools = new Map<string, PoolDelta>()));
      pools.set(d.pool, { pool: d.pool, blockBytes: d.blockBytes, blocks: [], sessions: [], inflight: d.inflight });
    }
    this.arm();
  }

  /** A worker (re)started: the others' requests in flight count for its picks from the start. */
  joined(id: number): void {
    const peers: PeerBatch[] = [];
    for (const [from, pools] of this.inflight) if (from !== id) peers.push({ from, batch: { pools: [...pools.values()] } });
    if (peers.length > 0) this.o.send(id, { peers });
  }

  /** A worker exited: the requests it had in flight are gone with it. */
  workerGone(id: number): void {
    this.inflight.delete(id);
    this.pending = this.pending.filter((p) => p.from !== id);
    this.gone.push(id);
    this.arm();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), this.o.intervalMs);
    this.timer.unref();
  }

  private flush(): void {
    this.timer = undefined;
    const pending = this.pending;
    const gone = this.gone;
    this.pending = [];
    this.gone = [];
    for (const id of this.o.workers()) {
      const peers = pending.filter((p) => p.from !== id);
      if (peers.length === 0 && gone.length === 0) continue;
      this.o.send(id, gone.length === 0 ? { peers } : { peers, gone });
    }
  }
}
