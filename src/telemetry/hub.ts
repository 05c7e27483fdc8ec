// Everything that consumes request outcomes, composed once: Prometheus metrics, the accountant
// (gateway token counts, the usage ledger, the database sink) and the record listeners (access log,
// OTLP traces). The gateway hands each outcome here; nothing else on the request path knows about
// observability.
import { Accountant, type RecordListener, type RecordSink } from '../accounting/accountant.js';
import { LedgerWriter } from '../accounting/ledger/writer.js';
import { PostgresConfigError, PostgresSink } from '../accounting/postgres.js';
import type { Rates } from '../accounting/rates.js';
import type { Logger } from '../core/log.js';
import type { RequestOutcome } from '../core/outcome.js';
import type { SecretValue } from '../core/secret.js';
import type { Generation } from '../pipeline/generation.js';
import type { OutcomeSink } from '../pipeline/handler.js';
import type { CountingPlan } from '../pipeline/proxy-types.js';
import { endpointStats } from '../upstream/pools.js';
import { AccessLog, type AccessLogTarget } from './access-log.js';
import type { PoolStat } from './collected-metrics.js';
import { GatewayMetrics } from './metrics.js';
import { type McpSpanFacts, OtlpTraceExporter, TraceConfigError, traceOptionsFromEnv, type TraceOptions } from './traces.js';

export interface TelemetryOptions {
  /** Directory of the embedded usage ledger; undefined: no ledger. */
  readonly ledgerDir?: string | undefined;
  /** fdatasync period of the ledger, ms (0: every record). */
  readonly ledgerFsyncMs?: number | undefined;
  readonly ledgerMaxFileBytes?: number | undefined;
  readonly postgres?: { readonly url: SecretValue; readonly table?: string | undefined } | undefined;
  readonly accessLog?: AccessLogTarget | undefined;
  /** OTLP traces: options, 'env' (read OTEL_* from the environment, the default) or false. */
  readonly traces?: TraceOptions | 'env' | false | undefined;
  readonly rates?: Rates | undefined;
  /** Tokenizer worker threads: 1 (default) or 0 (count on the main thread in slices). */
  readonly countThreads?: number | undefined;
  /** Share of backend-reported requests the gateway counts for the drift audit (0–1, default 0.05). */
  readonly auditSampleRate?: number | undefined;
}

export interface TelemetryInfo {
  readonly ledger: { readonly dir: string; readonly file: string; readonly lines: number; readonly writeErrors: number; readonly backlog: number } | undefined;
  readonly sinks: ReadonlyArray<{ readonly name: string; readonly pending: number; readonly written: number; readonly failed: number; readonly dropped: number }>;
  readonly accounting: { readonly mode: string; readonly counting: number; readonly counted: number; readonly skipped: number };
  readonly accessLog: string | undefined;
  readonly traces: string | undefined;
}

/** A ledger, database, log file or exporter that cannot be used: one clear line and a hint. */
export class TelemetryStartError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const AUDITED: CountingPlan = { audited: true, keepText: true };
/** Traces show each response's text, so it is kept though the backend's usage is billed. */
const KEEP_TEXT: CountingPlan = { audited: false, keepText: true };
const BILL_FROM_BACKEND: CountingPlan = { audited: false, keepText: false };

export class Telemetry implements OutcomeSink {
  readonly metrics: GatewayMetrics;
  readonly accountant: Accountant;
  private readonly closers: Array<() => Promise<void>> = [];
  private mcpAccessLog: AccessLog | undefined;
  private mcpTraces: OtlpTraceExporter | undefined;

  private constructor(
    metrics: GatewayMetrics,
    accountant: Accountant,
    private readonly ledger: LedgerWriter | undefined,
    private readonly pg: PostgresSink | undefined,
    private readonly info: { accessLog: string | undefined; traces: string | undefined; captureContent: boolean },
    private readonly onMetricsError: (err: Error, op: string) => void,
  ) {
    this.metrics = metrics;
    this.accountant = accountant;
  }

