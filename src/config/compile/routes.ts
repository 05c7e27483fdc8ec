// AIGatewayRoute → RouteConfig: header matches compiled (names lower-cased, regexes anchored as the
// Gateway API requires), backendRefs resolved to compiled backends, timeouts and retries settled.
import type { Manifest } from '../parse.js';
import { LLM_COST_TYPES, type RuleSpec } from '../schema/aigateway.js';
import {
  type BackendConfig,
  type BackendRefConfig,
  DEFAULT_REQUEST_TIMEOUT_MS,
  type HeaderMatch,
  type LlmRequestCost,
  type RouteConfig,
  type RouteMatch,
  type RuleConfig,
} from '../types.js';
import { compileHeaderRegex, parseRfc3339Seconds } from '../units.js';
import { type Ctx, dangling, error, type Path, sourceRef, warn } from './context.js';
import { ENDPOINTS_ANNOTATION, INFERENCE_GROUP, POOL_KEY_PREFIX } from './inference-pool.js';
import { compileBodyMutation, compileHeaderMutation } from './mutations.js';
import { DEFAULT_RETRY, type TrafficPolicies } from './policies.js';
import { CEL_VARIABLES, compileCostExpression, TOKEN_COSTS } from '../../limits/cel.js';

export const DEFAULT_MODELS_OWNED_BY = 'tollgate';
const MAX_RULES = 15;

