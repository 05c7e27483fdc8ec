// Envoy Gateway policies. BackendTrafficPolicy attaches to a Gateway (every route), an HTTPRoute
// named like an AIGatewayRoute (that route), or one rule of it (sectionName); the most specific
// policy wins as a whole, as in Envoy Gateway. ClientTrafficPolicy sets listener limits.
import type { Manifest } from '../parse.js';
import {
  BTP_NOT_ENFORCED,
  CTP_CONNECTION_NOT_ENFORCED,
  CTP_NOT_ENFORCED,
  HTTP_TIMEOUT_NOT_ENFORCED,
  type RetrySpec,
  type RetryTrigger,
} from '../schema/envoygateway.js';
import { DEFAULT_BODY_LIMIT_BYTES, type ListenerSettings, type RateLimitRule, type RetryPolicy } from '../types.js';
import { compileRateLimits } from './ratelimits.js';
import { type Ctx, dangling, error, type Path, warn, warnNotEnforced } from './context.js';

/** Tollgate's retry policy for routes that no BackendTrafficPolicy configures. */
export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  numRetries: 2,
  attemptsPerPriority: 1,
  onConnectFailure: true,
  onReset: true,
  retriableStatuses: new Set([502, 503, 504]),
  backoffBaseMs: 25,
  backoffMaxMs: 250,
  perTryTimeoutMs: undefined,
});

// Envoy Gateway's retryOn when a policy has `retry` but no `retryOn` (or no triggers).
const EG_DEFAULT_TRIGGERS: readonly RetryTrigger[] = ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'];
const EG_DEFAULT_STATUS = 503;
const GRPC_ONLY = new Set<RetryTrigger>(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);
// Envoy's default back-off base; the max defaults to 10× the base.
const ENVOY_BACKOFF_BASE_MS = 25;

export interface CompiledTrafficPolicy {
  readonly label: string;
  readonly retry: RetryPolicy | undefined;
  readonly connectTimeoutMs: number | undefined;
  readonly requestTimeoutMs: number | undefined;
  readonly streamIdleMs: number | undefined;
  readonly rateLimits: readonly RateLimitRule[];
}

function compileRetry(ctx: Ctx, p: Manifest<'BackendTrafficPolicy'>, spec: RetrySpec): RetryPolicy {
  const path: Path = ['spec', 'retry'];
  const numRetries = spec.numRetries ?? 2;
  const given = spec.retryOn?.triggers ?? [];
  const triggers = new Set<RetryTrigger>(given.length > 0 ? given : EG_DEFAULT_TRIGGERS);
  const codes = spec.retryOn === undefined ? [EG_DEFAULT_STATUS] : (spec.retryOn.httpStatusCodes ?? []);
  given.forEach((t, i) => {
    if (GRPC_ONLY.has(t)) warn(ctx, p, [...path, 'retryOn', 'triggers', i], `retry trigger \`${t}\` applies only to gRPC responses and has no effect here`);
  });
  if ((spec.retryOn?.httpStatusCodes?.length ?? 0) > 0 && !triggers.has('retriable-status-codes')) {
    warn(
      ctx,
      p,
      [...path, 'retryOn', 'httpStatusCodes'],
      'httpStatusCodes have no effect without the `retriable-status-codes` trigger',
      'add `retriable-status-codes` to retryOn.triggers',
    );
  }
  const has = (t: RetryTrigger): boolean => triggers.has(t);
  const statuses = new Set<number>();
  if (has('retriable-status-codes')) for (const c of codes) statuses.add(c);
  if (has('5xx')) for (let s = 500; s <= 599; s++) statuses.add(s);
  if (has('gateway-error')) for (const s of [502, 503, 504]) statuses.add(s);
  if (has('retriable-4xx')) statuses.add(409);
  // Envoy: 5xx and gateway-error include resets and connect failures; reset includes connect
  // failures; refused-stream and reset-before-request mean the upstream never processed the request.
  const onReset = has('reset') || has('5xx') || has('gateway-error');
  const onConnectFailure = onReset || has('connect-failure') || has('reset-before-request') || has('refused-stream');

  const backOff = spec.perRetry?.backOff;
  const base = backOff?.baseInterval ?? ENVOY_BACKOFF_BASE_MS;
  const max = backOff?.maxInterval ?? base * 10;
  if (base === 0) error(ctx, p, [...path, 'perRetry', 'backOff', 'baseInterval'], 'the back-off base interval must be more than 0');
  if (max < base) {
    error(ctx, p, [...path, 'perRetry', 'backOff', 'maxInterval'], `maxInterval (${max} ms) is shorter than baseInterval (${base} ms)`);
  }
  const perTry = spec.perRetry?.timeout;
  return {
    numRetries,
    // Envoy: without numAttemptsPerPriority every attempt goes to the highest priority.
    attemptsPerPriority: spec.numAttemptsPerPriority !== undefined && spec.numAttemptsPerPriority > 0 ? spec.numAttemptsPerPriority : numRetries + 1,
    onConnectFailure,
    onReset,
    retriableStatuses: statuses,
    backoffBaseMs: base,
    backoffMaxMs: max,
    perTryTimeoutMs: perTry === undefined || perTry === 0 ? undefined : perTry,
  };
}