  /** An MCP tool call: one ledger line (type mcp_tool_call, which usage readers skip) and one access log line. */
  mcpToolCall(record: Readonly<Record<string, unknown>>): void {
    this.ledger?.append(JSON.stringify(record));
    this.mcpAccessLog?.writeLine(record);
  }

  /** A span of the MCP gateway, when traces are exported. */
  mcpSpan(facts: McpSpanFacts): void {
    this.mcpTraces?.exportMcp(facts);
  }

  /** Opens the ledger, the database and the log file; throws with a clear reason when one cannot be used. */
  static async start(
    opts: TelemetryOptions,
    logger: Logger,
    currentGeneration: () => Generation | undefined,
    metrics: GatewayMetrics = new GatewayMetrics(),
  ): Promise<Telemetry> {
    const log = logger.child({ component: 'telemetry' });
    let ledger: LedgerWriter | undefined;
    if (opts.ledgerDir !== undefined) {
      try {
        ledger = LedgerWriter.open(opts.ledgerDir, {
          fsyncIntervalMs: opts.ledgerFsyncMs,
          // One write(2) for the lines of the requests that end in one pass over the ready I/O.
          groupWrites: true,
          maxFileBytes: opts.ledgerMaxFileBytes,
          onError: rateLimited(log, 'usage ledger'),
        });
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new TelemetryStartError(`cannot open the usage ledger in ${opts.ledgerDir}: ${e.code ?? e.message}`, 'the directory must be writable by the gateway (it is created if missing)');
      }
    }
    const sinks: RecordSink[] = [];
    const listeners: RecordListener[] = [metrics];
    const closers: Array<() => Promise<void>> = [];
    let pg: PostgresSink | undefined;
    try {
      if (opts.postgres !== undefined) {
        try {
          pg = await PostgresSink.start({ url: opts.postgres.url, table: opts.postgres.table, logger: log });
        } catch (err) {
          if (err instanceof PostgresConfigError) throw new TelemetryStartError(err.message, err.hint);
          throw err;
        }
        sinks.push(pg);
      }
      let accessLog: string | undefined;
      let accessLogWriter: AccessLog | undefined;
      if (opts.accessLog !== undefined) {
        const al = new AccessLog(opts.accessLog, (err) => log.error('access log write failed; access logging stopped', { err }));
        try {
          await al.ready();
        } catch (err) {
          const e = err as NodeJS.ErrnoException;
          throw new TelemetryStartError(`cannot open the access log ${typeof opts.accessLog === 'string' ? opts.accessLog : opts.accessLog.file}: ${e.code ?? e.message}`);
        }
        listeners.push(al);
        accessLogWriter = al;
        closers.push(() => al.close());
        accessLog = typeof opts.accessLog === 'string' ? opts.accessLog : opts.accessLog.file;
      }
      let traceOpts: TraceOptions | undefined;
      try {
        traceOpts = opts.traces === false ? undefined : opts.traces === undefined || opts.traces === 'env' ? traceOptionsFromEnv(process.env) : opts.traces;
      } catch (err) {
        if (err instanceof TraceConfigError) throw new TelemetryStartError(err.message);
        throw err;
      }
      let traces: string | undefined;
      let traceExporter: OtlpTraceExporter | undefined;
      if (traceOpts !== undefined) {
        const exporter = new OtlpTraceExporter(traceOpts, (msg) => log.warn(msg));
        traceExporter = exporter;
        listeners.push(exporter);
        closers.push(() => exporter.close());
        traces = traceOpts.url;
      }
      const accountant = new Accountant({ logger: log, ledger, sinks, listeners, rates: opts.rates, counter: { threads: opts.countThreads ?? 1 }, auditSampleRate: opts.auditSampleRate });
      const t = new Telemetry(metrics, accountant, ledger, pg, { accessLog, traces, captureContent: traceOpts?.captureContent === true }, rateLimited(log, 'request metrics'));
      t.closers.push(...closers);
      t.mcpAccessLog = accessLogWriter;
      t.mcpTraces = traceExporter;
      metrics.setSources({
        pools: () => poolStats(currentGeneration()),
        accounting: () => accountant.stats(),
        ledger: () => ledger?.stats(),
        sinks: () => (pg === undefined ? [] : [pg.stats()]),
      });
      return t;
    } catch (err) {
      ledger?.close();
      await pg?.close(0);
      throw err;
    }
  }

