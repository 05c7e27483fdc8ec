// Authoritative accounting for every finished request. When the backend reported the usage, that is
// the billed usage: the ledger line, the limits' charge and the listeners (token metrics, access log,
// traces) get the record as the response ends. The gateway's own count then only audits the backend
// (drift), so it runs for a sample of those requests (`auditSampleRate`, drawn as each request starts
// so a response outside the sample is not read for its text), off the request path; its
// result is a second ledger line and the drift metrics. When the backend reported nothing, the
// gateway's count is the billed usage: every such request is counted, and the record completes when
// the count is done (the ledger holds a first line meanwhile, so the record survives a crash). Sinks
// (PostgreSQL) receive each record once, in its final form.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/log.js';
import type { RequestOutcome } from '../core/outcome.js';
import type { Generation } from '../pipeline/generation.js';
import { encodingForModel, type EncodingName } from '../tokenizer/index.js';
import { CounterBusy, createCounter, type CounterOptions, type TokenCounter } from './counter.js';
import type { LedgerWriter } from './ledger/writer.js';
import { completionJob, estimateTokens, jobChars, promptJob, type CountJob } from './prompt.js';
import { flatCost, type Rates } from './rates.js';
import { baseRecord, withGatewayCount, type GatewayCount, type UsageRecord } from './record.js';

/** Receives each record once its billed usage is known, with the outcome it came from. */
export interface RecordListener {
  recordCompleted(record: UsageRecord, outcome: RequestOutcome): void;
  /** The drift audit: the gateway's count landed on a record already completed from the backend's usage. */
  recordAudited?(record: UsageRecord, outcome: RequestOutcome): void;
}

/** A durable destination for complete records (a database). */
export interface RecordSink {
  write(record: UsageRecord): void;
  /** Flushes what is buffered and stops. */
  close(): Promise<void>;
}

export interface AccountantOptions {
  readonly logger: Logger;
  readonly ledger?: LedgerWriter | undefined;
  readonly sinks?: readonly RecordSink[];
  readonly listeners?: readonly RecordListener[];
  readonly rates?: Rates | undefined;
  readonly counter?: CounterOptions | TokenCounter;
  /**
   * Share (0–1) of the requests with backend-reported usage that the gateway also counts, for the
   * drift audit (default DEFAULT_AUDIT_SAMPLE_RATE). Requests without backend usage are always counted.
   */
  readonly auditSampleRate?: number | undefined;
  /** Uniform in [0, 1): which requests the audit samples (tests pass their own). */
  readonly random?: () => number;
}

/**
 * One request in twenty: at any traffic worth auditing that is hundreds of counted requests per
 * model per hour, plenty to see a drift of a percent, for a twentieth of the counting cost.
 */
export const DEFAULT_AUDIT_SAMPLE_RATE = 0.05;

export interface AccountingStats {
  readonly counting: number;
  readonly counted: number;
  readonly skipped: number;
  readonly failed: number;
  /** Backend-reported requests the audit did not sample. */
  readonly unsampled: number;
  readonly backlogChars: number;
  readonly mode: 'worker' | 'inline';
}

const processTag = randomBytes(4).toString('hex');

/**
 * Characters of one request (prompt and kept completion) the gateway counts exactly. Past it (about
 * a million tokens, beyond the largest context windows) the record keeps the backend's usage or the
 * character estimate: counting a 30 MB prompt would keep its body alive in this thread and a copy of
 * it in the counting worker for seconds, and leave the worker's heap grown afterwards.
 */
export const MAX_COUNTED_CHARS = 4 * 1024 * 1024;

export class Accountant {
  private readonly counter: TokenCounter;
  private readonly listeners: RecordListener[];
  private readonly sinks: RecordSink[];
  private seq = 0;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly counts = { counted: 0, skipped: 0, failed: 0, unsampled: 0 };
  private readonly auditRate: number;
  private readonly random: () => number;
  private lastError = 0;

  constructor(private readonly opts: AccountantOptions) {
    const c = opts.counter;
    this.counter = c !== undefined && 'count' in c ? c : createCounter(c);
    this.listeners = [...(opts.listeners ?? [])];
    this.sinks = [...(opts.sinks ?? [])];
    this.auditRate = opts.auditSampleRate ?? DEFAULT_AUDIT_SAMPLE_RATE;
    this.random = opts.random ?? Math.random;
  }

