// MCPRoute → McpConfig: paths, hosts, the MCP servers behind each route (endpoints from their
// Backend, tool selectors, the upstream API key), and the route's client security (apiKeyAuth, MCP
// OAuth with RFC 9728 metadata, authorization rules over tools, scopes and claims). Also the key
// session ids are sealed with: one per gateway, from a Secret, so replicas share sessions.
import { createHash, createSecretKey } from 'node:crypto';
import { instanceSecret } from '../../core/instance-secret.js';
import { SecretValue } from '../../core/secret.js';
import type { Manifest } from '../parse.js';
import type { McpBackendRefSpec, McpOAuthSpec, McpRouteSecuritySpec, ToolSelectorSpec } from '../schema/mcp.js';
import type { SecretLookup } from '../secrets.js';
import type { JwtClaimMatch, JwtProviderConfig, RateLimitRule } from '../types.js';
import type { McpAuthorizationConfig, McpAuthorizationRule, McpBackendConfig, McpConfig, McpOAuthConfig, McpRouteConfig, McpToolFilter, McpUpstreamCredential } from '../types-mcp.js';
import { compileHeaderRegex, hasControlChars, parseDuration } from '../units.js';
import { type Ctx, dangling, error, type Path, sourceRef, warn } from './context.js';
import type { CompiledEndpoints } from './endpoints.js';
import type { TrafficPolicies } from './policies.js';
import { compileApiKeyAuth } from './security.js';
import { compileProvider } from './security-jwt.js';

type Route = Manifest<'MCPRoute'>;

export const SESSION_SECRET_NAME = 'tollgate-mcp-session';
export const SESSION_SECRET_KEY = 'sessionKey';
const LEDGER_ARGUMENTS_ANNOTATION = 'tollgate.io/mcp-ledger-arguments';
const TIMEOUT_ANNOTATION = 'tollgate.io/mcp-timeout';
const METADATA_BASE = '/.well-known/oauth-protected-resource';
/** Headers that describe the connection to the gateway, never the one to an MCP server. */
const NOT_FORWARDABLE = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'mcp-session-id', 'mcp-protocol-version', 'accept', 'content-type']);

/** Secrets MCPRoutes may read, so a mounted secrets directory is read before compiling. */
export function mcpSecretLookups(ctx: Ctx): SecretLookup[] {
  const out: SecretLookup[] = [];
  const namespaces = new Set<string>();
  for (const r of ctx.index.ok('MCPRoute')) {
    namespaces.add(r.namespace);
    for (const b of r.value.spec.backendRefs) {
      const ref = b.securityPolicy?.apiKey?.secretRef;
      if (ref !== undefined) out.push({ namespace: ref.namespace ?? r.namespace, name: ref.name, key: 'apiKey' });
    }
  }
  for (const namespace of namespaces) out.push({ namespace, name: SESSION_SECRET_NAME, key: SESSION_SECRET_KEY });
  return out;
}

export async function compileMcp(
  ctx: Ctx,
  endpointsOf: (key: string) => CompiledEndpoints | undefined,
  policies: TrafficPolicies,
  secretsDir: string | undefined,
): Promise<McpConfig | undefined> {
  const manifests = ctx.index.ok('MCPRoute');
  if (manifests.length === 0) return undefined;
  const routes: McpRouteConfig[] = [];
  const claimed = new Map<string, Route>();
  for (const m of manifests) {
    const r = await compileRoute(ctx, m, endpointsOf, policies, secretsDir);
    if (r === undefined) continue;
    for (const host of r.hostnames === undefined ? ['*'] : [...r.hostnames.exact, ...r.hostnames.suffixes.map((s) => `*${s}`)]) {
      const id = `${host} ${r.path}`;
      const other = claimed.get(id);
      if (other !== undefined) {
        error(ctx, m, ['spec', 'path'], `MCPRoute ${other.key} already serves ${r.path}${host === '*' ? '' : ` for ${host}`}`, 'give each MCPRoute its own path or hostnames');
      }
      claimed.set(id, m);
    }
    routes.push(r);
  }
  routes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const { key, source } = sessionKey(ctx, manifests);
  return { routes, sessionKey: key, sessionKeySource: source };
}

/**
 * The session key: Secret `tollgate-mcp-session` (key `sessionKey`) in an MCPRoute's namespace, from
 * a manifest, the secrets directory or the environment. It is hashed to 256 bits rather than
 * stretched: it is a random machine secret, not a password, and sessions are sealed per request.
 */