function compileTrafficPolicy(ctx: Ctx, p: Manifest<'BackendTrafficPolicy'>): CompiledTrafficPolicy {
  const spec = p.value.spec;
  warnNotEnforced(ctx, p, ['spec'], spec, BTP_NOT_ENFORCED);
  warnNotEnforced(ctx, p, ['spec', 'timeout', 'http'], spec.timeout?.http, HTTP_TIMEOUT_NOT_ENFORCED);
  const zeroIsNone = (v: number | undefined): number | undefined => (v === 0 ? undefined : v);
  return {
    label: p.label,
    retry: spec.retry === undefined ? undefined : compileRetry(ctx, p, spec.retry),
    connectTimeoutMs: zeroIsNone(spec.timeout?.tcp?.connectTimeout),
    requestTimeoutMs: spec.timeout?.http?.requestTimeout,
    streamIdleMs: zeroIsNone(spec.timeout?.http?.streamIdleTimeout),
    rateLimits: compileRateLimits(ctx, p),
  };
}

export class TrafficPolicies {
  #gateway: { policy: CompiledTrafficPolicy; m: Manifest<'BackendTrafficPolicy'> } | undefined;
  readonly #routes = new Map<string, { policy: CompiledTrafficPolicy; m: Manifest<'BackendTrafficPolicy'> }>();
  readonly #rules = new Map<string, { policy: CompiledTrafficPolicy; m: Manifest<'BackendTrafficPolicy'> }>();

  /** Whether any policy sets a connect timeout (most configs: none, so nothing to collect). */
  hasConnectTimeouts = false;

  /** The policy for one rule: rule-level, else route-level, else gateway-level. */
  forRule(routeKey: string, ruleName: string | undefined): CompiledTrafficPolicy | undefined {
    if (ruleName !== undefined) {
      const r = this.#rules.get(`${routeKey}#${ruleName}`);
      if (r !== undefined) return r.policy;
    }
    return this.#routes.get(routeKey)?.policy ?? this.#gateway?.policy;
  }

