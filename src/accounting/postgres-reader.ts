// Reading the PostgreSQL usage table back into records (`tollgate chargeback --ledger postgres://…`),
// page by page in time order.
import pg from 'pg';
import type { ErrorCode } from '../core/errors.js';
import type { Operation } from '../core/outcome.js';
import type { SecretValue } from '../core/secret.js';
import { makeUsage, type Usage } from '../core/usage.js';
import type { EncodingName } from '../tokenizer/index.js';
import { checkTableName, describe, PostgresConfigError } from './postgres.js';
import type { UsageRecord, UsageSource } from './record.js';

interface Row {
  [k: string]: unknown;
}

function text(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  return v instanceof Date ? v.toISOString() : '';
}

function num(v: unknown): number {
  return typeof v === 'number' ? v : typeof v === 'string' ? Number(v) : 0;
}

function optNum(v: unknown): number | undefined {
  return v === null || v === undefined ? undefined : num(v);
}

function usageOf(row: Row, prefix: string): Usage {
  return makeUsage({
    input: num(row[`${prefix}input_tokens`]),
    cachedInput: num(row[`${prefix}cached_input_tokens`]),
    cacheCreationInput: num(row[`${prefix}cache_creation_input_tokens`]),
    output: num(row[`${prefix}output_tokens`]),
    reasoning: num(row[`${prefix}reasoning_tokens`]),
    total: num(row[`${prefix}total_tokens`]),
  });
}

function recordOf(row: Row): UsageRecord {
  const time = row['time'];
  return {
    key: text(row['key']),
    requestId: text(row['request_id']),
    startedAt: time instanceof Date ? time.getTime() : Date.parse(text(time)),
    operation: text(row['operation']) as Operation,
    workload: text(row['workload']),
    // Rows from before virtual keys, and requests without one, hold ''.
    apiKey: text(row['api_key']),
    team: text(row['team']),
    route: text(row['route']),
    rule: text(row['rule']),
    backend: text(row['backend']),
    provider: text(row['provider']),
    originalModel: text(row['original_model']),
    requestModel: text(row['request_model']),
    responseModel: text(row['response_model']),
    stream: row['stream'] === true,
    status: num(row['status']),
    errorCode: text(row['error_code']) as ErrorCode | '',
    clientAborted: row['client_aborted'] === true,
    aborted: row['aborted'] === true,
    attempts: num(row['attempts']),
    usage: usageOf(row, ''),
    usageSource: text(row['usage_source']) as UsageSource,
    backendUsage: row['backend_input_tokens'] === null ? undefined : usageOf(row, 'backend_'),
    gatewayCount:
      row['gateway_encoding'] === null
        ? undefined
        : { encoding: text(row['gateway_encoding']) as EncodingName, input: num(row['gateway_input_tokens']), output: num(row['gateway_output_tokens']) },
    cost: optNum(row['cost']),
    ttftMs: optNum(row['ttft_ms']),
    durationMs: num(row['duration_ms']),
    upstreamMs: optNum(row['upstream_ms']),
    generation: num(row['generation']),
    final: true,
  };
}

/** Records from a PostgreSQL usage table, in time order, page by page (keyset pagination). */
export async function* readPostgres(url: SecretValue, table: string, fromMs: number | undefined, toMs: number | undefined): AsyncGenerator<UsageRecord> {
  checkTableName(table);
  const client = new pg.Client({ connectionString: url.reveal(), connectionTimeoutMillis: 10_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new PostgresConfigError(`cannot connect to PostgreSQL (${url.source}): ${describe(err)}`, 'check the URL and that the server is up');
  }
  try {
    let after: { time: Date; key: string } | undefined;
    for (;;) {
      const where: string[] = [];
      const params: unknown[] = [];
      if (fromMs !== undefined) where.push(`time >= $${params.push(new Date(fromMs))}`);
      if (toMs !== undefined) where.push(`time < $${params.push(new Date(toMs))}`);
      if (after !== undefined) where.push(`(time, key) > ($${params.push(after.time)}, $${params.push(after.key)})`);
      let res: pg.QueryResult<Row>;
      try {
        res = await client.query<Row>(`SELECT * FROM ${table}${where.length > 0 ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY time, key LIMIT 5000`, params);
      } catch (err) {
        throw new PostgresConfigError(`cannot read table ${table}: ${describe(err)}`, 'is this the table `tollgate serve --ledger-postgres-table` writes?');
      }
      for (const row of res.rows) yield recordOf(row);
      if (res.rows.length < 5000) return;
      const last = res.rows[res.rows.length - 1] as Row;
      after = { time: last['time'] as Date, key: text(last['key']) };
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
