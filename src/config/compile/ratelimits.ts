// BackendTrafficPolicy `rateLimit` → RateLimitRule[]. Rules keep a stable id (policy, position and a
// hash of what defines them) so bucket state survives reloads and resets only when the rule changes.
import { createHash } from 'node:crypto';
import type { Manifest } from '../parse.js';
import type { CostSpecifierSpec, RateLimitRuleSpec } from '../schema/envoygateway.js';
import type { CostSpec, RateLimitRule } from '../types.js';
import { type Ctx, error, type Path, warn } from './context.js';
import { compileSelectors } from './selectors.js';

const UNIT_MS: Readonly<Record<string, number>> = {
  Second: 1_000,
  Minute: 60_000,
  Hour: 3_600_000,
  Day: 86_400_000,
  Week: 7 * 86_400_000,
  Month: 30 * 86_400_000,
  Year: 365 * 86_400_000,
};

/** Envoy AI Gateway writes its llmRequestCosts under this dynamic-metadata namespace. */
export const AI_GATEWAY_METADATA_NAMESPACE = 'io.envoy.ai_gateway';
/** Annotation that turns on reservation mode for a policy's token rules. */
export const RESERVATION_ANNOTATION = 'tollgate.io/token-reservation';

export function compileRateLimits(ctx: Ctx, p: Manifest<'BackendTrafficPolicy'>): RateLimitRule[] {
  const spec = p.value.spec.rateLimit;
  if (spec === undefined) return [];
  const reserve = reservationEnabled(ctx, p);
  const out: RateLimitRule[] = [];
  const add = (scope: 'Local' | 'Global', rules: readonly RateLimitRuleSpec[] | undefined, base: Path): void => {
    (rules ?? []).forEach((r, i) => {
      const rule = compileRule(ctx, p, scope, r, [...base, 'rules', i], out.length, reserve);
      if (rule !== undefined) out.push(rule);
    });
  };
  // `type` is deprecated: with it, only the matching section applies (Envoy Gateway's behaviour).
  if (spec.type === 'Local' && spec.global !== undefined) warn(ctx, p, ['spec', 'rateLimit', 'global'], 'ignored: `type: Local` selects the local rules only');
  if (spec.type === 'Global' && spec.local !== undefined) warn(ctx, p, ['spec', 'rateLimit', 'local'], 'ignored: `type: Global` selects the global rules only');
  if (spec.type !== 'Global') add('Local', spec.local?.rules, ['spec', 'rateLimit', 'local']);
  if (spec.type !== 'Local') add('Global', spec.global?.rules, ['spec', 'rateLimit', 'global']);
  if (spec.type === 'Local' && spec.local === undefined) error(ctx, p, ['spec', 'rateLimit'], '`type: Local` needs a `local:` section with rules');
  if (spec.type === 'Global' && spec.global === undefined) error(ctx, p, ['spec', 'rateLimit'], '`type: Global` needs a `global:` section with rules');
  return out;
}

function reservationEnabled(ctx: Ctx, p: Manifest<'BackendTrafficPolicy'>): boolean {
  const v = p.value.metadata.annotations?.[RESERVATION_ANNOTATION];
  if (v === undefined) return false;
  if (v === 'true' || v === true) return true;
  if (v === 'false' || v === false) return false;
  warn(ctx, p, ['metadata', 'annotations', RESERVATION_ANNOTATION], `${JSON.stringify(v)} is not "true" or "false"; reservation stays off`);
  return false;
}

function compileRule(
  ctx: Ctx,
  p: Manifest<'BackendTrafficPolicy'>,
  scope: 'Local' | 'Global',
  r: RateLimitRuleSpec,
  path: Path,
  index: number,
  reserve: boolean,
): RateLimitRule | undefined {
  const before = ctx.diags.errorCount;
  const selectors = compileSelectors(ctx, p, [...path, 'clientSelectors'], r.clientSelectors);
  const l = r.limit;
  let limit: RateLimitRule['limit'];
  if (l.requests !== undefined || l.unit !== undefined) {
    if (l.requests === undefined || l.unit === undefined) {
      error(ctx, p, [...path, 'limit'], 'a limit needs both `requests` and `unit`', 'e.g. limit: {requests: 100, unit: Minute}');
    } else {
      limit = { requests: l.requests, unit: l.unit, windowMs: UNIT_MS[l.unit] ?? 1_000 };
    }
  }
  if (limit === undefined && l.maxConcurrent === undefined && l.requests === undefined && l.unit === undefined) {
    error(ctx, p, [...path, 'limit'], 'a limit needs `requests` and `unit` (or Tollgate\'s `maxConcurrent`)', 'e.g. limit: {requests: 2, unit: Minute}');
  }
  if (l.fromMetadata !== undefined) warn(ctx, p, [...path, 'limit', 'fromMetadata'], '`fromMetadata` is accepted but not enforced by Tollgate; `requests`/`unit` apply');
  const requestCost = compileCost(ctx, p, [...path, 'cost', 'request'], r.cost?.request) ?? { from: 'Number', number: 1 };
  const responseCost = compileCost(ctx, p, [...path, 'cost', 'response'], r.cost?.response);
  if (requestCost.from === 'Metadata' && !reserve) {
    warn(
      ctx,
      p,
      [...path, 'cost', 'request'],
      'token usage is only known when the response ends, so a metadata cost on the request path counts 0 here',
      `charge tokens with cost.response, or reserve an estimate with the annotation ${RESERVATION_ANNOTATION}: "true"`,
    );
  }
  if (r.shadowMode === true && scope === 'Local') warn(ctx, p, [...path, 'shadowMode'], 'Envoy supports shadowMode for global rules only; Tollgate honours it for local rules too');
  if (ctx.diags.errorCount > before) return undefined;
  const defining = JSON.stringify({ scope, r, targets: p.value.spec.targetRefs ?? p.value.spec.targetRef ?? null });
  const hash = createHash('sha256').update(defining).digest('hex').slice(0, 12);
  return {
    id: `${p.key}#${index}@${hash}`,
    label: `${p.key}/rule-${index}`,
    scope,
    selectors,
    limit,
    maxConcurrent: l.maxConcurrent,
    requestCost,
    responseCost,
    shadow: r.shadowMode ?? false,
    shared: r.shared ?? false,
    reserve,
    headers: r.xRateLimitHeaders !== 'Off',
  };
}

function compileCost(ctx: Ctx, p: Manifest<'BackendTrafficPolicy'>, path: Path, c: CostSpecifierSpec | undefined): CostSpec | undefined {
  if (c === undefined) return undefined;
  if (c.from === 'Number') {
    if (c.number === undefined) {
      error(ctx, p, path, '`from: Number` needs `number`', 'e.g. {from: Number, number: 0} only checks the budget without consuming it');
      return undefined;
    }
    if (c.metadata !== undefined) warn(ctx, p, [...path, 'metadata'], 'ignored with `from: Number`');
    return { from: 'Number', number: c.number };
  }
  if (c.metadata === undefined) {
    error(ctx, p, path, '`from: Metadata` needs `metadata: {namespace, key}`', `namespace ${AI_GATEWAY_METADATA_NAMESPACE}, key: an llmRequestCosts metadataKey of the route`);
    return undefined;
  }
  if (c.metadata.namespace !== AI_GATEWAY_METADATA_NAMESPACE) {
    error(ctx, p, [...path, 'metadata', 'namespace'], `unknown metadata namespace "${c.metadata.namespace}"`, `token costs live in ${AI_GATEWAY_METADATA_NAMESPACE}`);
    return undefined;
  }
  return { from: 'Metadata', key: c.metadata.key };
}
