// The PostgreSQL usage sink (pg's home folder): the same records as the ledger, one row per request,
// for gateways that scale out and want one place to query. Rows are inserted in batches (multi-row
// INSERT, idempotent on the record key) off the request path; a failed batch stays queued and is
// retried with backoff, so a database restart loses nothing. The queue is bounded (`maxPending`);
// beyond it records are dropped and counted, and the local ledger (run both) still has them.
import pg from 'pg';
import type { Logger } from '../core/log.js';
import type { SecretValue } from '../core/secret.js';
import type { RecordSink } from './accountant.js';
import type { UsageRecord } from './record.js';

export interface PostgresSinkOptions {
  readonly url: SecretValue;
  readonly table?: string;
  readonly batchSize?: number;
  readonly flushMs?: number;
  readonly maxPending?: number;
  readonly logger: Logger;
}

export interface SinkStats {
  readonly name: string;
  readonly pending: number;
  readonly written: number;
  readonly failed: number;
  readonly dropped: number;
}

export class PostgresConfigError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const TABLE_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

export function checkTableName(t: string): string {
  if (!TABLE_NAME.test(t)) throw new PostgresConfigError(`"${t}" is not a usable table name`, 'lower-case letters, digits and _, starting with a letter or _ (at most 63)');
  return t;
}

// Column order is the insert order; kept in one list so the INSERT and the reader agree.
const COLUMNS = [
  'key',
  'request_id',
  'time',
  'operation',
  'workload',
  'api_key',
  'team',
  'route',
  'rule',
  'backend',
  'provider',
  'original_model',
  'request_model',
  'response_model',
  'stream',
  'status',
  'error_code',
  'client_aborted',
  'aborted',
  'attempts',
  'input_tokens',
  'cached_input_tokens',
  'cache_creation_input_tokens',
  'output_tokens',
  'reasoning_tokens',
  'total_tokens',
  'usage_source',
  'backend_input_tokens',
  'backend_cached_input_tokens',
  'backend_cache_creation_input_tokens',
  'backend_output_tokens',
  'backend_reasoning_tokens',
  'backend_total_tokens',
  'gateway_encoding',
  'gateway_input_tokens',
  'gateway_output_tokens',
  'cost',
  'ttft_ms',
  'duration_ms',
  'upstream_ms',
  'generation',
] as const;

