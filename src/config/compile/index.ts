// Parsed manifests → one frozen RuntimeConfig. Order: index (and duplicates), listener, upstreams
// (Backend + TLS, credentials, AIServiceBackend), traffic policies, routes. Each step reports into
// the shared diagnostics and keeps going, so one run shows every problem.
import { type Diagnostics } from '../diagnostics.js';
import { backendHash, deepFreeze, fingerprintOf, quotaHash, routeHash, securityHash } from '../dump.js';
import { mcpHash } from '../dump-mcp.js';
import type { ParsedFile } from '../parse.js';
import { SecretResolver } from '../secrets.js';
import type { BackendConfig, IgnoredResource, RouteConfig, RuntimeConfig } from '../types.js';
import { compileServiceBackend } from './backends.js';
import { compileSecurityPolicies, secretLookups } from './credentials.js';
import { compileBackendEndpoints, type CompiledEndpoints, indexTlsPolicies } from './endpoints.js';
import { type Ctx, Index, warn } from './context.js';
import { compileInferencePool, POOL_KEY_PREFIX } from './inference-pool.js';
import { compileListener, TrafficPolicies } from './policies.js';
import { type CompileMemo } from './memo.js';
import { compileMcp, mcpSecretLookups } from './mcp.js';
import { compileQuotas } from './quotas.js';
import { compileRoute, routeBackendUses } from './routes.js';
import { compileClientSecurity } from './security.js';

export interface CompileOptions {
  readonly memo: CompileMemo;
  readonly files: readonly ParsedFile[];
  readonly secretsDir: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly purpose: 'serve' | 'validate';
  readonly diags: Diagnostics;
}

/** A compiled piece, frozen, with the hash of its dump (for the fingerprint). */
export interface Hashed<T> {
  readonly value: T;
  readonly hash: string;
}

function hashed<T extends object>(value: T | undefined, hash: (v: T) => string): Hashed<T> | undefined {
  if (value === undefined) return undefined;
  deepFreeze(value);
  return { value, hash: hash(value) };
}

