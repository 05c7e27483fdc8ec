// The limits stage of a request: admission after routing (429 before anything reaches a backend),
// quota checks per backend attempt, settlement with the real usage when the response has ended.
import type { BackendRefConfig, RouteConfig, RuleConfig, RuntimeConfig } from '../config/types.js';
import type { Usage } from '../core/usage.js';
import type { Admission, RateLimitTicket } from '../limits/engine.js';
import { CostContext, costInput, Estimate } from '../limits/costs.js';
import type { Limits } from '../limits/index.js';
import type { QuotaDecision, QuotaTicket } from '../limits/quotas.js';
import type { LimitRequest } from '../limits/selectors.js';
import type { Generation } from './generation.js';
import type { ProxyResult, QuotaHook } from './proxy-types.js';

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

export interface AdmittedRequest {
  readonly ticket: RateLimitTicket | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly quota: QuotaHook | undefined;
  readonly route: RouteConfig;
}

/**
 * Throws the 429 (GatewayError) when a rate limit rejects the request. Answers synchronously when
 * the limits do (the in-process store): no promise and no event-loop hop per request for them.
 */
export function admit(
  limits: Limits,
  gen: Generation,
  rule: RuleConfig,
  req: LimitRequest,
  requestId: string,
  body: Readonly<Record<string, unknown>>,
  bodyBytes: number,
  model: string | undefined,
): AdmittedRequest | Promise<AdmittedRequest> {
  const route = gen.routes.get(rule.routeKey) as RouteConfig;
  const config = gen.config;
  const quota = config.quotas.size === 0 ? undefined : new BackendQuotas(limits, config, route, req, body, bodyBytes, model);
  if (rule.rateLimits.length === 0) return { ticket: undefined, headers: NO_HEADERS, quota, route };
  const firstBackend = rule.backendRefs[0]?.backend.name ?? '';
  const estimate = new Estimate(body, model ?? '', firstBackend, route, bodyBytes);
  const a = limits.rate.admit(rule, rule.routeKey, req, requestId, estimate);
  const after = (admission: Admission): AdmittedRequest => {
    if (!admission.ok) throw admission.error;
    return { ticket: admission.ticket, headers: admission.headers, quota, route };
  };
  return a instanceof Promise ? a.then(after) : after(a);
}

/**
 * A request's quota checks, one per backend attempt. One object holds what they need, where
 * closures over it would cost an allocation each on every request of a config with quotas.
 */
class BackendQuotas implements QuotaHook {
  constructor(
    private readonly limits: Limits,
    private readonly config: RuntimeConfig,
    private readonly route: RouteConfig,
    private readonly req: LimitRequest,
    private readonly body: Readonly<Record<string, unknown>>,
    private readonly bodyBytes: number,
    private readonly model: string | undefined,
  ) {}

  applies(ref: BackendRefConfig): boolean {
    return this.config.quotas.has(ref.backend.key);
  }

  check(ref: BackendRefConfig): Promise<QuotaDecision> {
    // Each backend is estimated with the model it is sent, which an override may change.
    const sent = ref.modelNameOverride ?? this.model;
    const estimate = new Estimate(this.body, sent ?? '', ref.backend.name, this.route, this.bodyBytes);
    return Promise.resolve(this.limits.quotas.check(this.config, ref.backend, sent, this.req, () => estimate.usage()));
  }

  release(ticket: QuotaTicket | undefined): void {
    this.limits.quotas.release(ticket);
  }
}

/**
 * Charges token costs and releases concurrency leases with the request's one usage (what the ledger
 * records for it), once accounting has it.
 */
export function settle(limits: Limits, admitted: AdmittedRequest, model: string | undefined, usage: Usage, r: ProxyResult): void {
  if (admitted.ticket === undefined && r.quotaTicket === undefined) return;
  const sentModel = r.requestModel ?? model ?? '';
  const input = costInput(usage, sentModel, r.backend?.backend.name ?? '', admitted.route.name);
  limits.rate.settle(admitted.ticket, admitted.route, new CostContext(input));
  limits.quotas.settle(r.quotaTicket, input);
}