function sessionKey(ctx: Ctx, manifests: readonly Route[]): { key: McpConfig['sessionKey']; source: string } {
  for (const m of manifests) {
    const l = { namespace: m.namespace, name: SESSION_SECRET_NAME, key: SESSION_SECRET_KEY };
    if (!ctx.secrets.has(l)) continue;
    const t = ctx.secrets.text(l, { diags: ctx.diags, file: m.src.file, pos: m.pos, resource: m.label, path: 'metadata' });
    if (t === undefined) break;
    const v = t.value.trim();
    if (v.length < 32) warn(ctx, m, [], `the MCP session key in ${t.source} is shorter than 32 characters`, 'use e.g. `openssl rand -base64 32`');
    return { key: createSecretKey(createHash('sha256').update('tollgate-mcp-session\0').update(v).digest()), source: t.source };
  }
  const first = manifests[0]!;
  warn(
    ctx,
    first,
    [],
    `no MCP session key is configured, so this instance makes one up: sessions will not survive a restart or move between replicas`,
    `put a random key (e.g. \`openssl rand -base64 32\`) in Secret ${first.namespace}/${SESSION_SECRET_NAME} key ${SESSION_SECRET_KEY}`,
  );
  // Every worker of the instance must seal sessions alike: a client's next connection may reach another.
  return { key: createSecretKey(instanceSecret('tollgate-mcp-session')), source: 'generated' };
}

async function compileRoute(
  ctx: Ctx,
  m: Route,
  endpointsOf: (key: string) => CompiledEndpoints | undefined,
  policies: TrafficPolicies,
  secretsDir: string | undefined,
): Promise<McpRouteConfig | undefined> {
  const before = ctx.diags.errorCount;
  const spec = m.value.spec;
  (spec.parentRefs ?? []).forEach((p, i) => {
    if (p.kind !== undefined && p.kind !== 'Gateway') error(ctx, m, ['spec', 'parentRefs', i, 'kind'], 'an MCPRoute attaches to a Gateway', 'kind: Gateway');
  });
  const path = spec.path ?? '/mcp';
  if (path.startsWith(METADATA_BASE)) error(ctx, m, ['spec', 'path'], `${path} is where OAuth protected resource metadata is served`, 'use another path, e.g. /mcp');
  const headers: Array<McpRouteConfig['headers'][number]> = [];
  (spec.headers ?? []).forEach((h, i) => {
    if (h.type !== 'RegularExpression') {
      headers.push({ name: h.name.toLowerCase(), exact: h.value, regex: undefined });
      return;
    }
    const r = compileHeaderRegex(h.value);
    if ('error' in r) error(ctx, m, ['spec', 'headers', i, 'value'], `invalid regular expression "${h.value}": ${r.error}`);
    else headers.push({ name: h.name.toLowerCase(), exact: undefined, regex: r.regex });
  });
  let hostnames: McpRouteConfig['hostnames'];
  if (spec.hostnames !== undefined && spec.hostnames.length > 0) {
    const exact = new Set<string>();
    const suffixes: string[] = [];
    for (const h of spec.hostnames) {
      const l = h.toLowerCase();
      if (l.startsWith('*.')) suffixes.push(l.slice(1));
      else exact.add(l);
    }
    hostnames = { exact, suffixes };
  }

  const backends: McpBackendConfig[] = [];
  const byName = new Map<string, McpBackendConfig>();
  for (let i = 0; i < spec.backendRefs.length; i++) {
    const ref = spec.backendRefs[i]!;
    const at: Path = ['spec', 'backendRefs', i];
    if (byName.has(ref.name) || backends.some((b) => b.name === ref.name)) {
      error(ctx, m, [...at, 'name'], `two backendRefs are named "${ref.name}"`, 'names prefix the tools (`<name>__<tool>`), so they must be unique');
      continue;
    }
    const b = compileBackend(ctx, m, at, ref, endpointsOf);
    if (b === undefined) continue;
    backends.push(b);
    byName.set(b.name, b);
  }

  const sec = spec.securityPolicy;
  const apiKeyAuth =
    sec?.apiKeyAuth === undefined ? undefined : await compileApiKeyAuth(ctx, m, sec.apiKeyAuth, undefined, secretsDir, ['spec', 'securityPolicy', 'apiKeyAuth']);
  const oauth = sec?.oauth === undefined ? undefined : compileOAuth(ctx, m, sec.oauth);
  const authorization = sec?.authorization === undefined ? undefined : compileAuthorization(ctx, m, sec, byName);
  if (sec?.extAuth !== undefined) {
    error(ctx, m, ['spec', 'securityPolicy', 'extAuth'], 'extAuth is not supported by Tollgate; ignoring it would let every request through', 'use apiKeyAuth or oauth with authorization rules');
  }
  const ledgerArguments = m.value.metadata.annotations?.[LEDGER_ARGUMENTS_ANNOTATION] === 'true';
  let timeoutMs = 60_000;
  const t = m.value.metadata.annotations?.[TIMEOUT_ANNOTATION];
  if (t !== undefined) {
    const d = typeof t === 'string' ? parseDuration(t) : undefined;
    if (d === undefined || !d.ok || d.value <= 0) error(ctx, m, ['metadata', 'annotations', TIMEOUT_ANNOTATION], `${JSON.stringify(t)} is not a positive duration`, 'e.g. `30s` or `5m`');
    else timeoutMs = d.value;
  }
  const rateLimits: RateLimitRule[] = [];
  for (const r of policies.forRule(m.key, undefined)?.rateLimits ?? []) {
    // Tool calls have no tokens, and a call's end is not tracked for concurrency leases.
    if (r.maxConcurrent !== undefined || r.requestCost.from !== 'Number' || r.responseCost !== undefined || r.reserve) {
      warn(ctx, m, [], `rate limit ${r.label} counts tokens or concurrent requests, which tool calls do not have; it does not apply to this MCPRoute`);
      continue;
    }
    rateLimits.push(r);
  }
  if (ctx.diags.errorCount > before) return undefined;
  return {
    key: m.key,
    name: m.name,
    path,
    hostnames,
    headers,
    backends,
    backendsByName: byName,
    apiKeyAuth,
    oauth,
    authorization,
    ledgerArguments,
    timeoutMs,
    rateLimits,
    source: sourceRef(m),
  };
}