export async function compile(opts: CompileOptions): Promise<RuntimeConfig | undefined> {
  const { diags } = opts;
  const index = new Index();
  const ignored: IgnoredResource[] = [];
  // Compiling 20,000 routes takes a while even when most are memoized: give the event loop (and the
  // requests a serving gateway is answering) a turn every few milliseconds.
  let sliceStart = performance.now();
  const due = (): boolean => performance.now() - sliceStart >= 8;
  const pause = async (): Promise<void> => {
    await new Promise<void>((r) => setImmediate(r));
    sliceStart = performance.now();
  };
  for (const f of opts.files) {
    if (due()) await pause();
    ignored.push(...f.ignored);
    for (const m of f.manifests) {
      const prev = index.add(m);
      if (prev !== undefined) {
        diags.error({
          file: m.src.file,
          pos: m.pos,
          resource: m.label,
          message: `duplicate ${m.kind} ${m.key}: also defined at ${prev.src.file}:${prev.pos.line}:${prev.pos.column}`,
          hint: 'names must be unique per kind and namespace; rename one or delete the copy',
        });
      }
    }
  }
  const brokenSecrets = new Set<string>();
  for (const f of opts.files) for (const m of f.manifests) if (m.kind === 'Secret' && !m.ok) brokenSecrets.add(m.key);
  const secrets = new SecretResolver({ secrets: index.okMap('Secret'), broken: brokenSecrets, secretsDir: opts.secretsDir, env: opts.env, purpose: opts.purpose });
  const ctx: Ctx = { diags, index, secrets, memo: opts.memo, suggestionBudget: 200 };
  await secrets.prefetch([...secretLookups(ctx), ...mcpSecretLookups(ctx)]);

  const listener = compileListener(ctx);

  const tlsPolicies = indexTlsPolicies(ctx);
  const endpointCache = new Map<string, CompiledEndpoints | undefined>();
  const endpointsOf = (key: string): CompiledEndpoints | undefined => {
    if (endpointCache.has(key)) return endpointCache.get(key);
    const b = index.get('Backend', key);
    let r: CompiledEndpoints | undefined;
    if (b !== undefined && b.ok) {
      const policy = tlsPolicies.get(key);
      const build = (): CompiledEndpoints | undefined => compileBackendEndpoints(ctx, b, policy);
      // CA bundles come from other manifests or secret files; those Backends are rebuilt every time.
      const usesCa = (b.value.spec.tls?.caCertificateRefs?.length ?? 0) > 0 || (policy?.value.spec.validation.caCertificateRefs?.length ?? 0) > 0;
      r = usesCa ? build() : ctx.memo.endpoints.get(ctx, b, [policy], build);
    }
    endpointCache.set(key, r);
    return r;
  };
  // Every Backend is checked, even one no AIServiceBackend uses, so its mistakes show up now.
  for (const b of index.ok('Backend')) {
    endpointsOf(b.key);
    if (due()) await pause();
  }

  const credentials = compileSecurityPolicies(ctx);
  const policies = TrafficPolicies.compile(ctx);

  // Connect timeouts come from the policies of the routes that use a backend.
  const routes = index.ok('AIGatewayRoute');
  const connect = new Map<string, { ms: number; conflicting: boolean }>();
  for (const r of policies.hasConnectTimeouts ? routes : []) {
    for (const use of routeBackendUses(r, policies)) {
      if (use.connectTimeoutMs === undefined) continue;
      const prev = connect.get(use.backendKey);
      if (prev === undefined) connect.set(use.backendKey, { ms: use.connectTimeoutMs, conflicting: false });
      else if (prev.ms !== use.connectTimeoutMs) connect.set(use.backendKey, { ms: Math.min(prev.ms, use.connectTimeoutMs), conflicting: true });
    }
  }

  const backends = new Map<string, BackendConfig>();
  const backendHashes = new Map<string, string>();
  for (const m of index.ok('AIServiceBackend')) {
    if (due()) await pause();
    const c = connect.get(m.key);
    if (c?.conflicting === true) {
      warn(ctx, m, [], `routes using this backend set different connect timeouts; Tollgate uses the shortest (${c.ms} ms)`);
    }
    const ref = m.value.spec.backendRef;
    const target = `${ref.namespace ?? m.namespace}/${ref.name}`;
    const deps = [index.get('Backend', target), endpointsOf(target), credentials.get(m.key), c?.ms];
    const b = opts.memo.backends.get(ctx, m, deps, () => hashed(compileServiceBackend(ctx, m, endpointsOf, credentials, c?.ms), backendHash));
    if (b !== undefined) {
      backends.set(m.key, b.value);
      backendHashes.set(m.key, b.hash);
    }
  }

  for (const m of index.ok('InferencePool')) {
    const b = opts.memo.backends.get(ctx, m, [], () => hashed(compileInferencePool(ctx, m), backendHash));
    if (b !== undefined) {
      backends.set(b.value.key, b.value);
      backendHashes.set(b.value.key, b.hash);
    }
  }

  const compiled: RouteConfig[] = [];
  const hashes: string[] = [];
  for (const m of routes) {
    if (due()) await pause();
    const deps: unknown[] = [];
    const rules = m.value.spec.rules;
    for (let i = 0; i < rules.length; i++) {
      deps.push(policies.forRule(m.key, rules[i]?.name));
      // Both the manifest (present, broken or gone) and its compiled form decide what the route says.
      for (const key of m.ruleBackendKeys[i] ?? []) {
        deps.push(index.get('AIServiceBackend', key), backends.get(key), index.get('InferencePool', key), backends.get(POOL_KEY_PREFIX + key));
      }
    }
    const r = opts.memo.routes.get(ctx, m, deps, () => hashed(compileRoute(ctx, m, backends, policies), routeHash));
    if (r !== undefined) {
      compiled.push(r.value);
      hashes.push(r.hash);
    }
  }
  // Gateway API precedence tie-breaker: namespace/name, alphabetically (hashes follow the same order).
  const order = compiled.map((_, i) => i).sort((a, b) => {
    const ka = compiled[a]!.key;
    const kb = compiled[b]!.key;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const sortedRoutes = order.map((i) => compiled[i]!);
  const sortedHashes = order.map((i) => hashes[i]!);
  await pause();

  const quotas = compileQuotas(ctx);
  const security = await compileClientSecurity(ctx, opts.secretsDir);
  const mcp = await compileMcp(ctx, endpointsOf, policies, opts.secretsDir);

  const firstBackend = index.ok('AIServiceBackend')[0] ?? index.ok('InferencePool')[0];
  if (index.count('AIGatewayRoute') === 0 && firstBackend !== undefined) {
    warn(ctx, firstBackend, [], 'the config has backends but no AIGatewayRoute, so no request can reach them');
  }
  if (diags.errorCount > 0) return undefined;
  await pause();

  const config: RuntimeConfig = {
    routes: sortedRoutes,
    backends,
    quotas,
    listener,
    ignored,
    warnings: diags.sorted().filter((d) => d.severity === 'warning'),
    files: opts.files.map((f) => f.path),
    fingerprint: fingerprintOf(
      listener,
      sortedHashes,
      [...backendHashes].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((e) => e[1]),
      quotaHash(quotas),
      securityHash(security) + mcpHash(mcp),
    ),
    security,
    mcp,
  };
  return deepFreeze(config);
}