  static compile(ctx: Ctx): TrafficPolicies {
    const out = new TrafficPolicies();
    const conflict = (p: Manifest<'BackendTrafficPolicy'>, path: Path, what: string, prev: Manifest<'BackendTrafficPolicy'>): void =>
      error(ctx, p, path, `${what} is already targeted by BackendTrafficPolicy ${prev.key} (${prev.src.file}:${prev.pos.line})`, 'merge the two policies into one');
    for (const p of ctx.index.ok('BackendTrafficPolicy')) {
      const compiled = ctx.memo.trafficPolicies.get(ctx, p, [], () => compileTrafficPolicy(ctx, p));
      const spec = p.value.spec;
      const refs: Array<{ ref: NonNullable<typeof spec.targetRef>; path: Path }> = [];
      if (spec.targetRef !== undefined) refs.push({ ref: spec.targetRef, path: ['spec', 'targetRef'] });
      (spec.targetRefs ?? []).forEach((ref, i) => refs.push({ ref, path: ['spec', 'targetRefs', i] }));
      if (refs.length === 0) warn(ctx, p, ['spec'], 'this BackendTrafficPolicy has no targetRefs, so it applies to nothing');
      for (const { ref, path } of refs) {
        if (ref.group !== 'gateway.networking.k8s.io' || (ref.kind !== 'Gateway' && ref.kind !== 'HTTPRoute')) {
          warn(ctx, p, path, `target ${ref.kind} ${ref.name} is ignored: Tollgate applies BackendTrafficPolicies to a Gateway or to the HTTPRoute of an AIGatewayRoute`);
          continue;
        }
        const entry = { policy: compiled, m: p };
        if (compiled.connectTimeoutMs !== undefined) out.hasConnectTimeouts = true;
        if (ref.kind === 'Gateway') {
          if (out.#gateway !== undefined) conflict(p, path, 'the gateway', out.#gateway.m);
          else out.#gateway = entry;
          continue;
        }
        const key = `${p.namespace}/${ref.name}`;
        const route = ctx.index.get('AIGatewayRoute', key);
        if (route === undefined && ref.sectionName === undefined && ctx.index.get('MCPRoute', key) !== undefined) {
          // The HTTPRoute Envoy AI Gateway generates for an MCPRoute has its name too.
          const prev = out.#routes.get(key);
          if (prev !== undefined) conflict(p, path, `MCPRoute ${key}`, prev.m);
          else out.#routes.set(key, entry);
          continue;
        }
        if (route === undefined || !route.ok) {
          if (route === undefined) {
            dangling(ctx, p, [...path, 'name'], 'AIGatewayRoute', p.namespace, ref.name, ' (an HTTPRoute target names the AIGatewayRoute it was generated from)');
          }
          continue;
        }
        if (ref.sectionName !== undefined) {
          const ruleNames = route.value.spec.rules.map((r) => r.name).filter((n): n is string => n !== undefined);
          if (!ruleNames.includes(ref.sectionName)) {
            error(
              ctx,
              p,
              [...path, 'sectionName'],
              `AIGatewayRoute ${key} has no rule named "${ref.sectionName}"`,
              ruleNames.length > 0 ? `rule names: ${ruleNames.join(', ')}` : 'give the rule a `name:` to target it',
            );
            continue;
          }
          const rk = `${key}#${ref.sectionName}`;
          const prev = out.#rules.get(rk);
          if (prev !== undefined) conflict(p, path, `rule ${ref.sectionName} of AIGatewayRoute ${key}`, prev.m);
          else out.#rules.set(rk, entry);
          continue;
        }
        const prev = out.#routes.get(key);
        if (prev !== undefined) conflict(p, path, `AIGatewayRoute ${key}`, prev.m);
        else out.#routes.set(key, entry);
      }
    }
    return out;
  }
}

export function compileListener(ctx: Ctx): ListenerSettings {
  let limit: { bytes: number; m: Manifest<'ClientTrafficPolicy'> } | undefined;
  for (const p of ctx.index.ok('ClientTrafficPolicy')) {
    const spec = p.value.spec;
    warnNotEnforced(ctx, p, ['spec'], spec, CTP_NOT_ENFORCED);
    warnNotEnforced(ctx, p, ['spec', 'connection'], spec.connection, CTP_CONNECTION_NOT_ENFORCED);
    const refs = [...(spec.targetRef === undefined ? [] : [spec.targetRef]), ...(spec.targetRefs ?? [])];
    if (refs.length === 0) warn(ctx, p, ['spec'], 'this ClientTrafficPolicy has no targetRefs, so it applies to nothing');
    if (refs.length > 0 && !refs.some((r) => r.kind === 'Gateway')) {
      warn(ctx, p, ['spec'], 'a ClientTrafficPolicy applies to a Gateway; none of its targetRefs names one, so it applies to nothing');
      continue;
    }
    const bytes = spec.connection?.bufferLimit;
    if (bytes === undefined || refs.length === 0) continue;
    if (limit !== undefined && limit.bytes !== bytes) {
      warn(
        ctx,
        p,
        ['spec', 'connection', 'bufferLimit'],
        `ClientTrafficPolicy ${limit.m.key} sets a different bufferLimit; Tollgate has one listener and uses the larger`,
      );
    }
    if (limit === undefined || bytes > limit.bytes) limit = { bytes, m: p };
  }
  return { bodyLimitBytes: limit?.bytes ?? DEFAULT_BODY_LIMIT_BYTES };
}
