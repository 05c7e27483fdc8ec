// The gateway's own token counting, off the request path.
//
// Default: one worker thread. A 100k-token prompt takes 20–50 ms of BPE on this machine's cores;
// in a worker that time never stalls the event loop that relays other requests' bytes. The worker
// is plain JavaScript handed to `new Worker(…, { eval: true })` and loads gpt-tokenizer's CommonJS
// build by absolute path, so the same code runs from src/ under the test runner and from dist/.
//
// Fallback (threads: 0, or a worker that keeps dying): counting on the main thread in slices cut at
// pre-token boundaries (split.ts), yielding to I/O after each ~1 ms of work. Both give the same
// counts; the worker costs a structured clone of the text per job (~1 GB/s), the fallback costs
// main-thread CPU.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { loadTokenizer, type EncodingName, type Tokenizer } from '../tokenizer/index.js';
import type { CountJob } from './prompt.js';
import { splitForCounting } from './split.js';

export interface TokenCounter {
  /**
   * Tokens in a job: its constant plus the count of every text piece. Rejects with CounterBusy when
   * the backlog is full. `deferrable`: nothing waits for the result soon (an audit), so it may be
   * batched with later jobs for a while.
   */
  count(encoding: EncodingName, job: CountJob, deferrable?: boolean): Promise<number>;
  /** Characters waiting to be counted. */
  readonly backlogChars: number;
  readonly mode: 'worker' | 'inline';
  /** Loads encodings where the counting happens, so the first requests' counts do not wait for them. */
  warm(encodings: ReadonlySet<EncodingName>): Promise<void>;
  close(): Promise<void>;
}

export class CounterBusy extends Error {
  constructor() {
    super('token counting backlog is full');
    this.name = 'CounterBusy';
  }
}

export interface CounterOptions {
  /** 1 (default): a worker thread; 0: count on the main thread in slices. */
  readonly threads?: number;
  /** Characters allowed to wait; beyond it count() rejects with CounterBusy (default 64 M). */
  readonly maxBacklogChars?: number;
}

const DEFAULT_MAX_BACKLOG = 64 * 1024 * 1024;

export function createCounter(opts: CounterOptions = {}): TokenCounter {
  const max = opts.maxBacklogChars ?? DEFAULT_MAX_BACKLOG;
  const inline = new InlineCounter(max);
  return (opts.threads ?? 1) === 0 ? inline : new WorkerCounter(max, inline);
}

function jobChars(job: CountJob): number {
  let n = 0;
  for (const t of job.texts) n += t.length;
  return n;
}

// ---- main thread, sliced ----------------------------------------------------------------------

const SLICE_CHARS = 4096;
const SLICE_BUDGET_MS = 1;

export class InlineCounter implements TokenCounter {
  readonly mode = 'inline';
  private backlog = 0;
  private queue: Array<() => void> = [];
  private running = false;
  private closed = false;

  constructor(private readonly maxBacklog: number) {}

  get backlogChars(): number {
    return this.backlog;
  }

  async count(encoding: EncodingName, job: CountJob): Promise<number> {
    if (job.texts.length === 0) return job.constant;
    const chars = jobChars(job);
    if (this.closed || this.backlog + chars > this.maxBacklog) throw new CounterBusy();
    this.backlog += chars;
    try {
      const tok = await loadTokenizer(encoding);
      // One job at a time, in arrival order, so a big prompt delays later counts, not I/O.
      await new Promise<void>((resolve) => {
        this.queue.push(resolve);
        this.pump();
      });
      try {
        return job.constant + (await countSliced(tok, job.texts));
      } finally {
        this.running = false;
        this.pump();
      }
    } finally {
      this.backlog -= chars;
    }
  }

  async warm(encodings: ReadonlySet<EncodingName>): Promise<void> {
    await Promise.all([...encodings].map((e) => loadTokenizer(e)));
  }