function compileBackend(
  ctx: Ctx,
  m: Route,
  at: Path,
  ref: McpBackendRefSpec,
  endpointsOf: (key: string) => CompiledEndpoints | undefined,
): McpBackendConfig | undefined {
  if ((ref.group !== undefined && ref.group !== 'gateway.envoyproxy.io') || (ref.kind !== undefined && ref.kind !== 'Backend')) {
    error(ctx, m, at, `an MCP server is an Envoy Gateway Backend; got ${ref.group ?? ''}/${ref.kind ?? ''}`, 'group: gateway.envoyproxy.io, kind: Backend');
    return undefined;
  }
  if (ref.name.includes('__')) {
    error(ctx, m, [...at, 'name'], `"${ref.name}" contains \`__\`, which separates the backend from the tool name`, 'rename the backendRef');
    return undefined;
  }
  const ns = ref.namespace ?? m.namespace;
  const key = `${ns}/${ref.name}`;
  const backend = ctx.index.get('Backend', key);
  if (backend === undefined) {
    dangling(ctx, m, [...at, 'name'], 'Backend', ns, ref.name);
    return undefined;
  }
  const eps = endpointsOf(key);
  const tools = ref.toolSelector === undefined ? undefined : compileToolFilter(ctx, m, [...at, 'toolSelector'], ref.toolSelector);
  const credential = compileUpstreamKey(ctx, m, [...at, 'securityPolicy'], ref, ns);
  if (ref.securityPolicy?.tokenExchange !== undefined) {
    error(ctx, m, [...at, 'securityPolicy', 'tokenExchange'], 'token exchange (RFC 8693) is not supported by Tollgate yet', 'use `apiKey` for the upstream credential');
  }
  const forwardHeaders: Array<{ from: string; to: string }> = [];
  (ref.forwardHeaders ?? []).forEach((f, j) => {
    const from = f.name.toLowerCase();
    const to = (f.backendHeader ?? f.name).toLowerCase();
    if (NOT_FORWARDABLE.has(from) || NOT_FORWARDABLE.has(to)) {
      error(ctx, m, [...at, 'forwardHeaders', j], `${NOT_FORWARDABLE.has(from) ? from : to} belongs to the connection or the MCP transport and cannot be forwarded`);
      return;
    }
    if (credential?.in === 'header' && to === credential.name) {
      error(ctx, m, [...at, 'forwardHeaders', j], `${to} already carries this backend's API key`, 'forward the client header under another name');
      return;
    }
    forwardHeaders.push({ from, to });
  });
  if (eps === undefined) return undefined;
  return {
    name: ref.name,
    backendKey: key,
    endpoints: eps.endpoints,
    tls: eps.tls,
    path: ref.path ?? '/mcp',
    tools,
    credential,
    forwardHeaders,
  };
}

