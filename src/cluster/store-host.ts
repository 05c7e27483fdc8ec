// The primary's side of the shared local limits: one MemoryStore for every worker. It remembers
// which worker holds which concurrency lease, so the leases of a worker that died are released at
// once instead of blocking the bucket until they expire.
import { MemoryStore } from '../limits/memory.js';
import type { AdmitResult } from '../limits/store.js';
import type { StoreOp } from './protocol.js';

export class StoreHost {
  readonly store = new MemoryStore();
  private readonly leases = new Map<number, Map<string, { key: string; leaseId: string }>>();

  /** Applies one batch from worker `worker` in order; returns the admissions' answers. */
  apply(worker: number, ops: readonly StoreOp[]): Array<readonly [number, AdmitResult]> {
    const out: Array<readonly [number, AdmitResult]> = [];
    for (const op of ops) {
      if ('id' in op) {
        const r = this.store.admit(op.checks, op.mode);
        if (r.admitted) for (const c of op.checks) if (c.kind === 'concurrency') this.held(worker).set(`${c.key}\u0000${c.leaseId}`, { key: c.key, leaseId: c.leaseId });
        out.push([op.id, r]);
      } else {
        this.store.settle(op.charges, op.releases);
        const mine = this.leases.get(worker);
        if (mine !== undefined) for (const r of op.releases) mine.delete(`${r.key}\u0000${r.leaseId}`);
      }
    }
    return out;
  }

  /** A worker exited: the requests it held are gone, and so are their leases. */
  workerGone(worker: number): void {
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
