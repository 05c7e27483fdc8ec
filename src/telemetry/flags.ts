// The `tollgate serve` flags for accounting and observability, parsed into TelemetryOptions. Kept
// here (not in cli/) so serve.ts only spreads the flag table and makes one call; errors are
// TelemetryFlagError, which the command turns into a usage error.
import { readFile } from 'node:fs/promises';
import { parseRates, RatesError } from '../accounting/rates.js';
import { checkTableName, type PostgresConfigError } from '../accounting/postgres.js';
import { SecretValue } from '../core/secret.js';
import { parseAccessLogTarget } from './access-log.js';
import type { TelemetryOptions } from './hub.js';

export const TELEMETRY_FLAGS = {
  ledger: { type: 'string' },
  'ledger-fsync-ms': { type: 'string' },
  'ledger-postgres': { type: 'string' },
  'ledger-postgres-table': { type: 'string' },
  'access-log': { type: 'string' },
  rates: { type: 'string' },
  'count-threads': { type: 'string' },
  'audit-sample-rate': { type: 'string' },
} as const;

export const TELEMETRY_USAGE = `
Accounting and observability:
  --ledger DIR           durable usage ledger: one record per request, append-only JSON lines,
                         rotated by size and day (env TOLLGATE_LEDGER)
  --ledger-fsync-ms MS   fdatasync period of the ledger (default 100; 0 = after every record)
  --ledger-postgres URL  also write every record to PostgreSQL (postgres://user@host/db; the
                         password from PGPASSWORD, or the URL from env TOLLGATE_LEDGER_POSTGRES_URL)
  --ledger-postgres-table NAME  table (created if missing; default tollgate_usage)
  --access-log TARGET    one JSON line per request: stdout, stderr or a file path
  --rates FILE           chargeback rates: each record gets its cost at the base rates
  --count-threads N      tokenizer worker threads: 1 (default) or 0 (count on the main thread)
  --audit-sample-rate R  share of the requests with backend-reported usage that the gateway also
                         counts for the drift audit, 0 to 1 (default 0.05; env
                         TOLLGATE_AUDIT_SAMPLE_RATE); requests without it are always counted
OpenTelemetry traces go to OTEL_EXPORTER_OTLP_ENDPOINT (OTLP/HTTP JSON) when it is set; message
content is attached only with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.`;

export type TelemetryFlagValues = { readonly [K in keyof typeof TELEMETRY_FLAGS]?: string | undefined };

export class TelemetryFlagError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

export async function telemetryOptions(v: TelemetryFlagValues, env: NodeJS.ProcessEnv): Promise<TelemetryOptions> {
  const ledgerDir = nonEmpty(v.ledger ?? env['TOLLGATE_LEDGER']);
  const fsync = v['ledger-fsync-ms'];
  if (fsync !== undefined && ledgerDir === undefined) throw new TelemetryFlagError('--ledger-fsync-ms needs --ledger DIR');
  const pgUrl = nonEmpty(v['ledger-postgres'] ?? env['TOLLGATE_LEDGER_POSTGRES_URL']);
  if (pgUrl !== undefined && !/^postgres(ql)?:\/\//.test(pgUrl)) {
    throw new TelemetryFlagError('--ledger-postgres: not a postgres:// URL', 'for example postgres://tollgate@db.internal:5432/finops');
  }
  const table = v['ledger-postgres-table'];
  if (table !== undefined) {
    if (pgUrl === undefined) throw new TelemetryFlagError('--ledger-postgres-table needs --ledger-postgres URL');
    try {
      checkTableName(table);
    } catch (err) {
      throw new TelemetryFlagError(`--ledger-postgres-table: ${(err as PostgresConfigError).message}`, (err as PostgresConfigError).hint);
    }
  }
  let rates: TelemetryOptions['rates'];
  const ratesFile = v.rates;
  if (ratesFile !== undefined) {
    let text: string;
    try {
      text = await readFile(ratesFile, 'utf8');
    } catch (err) {
      throw new TelemetryFlagError(`--rates: cannot read ${ratesFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    try {
      rates = parseRates(text, ratesFile);
    } catch (err) {
      if (err instanceof RatesError) throw new TelemetryFlagError(err.message, err.hint);
      throw err;
    }
  }
  const threads = v['count-threads'];
  if (threads !== undefined && threads !== '0' && threads !== '1') throw new TelemetryFlagError(`--count-threads: "${threads}" must be 0 or 1`);
  const audit = v['audit-sample-rate'] ?? nonEmpty(env['TOLLGATE_AUDIT_SAMPLE_RATE']);
  const auditSampleRate = audit === undefined ? undefined : Number(audit);
  if (auditSampleRate !== undefined && (!/^\d*\.?\d+$/.test(audit ?? '') || auditSampleRate > 1)) {
    throw new TelemetryFlagError(`--audit-sample-rate: "${audit ?? ''}" must be a number from 0 to 1`, 'for example 0.05 (one request in twenty) or 1 (every request)');
  }
  return {
    ledgerDir,
    ledgerFsyncMs: fsync === undefined ? undefined : intFlag(fsync, '--ledger-fsync-ms', 0, 60_000),
    postgres: pgUrl === undefined ? undefined : { url: new SecretValue(pgUrl, v['ledger-postgres'] !== undefined ? '--ledger-postgres' : 'TOLLGATE_LEDGER_POSTGRES_URL'), table },
    accessLog: v['access-log'] === undefined ? undefined : parseAccessLogTarget(v['access-log']),
    rates,
    countThreads: threads === undefined ? undefined : Number(threads),
    auditSampleRate,
    traces: 'env',
  };
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}

function intFlag(s: string, flag: string, min: number, max: number): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < min || n > max) throw new TelemetryFlagError(`${flag}: "${s}" must be a whole number from ${min} to ${max}`);
  return n;
}