  /** Loads the encodings in the counter ahead of the first request (start-up, before readiness). */
  warm(encodings: Iterable<EncodingName>): Promise<void> {
    return this.counter.warm(new Set(encodings));
  }

  addListener(l: RecordListener): void {
    this.listeners.push(l);
  }

  /** The encoding the gateway counts a backend's tokens with: its annotation, else by model name. */
  static encodingFor(o: RequestOutcome, gen: Generation | undefined): EncodingName {
    const configured = o.backendKey === undefined ? undefined : gen?.config.backends.get(o.backendKey)?.tokenizer;
    return configured ?? encodingForModel(o.requestModel ?? o.originalModel ?? '');
  }

  /**
   * The drift audit's sample, drawn as a request starts so its response reader knows whether to keep
   * the completion text (a request not sampled whose backend reports usage needs none).
   */
  drawAuditSample(): boolean {
    return this.auditRate > 0 && (this.auditRate >= 1 || this.random() < this.auditRate);
  }

  /** Called once per finished request, synchronously, right after the response ended: `recordDurably` and its rest at once. */
  requestFinished(o: RequestOutcome, gen: Generation | undefined): void {
    this.recordDurably(o, gen)();
  }

  /**
   * The part of a finished request that must be done before the client has its whole response: the
   * ledger line (the billed record, or the estimate a count will replace) on disk, and the limits'
   * charge when the usage is known (with several workers it travels to the primary, and must be on
   * its way before the client can send its next request, to whichever worker). Returns the rest
   * (listeners, sinks, the gateway's count), which the caller runs once the response's last bytes
   * are on their way, so the client does not wait for it.
   */
  recordDurably(o: RequestOutcome, gen: Generation | undefined): () => void {
    const key = `${processTag}-${(++this.seq).toString(36)}`;
    // An aborted response is counted too: the prompt reached the backend even when no text came back.
    const countable =
      o.requestBody !== undefined &&
      (o.usage !== undefined || (o.completionText !== undefined && o.completionText.length > 0) || o.completionOverflowChars > 0 || (o.aborted && o.attempts > 0)) &&
      isAccounted(o);
    if (!countable) {
      const r = this.priced(baseRecord(key, o, undefined));
      this.opts.ledger?.appendRecord(r);
      this.settleUsage(r, o);
      return () => this.publish(r, o);
    }
    const encoding = Accountant.encodingFor(o, gen);
    const completion = completionJob(o.completionText, o.completionOverflowChars);
    if (o.usage !== undefined) {
      // The backend's usage is billed; a sample is audited, and its sinks get it with the gateway's count.
      const base = this.priced(baseRecord(key, o, undefined));
      const audited = o.auditSampled ?? this.drawAuditSample();
      this.opts.ledger?.appendRecord(base, !audited);
      this.settleUsage(base, o);
      if (!audited) {
        this.counts.unsampled++;
        return () => this.publish(base, o);
      }
      this.inFlight++;
      return () => this.audit(base, o, encoding, completion);
    }
    const prompt = promptJob(o.operation, o.requestBody, encoding);
    const base = baseRecord(key, o, { input: estimateTokens(prompt), output: estimateTokens(completion) });
    // The line the ledger holds if the process dies before the count is done.
    this.opts.ledger?.appendRecord(base, false);
    this.inFlight++;
    return () => this.count(encoding, prompt, completion, false, (count) => this.settle(count === undefined ? base : withGatewayCount(base, count), o));
  }

  /** A record in the ledger in its final form, its limits charged: the sinks and the listeners. */
  private publish(r: UsageRecord, o: RequestOutcome): void {
    for (const s of this.sinks) s.write(r);
    this.notify(r, o, 'recordCompleted');
  }

  /** A backend-reported record the drift audit sampled: its listeners get it now, its sinks with the gateway's count. */
  private audit(base: UsageRecord, o: RequestOutcome, encoding: EncodingName, completion: CountJob): void {
    this.notify(base, o, 'recordCompleted');
    const prompt = promptJob(o.operation, o.requestBody, encoding);
    this.count(encoding, prompt, completion, true, (count) => {
      try {
        const r = count === undefined ? base : withGatewayCount(base, count);
        if (count !== undefined) {
          this.counts.counted++;
          this.opts.ledger?.appendRecord(r);
          this.notify(r, o, 'recordAudited');
        } else this.opts.ledger?.appendRecord(r, true);
        for (const s of this.sinks) s.write(r);
      } finally {
        this.countDone();
      }
    });
  }

