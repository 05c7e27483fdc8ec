// A worker's local limit store: the buckets live in the primary (one MemoryStore for the whole
// instance), so a local limit of 50 admits exactly 50 however the connections spread over workers.
// Most admissions are decided here, synchronously, from leases of the buckets' budgets (leases.ts);
// the rest, and what the leases cannot settle, go to the primary: operations of one event-loop
// turn as one message, admissions resolved when the answer to their batch comes back. What was
// spent from leases travels with those messages: the primary counted it as used when it granted the
// lease, so the report only tells it how much of the lease is still out.
import type { AdmitMode, AdmitResult, Charge, Check, LimitStore, Release } from '../limits/store.js';
import { IDLE_MS, Leases } from './leases.js';
import type { LeaseGrant, StoreOp, ToPrimary } from './protocol.js';

export class IpcStore implements LimitStore {
  readonly name = 'memory' as const;
  private readonly leases = new Leases();
  private nextId = 1;
  private queue: StoreOp[] = [];
  private scheduled = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly waiting = new Map<number, { resolve: (r: AdmitResult) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(private readonly send: (m: ToPrimary) => boolean) {}

  admit(checks: readonly Check[], mode: AdmitMode): AdmitResult | Promise<AdmitResult> {
    if (this.closed) return Promise.reject(new Error('the limit store (primary process) is gone'));
    const local = this.leases.tryAdmit(checks, mode);
    if (local !== undefined) {
      this.afterLocal();
      return local;
    }
    this.leases.goingRemote(checks);
    const id = this.nextId++;
    this.push({ id, checks, mode });
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  /**
   * What the leases cannot settle is sent at once (with any admissions queued before it), not
   * batched: the pipeline settles just before the response's last bytes go out, so the charge
   * reaches the primary before the client can send its next request, to whichever worker.
   */
  settle(charges: readonly Charge[], releases: readonly Release[]): void {
    if (this.closed) return;
    const rest = charges.length === 0 ? charges : this.leases.charge(charges);
    if (rest.length === 0 && releases.length === 0) {
      this.afterLocal();
      return;
    }
    this.queue.push({ charges: rest, releases });
    this.flush();
  }

  /** Answers from the primary, in the order of the batch, with the leases it granted. */
  answered(results: ReadonlyArray<readonly [number, AdmitResult]>, grants: readonly LeaseGrant[] = []): void {
    for (const g of grants) this.leases.grant(g);
    if (grants.length > 0 && this.idleTimer === undefined) {
      // Leases unused for a while go back, so an idle worker (or one that dies idle) holds none.
      this.idleTimer = setInterval(() => {
        if (this.leases.returnIdle()) this.flush();
        if (!this.leases.holding) {
          clearInterval(this.idleTimer);
          this.idleTimer = undefined;
        }
      }, IDLE_MS / 2);
      this.idleTimer.unref();
    }
    for (const [id, r] of results) {
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.resolve(r);
    }
  }

  /** The primary is short on these buckets: the unused leases go back at once. */
  recall(keys: readonly string[]): void {
    if (this.closed) return;
    this.leases.recall(keys);
    this.queue.unshift({ leases: this.leases.takeReports(), recalled: keys });
    this.flush();
  }

  /** The primary is gone: fail what waits (the failure mode decides) and everything after. */
  disconnected(): void {
    this.closed = true;
    clearInterval(this.idleTimer);
    const err = new Error('the limit store (primary process) is gone');
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  close(): Promise<void> {
    clearInterval(this.idleTimer);
    return Promise.resolve();
  }

  /** Spent from a lease: ask for more in this turn's batch when it runs low, or send what went back. */
  private afterLocal(): void {
    if (this.leases.wanting || this.leases.unreported) this.schedule();
  }

  private push(op: StoreOp): void {
    this.queue.push(op);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after the I/O callbacks of this turn: every request parsed in it joins the batch.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const reports = this.leases.takeReports();
    const wants = this.leases.takeWants();
    // Returns first: the primary applies them before it decides the admissions that follow.
    const ops: StoreOp[] = reports.length > 0 ? [{ leases: reports }, ...this.queue] : this.queue;
    if (wants.length > 0) ops.push({ want: wants });
    this.queue = [];
    if (ops.length === 0) return;
    if (!this.send({ t: 'store', ops })) this.disconnected();
  }
}