  private pump(): void {
    if (this.running) return;
    const next = this.queue.shift();
    if (next === undefined) return;
    this.running = true;
    next();
  }

  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

async function countSliced(tok: Tokenizer, texts: readonly string[]): Promise<number> {
  let n = 0;
  let sliceStart = performance.now();
  for (const text of texts) {
    const slices = text.length <= SLICE_CHARS ? [text] : splitForCounting(text, SLICE_CHARS);
    for (const s of slices) {
      n += tok.count(s);
      if (performance.now() - sliceStart >= SLICE_BUDGET_MS) {
        await new Promise<void>((r) => setImmediate(r));
        sliceStart = performance.now();
      }
    }
  }
  return n;
}

// ---- worker thread ----------------------------------------------------------------------------

// The worker's whole program. A message is a batch of jobs [{id, enc, texts}]; the reply is the
// batch's results [{id, n} or {id, error}]. Counting allocates a lot of short-lived memory (the
// texts' copies, the pre-token pieces), and an idle worker allocates nothing, so nothing would ever
// collect it: after a burst of counting the worker runs one full collection once it has had no job
// for a while, as the main thread does (core/idle-gc.ts, which also makes gc available here).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
let collect = typeof gc === 'function' ? gc : undefined;
if (collect === undefined) {
  try {
    require('node:v8').setFlagsFromString('--expose-gc');
    collect = require('node:vm').runInNewContext('gc');
  } catch {}
}
let countedSinceCollection = 0;
let idleTimer;
const encodings = new Map();
const none = new Set();
function encoder(name) {
  let e = encodings.get(name);
  if (e === undefined) {
    const path = workerData.paths[name];
    if (path === undefined) throw new Error('unknown encoding ' + name);
    e = require(path);
    encodings.set(name, e);
  }
  return e;
}
parentPort.on('message', (batch) => {
  const out = [];
  for (const m of batch) {
    try {
      const e = encoder(m.enc);
      let n = 0;
      // countTokens, not encode(…).length: the count needs no array of every token id.
      for (const t of m.texts) {
        if (t.length > 0) n += e.countTokens(t, { disallowedSpecial: none });
        countedSinceCollection += t.length;
      }
      out.push({ id: m.id, n });
    } catch (err) {
      out.push({ id: m.id, error: String(err && err.message || err) });
    }
  }
  parentPort.postMessage(out);
  clearTimeout(idleTimer);
  if (typeof collect === 'function' && countedSinceCollection >= workerData.collectAfterChars) {
    idleTimer = setTimeout(() => {
      countedSinceCollection = 0;
      collect();
    }, workerData.idleMs);
  }
});
`;

/** The worker collects once idle this long… */
const WORKER_IDLE_COLLECT_MS = 5_000;
/** …after counting at least this many characters since its last collection. */
const WORKER_COLLECT_AFTER_CHARS = 4 * 1024 * 1024;
/** The counting worker's young generation (by default V8 lets it grow past 32 MB). */
const WORKER_YOUNG_GENERATION_MB = 12;

interface Pending {
  readonly resolve: (n: number) => void;
  readonly reject: (e: Error) => void;
  readonly encoding: EncodingName;
  readonly job: CountJob;
  readonly chars: number;
}

interface WorkerReply {
  readonly id: number;
  readonly n?: number;
  readonly error?: string;
}

const MAX_RESTARTS = 3;
/** How long a deferrable job may wait to be posted with others. */
const DEFER_MS = 50;

export class WorkerCounter implements TokenCounter {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private backlog = 0;
  private restarts = 0;
  private closed = false;
  private readonly paths: Record<EncodingName, string>;
  /**
   * Jobs waiting to be posted together: a postMessage costs 15–100 µs of this thread (more when the
   * worker must be woken), per job that adds up. Jobs something waits for go at the end of the
   * event-loop turn; deferrable ones (audits) wait up to DEFER_MS for company.
   */
  private outbox: Array<{ id: number; enc: EncodingName; texts: readonly string[] }> = [];
  private flushScheduled: 'now' | 'later' | undefined;
  private deferTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxBacklog: number,
    private readonly fallback: InlineCounter,
  ) {
    const req = createRequire(import.meta.url);
    this.paths = {
      o200k_base: req.resolve('gpt-tokenizer/encoding/o200k_base'),
      o200k_harmony: req.resolve('gpt-tokenizer/encoding/o200k_harmony'),
      cl100k_base: req.resolve('gpt-tokenizer/encoding/cl100k_base'),
    };
  }

  get mode(): 'worker' | 'inline' {
    return this.restarts > MAX_RESTARTS ? 'inline' : 'worker';
  }

  get backlogChars(): number {
    return this.backlog + this.fallback.backlogChars;
  }

  count(encoding: EncodingName, job: CountJob, deferrable = false): Promise<number> {
    if (job.texts.length === 0) return Promise.resolve(job.constant);
    if (this.closed) return Promise.reject(new CounterBusy());
    if (this.restarts > MAX_RESTARTS) return this.fallback.count(encoding, job);
    const chars = jobChars(job);
    if (this.backlog + chars > this.maxBacklog) return Promise.reject(new CounterBusy());
    const id = this.nextId++;
    this.backlog += chars;
    return new Promise<number>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, encoding, job, chars });
      this.outbox.push({ id, enc: encoding, texts: job.texts });
      if (!deferrable && this.flushScheduled !== 'now') {
        this.flushScheduled = 'now';
        setImmediate(() => this.flush());
      } else if (deferrable && this.flushScheduled === undefined) {
        this.flushScheduled = 'later';
        this.deferTimer = setTimeout(() => this.flush(), DEFER_MS);
        this.deferTimer.unref();
      }
    });
  }

  async warm(encodings: ReadonlySet<EncodingName>): Promise<void> {
    // A one-character count per encoding makes the worker load it; failures fall back to inline.
    await Promise.all([...encodings].map((e) => this.count(e, { constant: 0, texts: ['.'] })));
  }

  private flush(): void {
    this.flushScheduled = undefined;
    clearTimeout(this.deferTimer);
    const batch = this.outbox;
    this.outbox = [];
    if (batch.length === 0 || this.closed) return;
    this.ensureWorker().postMessage(batch);
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { paths: this.paths, idleMs: WORKER_IDLE_COLLECT_MS, collectAfterChars: WORKER_COLLECT_AFTER_CHARS },
      // V8 grows the young generation to 32 MB and more under a burst and never shrinks it, collection or
      // not. What counting allocates is short-lived text pieces, which a small one handles as well.
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
    // Counting must never keep a finishing process alive; close() waits for the backlog instead.
    w.unref();
    w.on('message', (batch: WorkerReply[]) => {
      for (const m of batch) this.onReply(m);
    });
    w.on('error', () => this.onDeath(w));
    w.on('exit', () => this.onDeath(w));
    this.worker = w;
    return w;
  }

  private onReply(m: WorkerReply): void {
    const p = this.pending.get(m.id);
    if (p === undefined) return;
    this.pending.delete(m.id);
    this.backlog -= p.chars;
    if (m.n !== undefined) p.resolve(p.job.constant + m.n);
    else p.reject(new Error(`token counting failed: ${m.error ?? 'unknown error'}`));
  }

  /** The worker died (out of memory, a bug): its jobs are counted on the main thread instead. */
  private onDeath(w: Worker): void {
    if (this.worker !== w) return;
    this.worker = undefined;
    if (!this.closed) this.restarts++;
    const jobs = [...this.pending.values()];
    this.pending.clear();
    this.outbox = [];
    for (const p of jobs) {
      this.backlog -= p.chars;
      this.fallback.count(p.encoding, p.job).then(p.resolve, p.reject);
    }
  }

  async close(): Promise<void> {
    // Let queued jobs finish (bounded by the backlog), then stop the worker.
    const deadline = Date.now() + 10_000;
    while (this.pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    this.closed = true;
    const w = this.worker;
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new CounterBusy());
    this.pending.clear();
    if (w !== undefined) await w.terminate();
    await this.fallback.close();
  }
}
