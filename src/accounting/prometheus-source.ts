// Chargeback from a Prometheus server: the gateway's gen_ai_client_token_usage_token_sum (and
// _count for request numbers) summed over every gateway instance Prometheus scrapes, by the labels
// the report groups on. Without a time range the cumulative values at `to` (or now) are used, which
// equal the ledger's totals for the same traffic; with `from`, Prometheus's increase() over the
// range (it handles counter resets from restarts, and extrapolates at the range's edges).
import { makeUsage, type TokenType } from '../core/usage.js';
import type { CostAggregator, DriftLine, GroupKey } from './chargeback.js';

export class PrometheusSourceError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

interface VectorSample {
  readonly metric: Readonly<Record<string, string>>;
  readonly value: readonly [number, string];
}

const LABELS = [
  'gen_ai_request_model',
  'gen_ai_original_model',
  'gen_ai_response_model',
  'gen_ai_provider_name',
  'gen_ai_operation_name',
  'workload',
  'route',
  'backend',
  'gen_ai_token_type',
];

/** Grouping keys Prometheus cannot answer (the metrics carry no time per request nor usage source). */
export const PROMETHEUS_UNSUPPORTED: readonly GroupKey[] = ['day', 'usage_source', 'key', 'team'];

export async function queryVector(base: string, promql: string, atMs: number | undefined): Promise<VectorSample[]> {
  const u = new URL('api/v1/query', base.endsWith('/') ? base : `${base}/`);
  u.searchParams.set('query', promql);
  if (atMs !== undefined) u.searchParams.set('time', (atMs / 1000).toFixed(3));
  let res: Response;
  try {
    res = await fetch(u, { signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new PrometheusSourceError(`cannot reach Prometheus at ${base}: ${(err as Error).cause instanceof Error ? ((err as Error).cause as Error).message : (err as Error).message}`, 'check --prometheus (e.g. http://prometheus:9090)');
  }
  const text = await res.text();
  let body: { status?: string; error?: string; data?: { resultType?: string; result?: unknown } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new PrometheusSourceError(`${base} did not answer like a Prometheus API (HTTP ${res.status})`, 'point --prometheus at the server root, e.g. http://prometheus:9090');
  }
  if (body.status !== 'success') throw new PrometheusSourceError(`Prometheus rejected the query: ${body.error ?? `HTTP ${res.status}`}`);
  if (body.data?.resultType !== 'vector' || !Array.isArray(body.data.result)) throw new PrometheusSourceError('Prometheus answered an unexpected result type');
  return body.data.result as VectorSample[];
}

function rangeExpr(metric: string, fromMs: number | undefined, toMs: number | undefined): string {
  if (fromMs === undefined) return metric;
  const seconds = Math.max(1, Math.round(((toMs ?? Date.now()) - fromMs) / 1000));
  return `increase(${metric}[${seconds}s])`;
}

/** Adds the token sums Prometheus holds to the aggregator; returns how many series were read. */
export async function addFromPrometheus(agg: CostAggregator, base: string, fromMs: number | undefined, toMs: number | undefined): Promise<number> {
  const by = LABELS.join(', ');
  const sums = await queryVector(base, `sum by (${by}) (${rangeExpr('gen_ai_client_token_usage_token_sum', fromMs, toMs)})`, toMs);
  const counts = await queryVector(base, `sum by (${by}) (${rangeExpr('gen_ai_client_token_usage_token_count', fromMs, toMs)})`, toMs);
  const requests = new Map<string, number>();
  for (const s of counts) if (s.metric['gen_ai_token_type'] === 'input') requests.set(dimKey(s.metric), Math.round(Number(s.value[1])));
  const rows = new Map<string, { metric: Readonly<Record<string, string>>; tokens: Partial<Record<TokenType, number>> }>();
  for (const s of sums) {
    const k = dimKey(s.metric);
    let r = rows.get(k);
    if (r === undefined) rows.set(k, (r = { metric: s.metric, tokens: {} }));
    const t = s.metric['gen_ai_token_type'] as TokenType | undefined;
    if (t !== undefined) r.tokens[t] = (r.tokens[t] ?? 0) + Math.round(Number(s.value[1]));
  }
  for (const [k, r] of rows) {
    const m = r.metric;
    const t = r.tokens;
    agg.add(
      {
        workload: m['workload'] ?? '',
        model: m['gen_ai_request_model'] ?? '',
        originalModel: m['gen_ai_original_model'] ?? '',
        responseModel: m['gen_ai_response_model'] ?? '',
        route: m['route'] ?? '',
        backend: m['backend'] ?? '',
        provider: m['gen_ai_provider_name'] ?? '',
        operation: m['gen_ai_operation_name'] ?? '',
        day: '',
        usageSource: '',
        key: '',
        team: '',
      },
      makeUsage({ input: t.input, cachedInput: t.cached_input, cacheCreationInput: t.cache_creation_input, output: t.output, reasoning: t.reasoning }),
      requests.get(k) ?? 0,
      0,
    );
  }
  return rows.size;
}

function dimKey(m: Readonly<Record<string, string>>): string {
  return JSON.stringify(LABELS.filter((l) => l !== 'gen_ai_token_type').map((l) => m[l] ?? ''));
}

/** The drift audit from tollgate_token_audit_tokens_total and tollgate_token_drift_ratio. */
export async function driftFromPrometheus(base: string, fromMs: number | undefined, toMs: number | undefined): Promise<DriftLine[]> {
  const audit = await queryVector(base, `sum by (gen_ai_request_model, gen_ai_token_type, counted_by) (${rangeExpr('tollgate_token_audit_tokens_total', fromMs, toMs)})`, toMs);
  const sum = await queryVector(base, `sum by (gen_ai_request_model, gen_ai_token_type) (${rangeExpr('tollgate_token_drift_ratio_sum', fromMs, toMs)})`, toMs);
  const count = await queryVector(base, `sum by (gen_ai_request_model, gen_ai_token_type) (${rangeExpr('tollgate_token_drift_ratio_count', fromMs, toMs)})`, toMs);
  const cells = new Map<string, { model: string; type: 'input' | 'output'; be: number; gw: number; sum: number; n: number }>();
  const cell = (m: Readonly<Record<string, string>>) => {
    const model = m['gen_ai_request_model'] ?? '';
    const type = m['gen_ai_token_type'] === 'output' ? 'output' : 'input';
    const k = `${model}\u0000${type}`;
    let c = cells.get(k);
    if (c === undefined) cells.set(k, (c = { model, type, be: 0, gw: 0, sum: 0, n: 0 }));
    return c;
  };
  for (const s of audit) {
    const c = cell(s.metric);
    if (s.metric['counted_by'] === 'backend') c.be += Math.round(Number(s.value[1]));
    else c.gw += Math.round(Number(s.value[1]));
  }
  for (const s of sum) cell(s.metric).sum += Number(s.value[1]);
  for (const s of count) cell(s.metric).n += Math.round(Number(s.value[1]));
  return [...cells.values()]
    .map((c) => ({
      model: c.model,
      tokenType: c.type,
      requests: c.n,
      backendTokens: c.be,
      gatewayTokens: c.gw,
      drift: c.be > 0 ? (c.gw - c.be) / c.be : undefined,
      meanRatio: c.n > 0 ? c.sum / c.n : undefined,
      p95AbsRatio: undefined,
      maxAbsRatio: undefined,
    }))
    .sort((a, b) => (a.model === b.model ? (a.tokenType < b.tokenType ? -1 : 1) : a.model < b.model ? -1 : 1));
}
