// The primary's side of the shared local limits: one MemoryStore for every worker. It remembers
// which worker holds which concurrency lease, so the leases of a worker that died are released at
// once instead of blocking the bucket until they expire.
import { MemoryStore } from '../limits/memory.js';
import type { AdmitResult } from '../limits/store.js';
import type { StoreOp } from './protocol.js';

export class StoreHost {
  readonly store = new MemoryStore();
  private readonly leases = new Map<number, Map<string, { key: string; leaseId: string }>>();
  private pending: Array<readonly [number, Extract<StoreOp, { id: number }>]> = [];

  /**
   * Takes one batch from worker `worker`: settlements apply at once, admissions wait for `admitQueued`.
   * A settlement always belongs to a request admitted earlier, so applying it first is safe; waiting
   * with admissions until every message that arrived together has been read keeps cause before
   * effect across workers: a response settles before its last bytes leave, so the charge of a
   * response a client has seen is in the store before the client's next request is admitted, even
   * when both messages wait in the primary's pipes at the same time.
   */
  take(worker: number, ops: readonly StoreOp[]): void {
    for (const op of ops) {
      if ('id' in op) this.pending.push([worker, op]);
      else {
        this.store.settle(op.charges, op.releases);
        const mine = this.leases.get(worker);
        if (mine !== undefined) for (const r of op.releases) mine.delete(`${r.key}\u0000${r.leaseId}`);
      }
    }
  }

  /** Decides the waiting admissions in arrival order; the answers grouped by worker. */
  admitQueued(): Map<number, Array<readonly [number, AdmitResult]>> {
    const out = new Map<number, Array<readonly [number, AdmitResult]>>();
    const pending = this.pending;
    this.pending = [];
    for (const [worker, op] of pending) {
      const r = this.store.admit(op.checks, op.mode);
      if (r.admitted) for (const c of op.checks) if (c.kind === 'concurrency') this.held(worker).set(`${c.key}\u0000${c.leaseId}`, { key: c.key, leaseId: c.leaseId });
      let list = out.get(worker);
      if (list === undefined) out.set(worker, (list = []));
      list.push([op.id, r]);
    }
    return out;
  }

  get waiting(): number {
    return this.pending.length;
  }

  /** A worker exited: the requests it held are gone, and so are their leases. */
  workerGone(worker: number): void {
    this.pending = this.pending.filter(([w]) => w !== worker);
    const mine = this.leases.get(worker);
    this.leases.delete(worker);
    if (mine !== undefined && mine.size > 0) this.store.settle([], [...mine.values()]);
  }

  close(): Promise<void> {
    return this.store.close();
  }

  private held(worker: number): Map<string, { key: string; leaseId: string }> {
    let m = this.leases.get(worker);
    if (m === undefined) this.leases.set(worker, (m = new Map<string, { key: string; leaseId: string }>()));
    return m;
  }
}
