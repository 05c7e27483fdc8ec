// `tollgate chargeback`: tokens × rates → cost per workload / business unit / model, from the usage
// ledger (a directory, a file, or a PostgreSQL table) or from a Prometheus server; `--drift` adds
// the audit of the gateway's token counts against what the backends reported.
import { readFile } from 'node:fs/promises';
import { CostAggregator, DriftAggregator, GROUP_KEYS, parseGroupKeys, type DriftLine, type GroupKey } from '../accounting/chargeback.js';
import { LedgerReadError, readLedger, type LedgerProblem } from '../accounting/ledger/reader.js';
import { PostgresConfigError } from '../accounting/postgres.js';
import { readPostgres } from '../accounting/postgres-reader.js';
import { addFromPrometheus, driftFromPrometheus, PROMETHEUS_UNSUPPORTED, PrometheusSourceError } from '../accounting/prometheus-source.js';
import { parseRates, RatesError, type Rates } from '../accounting/rates.js';
import type { UsageRecord } from '../accounting/record.js';
import { formatChargeback, formatDrift, type ReportFormat, type ReportMeta } from '../accounting/report-format.js';
import { SecretValue } from '../core/secret.js';
import { CliError, formatHelp, parseCommandArgs, UsageError } from './args.js';

const spec = {
  name: 'chargeback',
  summary: 'FinOps report: tokens × rates per workload / model, drift audit',
  usage: `
Usage: tollgate chargeback (--ledger PATH | --prometheus URL) --rates FILE [flags]

  --ledger PATH          the usage ledger: the directory given to \`tollgate serve --ledger\`, one
                         of its files, or a postgres://… URL of the database sink
  --ledger-postgres-table NAME  table to read with a postgres:// ledger (default tollgate_usage)
  --prometheus URL       compute from a Prometheus server's gen_ai_client_token_usage_token_sum
  --rates FILE           prices per model, token type and workload (YAML; see docs/observability.md)
  --from T, --to T       time range: ISO-8601 (2025-06-01, 2025-06-01T12:00Z) or relative (-7d, -12h, now)
  --by KEYS              group by, comma-separated (default workload,model):
                         ${GROUP_KEYS.join(', ')}
  --format F             table (default), csv or json
  --drift                also (or, without --rates, only) the token drift audit per model

Every token type is priced: input counts all prompt tokens, and cached_input / cache_creation_input
are billed at their own price when the rates give one (reasoning likewise within output). Tiers
apply to the period's whole volume on a price card; each group pays the card's average price.`,
  options: {
    ledger: { type: 'string' },
    'ledger-postgres-table': { type: 'string' },
    prometheus: { type: 'string' },
    rates: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    by: { type: 'string' },
    format: { type: 'string' },
    drift: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const ledger = values.ledger;
  const prom = values.prometheus;
  if ((ledger === undefined) === (prom === undefined)) {
    throw new UsageError('give exactly one source: --ledger PATH or --prometheus URL', 'for example: tollgate chargeback --ledger /var/lib/tollgate/ledger --rates rates.yaml');
  }
  const drift = values.drift === true;
  if (values.rates === undefined && !drift) throw new UsageError('--rates FILE is required (or --drift for the drift audit alone)', 'see docs/observability.md for the rates format');
  const format = parseFormat(values.format ?? 'table');
  let by: GroupKey[];
  try {
    by = parseGroupKeys(values.by ?? 'workload,model');
  } catch (err) {
    throw new UsageError(`--by: ${(err as Error).message}`);
  }
  const now = Date.now();
  const fromMs = values.from === undefined ? undefined : parseTime(values.from, '--from', now);
  const toMs = values.to === undefined ? undefined : parseTime(values.to, '--to', now);
  if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) throw new UsageError('--from must be before --to');
  const rates = values.rates === undefined ? undefined : await loadRates(values.rates);
  const meta = (source: string, extra: Partial<ReportMeta> = {}): ReportMeta => ({
    source,
    from: fromMs === undefined ? undefined : new Date(fromMs).toISOString(),
    to: toMs === undefined ? undefined : new Date(toMs).toISOString(),
    knowsEstimates: prom === undefined,
    ...extra,
  });

  if (prom !== undefined) {
    const unsupported = by.filter((k) => PROMETHEUS_UNSUPPORTED.includes(k));
    if (unsupported.length > 0) throw new UsageError(`--by ${unsupported.join(',')} needs the ledger: Prometheus metrics carry no such label`);
    try {
      if (rates !== undefined) {
        const agg = new CostAggregator(rates, by);
        await addFromPrometheus(agg, prom, fromMs, toMs);
        process.stdout.write(formatChargeback(agg.report(by), meta(prom), format));
      }
      if (drift) process.stdout.write((rates === undefined ? '' : '\n') + formatDrift(await driftFromPrometheus(prom, fromMs, toMs), meta(prom), format));
    } catch (err) {
      if (err instanceof PrometheusSourceError) throw new CliError(err.message, err.hint);
      throw err;
    }
    return 0;
  }

  const source = ledger as string;
  const agg = rates === undefined ? undefined : new CostAggregator(rates, by);
  const audit = new DriftAggregator();
  const problems: LedgerProblem[] = [];
  let records = 0;
  try {
    for await (const r of recordsFrom(source, values['ledger-postgres-table'] ?? 'tollgate_usage', fromMs, toMs, problems)) {
      records++;
      agg?.add(dimsOf(r), r.usage, 1, r.usageSource === 'backend' ? 0 : r.usage.input + r.usage.output);
      if (drift && r.backendUsage !== undefined && r.gatewayCount !== undefined) {
        audit.add(r.requestModel, 'input', r.backendUsage.input, r.gatewayCount.input);
        audit.add(r.requestModel, 'output', r.backendUsage.output, r.gatewayCount.output);
      }
    }
  } catch (err) {
    if (err instanceof LedgerReadError || err instanceof PostgresConfigError) throw new CliError(err.message, err.hint);
    throw err;
  }
  for (const p of problems.slice(0, 20)) process.stderr.write(`tollgate chargeback: ${p.file}:${p.line}: ${p.message}\n`);
  if (problems.length > 20) process.stderr.write(`tollgate chargeback: … and ${problems.length - 20} more unreadable lines\n`);
  const m = meta(redactSource(source), { records, problems: problems.length });
  if (agg !== undefined) process.stdout.write(formatChargeback(agg.report(by), m, format));
  if (drift) {
    const lines: DriftLine[] = audit.lines();
    process.stdout.write((agg === undefined ? '' : '\n') + formatDrift(lines, m, format));
  }
  return 0;
}

