// The effective config as plain data (for /config_dump, `validate --format json` and the
// fingerprint). Secrets appear only as `<redacted: source>`; CA bundles only as a digest.
import { createHash } from 'node:crypto';
import { mcpDump } from './dump-mcp.js';
import type {
  BackendConfig,
  BodyMutation,
  ClientSecurityConfig,
  ClientSecurityPolicy,
  ClientSelector,
  HeaderMutation,
  RateLimitRule,
  RetryPolicy,
  RouteConfig,
  RuntimeConfig,
} from './types.js';

function mutations(h: HeaderMutation, b: BodyMutation): Record<string, unknown> {
  return {
    headerMutation: { set: h.set.map(([name, value]) => ({ name, value })), remove: h.remove },
    bodyMutation: { set: b.set.map(([path, value]) => ({ path, value })), remove: b.remove },
  };
}

function retryDump(r: RetryPolicy): Record<string, unknown> {
  return {
    numRetries: r.numRetries,
    attemptsPerPriority: r.attemptsPerPriority,
    onConnectFailure: r.onConnectFailure,
    onReset: r.onReset,
    retriableStatuses: [...r.retriableStatuses].sort((a, b) => a - b),
    backoffBaseMs: r.backoffBaseMs,
    backoffMaxMs: r.backoffMaxMs,
    perTryTimeoutMs: r.perTryTimeoutMs ?? null,
  };
}

function backendDump(b: BackendConfig): Record<string, unknown> {
  return {
    key: b.key,
    schema: { name: b.schema.name, version: b.schema.version ?? null, prefix: b.schema.prefix },
    endpointsKey: b.endpointsKey,
    endpoints: b.endpoints.map((e) => ({ kind: e.kind, host: e.host, port: e.port })),
    tls:
      b.tls === undefined
        ? null
        : {
            servername: b.tls.servername ?? null,
            ca: b.tls.ca === undefined ? 'system' : `sha256:${createHash('sha256').update(b.tls.ca).digest('hex')}`,
            insecureSkipVerify: b.tls.insecureSkipVerify,
          },
    credential:
      b.credential === undefined
        ? null
        : { policy: b.credential.policy, policyName: b.credential.policyName, header: b.credential.header, value: b.credential.value.toString() },
    ...mutations(b.headerMutation, b.bodyMutation),
    requestTimeoutMs: b.requestTimeoutMs ?? null,
    connectTimeoutMs: b.connectTimeoutMs,
    ...(b.pool === undefined ? {} : { pool: b.pool }),
    source: b.source,
  };
}

function selectorDump(s: ClientSelector): Record<string, unknown> {
  return {
    headers: s.headers.map((h) => ({ name: h.name, type: h.type, value: h.value ?? null, invert: h.invert })),
    methods: s.methods,
    path: s.path === undefined ? null : { type: s.path.type, value: s.path.value, invert: s.path.invert },
    sourceCIDR: s.sourceCIDR === undefined ? null : { cidr: s.sourceCIDR.cidr, distinct: s.sourceCIDR.distinct, invert: s.sourceCIDR.invert },
  };
}

function rateLimitDump(r: RateLimitRule): Record<string, unknown> {
  return {
    id: r.id,
    label: r.label,
    scope: r.scope,
    selectors: r.selectors.map(selectorDump),
    limit: r.limit ?? null,
    maxConcurrent: r.maxConcurrent ?? null,
    requestCost: r.requestCost,
    responseCost: r.responseCost ?? null,
    shadow: r.shadow,
    shared: r.shared,
    reserve: r.reserve,
    headers: r.headers,
  };
}

function quotasDump(quotas: RuntimeConfig['quotas']): unknown[] {
  return [...quotas.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([backend, list]) => ({
      backend,
      quotas: list.map((q) => ({
        policy: q.policy,
        model: q.model ?? null,
        cost: q.costSource,
        reserve: q.reserve,
        buckets: q.buckets.map((b) => ({ id: b.id, label: b.label, limit: b.limit, windowMs: b.windowMs, shadow: b.shadow, selectors: b.selectors.map(selectorDump) })),
      })),
    }));
}

