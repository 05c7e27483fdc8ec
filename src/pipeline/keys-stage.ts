// The virtual-key stage of a request: the presented `tg-…` key is verified before anything else
// reads the request (it binds the workload), its allowlist is checked once the model is known, and
// its limits and budgets admit the request once the route is known.
import type { RouteConfig, RuleConfig } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import { ZERO_USAGE } from '../core/usage.js';
import type { LiveKey } from '../keys/registry.js';
import type { VirtualKeys } from '../keys/service.js';
import type { SpendTicket } from '../keys/spend.js';
import { Estimate } from '../limits/costs.js';
import type { QuotaDecision, QuotaTicket } from '../limits/quotas.js';
import type { Generation } from './generation.js';
import type { Req } from './http.js';
import type { QuotaHook } from './proxy-types.js';

/**
 * The request's virtual key, verified, with its workload bound to the request; undefined when it
 * presents none. A virtual key is a credential of its own: it authenticates the request whatever
 * the route's SecurityPolicy says, and it never travels further than this.
 */
export function bindVirtualKey(keys: VirtualKeys | undefined, req: Req): LiveKey | undefined {
  return keys?.bind(req.headers);
}

/** Admits the request against the key's rpm, tpm and budgets (throws the 429), pricing it for the first candidate. */
export async function admitKey(
  keys: VirtualKeys,
  key: LiveKey,
  gen: Generation,
  rule: RuleConfig,
  body: Readonly<Record<string, unknown>>,
  bodyBytes: number,
  model: string | undefined,
): Promise<SpendTicket | undefined> {
  const first = rule.backendRefs[0];
  const sent = first?.modelNameOverride ?? model ?? '';
  const estimate = new Estimate(body, sent, first?.backend.name ?? '', gen.routes.get(rule.routeKey) as RouteConfig, bodyBytes);
  return keys.spend.admit(key, key.doc.workload, sent, () => estimate.usage());
}

/** The key's backend-budget reservation that rides on an attempt's quota ticket. */
const keyBudgets = new WeakMap<QuotaTicket, SpendTicket>();

/** The key's backend-budget reservation held by the attempt that served, if any (settled with the real usage). */
export function backendBudgetTicket(t: QuotaTicket | undefined): SpendTicket | undefined {
  return t === undefined ? undefined : keyBudgets.get(t);
}

/**
 * The per-attempt check of a request with a key that has backend-scoped budgets: each candidate's
 * QuotaPolicy (if any) and then the key's budgets on that backend. An exhausted budget blocks only
 * that candidate, so the request fails over to the next one by priority, as an exhausted quota does.
 */
export function withBackendBudgets(
  keys: VirtualKeys,
  key: LiveKey,
  base: QuotaHook | undefined,
  gen: Generation,
  rule: RuleConfig,
  body: Readonly<Record<string, unknown>>,
  bodyBytes: number,
  model: string | undefined,
): QuotaHook | undefined {
  if (!rule.backendRefs.some((ref) => keys.spend.hasBackendBudget(key, ref.backend.name))) return base;
  const route = gen.routes.get(rule.routeKey) as RouteConfig;
  const release = (t: QuotaTicket | undefined): void => {
    if (t !== undefined && t.held.length > 0) base?.release(t);
    const k = backendBudgetTicket(t);
    if (k !== undefined) keys.spend.settle(k, '', ZERO_USAGE);
  };
  return {
    applies: (ref) => base?.applies(ref) === true || keys.spend.hasBackendBudget(key, ref.backend.name),
    check: async (ref): Promise<QuotaDecision> => {
      const q: QuotaDecision = base?.applies(ref) === true ? await base.check(ref) : { ok: true, ticket: undefined, headers: {} };
      if (!q.ok) return q;
      const sent = ref.modelNameOverride ?? model ?? '';
      const estimate = new Estimate(body, sent, ref.backend.name, route, bodyBytes);
      let keyBudget: SpendTicket | undefined;
      try {
        keyBudget = await keys.spend.admitBackend(key, key.doc.workload, ref.backend.name, sent, () => estimate.usage());
      } catch (err) {
        if (q.ticket !== undefined) base?.release(q.ticket);
        if (err instanceof GatewayError) return { ok: false, error: err };
        throw err;
      }
      if (keyBudget === undefined) return q;
      const ticket: QuotaTicket = { held: q.ticket?.held ?? [] };
      keyBudgets.set(ticket, keyBudget);
      return { ok: true, ticket, headers: q.headers };
    },
    release,
  };
}