function compileToolFilter(ctx: Ctx, m: Route, at: Path, s: ToolSelectorSpec): McpToolFilter | undefined {
  if (s.include !== undefined && s.includeRegex !== undefined) error(ctx, m, at, '`include` and `includeRegex` are mutually exclusive');
  if (s.exclude !== undefined && s.excludeRegex !== undefined) error(ctx, m, at, '`exclude` and `excludeRegex` are mutually exclusive');
  if (s.include === undefined && s.includeRegex === undefined && s.exclude === undefined && s.excludeRegex === undefined) {
    error(ctx, m, at, 'a toolSelector needs at least one of `include`, `includeRegex`, `exclude` or `excludeRegex`');
  }
  const regexes = (list: readonly string[] | undefined, field: string): RegExp[] => {
    const out: RegExp[] = [];
    (list ?? []).forEach((src, i) => {
      // Unanchored, as RE2's MatchString (what Envoy AI Gateway uses): `issue` matches `list_issues`.
      try {
        out.push(new RegExp(src, 'u'));
      } catch (e) {
        error(ctx, m, [...at, field, i], `invalid regular expression "${src}": ${(e as Error).message}`, 'anchor with ^…$ to match the whole tool name');
      }
    });
    return out;
  };
  return {
    include: s.include === undefined ? undefined : new Set(s.include),
    includeRegex: s.includeRegex === undefined ? undefined : regexes(s.includeRegex, 'includeRegex'),
    exclude: new Set(s.exclude ?? []),
    excludeRegex: regexes(s.excludeRegex, 'excludeRegex'),
  };
}

function compileUpstreamKey(ctx: Ctx, m: Route, at: Path, ref: McpBackendRefSpec, ns: string): McpUpstreamCredential | undefined {
  const k = ref.securityPolicy?.apiKey;
  if (k === undefined) return undefined;
  const kat: Path = [...at, 'apiKey'];
  if ((k.secretRef === undefined) === (k.inline === undefined)) {
    error(ctx, m, kat, 'exactly one of `secretRef` or `inline` must be set');
    return undefined;
  }
  if (k.header !== undefined && k.queryParam !== undefined) {
    error(ctx, m, kat, 'only one of `header` or `queryParam` can be set');
    return undefined;
  }
  const header = (k.header ?? 'authorization').toLowerCase();
  // Envoy AI Gateway: the default Authorization header carries `Bearer <key>`; other headers the bare key.
  const format = (v: string): string => (k.queryParam === undefined && header === 'authorization' ? `Bearer ${v}` : v);
  let value: SecretValue | undefined;
  if (k.inline !== undefined) {
    const v = k.inline.trim();
    if (v === '' || hasControlChars(v)) {
      error(ctx, m, [...kat, 'inline'], 'the inline API key must be one non-empty line of printable characters');
      return undefined;
    }
    value = new SecretValue(format(v), `MCPRoute ${m.key} inline key`);
  } else {
    const s = k.secretRef!;
    if ((s.kind !== undefined && s.kind !== 'Secret') || (s.group !== undefined && s.group !== '')) {
      error(ctx, m, [...kat, 'secretRef'], 'secretRef names a Secret', 'drop `group`/`kind` or set kind: Secret');
      return undefined;
    }
    const path = [...kat, 'secretRef', 'name'];
    value = ctx.secrets.credential(
      { namespace: s.namespace ?? ns, name: s.name, key: 'apiKey' },
      { diags: ctx.diags, file: m.src.file, pos: m.src.locate(path), resource: m.label, path: path.join('.') },
      format,
    );
  }
  if (value === undefined) return undefined;
  return k.queryParam === undefined ? { in: 'header', name: header, value } : { in: 'query', name: k.queryParam, value };
}