  /** The gateway's count of a request (undefined when it was skipped or failed), then `done`. */
  private count(encoding: EncodingName, prompt: CountJob, completion: CountJob, audit: boolean, done: (count: GatewayCount | undefined) => void): void {
    if (jobChars(prompt) + jobChars(completion) > MAX_COUNTED_CHARS) {
      this.counts.skipped++;
      done(undefined);
      return;
    }
    this.countBoth(encoding, prompt, completion, audit).then(
      (n) => done({ encoding, input: n.input, output: n.output }),
      (err: unknown) => {
        if (err instanceof CounterBusy) this.counts.skipped++;
        else {
          this.counts.failed++;
          this.logError('token counting failed; the record keeps the backend usage or the estimate', err);
        }
        done(undefined);
      },
    );
  }

  private async countBoth(encoding: EncodingName, prompt: CountJob, completion: CountJob, audit: boolean): Promise<{ input: number; output: number }> {
    const [input, output] = await Promise.all([this.counter.count(encoding, prompt, audit), this.counter.count(encoding, completion, audit)]);
    return { input, output };
  }

  private settle(r: UsageRecord, o: RequestOutcome): void {
    if (r.gatewayCount !== undefined) this.counts.counted++;
    try {
      this.complete(r, o);
    } finally {
      this.countDone();
    }
  }

  private countDone(): void {
    this.inFlight--;
    if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** A counted record, now final: its ledger line, the limits' charge, the sinks and the listeners. */
  private complete(r0: UsageRecord, o: RequestOutcome): void {
    const r = this.priced(r0);
    this.opts.ledger?.appendRecord(r);
    this.settleUsage(r, o);
    this.publish(r, o);
  }

  private priced(r: UsageRecord): UsageRecord {
    const rates = this.opts.rates;
    return rates === undefined ? r : { ...r, cost: flatCost(rates, r.workload, r.requestModel, r.usage) };
  }

  private notify(r: UsageRecord, o: RequestOutcome, event: 'recordCompleted' | 'recordAudited'): void {
    for (const l of this.listeners) {
      try {
        l[event]?.(r, o);
      } catch (err) {
        this.logError('a usage listener failed', err);
      }
    }
  }

  /** Hands the record's usage to the request's limits (each record path above does so once). */
  private settleUsage(r: UsageRecord, o: RequestOutcome): void {
    if (o.settleUsage === undefined) return;
    try {
      o.settleUsage(r.usage);
    } catch (err) {
      this.logError('charging a request to its limits failed', err);
    }
  }

  /** Resolves when every count started so far has settled (tests, shutdown). */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  stats(): AccountingStats {
    return { counting: this.inFlight, ...this.counts, backlogChars: this.counter.backlogChars, mode: this.counter.mode };
  }

  /** Waits for running counts (bounded), then closes the counter, the sinks and the ledger. */
  async close(timeoutMs = 10_000): Promise<void> {
    await Promise.race([this.idle(), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    await this.counter.close();
    await Promise.all(this.sinks.map((s) => s.close().catch((err: unknown) => this.logError('closing a usage sink failed', err))));
    this.opts.ledger?.close();
  }

  private logError(msg: string, err: unknown): void {
    const now = Date.now();
    if (now - this.lastError < 10_000) return;
    this.lastError = now;
    this.opts.logger.error(msg, { err });
  }
}

function isAccounted(o: RequestOutcome): boolean {
  switch (o.operation) {
    case 'chat':
    case 'completions':
    case 'embeddings':
    case 'messages':
    case 'images':
    case 'rerank':
    case 'transcriptions':
    case 'translations':
    case 'responses':
    case 'gemini_generate':
    case 'gemini_embed':
      return true;
    case 'moderations':
    case 'files':
    case 'batches':
    case 'speech':
    case 'models':
    case 'count_tokens':
    case 'responses_state':
    case 'gemini_count_tokens':
    case 'other':
      return false;
  }
}