async function* recordsFrom(source: string, table: string, fromMs: number | undefined, toMs: number | undefined, problems: LedgerProblem[]): AsyncGenerator<UsageRecord> {
  if (/^postgres(ql)?:\/\//.test(source)) {
    yield* readPostgres(new SecretValue(source, '--ledger'), table, fromMs, toMs);
    return;
  }
  for await (const r of readLedger(source, { problems, files: [] })) {
    if (fromMs !== undefined && r.startedAt < fromMs) continue;
    if (toMs !== undefined && r.startedAt >= toMs) continue;
    yield r;
  }
}

function dimsOf(r: UsageRecord): Parameters<CostAggregator['add']>[0] {
  return {
    workload: r.workload,
    model: r.requestModel,
    originalModel: r.originalModel,
    responseModel: r.responseModel,
    route: r.route,
    backend: r.backend,
    provider: r.provider,
    operation: r.operation === 'completions' ? 'text_completion' : r.operation === 'messages' ? 'chat' : r.operation,
    day: new Date(r.startedAt).toISOString().slice(0, 10),
    usageSource: r.usageSource,
    key: r.apiKey,
    team: r.team,
  };
}

/** A postgres URL without its password, for the report header. */
function redactSource(s: string): string {
  return s.replace(/^(postgres(?:ql)?:\/\/[^:@/]*):[^@]*@/, '$1:***@');
}

async function loadRates(file: string): Promise<Rates> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new CliError(
        `--rates ${file}: no such file`,
        'the repository ships examples/seed-scenario/rates.yaml (prices of the demo\'s models); copy it and set your own prices (format: docs/observability.md, "Chargeback")',
      );
    }
    throw new CliError(`cannot read --rates ${file}: ${code ?? (err as Error).message}`);
  }
  try {
    return parseRates(text, file);
  } catch (err) {
    if (err instanceof RatesError) throw new CliError(err.message, err.hint);
    throw err;
  }
}

function parseFormat(v: string): ReportFormat {
  if (v === 'table' || v === 'csv' || v === 'json') return v;
  throw new UsageError(`--format: "${v}" is not one of table, csv, json`);
}

/** ISO-8601 date or time, epoch seconds, `now`, or relative `-30m`, `-12h`, `-7d`. */
export function parseTime(v: string, flag: string, now: number): number {
  if (v === 'now') return now;
  const rel = /^-(\d+(?:\.\d+)?)([smhdw])$/.exec(v);
  if (rel !== null) {
    const unit = { s: 1e3, m: 6e4, h: 3.6e6, d: 8.64e7, w: 6.048e8 }[rel[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return now - Number(rel[1]) * unit;
  }
  if (/^\d{9,11}(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (/^\d{4}-\d{2}-\d{2}/.test(v) && !Number.isNaN(t)) return t;
  throw new UsageError(`${flag}: "${v}" is not a time`, 'use ISO-8601 (2025-06-01 or 2025-06-01T12:00:00Z), epoch seconds, now, or -7d / -12h / -30m');
}