function compileOAuth(ctx: Ctx, m: Route, spec: McpOAuthSpec): McpOAuthConfig | undefined {
  const at: Path = ['spec', 'securityPolicy', 'oauth'];
  const prm = spec.protectedResourceMetadata;
  let resourceUrl: URL | undefined;
  try {
    resourceUrl = new URL(prm.resource);
  } catch {
    error(ctx, m, [...at, 'protectedResourceMetadata', 'resource'], `"${prm.resource}" is not a URL`, "the MCP endpoint's public URL, e.g. https://mcp.example.com/mcp");
  }
  if (spec.jwks === undefined || (spec.jwks.remoteJWKS === undefined) === (spec.jwks.localJWKS === undefined)) {
    error(
      ctx,
      m,
      [...at, 'jwks'],
      spec.jwks === undefined ? 'Tollgate needs `jwks` (it does not discover the key set from the issuer)' : 'set exactly one of `remoteJWKS` or `localJWKS`',
      "e.g. `jwks: {remoteJWKS: {uri: <the authorization server's jwks_uri>}}`",
    );
    return undefined;
  }
  // MCP authorization: a resource server accepts only tokens issued for it (RFC 8707 audience binding).
  const audiences = spec.audiences ?? [prm.resource];
  const provider: JwtProviderConfig | undefined = compileProvider(ctx, m, at, {
    name: 'oauth',
    issuer: spec.issuer,
    audiences,
    remoteJWKS: spec.jwks.remoteJWKS,
    localJWKS: spec.jwks.localJWKS,
    claimToHeaders: spec.claimToHeaders,
  });
  if (provider === undefined || resourceUrl === undefined) return undefined;
  const resourcePath = resourceUrl.pathname === '/' ? '' : resourceUrl.pathname.replace(/\/$/, '');
  const metadata: Record<string, unknown> = {
    resource: prm.resource,
    authorization_servers: [spec.issuer],
    bearer_methods_supported: ['header'],
  };
  if (prm.scopesSupported !== undefined) metadata['scopes_supported'] = prm.scopesSupported;
  if (prm.resourceName !== undefined) metadata['resource_name'] = prm.resourceName;
  if (prm.resourceDocumentation !== undefined) metadata['resource_documentation'] = prm.resourceDocumentation;
  if (prm.resourcePolicyUri !== undefined) metadata['resource_policy_uri'] = prm.resourcePolicyUri;
  if (prm.resourceSigningAlgValuesSupported !== undefined) metadata['resource_signing_alg_values_supported'] = prm.resourceSigningAlgValuesSupported;
  return {
    jwt: { optional: false, failOpen: false, providers: [provider], workloadClaim: ['sub'] },
    metadata,
    metadataPaths: [...new Set([`${METADATA_BASE}${resourcePath}`, METADATA_BASE])],
    resource: prm.resource,
    scopesSupported: prm.scopesSupported ?? [],
  };
}

function compileAuthorization(ctx: Ctx, m: Route, sec: McpRouteSecuritySpec, backends: ReadonlyMap<string, McpBackendConfig>): McpAuthorizationConfig | undefined {
  const spec = sec.authorization!;
  const at: Path = ['spec', 'securityPolicy', 'authorization'];
  const rules: McpAuthorizationRule[] = [];
  (spec.rules ?? []).forEach((r, i) => {
    const rat: Path = [...at, 'rules', i];
    if (r.cel !== undefined) {
      error(ctx, m, [...rat, 'cel'], 'CEL authorization rules are not supported by Tollgate yet; ignoring one could let calls through', 'express the rule with `source.jwt` and `target.tools`');
      return;
    }
    const jwt = r.source?.jwt;
    if (jwt !== undefined) {
      if (sec.oauth === undefined) error(ctx, m, [...rat, 'source', 'jwt'], 'a rule over JWT scopes or claims needs `oauth` on this route', 'configure securityPolicy.oauth');
      if ((jwt.scopes?.length ?? 0) === 0 && (jwt.claims?.length ?? 0) === 0) error(ctx, m, [...rat, 'source', 'jwt'], 'either `scopes` or `claims` must be specified');
    }
    const claims: JwtClaimMatch[] = [];
    (jwt?.claims ?? []).forEach((c, j) => {
      if (c.name === 'scope') error(ctx, m, [...rat, 'source', 'jwt', 'claims', j, 'name'], "the claim name `scope` is reserved for OAuth scopes", 'use `scopes`');
      claims.push({ claim: c.name.split('.'), valueType: c.valueType ?? 'String', values: new Set(c.values) });
    });
    (r.target?.tools ?? []).forEach((t, j) => {
      if (!backends.has(t.backend)) {
        warn(ctx, m, [...rat, 'target', 'tools', j, 'backend'], `no backendRef of this route is named "${t.backend}", so this target never matches`, `backends: ${[...backends.keys()].join(', ')}`);
      }
    });
    rules.push({ index: i, action: r.action ?? 'Allow', scopes: jwt?.scopes ?? [], claims, tools: r.target?.tools });
  });
  return { defaultAction: spec.defaultAction ?? 'Deny', rules };
}
