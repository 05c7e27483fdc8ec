// QuotaPolicy → token quotas per AIServiceBackend and model. Each quota has a default bucket and
// bucket rules (client selectors, shadow mode); in the only mode the API defines ("Shared") a
// request may go ahead while any matching bucket has budget, and its cost burns down all of them.
// Unlike Envoy AI Gateway (where these rules are parsed but not enforced), Tollgate enforces them,
// and a backend out of quota makes the request fail over to a lower-priority backend.
import { createHash } from 'node:crypto';
import { CEL_VARIABLES, compileCostExpression, TOKEN_COSTS } from '../../limits/cel.js';
import type { Manifest } from '../parse.js';
import type { CostFunction, ModelQuota, QuotaBucket } from '../types.js';
import { type Ctx, dangling, error, type Path, warn } from './context.js';
import { RESERVATION_ANNOTATION } from './ratelimits.js';
import { compileSelectors } from './selectors.js';

const DURATION_MS: Readonly<Record<string, number>> = { '1s': 1_000, '1m': 60_000, '1h': 3_600_000, '1d': 86_400_000 };

export function compileQuotas(ctx: Ctx): Map<string, ModelQuota[]> {
  const out = new Map<string, ModelQuota[]>();
  // Envoy AI Gateway: when policies disagree on a model of a backend, the alphabetically first wins.
  const policies = [...ctx.index.ok('QuotaPolicy')].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const claimed = new Map<string, string>();
  for (const p of policies) {
    const quotas = compilePolicy(ctx, p);
    const refs = p.value.spec.targetRefs ?? [];
    if (refs.length === 0) warn(ctx, p, ['spec'], 'this QuotaPolicy has no targetRefs, so it applies to nothing');
    refs.forEach((ref, i) => {
      const path: Path = ['spec', 'targetRefs', i];
      if (ref.group !== 'aigateway.envoyproxy.io' || ref.kind !== 'AIServiceBackend') {
        error(ctx, p, path, 'a QuotaPolicy targets AIServiceBackends', 'group: aigateway.envoyproxy.io, kind: AIServiceBackend');
        return;
      }
      const key = `${p.namespace}/${ref.name}`;
      if (ctx.index.get('AIServiceBackend', key) === undefined) {
        dangling(ctx, p, [...path, 'name'], 'AIServiceBackend', p.namespace, ref.name);
        return;
      }
      const list = out.get(key) ?? [];
      for (const q of quotas) {
        const claim = `${key}|${q.model ?? '*'}`;
        const prev = claimed.get(claim);
        if (prev !== undefined) {
          warn(ctx, p, path, `QuotaPolicy ${prev} already sets the ${q.model === undefined ? 'service quota' : `quota of model ${q.model}`} for ${key}; that one wins (alphabetical order)`);
          continue;
        }
        claimed.set(claim, p.key);
        list.push(q);
      }
      out.set(key, list);
    });
  }
  return out;
}

function compilePolicy(ctx: Ctx, p: Manifest<'QuotaPolicy'>): ModelQuota[] {
  const spec = p.value.spec;
  const reserve = p.value.metadata.annotations?.[RESERVATION_ANNOTATION] === 'true';
  const out: ModelQuota[] = [];
  const cost = (expr: string | undefined, path: Path): CostFunction | undefined => {
    if (expr === undefined) return TOKEN_COSTS.TotalToken;
    const r = compileCostExpression(expr);
    if (r.ok) return r.evaluate;
    const where = r.offset === undefined ? '' : ` at column ${r.offset + 1} of the expression`;
    error(ctx, p, path, `invalid CEL expression${where}: ${r.message}`, `variables: ${CEL_VARIABLES.join(', ')}`);
    return undefined;
  };
  const bucket = (id: string, label: string, limit: number, duration: string, shadow: boolean, selectors: QuotaBucket['selectors']): QuotaBucket => ({
    id: `${p.key}#${id}@${createHash('sha256').update(JSON.stringify([limit, duration, shadow, selectors.length, label])).digest('hex').slice(0, 12)}`,
    label: `${p.key}/${label}`,
    selectors,
    limit,
    windowMs: DURATION_MS[duration] ?? 60_000,
    shadow,
  });
  if (spec.serviceQuota !== undefined) {
    const sq = spec.serviceQuota;
    const fn = cost(sq.costExpression, ['spec', 'serviceQuota', 'costExpression']);
    if (fn !== undefined) {
      out.push({
        policy: p.key,
        model: undefined,
        cost: fn,
        costSource: sq.costExpression ?? 'total_tokens',
        buckets: [bucket('service', 'service', sq.quota.limit, sq.quota.duration, false, [])],
        reserve,
      });
    }
  }
  const models = new Set<string>();
  (spec.perModelQuotas ?? []).forEach((pm, i) => {
    const path: Path = ['spec', 'perModelQuotas', i];
    if (models.has(pm.modelName)) {
      error(ctx, p, [...path, 'modelName'], `model "${pm.modelName}" has two quotas in this policy`);
      return;
    }
    models.add(pm.modelName);
    const q = pm.quota;
    const fn = cost(q.costExpression, [...path, 'quota', 'costExpression']);
    const buckets: QuotaBucket[] = [];
    if (q.defaultBucket !== undefined) buckets.push(bucket(`${pm.modelName}/default`, `${pm.modelName}/default`, q.defaultBucket.limit, q.defaultBucket.duration, false, []));
    (q.bucketRules ?? []).forEach((br, j) => {
      const selectors = compileSelectors(ctx, p, [...path, 'quota', 'bucketRules', j, 'clientSelectors'], br.clientSelectors);
      buckets.push(bucket(`${pm.modelName}/rule-${j}`, `${pm.modelName}/rule-${j}`, br.quota.limit, br.quota.duration, br.shadowMode ?? false, selectors));
    });
    if (buckets.length === 0) warn(ctx, p, [...path, 'quota'], 'no defaultBucket and no bucketRules: this quota limits nothing');
    if (fn !== undefined) out.push({ policy: p.key, model: pm.modelName, cost: fn, costSource: q.costExpression ?? 'total_tokens', buckets, reserve });
  });
  return out;
}
