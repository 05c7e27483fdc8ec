// The limits stage of a request: admission after routing (429 before anything reaches a backend),
// quota checks per backend attempt, settlement with the real usage when the response has ended.
import type { BackendRefConfig, RouteConfig, RuleConfig } from '../config/types.js';
import type { Usage } from '../core/usage.js';
import type { Admission, RateLimitTicket } from '../limits/engine.js';
import { CostContext, costInput, Estimate } from '../limits/costs.js';
import type { Limits } from '../limits/index.js';
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
  if (rule.rateLimits.length === 0) return admitted(limits, gen, route, undefined, NO_HEADERS, body, bodyBytes, model, req);
  const firstBackend = rule.backendRefs[0]?.backend.name ?? '';
  const estimate = new Estimate(body, model ?? '', firstBackend, route, bodyBytes);
  const a = limits.rate.admit(rule, rule.routeKey, req, requestId, estimate);
  const after = (admission: Admission): AdmittedRequest => {
    if (!admission.ok) throw admission.error;
    return admitted(limits, gen, route, admission.ticket, admission.headers, body, bodyBytes, model, req);
  };
  return a instanceof Promise ? a.then(after) : after(a);
}

function admitted(
  limits: Limits,
  gen: Generation,
  route: RouteConfig,
  ticket: RateLimitTicket | undefined,
  headers: Readonly<Record<string, string>>,
  body: Readonly<Record<string, unknown>>,
  bodyBytes: number,
  model: string | undefined,
  req: LimitRequest,
): AdmittedRequest {
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
