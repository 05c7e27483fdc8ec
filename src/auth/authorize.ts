// Authorization rules (Envoy Gateway semantics): the first rule whose every condition matches
// decides; no match means the default action. Conditions read the verified identity only: bound
// headers (x-workload-app from the credential, x-ai-eg-model from the body), JWT claims and scopes
// of the provider that verified the token, the connection's address, and the routing decision.
import type { JWTPayload } from 'jose';
import type { AuthorizationConfig, AuthorizationRuleConfig, JwtClaimMatch, PathSelector } from '../config/types.js';
import { inCidr, type ParsedAddress } from '../limits/cidr.js';
import { claimValue } from './jwt.js';

export interface AuthzFacts {
  readonly method: string;
  readonly path: string;
  readonly address: () => ParsedAddress | undefined;
  /** Header as routing sees it after binding. */
  header(name: string): string | undefined;
  readonly jwt: { readonly provider: string; readonly claims: JWTPayload } | undefined;
  readonly model: string | undefined;
  /** The AIGatewayRoute the request was routed to; undefined when listing models (route conditions then hold). */
  readonly routeKey: string | undefined;
}

export type AuthzDecision = { readonly allowed: true } | { readonly allowed: false; readonly rule: AuthorizationRuleConfig | undefined };

const ALLOWED: AuthzDecision = { allowed: true };

export function authorize(cfg: AuthorizationConfig, facts: AuthzFacts): AuthzDecision {
  for (const rule of cfg.rules) {
    if (!matches(rule, facts)) continue;
    return rule.action === 'Allow' ? ALLOWED : { allowed: false, rule };
  }
  return cfg.defaultAction === 'Allow' ? ALLOWED : { allowed: false, rule: undefined };
}

function matches(rule: AuthorizationRuleConfig, f: AuthzFacts): boolean {
  if (rule.methods.size > 0 && !rule.methods.has(f.method)) return false;
  if (rule.path !== undefined && !pathMatches(rule.path, f.path)) return false;
  if (rule.models !== undefined) {
    const m = f.model;
    if (m === undefined) return false;
    if (!rule.models.exact.has(m) && !rule.models.prefixes.some((p) => m.startsWith(p))) return false;
  }
  if (rule.routes !== undefined && f.routeKey !== undefined && !rule.routes.has(f.routeKey)) return false;
  if (rule.clientCIDRs.length > 0) {
    const a = f.address();
    if (a === undefined || !rule.clientCIDRs.some((c) => inCidr(a, c))) return false;
  }
  for (const h of rule.headers) {
    const v = f.header(h.name);
    if (v === undefined || !h.values.has(v)) return false;
  }
  if (rule.jwt !== undefined) {
    if (f.jwt === undefined || f.jwt.provider !== rule.jwt.provider) return false;
    for (const c of rule.jwt.claims) if (!claimMatches(c, f.jwt.claims)) return false;
    if (rule.jwt.scopes.length > 0) {
      const have = scopesOf(f.jwt.claims);
      for (const s of rule.jwt.scopes) if (!have.has(s)) return false;
    }
  }
  return true;
}

// Gateway API path matching: PathPrefix matches whole segments ("/v1" matches "/v1/x", not "/v1x").
function pathMatches(sel: PathSelector, path: string): boolean {
  let hit: boolean;
  switch (sel.type) {
    case 'Exact':
      hit = path === sel.value;
      break;
    case 'PathPrefix': {
      const prefix = sel.value.endsWith('/') && sel.value.length > 1 ? sel.value.slice(0, -1) : sel.value;
      hit = prefix === '/' || path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47);
      break;
    }
    case 'RegularExpression':
      hit = sel.regex !== undefined && sel.regex.test(path);
      break;
  }
  return hit !== sel.invert;
}

export function claimMatches(c: JwtClaimMatch, claims: JWTPayload): boolean {
  const v = claimValue(claims, c.claim);
  switch (c.valueType) {
    case 'String':
      return (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && c.values.has(String(v));
    case 'StringArray':
      return Array.isArray(v) && v.some((x) => typeof x === 'string' && c.values.has(x));
  }
}

/** RFC 8693 / RFC 6749: `scope` is a space-delimited string; some issuers send `scp` as a list. */
export function scopesOf(claims: JWTPayload): Set<string> {
  const out = new Set<string>();
  for (const name of ['scope', 'scp']) {
    const v = claims[name];
    if (typeof v === 'string') for (const s of v.split(' ')) if (s !== '') out.add(s);
    if (Array.isArray(v)) for (const s of v) if (typeof s === 'string') out.add(s);
  }
  return out;
}
