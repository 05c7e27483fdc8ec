// The limits stage of a request: admission after routing (429 before anything reaches a backend),
// quota checks per backend attempt, settlement with the real usage when the response has ended.
import type { BackendRefConfig, RouteConfig, RuleConfig } from '../config/types.js';
import type { Usage } from '../core/usage.js';
import type { RateLimitTicket } from '../limits/engine.js';
import { CostContext, costInput, Estimate } from '../limits/costs.js';
import type { Limits } from '../limits/index.js';
import type { LimitRequest } from '../limits/selectors.js';
import type { Generation } from './generation.js';
import type { ProxyResult, QuotaHook } from './proxy-types.js';

export interface AdmittedRequest {
  readonly ticket: RateLimitTicket | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly quota: QuotaHook | undefined;
  readonly route: RouteConfig;
}

/** Throws the 429 (GatewayError) when a rate limit rejects the request. */
export async function admit(
  limits: Limits,
  gen: Generation,
  rule: RuleConfig,
  req: LimitRequest,
  requestId: string,
  body: Readonly<Record<string, unknown>>,
  bodyBytes: number,
  model: string | undefined,
): Promise<AdmittedRequest> {
  const route = gen.routes.get(rule.routeKey) as RouteConfig;
  let ticket: RateLimitTicket | undefined;
  let headers: Readonly<Record<string, string>> = {};
  if (rule.rateLimits.length > 0) {
    const firstBackend = rule.backendRefs[0]?.backend.name ?? '';
    const estimate = new Estimate(body, model ?? '', firstBackend, route, bodyBytes);
    const a = limits.rate.admit(rule, rule.routeKey, req, requestId, estimate);
    const admission = a instanceof Promise ? await a : a;
    if (!admission.ok) throw admission.error;
    ticket = admission.ticket;
    headers = admission.headers;
  }
  const config = gen.config;
  const quota: QuotaHook | undefined =
    config.quotas.size === 0
      ? undefined
      : {
          applies: (ref: BackendRefConfig) => config.quotas.has(ref.backend.key),
          check: (ref: BackendRefConfig) => {
            const sent = ref.modelNameOverride ?? model;
            const estimate = new Estimate(body, sent ?? '', ref.backend.name, route, bodyBytes);
            return Promise.resolve(limits.quotas.check(config, ref.backend, sent, req, () => estimate.usage()));
          },
          release: (t) => limits.quotas.release(t),
        };
  return { ticket, headers, quota, route };
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
