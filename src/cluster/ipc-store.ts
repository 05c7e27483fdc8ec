// A worker's local limit store: the buckets live in the primary (one MemoryStore for the whole
// instance), so a local limit of 50 admits exactly 50 however the connections spread over workers.
// Operations of one event-loop turn go out as one message; admissions resolve when the answer to
// their batch comes back.
import type { AdmitMode, AdmitResult, Charge, Check, LimitStore, Release } from '../limits/store.js';
import type { StoreOp, ToPrimary } from './protocol.js';

export class IpcStore implements LimitStore {
  readonly name = 'memory' as const;
  private nextId = 1;
  private queue: StoreOp[] = [];
  private scheduled = false;
  private readonly waiting = new Map<number, { resolve: (r: AdmitResult) => void; reject: (e: Error) => void }>();
  private closed = false;

  constructor(private readonly send: (m: ToPrimary) => boolean) {}

  admit(checks: readonly Check[], mode: AdmitMode): Promise<AdmitResult> {
    if (this.closed) return Promise.reject(new Error('the limit store (primary process) is gone'));
    const id = this.nextId++;
    this.push({ id, checks, mode });
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject }));
  }

  /**
   * Sent at once (with any admissions queued before it), not batched: the pipeline settles just
   * before the response's last bytes go out, so the charge reaches the primary before the client
   * can send its next request, to whichever worker.
   */
  settle(charges: readonly Charge[], releases: readonly Release[]): void {
    if (this.closed || (charges.length === 0 && releases.length === 0)) return;
    this.queue.push({ charges, releases });
    this.flush();
  }

  /** Answers from the primary, in the order of the batch. */
  answered(results: ReadonlyArray<readonly [number, AdmitResult]>): void {
    for (const [id, r] of results) {
      const w = this.waiting.get(id);
      this.waiting.delete(id);
      w?.resolve(r);
    }
  }

  /** The primary is gone: fail what waits (the failure mode decides) and everything after. */
  disconnected(): void {
    this.closed = true;
    const err = new Error('the limit store (primary process) is gone');
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  private push(op: StoreOp): void {
    this.queue.push(op);
    if (this.scheduled) return;
    this.scheduled = true;
    // setImmediate runs after the I/O callbacks of this turn: every request parsed in it joins the batch.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const ops = this.queue;
    this.queue = [];
    if (!this.send({ t: 'store', ops })) this.disconnected();
  }
}
