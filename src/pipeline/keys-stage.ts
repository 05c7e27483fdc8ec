// The virtual-key stage of a request: the presented `tg-…` key is verified before anything else
// reads the request (it binds the workload), its allowlist is checked once the model is known, and
// its limits and budgets admit the request once the route is known.
import type { RouteConfig, RuleConfig } from '../config/types.js';
import type { LiveKey } from '../keys/registry.js';
import type { VirtualKeys } from '../keys/service.js';
import type { SpendTicket } from '../keys/spend.js';
import { Estimate } from '../limits/costs.js';
import type { Generation } from './generation.js';
import type { Req } from './http.js';

/**
 * The request's virtual key, verified, with its workload bound to the request; undefined when it
 * presents none. A virtual key is a credential of its own: it authenticates the request whatever
 * the route's SecurityPolicy says, and it never travels further than this.
 */
export function bindVirtualKey(keys: VirtualKeys | undefined, req: Req): LiveKey | undefined {
  if (keys === undefined) return undefined;
  const key = keys.authenticate(req.headers);
  if (key === undefined) return undefined;
  delete req.headers['authorization'];
  delete req.headers['x-api-key'];
  req.headers['x-workload-app'] = key.doc.workload;
  return key;
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