  requestStarted(gen: Generation | undefined): void {
    this.metrics.requestStarted(gen);
  }

  /** OTLP traces are exported: requests get a trace context and upstreams a `traceparent`. */
  get tracing(): boolean {
    return this.info.traces !== undefined;
  }

  streamStarted(): void {
    this.metrics.streamStarted();
  }

  /** A ledger line is written for every request (before its response's last bytes). */
  get writesLedger(): boolean {
    return this.ledger !== undefined;
  }

  countingPlan(): CountingPlan {
    if (this.accountant.drawAuditSample()) return AUDITED;
    return this.info.captureContent ? KEEP_TEXT : BILL_FROM_BACKEND;
  }

  /**
   * Called as a response ends, just before its last bytes go to the client (src/pipeline/proxy.ts).
   * Only the ledger line and the limits' charge must be done by then (Accountant.recordDurably); the
   * metrics, the listeners and the sinks run in a microtask, after those bytes were handed to the
   * kernel and before any other I/O is read, so a scrape already sees them.
   */
  requestFinished(outcome: RequestOutcome, gen: Generation | undefined): void {
    const rest = this.accountant.recordDurably(outcome, gen);
    const after = (): void => {
      // The metrics first: the accountant's listeners read the series they set (token metrics). A
      // microtask that throws would take the process down, so a failure is logged instead.
      try {
        this.metrics.requestFinished(outcome, gen);
      } catch (err) {
        this.onMetricsError(err as Error, 'recording a request');
      }
      rest();
    };
    // With a ledger, the line is written right after this pass over the ready I/O, and the response's
    // last bytes right after it (they wait for it, registered after this): the rest follows them.
    this.whenRecorded(() => queueMicrotask(after));
  }

  /** Runs `done` once the ledger lines written so far reached the kernel (at once without a ledger). */
  whenRecorded(done: () => void): void {
    if (this.ledger === undefined) done();
    else this.ledger.whenWritten(done);
  }

  /** Resolves when every gateway token count started so far has settled and its record was emitted. */
  settled(): Promise<void> {
    return this.accountant.idle();
  }

  snapshot(): TelemetryInfo {
    const l = this.ledger?.stats();
    const a = this.accountant.stats();
    return {
      ledger: l === undefined ? undefined : { dir: l.dir, file: l.file, lines: l.records, writeErrors: l.writeErrors, backlog: l.backlog },
      sinks: this.pg === undefined ? [] : [this.pg.stats()],
      accounting: { mode: a.mode, counting: a.counting, counted: a.counted, skipped: a.skipped },
      accessLog: this.info.accessLog,
      traces: this.info.traces,
    };
  }

  /** After the data listener drained: finish counts, flush sinks and exporters, sync the ledger. */
  async close(): Promise<void> {
    await this.accountant.close();
    await Promise.all(this.closers.map((c) => c().catch(() => undefined)));
  }
}

function* poolStats(gen: Generation | undefined): Iterable<PoolStat> {
  if (gen === undefined) return;
  for (const [backend, up] of gen.upstreams) {
    for (const e of up.endpoints) yield { backend, endpoint: e.origin, ...endpointStats(e) };
  }
}

function rateLimited(log: Logger, what: string): (err: Error, op: string) => void {
  let last = 0;
  return (err, op) => {
    const now = Date.now();
    if (now - last < 10_000) return;
    last = now;
    log.error(`${what}: ${op} failed`, { err });
  };
}
