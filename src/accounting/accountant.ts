// Authoritative accounting for every finished request: the ledger line is written at once (so the
// record survives a crash), the gateway's own token count runs off the request path, and when it is
// done the complete record goes to the listeners (token metrics, drift, access log, traces) and the
// sinks (PostgreSQL).
import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/log.js';
import type { RequestOutcome } from '../core/outcome.js';
import type { Generation } from '../pipeline/generation.js';
import { encodingForModel, type EncodingName } from '../tokenizer/index.js';
import { CounterBusy, createCounter, type CounterOptions, type TokenCounter } from './counter.js';
import type { LedgerWriter } from './ledger/writer.js';
import { completionJob, estimateTokens, jobChars, promptJob, type CountJob } from './prompt.js';
import { flatCost, type Rates } from './rates.js';
import { baseRecord, recordToJson, withGatewayCount, type UsageRecord } from './record.js';

/** Receives each complete record (after the gateway's count), with the outcome it came from. */
export interface RecordListener {
  recordCompleted(record: UsageRecord, outcome: RequestOutcome): void;
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
}

export interface AccountingStats {
  readonly counting: number;
  readonly counted: number;
  readonly skipped: number;
  readonly failed: number;
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
  private readonly counts = { counted: 0, skipped: 0, failed: 0 };
  private lastError = 0;
  private readonly settledOutcomes = new WeakSet<RequestOutcome>();

  constructor(private readonly opts: AccountantOptions) {
    const c = opts.counter;
    this.counter = c !== undefined && 'count' in c ? c : createCounter(c);
    this.listeners = [...(opts.listeners ?? [])];
    this.sinks = [...(opts.sinks ?? [])];
  }

  addListener(l: RecordListener): void {
    this.listeners.push(l);
  }

  /** The encoding the gateway counts a backend's tokens with: its annotation, else by model name. */
  static encodingFor(o: RequestOutcome, gen: Generation | undefined): EncodingName {
    const configured = o.backendKey === undefined ? undefined : gen?.config.backends.get(o.backendKey)?.tokenizer;
    return configured ?? encodingForModel(o.requestModel ?? o.originalModel ?? '');
  }

  /** Called once per finished request, synchronously, right after the response ended. */
  requestFinished(o: RequestOutcome, gen: Generation | undefined): void {
    const key = `${processTag}-${(++this.seq).toString(36)}`;
    // An aborted response is counted too: the prompt reached the backend even when no text came back.
    const countable =
      o.requestBody !== undefined &&
      (o.usage !== undefined || (o.completionText !== undefined && o.completionText.length > 0) || o.completionOverflowChars > 0 || (o.aborted && o.attempts > 0)) &&
      isAccounted(o);
    if (!countable) {
      this.complete(baseRecord(key, o, undefined), o);
      return;
    }
    const encoding = Accountant.encodingFor(o, gen);
    const prompt = promptJob(o.operation, o.requestBody, encoding);
    const completion = completionJob(o.completionText, o.completionOverflowChars);
    const estimate = o.usage === undefined ? { input: estimateTokens(prompt), output: estimateTokens(completion) } : undefined;
    const base = baseRecord(key, o, estimate);
    // Durable first: the line the ledger holds if the process dies before the count is done.
    this.opts.ledger?.append(recordToJson({ ...base, final: false }));
    // The backend's report is the usage whatever the count says: the limits need not wait for it.
    if (base.usageSource === 'backend') this.settleUsage(base, o);
    this.inFlight++;
    if (jobChars(prompt) + jobChars(completion) > MAX_COUNTED_CHARS) {
      this.counts.skipped++;
      this.settle(base, o);
      return;
    }
    this.countBoth(encoding, prompt, completion).then(
      (n) => this.settle(withGatewayCount(base, { encoding, input: n.input, output: n.output }), o),
      (err: unknown) => {
        if (err instanceof CounterBusy) this.counts.skipped++;
        else {
          this.counts.failed++;
          this.logError('token counting failed; the record keeps the backend usage or the estimate', err);
        }
        this.settle(base, o);
      },
    );
  }

  private async countBoth(encoding: EncodingName, prompt: CountJob, completion: CountJob): Promise<{ input: number; output: number }> {
    const [input, output] = await Promise.all([this.counter.count(encoding, prompt), this.counter.count(encoding, completion)]);
    return { input, output };
  }

  private settle(r: UsageRecord, o: RequestOutcome): void {
    if (r.gatewayCount !== undefined) this.counts.counted++;
    try {
      this.complete(r, o);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private complete(r0: UsageRecord, o: RequestOutcome): void {
    this.settleUsage(r0, o);
    const rates = this.opts.rates;
    const r = rates === undefined ? r0 : { ...r0, cost: flatCost(rates, r0.workload, r0.requestModel, r0.usage) };
    this.opts.ledger?.append(recordToJson(r));
    for (const s of this.sinks) s.write(r);
    for (const l of this.listeners) {
      try {
        l.recordCompleted(r, o);
      } catch (err) {
        this.logError('a usage listener failed', err);
      }
    }
  }

  /** Hands the record's usage to the request's limits, once per request. */
  private settleUsage(r: UsageRecord, o: RequestOutcome): void {
    if (o.settleUsage === undefined || this.settledOutcomes.has(o)) return;
    this.settledOutcomes.add(o);
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