// Columns added after the first release come with an ALTER TABLE … ADD COLUMN IF NOT EXISTS (and a
// default that reads as "none" for older rows), so a table made by an older gateway keeps working.
function createTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${table} (
  key text PRIMARY KEY,
  request_id text NOT NULL,
  time timestamptz NOT NULL,
  operation text NOT NULL,
  workload text NOT NULL,
  api_key text NOT NULL DEFAULT '',
  team text NOT NULL DEFAULT '',
  route text NOT NULL,
  rule text NOT NULL,
  backend text NOT NULL,
  provider text NOT NULL,
  original_model text NOT NULL,
  request_model text NOT NULL,
  response_model text NOT NULL,
  stream boolean NOT NULL,
  status integer NOT NULL,
  error_code text NOT NULL,
  client_aborted boolean NOT NULL,
  aborted boolean NOT NULL DEFAULT false,
  attempts integer NOT NULL,
  input_tokens bigint NOT NULL,
  cached_input_tokens bigint NOT NULL,
  cache_creation_input_tokens bigint NOT NULL,
  output_tokens bigint NOT NULL,
  reasoning_tokens bigint NOT NULL,
  total_tokens bigint NOT NULL,
  usage_source text NOT NULL,
  backend_input_tokens bigint,
  backend_cached_input_tokens bigint,
  backend_cache_creation_input_tokens bigint,
  backend_output_tokens bigint,
  backend_reasoning_tokens bigint,
  backend_total_tokens bigint,
  gateway_encoding text,
  gateway_input_tokens bigint,
  gateway_output_tokens bigint,
  cost double precision,
  ttft_ms double precision,
  duration_ms double precision NOT NULL,
  upstream_ms double precision,
  generation integer NOT NULL
);
CREATE INDEX IF NOT EXISTS ${table}_time_idx ON ${table} (time);
ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS aborted boolean NOT NULL DEFAULT false;
ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS api_key text NOT NULL DEFAULT '';
ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS team text NOT NULL DEFAULT '';`;
}

function rowValues(r: UsageRecord): unknown[] {
  const u = r.usage;
  const b = r.backendUsage;
  return [
    r.key,
    r.requestId,
    new Date(r.startedAt),
    r.operation,
    r.workload,
    r.apiKey,
    r.team,
    r.route,
    r.rule,
    r.backend,
    r.provider,
    r.originalModel,
    r.requestModel,
    r.responseModel,
    r.stream,
    r.status,
    r.errorCode,
    r.clientAborted,
    r.aborted,
    r.attempts,
    u.input,
    u.cachedInput,
    u.cacheCreationInput,
    u.output,
    u.reasoning,
    u.total,
    r.usageSource,
    b?.input ?? null,
    b?.cachedInput ?? null,
    b?.cacheCreationInput ?? null,
    b?.output ?? null,
    b?.reasoning ?? null,
    b?.total ?? null,
    r.gatewayCount?.encoding ?? null,
    r.gatewayCount?.input ?? null,
    r.gatewayCount?.output ?? null,
    r.cost ?? null,
    r.ttftMs ?? null,
    r.durationMs,
    r.upstreamMs ?? null,
    r.generation,
  ];
}

export function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e.code !== undefined ? `${e.message ?? ''} (${e.code})` : (e.message ?? String(err));
}

export class PostgresSink implements RecordSink {
  private readonly pool: pg.Pool;
  private readonly table: string;
  private queue: UsageRecord[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private backoffMs = 0;
  private closed = false;
  private readonly counts = { written: 0, failed: 0, dropped: 0 };
  private lastLog = 0;
  private readonly batchSize: number;
  private readonly flushMs: number;
  private readonly maxPending: number;

  private constructor(private readonly opts: PostgresSinkOptions) {
    this.table = checkTableName(opts.table ?? 'tollgate_usage');
    this.batchSize = opts.batchSize ?? 500;
    this.flushMs = opts.flushMs ?? 200;
    this.maxPending = opts.maxPending ?? 100_000;
    this.pool = new pg.Pool({ connectionString: opts.url.reveal(), max: 2, connectionTimeoutMillis: 5_000, idleTimeoutMillis: 30_000 });
    // An idle client losing its connection (database restart) must not crash the gateway.
    this.pool.on('error', (err) => this.log('PostgreSQL connection error; usage rows stay queued', err));
  }

  /** Connects and creates the table if needed; rejects with a clear reason when the database is unusable. */
  static async start(opts: PostgresSinkOptions): Promise<PostgresSink> {
    const s = new PostgresSink(opts);
    try {
      await s.pool.query(createTableSql(s.table));
    } catch (err) {
      await s.pool.end().catch(() => undefined);
      throw new PostgresConfigError(`cannot use PostgreSQL (${opts.url.source}): ${describe(err)}`, 'check the URL, that the server is up, and that the user may create the table');
    }
    return s;
  }

  write(r: UsageRecord): void {
    if (this.closed) return;
    if (this.queue.length >= this.maxPending) {
      this.counts.dropped++;
      this.log(`PostgreSQL usage queue is full (${this.maxPending}); records are being dropped from the database (the ledger keeps them)`);
      return;
    }
    this.queue.push(r);
    this.schedule(this.queue.length >= this.batchSize ? 0 : this.flushMs);
  }

  stats(): SinkStats {
    return { name: 'postgres', pending: this.queue.length, ...this.counts };
  }

  private schedule(delay: number): void {
    if (this.timer !== undefined || this.flushing !== undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.flushing = this.flushAll().finally(() => {
          this.flushing = undefined;
          if (this.queue.length > 0 && !this.closed) this.schedule(this.backoffMs > 0 ? this.backoffMs : this.flushMs);
        });
      },
      Math.max(delay, this.backoffMs),
    );
    this.timer.unref();
  }

  private async flushAll(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.slice(0, this.batchSize);
      try {
        await this.insert(batch);
      } catch (err) {
        this.counts.failed++;
        this.backoffMs = Math.min(30_000, this.backoffMs === 0 ? 250 : this.backoffMs * 2);
        this.log('writing usage rows to PostgreSQL failed; retrying', err);
        return;
      }
      this.queue.splice(0, batch.length);
      this.counts.written += batch.length;
      this.backoffMs = 0;
    }
  }

  private async insert(batch: readonly UsageRecord[]): Promise<void> {
    const values: unknown[] = [];
    const tuples: string[] = [];
    for (const r of batch) {
      const base = values.length;
      const row = rowValues(r);
      values.push(...row);
      tuples.push(`(${row.map((_, i) => `$${base + i + 1}`).join(',')})`);
    }
    // Retried batches may have partly landed before a connection dropped: the key makes it idempotent.
    await this.pool.query(`INSERT INTO ${this.table} (${COLUMNS.join(',')}) VALUES ${tuples.join(',')} ON CONFLICT (key) DO NOTHING`, values);
  }

  async close(timeoutMs = 10_000): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const deadline = Date.now() + timeoutMs;
    if (this.flushing !== undefined) await this.flushing;
    this.backoffMs = 0;
    while (this.queue.length > 0 && Date.now() < deadline) {
      await this.flushAll();
      if (this.queue.length > 0) await new Promise((r) => setTimeout(r, 250));
    }
    this.closed = true;
    if (this.queue.length > 0) this.opts.logger.error('usage rows not written to PostgreSQL at shutdown (the ledger has them)', { rows: this.queue.length });
    await this.pool.end().catch(() => undefined);
  }

  private log(msg: string, err?: unknown): void {
    const now = Date.now();
    if (now - this.lastLog < 10_000) return;
    this.lastLog = now;
    this.opts.logger.error(msg, err === undefined ? { table: this.table } : { table: this.table, err: describe(err) });
  }
}