/** Client security policies. API keys appear only as client ids and counts, never as values or digests. */
function securityPolicyDump(p: ClientSecurityPolicy): Record<string, unknown> {
  const clients = p.apiKeyAuth === undefined ? [] : [...p.apiKeyAuth.keys.values()].sort((a, b) => (a.clientId < b.clientId ? -1 : a.clientId > b.clientId ? 1 : 0));
  return {
    policy: p.key,
    identityMismatch: p.identityMismatch,
    apiKeyAuth:
      p.apiKeyAuth === undefined
        ? null
        : {
            extract: p.apiKeyAuth.extract,
            secrets: p.apiKeyAuth.secrets,
            forwardClientIDHeader: p.apiKeyAuth.forwardClientIdHeader ?? null,
            clients: clients.map((c) => ({ clientId: c.clientId, workload: c.workload, source: c.source, key: '<redacted>' })),
          },
    jwt:
      p.jwt === undefined
        ? null
        : {
            optional: p.jwt.optional,
            failOpen: p.jwt.failOpen,
            workloadClaim: p.jwt.workloadClaim.join('.'),
            providers: p.jwt.providers.map((v) => ({
              name: v.name,
              issuer: v.issuer ?? null,
              audiences: v.audiences,
              jwks:
                v.jwks.kind === 'remote'
                  ? { remote: v.jwks.uri, cacheDurationMs: v.jwks.cacheDurationMs, failedRefetchMs: v.jwks.failedRefetchMs }
                  : { local: v.jwks.source, keys: v.jwks.jwks.keys.map((k) => ({ kid: k['kid'] ?? null, kty: k['kty'] ?? null, alg: k['alg'] ?? null })) },
              algorithms: v.algorithms,
              claimToHeaders: v.claimToHeaders.map((c) => ({ header: c.header, claim: c.claim.join('.') })),
              extract: v.extract,
            })),
          },
    authorization:
      p.authorization === undefined
        ? null
        : {
            defaultAction: p.authorization.defaultAction,
            rules: p.authorization.rules.map((r) => ({
              name: r.name ?? `rule-${r.index}`,
              action: r.action,
              methods: [...r.methods],
              path: r.path === undefined ? null : { type: r.path.type, value: r.path.value, invert: r.path.invert },
              clientCIDRs: r.clientCIDRs.map((c) => c.cidr),
              headers: r.headers.map((h) => ({ name: h.name, values: [...h.values] })),
              jwt: r.jwt === undefined ? null : { provider: r.jwt.provider, claims: r.jwt.claims.map((c) => ({ name: c.claim.join('.'), valueType: c.valueType, values: [...c.values] })), scopes: r.jwt.scopes },
              models: r.models === undefined ? null : [...r.models.exact, ...r.models.prefixes.map((x) => `${x}*`)],
              routes: r.routes === undefined ? null : [...r.routes],
            })),
          },
    source: p.source,
  };
}