function compileMatches(ctx: Ctx, m: Manifest<'AIGatewayRoute'>, rulePath: Path, rule: RuleSpec): RouteMatch[] {
  return (rule.matches ?? []).map((match, mi) => {
    const headers: HeaderMatch[] = [];
    const seen = new Set<string>();
    (match.headers ?? []).forEach((h, hi) => {
      const path: Path = [...rulePath, 'matches', mi, 'headers', hi];
      const name = h.name.toLowerCase();
      if (seen.has(name)) {
        // Gateway API: only the first entry for an equivalent header name is considered.
        warn(ctx, m, [...path, 'name'], `header \`${name}\` is matched twice in one match; only the first entry counts`);
        return;
      }
      seen.add(name);
      const type = h.type ?? 'Exact';
      let regex: RegExp | undefined;
      if (type === 'RegularExpression') {
        const r = compileHeaderRegex(h.value);
        if ('error' in r) {
          error(ctx, m, [...path, 'value'], `invalid regular expression "${h.value}": ${r.error}`, 'the whole header value must match; e.g. `gpt-4o.*` or `(llama|mistral)-.*`');
          return;
        }
        regex = r.regex;
        if (/\(\?[=!<]|\\[1-9]/.test(h.value)) {
          warn(ctx, m, [...path, 'value'], 'lookaround and backreferences are not RE2 syntax; Envoy would reject this regex (Tollgate accepts it)');
        }
      }
      headers.push({ name, type, value: h.value, regex });
    });
    return { headers };
  });
}

export function compileRoute(
  ctx: Ctx,
  m: Manifest<'AIGatewayRoute'>,
  backends: ReadonlyMap<string, BackendConfig>,
  policies: TrafficPolicies,
): RouteConfig | undefined {
  const spec = m.value.spec;
  const errorsBefore = ctx.diags.errorCount;
  if (spec.schema !== undefined) {
    warn(ctx, m, ['spec', 'schema'], '`spec.schema` is deprecated and has no effect', 'delete it (it was removed in aigateway.envoyproxy.io/v1beta1)', true);
  }
  if (spec.targetRefs !== undefined) {
    warn(ctx, m, ['spec', 'targetRefs'], '`spec.targetRefs` is deprecated', 'use `spec.parentRefs` (it was removed in aigateway.envoyproxy.io/v1beta1)', true);
  }
  (spec.parentRefs ?? []).forEach((p, i) => {
    if (p.kind !== undefined && p.kind !== 'Gateway') error(ctx, m, ['spec', 'parentRefs', i, 'kind'], `a parentRef must be a Gateway, not ${p.kind}`);
  });
  if (spec.rules.length > MAX_RULES) {
    warn(ctx, m, ['spec', 'rules'], `${spec.rules.length} rules: Envoy AI Gateway allows at most ${MAX_RULES} per route`, 'Tollgate accepts more; split the route to stay portable');
  }
  const names = new Set<string>();
  const ids = new Set<string>();
  const created = creationSeconds(m);
  const rules: RuleConfig[] = [];
  spec.rules.forEach((rule, index) => {
    const rulePath: Path = ['spec', 'rules', index];
    if (rule.name !== undefined) {
      if (rule.name === 'route-not-found') error(ctx, m, [...rulePath, 'name'], 'the rule name `route-not-found` is reserved');
      if (names.has(rule.name)) error(ctx, m, [...rulePath, 'name'], `two rules are named "${rule.name}"`, 'rule names must be unique within a route');
      names.add(rule.name);
    }
    const id = `${m.key}/${rule.name ?? `rule-${index}`}`;
    if (ids.has(id)) error(ctx, m, [...rulePath, 'name'], `rule id ${id} is used twice`, `unnamed rules are called rule-<index>; pick another name`);
    ids.add(id);

    const matches = compileMatches(ctx, m, rulePath, rule);
    const refs = rule.backendRefs ?? [];
    if (refs.length === 0) error(ctx, m, rulePath, 'this rule has no backendRefs, so it could never answer a request', 'add backendRefs: [{name: <AIServiceBackend>}]');
    const backendRefs: BackendRefConfig[] = [];
    refs.forEach((ref, ri) => {
      const refPath: Path = [...rulePath, 'backendRefs', ri];
      const ns = ref.namespace ?? m.namespace;
      const isPool = ref.kind === 'InferencePool';
      if (isPool && ref.group !== INFERENCE_GROUP) {
        error(ctx, m, [...refPath, 'group'], `an InferencePool belongs to group ${INFERENCE_GROUP}, not ${ref.group ?? '(none)'}`, `group: ${INFERENCE_GROUP}`);
        return;
      }
      if (!isPool && (ref.group !== undefined || ref.kind !== undefined)) {
        error(ctx, m, refPath, `backendRefs reference AIServiceBackends or InferencePools; group/kind ${ref.group ?? ''}/${ref.kind ?? ''} is neither`, `leave group and kind unset, or use {group: ${INFERENCE_GROUP}, kind: InferencePool}`);
        return;
      }
      const key = `${ns}/${ref.name}`;
      const target = ctx.index.get(isPool ? 'InferencePool' : 'AIServiceBackend', key);
      if (target === undefined) {
        if (isPool) {
          // Envoy AI Gateway's examples point at pools installed by the Inference Extension's own
          // manifests; a missing pool leaves the rule without that backend, not the config invalid.
          warn(ctx, m, [...refPath, 'name'], `InferencePool ${key} is not in this config, so this backendRef gets no traffic`, `define it with annotation ${ENDPOINTS_ANNOTATION}: "host:port,…"`);
        } else {
          dangling(ctx, m, [...refPath, 'name'], 'AIServiceBackend', ns, ref.name);
        }
        return;
      }
      const backend = backends.get(isPool ? POOL_KEY_PREFIX + key : key);
      const headerMutation = compileHeaderMutation(ctx, m, [...refPath, 'headerMutation'], ref.headerMutation);
      const bodyMutation = compileBodyMutation(ctx, m, [...refPath, 'bodyMutation'], ref.bodyMutation);
      if (backend === undefined) return; // its own errors are already reported
      backendRefs.push({
        backend,
        weight: ref.weight ?? 1,
        priority: ref.priority ?? 0,
        modelNameOverride: ref.modelNameOverride === '' ? undefined : ref.modelNameOverride,
        headerMutation,
        bodyMutation,
      });
    });
    const priorities = new Set(backendRefs.map((r) => r.priority));
    for (const prio of priorities) {
      const at = backendRefs.filter((r) => r.priority === prio);
      if (at.every((r) => r.weight === 0)) {
        warn(ctx, m, [...rulePath, 'backendRefs'], `every backendRef at priority ${prio} has weight 0, so none of them receives traffic`);
      }
    }

    const policy = policies.forRule(m.key, rule.name);
    const requestMs = rule.timeouts?.request ?? policy?.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const backendRequest = rule.timeouts?.backendRequest;
    const backendRequestMs = backendRequest === undefined || backendRequest === 0 ? undefined : backendRequest;
    if (backendRequestMs !== undefined && requestMs !== 0 && backendRequestMs > requestMs) {
      error(
        ctx,
        m,
        [...rulePath, 'timeouts', 'backendRequest'],
        `backendRequest (${backendRequestMs} ms) is longer than the request timeout (${requestMs} ms)`,
        'one attempt cannot outlast the whole request; shorten backendRequest or raise timeouts.request',
      );
    }
    const idle = rule.streamIdleTimeout ?? policy?.streamIdleMs;
    rules.push({
      id,
      routeKey: m.key,
      routeName: m.name,
      index,
      name: rule.name,
      matches,
      backendRefs,
      timeouts: { requestMs, backendRequestMs, streamIdleMs: idle === undefined || idle === 0 ? undefined : idle },
      retry: policy?.retry ?? DEFAULT_RETRY,
      rateLimits: policy?.rateLimits ?? [],
      modelsOwnedBy: rule.modelsOwnedBy ?? DEFAULT_MODELS_OWNED_BY,
      modelsCreatedAt: rule.modelsCreatedAt ?? created,
      source: sourceRef(m, m.rulePos[index]),
    });
  });

  const costs: LlmRequestCost[] = [];
  const costKeys = new Set<string>();
  (spec.llmRequestCosts ?? []).forEach((c, i) => {
    const path: Path = ['spec', 'llmRequestCosts', i];
    if (costKeys.has(c.metadataKey)) error(ctx, m, [...path, 'metadataKey'], `metadataKey "${c.metadataKey}" is used twice`);
    costKeys.add(c.metadataKey);
    if (c.type === 'CEL' && (c.cel === undefined || c.cel.trim() === '')) {
      error(ctx, m, [...path, 'cel'], 'a CEL cost needs a `cel` expression', 'e.g. cel: "input_tokens + output_tokens * 4"');
    } else if (c.type !== 'CEL' && c.cel !== undefined) {
      warn(ctx, m, [...path, 'cel'], `\`cel\` is ignored for type ${c.type}`, `use type: CEL to compute the cost (types: ${LLM_COST_TYPES.join(', ')})`, true);
    }
    if (c.type === 'CEL') {
      if (c.cel === undefined || c.cel.trim() === '') return;
      const compiled = compileCostExpression(c.cel);
      if (!compiled.ok) {
        const where = compiled.offset === undefined ? '' : ` at column ${compiled.offset + 1} of the expression`;
        error(ctx, m, [...path, 'cel'], `invalid CEL expression${where}: ${compiled.message}`, `variables: ${CEL_VARIABLES.join(', ')} (token counts are uint: compare with uint(3))`);
        return;
      }
      costs.push({ metadataKey: c.metadataKey, type: c.type, cel: c.cel, evaluate: compiled.evaluate });
      return;
    }
    costs.push({ metadataKey: c.metadataKey, type: c.type, cel: undefined, evaluate: TOKEN_COSTS[c.type] });
  });
  // Rate limits that charge a metadata cost need the route to define it (else they would count 0).
  const definedKeys = new Set(costs.map((c) => c.metadataKey));
  const missing = new Set<string>();
  for (const rule of rules) {
    for (const rl of rule.rateLimits) {
      for (const cost of [rl.requestCost, rl.responseCost]) {
        if (cost?.from === 'Metadata' && !definedKeys.has(cost.key) && !missing.has(cost.key)) {
          missing.add(cost.key);
          warn(
            ctx,
            m,
            ['spec', 'llmRequestCosts'],
            `rate limit ${rl.label} charges metadata "${cost.key}", which this route does not define, so its requests cost 0 there`,
            `add {metadataKey: ${cost.key}, type: InputToken|OutputToken|TotalToken|…} to spec.llmRequestCosts`,
          );
        }
      }
    }
  }

  if (ctx.diags.errorCount > errorsBefore) return undefined;
  return {
    key: m.key,
    name: m.name,
    namespace: m.namespace,
    hostnames: (spec.hostnames ?? []).map((h) => h.toLowerCase()),
    rules,
    llmRequestCosts: costs,
    source: sourceRef(m),
  };
}

/** Envoy AI Gateway defaults modelsCreatedAt to the route's creation time; without Kubernetes that is
 * metadata.creationTimestamp if the manifest carries one, else 0 (deterministic across replicas). */
function creationSeconds(m: Manifest<'AIGatewayRoute'>): number {
  const ts = m.value.metadata.creationTimestamp;
  if (typeof ts === 'string') {
    const r = parseRfc3339Seconds(ts);
    if (r.ok) return r.value;
  }
  return 0;
}

/** Backend keys each route uses, with the rule's policy (for per-backend connect timeouts). */
export function routeBackendUses(
  m: Manifest<'AIGatewayRoute'>,
  policies: TrafficPolicies,
): Array<{ backendKey: string; connectTimeoutMs: number | undefined }> {
  const out: Array<{ backendKey: string; connectTimeoutMs: number | undefined }> = [];
  for (const rule of m.value.spec.rules) {
    const ct = policies.forRule(m.key, rule.name)?.connectTimeoutMs;
    if (ct === undefined) continue;
    for (const ref of rule.backendRefs ?? []) out.push({ backendKey: `${ref.namespace ?? m.namespace}/${ref.name}`, connectTimeoutMs: ct });
  }
  return out;
}
