// SecurityPolicy `authorization`: ordered rules, first match wins, else the default action (Deny
// when unset, as in Envoy Gateway). Principals match the verified identity: client CIDRs, JWT claims
// and scopes, and headers as the gateway bound them (x-workload-app from the credential,
// x-ai-eg-model from the body). Tollgate adds `operation.models` and `operation.routes` for
// per-workload model and route allowlists.
import { parseCidr } from '../../limits/cidr.js';
import type { Manifest } from '../parse.js';
import type { AuthorizationRuleSpec, AuthorizationSpec } from '../schema/security.js';
import type { AuthorizationConfig, AuthorizationRuleConfig, CidrMatch, JwtAuthConfig, JwtClaimMatch, PathSelector } from '../types.js';
import { compileHeaderRegex } from '../units.js';
import { type Ctx, dangling, error, type Path, warn } from './context.js';

type Policy = Manifest<'SecurityPolicy'>;

// Values that are credentials or that the client controls completely; matching on them is a mistake.
const UNMATCHABLE = new Set(['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'cookie']);

export function compileAuthorization(ctx: Ctx, p: Policy, spec: AuthorizationSpec, jwt: JwtAuthConfig | undefined, authenticates: boolean): AuthorizationConfig | undefined {
  const before = ctx.diags.errorCount;
  const rules: AuthorizationRuleConfig[] = [];
  (spec.rules ?? []).forEach((r, i) => {
    const c = compileRule(ctx, p, ['spec', 'authorization', 'rules', i], r, i, jwt, authenticates);
    if (c !== undefined) rules.push(c);
  });
  if (spec.rules === undefined && spec.defaultAction === undefined) {
    warn(ctx, p, ['spec', 'authorization'], 'an authorization block without rules or defaultAction denies every request', 'add rules, or `defaultAction: Allow`');
  }
  if (ctx.diags.errorCount > before) return undefined;
  return { rules, defaultAction: spec.defaultAction ?? 'Deny' };
}

function compileRule(
  ctx: Ctx,
  p: Policy,
  at: Path,
  r: AuthorizationRuleSpec,
  index: number,
  jwt: JwtAuthConfig | undefined,
  authenticates: boolean,
): AuthorizationRuleConfig | undefined {
  const before = ctx.diags.errorCount;
  if (r.cel !== undefined) {
    error(ctx, p, [...at, 'cel'], '`cel` authorization rules are not supported by Tollgate, and ignoring one could let requests through', 'express the rule with principal and operation');
  }
  const pr = r.principal;
  if (pr?.clientIPGeoLocations !== undefined) {
    error(ctx, p, [...at, 'principal', 'clientIPGeoLocations'], '`clientIPGeoLocations` is not supported by Tollgate (no GeoIP database)');
  }
  const clientCIDRs: CidrMatch[] = [];
  (pr?.clientCIDRs ?? []).forEach((text, i) => {
    const c = parseCidr(text);
    if ('error' in c) error(ctx, p, [...at, 'principal', 'clientCIDRs', i], `invalid CIDR "${text}": ${c.error}`, 'e.g. `10.0.0.0/8` or `2001:db8::/32`');
    else clientCIDRs.push({ cidr: text, family: c.family, network: c.network, prefix: c.prefix, distinct: false, invert: false });
  });
  const headers: Array<{ name: string; values: ReadonlySet<string> }> = [];
  (pr?.headers ?? []).forEach((h, i) => {
    const name = h.name.toLowerCase();
    if (UNMATCHABLE.has(name)) {
      error(ctx, p, [...at, 'principal', 'headers', i, 'name'], `${name} carries a credential; authorize on the identity it proves instead`, 'match x-workload-app, the forwardClientIDHeader, or JWT claims');
      return;
    }
    if (name === 'x-workload-app' && !authenticates) {
      warn(
        ctx,
        p,
        [...at, 'principal', 'headers', i, 'name'],
        'this policy authenticates no one, so x-workload-app is whatever the client sent',
        'add apiKeyAuth or jwt so the gateway binds x-workload-app to a verified credential',
      );
    }
    headers.push({ name, values: new Set(h.values) });
  });
  let jwtMatch: AuthorizationRuleConfig['jwt'];
  if (pr?.jwt !== undefined) {
    const j = pr.jwt;
    if (jwt === undefined) {
      error(ctx, p, [...at, 'principal', 'jwt'], 'principal.jwt needs `jwt` authentication in the same SecurityPolicy');
    } else if (!jwt.providers.some((x) => x.name === j.provider)) {
      error(ctx, p, [...at, 'principal', 'jwt', 'provider'], `no JWT provider named "${j.provider}" in this policy`, `providers: ${jwt.providers.map((x) => x.name).join(', ')}`);
    }
    if (j.claims === undefined && j.scopes === undefined) error(ctx, p, [...at, 'principal', 'jwt'], 'principal.jwt needs `claims` or `scopes`');
    const claims: JwtClaimMatch[] = [];
    (j.claims ?? []).forEach((c, i) => {
      const path = c.name.split('.');
      if (path.some((x) => x === '')) error(ctx, p, [...at, 'principal', 'jwt', 'claims', i, 'name'], `"${c.name}" is not a claim path`);
      claims.push({ claim: path, valueType: c.valueType ?? 'String', values: new Set(c.values) });
    });
    jwtMatch = { provider: j.provider, claims, scopes: j.scopes ?? [] };
  }
  const op = r.operation;
  let path: PathSelector | undefined;
  if (op?.path !== undefined) {
    const type = op.path.type ?? 'PathPrefix';
    let regex: RegExp | undefined;
    if (type === 'RegularExpression') {
      const rx = compileHeaderRegex(op.path.value);
      if ('error' in rx) error(ctx, p, [...at, 'operation', 'path', 'value'], `invalid regular expression "${op.path.value}": ${rx.error}`);
      else regex = rx.regex;
    } else if (!op.path.value.startsWith('/')) {
      error(ctx, p, [...at, 'operation', 'path', 'value'], 'a path must start with "/"');
    }
    path = { type, value: op.path.value, regex, invert: op.path.invert ?? false };
  }
  if (op !== undefined && op.methods === undefined && op.path === undefined && op.models === undefined && op.routes === undefined) {
    error(ctx, p, [...at, 'operation'], 'an operation needs at least one of methods, path, models or routes');
  }
  let models: AuthorizationRuleConfig['models'];
  if (op?.models !== undefined) {
    const exact = new Set<string>();
    const prefixes: string[] = [];
    op.models.forEach((m, i) => {
      const star = m.indexOf('*');
      if (star === -1) exact.add(m);
      else if (star === m.length - 1) prefixes.push(m.slice(0, -1));
      else error(ctx, p, [...at, 'operation', 'models', i], `"${m}": \`*\` may only end a model pattern`, 'e.g. `gpt-oss-*`, or `*` for every model');
    });
    models = { exact, prefixes };
  }
  let routes: Set<string> | undefined;
  if (op?.routes !== undefined) {
    routes = new Set();
    for (let i = 0; i < op.routes.length; i++) {
      const name = op.routes[i]!;
      const slash = name.indexOf('/');
      const ns = slash === -1 ? p.namespace : name.slice(0, slash);
      const n = slash === -1 ? name : name.slice(slash + 1);
      if (ctx.index.get('AIGatewayRoute', `${ns}/${n}`) === undefined) dangling(ctx, p, [...at, 'operation', 'routes', i], 'AIGatewayRoute', ns, n);
      routes.add(`${ns}/${n}`);
    }
  }
  if (ctx.diags.errorCount > before) return undefined;
  return {
    name: r.name,
    index,
    action: r.action,
    methods: new Set(op?.methods ?? []),
    path,
    clientCIDRs,
    headers,
    jwt: jwtMatch,
    models,
    routes,
  };
}