function securityDump(sec: ClientSecurityConfig | undefined): Record<string, unknown> | null {
  if (sec === undefined) return null;
  const sorted = (m: ReadonlyMap<string, ClientSecurityPolicy>): Array<{ target: string; policy: string }> =>
    [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([target, p]) => ({ target, policy: p.key }));
  const policies = new Map<string, ClientSecurityPolicy>();
  for (const p of [sec.gateway, ...sec.routes.values(), ...sec.rules.values()]) if (p !== undefined) policies.set(p.key, p);
  return {
    gateway: sec.gateway?.key ?? null,
    routes: sorted(sec.routes),
    rules: sorted(sec.rules),
    policies: [...policies.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(securityPolicyDump),
  };
}

/**
 * Hash of the security section for the fingerprint. Key material enters only as each policy's keyed
 * digest, so a rotated or revoked key changes the fingerprint (and the watcher applies it).
 */
export function securityHash(sec: ClientSecurityConfig | undefined): string {
  if (sec === undefined) return '';
  const keys: string[] = [];
  for (const p of [sec.gateway, ...sec.routes.values(), ...sec.rules.values()]) if (p !== undefined) keys.push(`${p.key}=${p.keysDigest}`);
  return createHash('sha256').update(JSON.stringify(securityDump(sec))).update(keys.sort().join('\n')).digest('hex');
}

export function quotaHash(quotas: RuntimeConfig['quotas']): string {
  return createHash('sha256').update(JSON.stringify(quotasDump(quotas))).digest('hex');
}

function routeDump(r: RouteConfig): Record<string, unknown> {
  return {
    key: r.key,
    hostnames: r.hostnames,
    llmRequestCosts: r.llmRequestCosts.map((c) => ({ metadataKey: c.metadataKey, type: c.type, cel: c.cel ?? null })),
    rules: r.rules.map((rule) => ({
      id: rule.id,
      matches: rule.matches.map((m) => ({ headers: m.headers.map((h) => ({ name: h.name, type: h.type, value: h.value })) })),
      backendRefs: rule.backendRefs.map((ref) => ({
        backend: ref.backend.key,
        weight: ref.weight,
        priority: ref.priority,
        modelNameOverride: ref.modelNameOverride ?? null,
        ...mutations(ref.headerMutation, ref.bodyMutation),
      })),
      timeouts: {
        requestMs: rule.timeouts.requestMs,
        backendRequestMs: rule.timeouts.backendRequestMs ?? null,
        streamIdleMs: rule.timeouts.streamIdleMs ?? null,
      },
      retry: retryDump(rule.retry),
      rateLimits: rule.rateLimits.map(rateLimitDump),
      modelsOwnedBy: rule.modelsOwnedBy,
      modelsCreatedAt: rule.modelsCreatedAt,
      source: rule.source,
    })),
    source: r.source,
  };
}

/** Everything that determines behaviour, in a canonical order. */
function effective(config: Omit<RuntimeConfig, 'fingerprint' | 'warnings' | 'ignored' | 'files'>): Record<string, unknown> {
  return {
    listener: { bodyLimitBytes: config.listener.bodyLimitBytes },
    routes: config.routes.map(routeDump),
    backends: [...config.backends.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(backendDump),
    quotas: quotasDump(config.quotas),
    security: securityDump(config.security),
  };
}

export function routeHash(r: RouteConfig): string {
  return createHash('sha256').update(JSON.stringify(routeDump(r))).digest('hex');
}

export function backendHash(b: BackendConfig): string {
  return createHash('sha256').update(JSON.stringify(backendDump(b))).digest('hex');
}

/**
 * sha256 over the canonical dump, computed as a hash of per-route and per-backend dump hashes (in
 * dump order) so a reload only hashes what it rebuilt.
 */
export function fingerprintOf(
  listener: RuntimeConfig['listener'],
  routeHashes: readonly string[],
  backendHashes: readonly string[],
  quotas: string,
  security = '',
): string {
  return createHash('sha256')
    .update(JSON.stringify({ listener: { bodyLimitBytes: listener.bodyLimitBytes } }))
    .update(`r${routeHashes.join('r')}b${backendHashes.join('b')}q${quotas}${security === '' ? '' : `s${security}`}`)
    .digest('hex');
}

export function configDump(config: RuntimeConfig): unknown {
  return {
    fingerprint: config.fingerprint,
    ...effective(config),
    mcp: mcpDump(config.mcp),
    ignored: config.ignored,
    warnings: config.warnings.length,
    files: config.files,
  };
}

/**
 * Freezes plain objects and arrays all the way down; Maps, Sets, RegExps and class instances are
 * left as they are. An already frozen object is taken as frozen all the way down (everything here
 * is frozen by this function), which makes re-freezing memoized subtrees free.
 */
export function deepFreeze<T>(value: T): T {
  freezeNode(value);
  return value;
}

function freezeNode(v: unknown): void {
  if (typeof v !== 'object' || v === null || Object.isFrozen(v)) return;
  if (v instanceof Map) {
    for (const x of v.values()) freezeNode(x);
    return;
  }
  if (Array.isArray(v)) {
    Object.freeze(v);
    for (const x of v) freezeNode(x);
    return;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return;
  Object.freeze(v);
  for (const k in v) freezeNode((v as Record<string, unknown>)[k]);
}
