// SecurityPolicy `jwt`: providers with issuer, audiences, a local (inline or ConfigMap) or remote
// JWKS, claimToHeaders and token extractors. Keys are checked here (shape, type, algorithm), so a
// bad key set is a config error, not a 401 storm. Only asymmetric algorithms are accepted: a JWKS is
// public, so an HMAC key in one would let anyone who can read it mint tokens.
import type { Manifest } from '../parse.js';
import type { JwtProviderSpec, JwtSpec } from '../schema/security.js';
import type { ClaimToHeader, CredentialSource, JwksSource, JwtAuthConfig, JwtProviderConfig } from '../types.js';
import { type AnyManifest, type Ctx, dangling, error, type Path, warn } from './context.js';

type Policy = Manifest<'SecurityPolicy'>;

/**
 * Headers a policy may never derive from a credential: credentials themselves (they are stripped
 * before any upstream), and headers only the gateway sets.
 */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'cookie',
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
  'x-ai-eg-model',
  'x-request-id',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
]);

export function isReservedHeader(name: string): boolean {
  return RESERVED_HEADERS.has(name) || name.startsWith(':') || name.startsWith('x-aigw-');
}

export const ASYMMETRIC_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
const DEFAULT_CACHE_MS = 300_000;
const DEFAULT_FAILED_REFETCH_MS = 1_000;

export function compileJwt(ctx: Ctx, p: Policy, spec: JwtSpec, workloadClaim: string | undefined): JwtAuthConfig | undefined {
  const base: Path = ['spec', 'jwt'];
  if (spec.optional !== undefined && spec.failOpen !== undefined) {
    error(ctx, p, [...base, 'failOpen'], '`optional` and `failOpen` cannot both be set; failOpen already tolerates a missing token');
  }
  if (spec.failOpen === true) {
    warn(ctx, p, [...base, 'failOpen'], 'with failOpen, requests without a valid token pass as anonymous', 'pair it with `authorization` rules if access must be restricted', true);
  }
  const names = new Set<string>();
  const providers: JwtProviderConfig[] = [];
  spec.providers.forEach((prov, i) => {
    const at: Path = [...base, 'providers', i];
    if (names.has(prov.name)) error(ctx, p, [...at, 'name'], `two JWT providers are named "${prov.name}"`, 'provider names must be unique within a policy');
    names.add(prov.name);
    const c = compileProvider(ctx, p, at, prov);
    if (c !== undefined) providers.push(c);
  });
  if (providers.length !== spec.providers.length) return undefined;
  const claim = splitClaim(workloadClaim ?? 'sub');
  if (claim === undefined) {
    error(ctx, p, ['metadata', 'annotations', 'tollgate.io/workload-claim'], `"${workloadClaim ?? ''}" is not a claim path`, 'e.g. `sub` or `org.team`');
    return undefined;
  }
  return { optional: spec.optional === true, failOpen: spec.failOpen === true, providers, workloadClaim: claim };
}

function splitClaim(claim: string): string[] | undefined {
  const parts = claim.split('.');
  return parts.some((x) => x.length === 0) ? undefined : parts;
}

/** Also used by MCPRoute `securityPolicy.oauth`, hence the manifest type. */
export function compileProvider(ctx: Ctx, p: AnyManifest, at: Path, spec: JwtProviderSpec): JwtProviderConfig | undefined {
  const before = ctx.diags.errorCount;
  let jwks: JwksSource | undefined;
  let algorithms: string[] = [...ASYMMETRIC_ALGORITHMS];
  if ((spec.remoteJWKS === undefined) === (spec.localJWKS === undefined)) {
    error(ctx, p, at, 'a JWT provider needs exactly one of `remoteJWKS` or `localJWKS`');
  } else if (spec.remoteJWKS !== undefined) {
    const r = spec.remoteJWKS;
    const rat: Path = [...at, 'remoteJWKS'];
    let url: URL | undefined;
    try {
      url = new URL(r.uri);
    } catch {
      error(ctx, p, [...rat, 'uri'], `"${r.uri}" is not a URL`, 'e.g. https://issuer.example.com/.well-known/jwks.json');
    }
    if (url !== undefined) {
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        error(ctx, p, [...rat, 'uri'], `the JWKS URI must be https:// (or http:// inside a trusted network), got ${url.protocol}`);
      } else if (url.protocol === 'http:' && !isLoopback(url.hostname)) {
        warn(ctx, p, [...rat, 'uri'], 'the JWKS is fetched over plain http; anyone on the path could swap the keys', 'use https://');
      }
      if (url.username !== '' || url.password !== '') error(ctx, p, [...rat, 'uri'], 'the JWKS URI must not carry credentials');
    }
    for (const k of ['backendRef', 'backendRefs', 'backendSettings'] as const) {
      if (r[k] !== undefined) warn(ctx, p, [...rat, k], `\`${k}\` is accepted but not applied: Tollgate fetches the uri directly`, undefined, true);
    }
    if (r.cacheDuration === 0) error(ctx, p, [...rat, 'cacheDuration'], 'the cache duration must be more than 0');
    jwks = { kind: 'remote', uri: r.uri, cacheDurationMs: r.cacheDuration ?? DEFAULT_CACHE_MS, failedRefetchMs: r.failedRefetchDuration ?? DEFAULT_FAILED_REFETCH_MS };
  } else if (spec.localJWKS !== undefined) {
    const l = spec.localJWKS;
    const lat: Path = [...at, 'localJWKS'];
    const type = l.type ?? 'Inline';
    let text: string | undefined;
    let source = 'inline';
    if (type === 'Inline') {
      if (l.inline === undefined || l.valueRef !== undefined) error(ctx, p, lat, 'type Inline needs `inline` (and no `valueRef`)');
      text = l.inline;
    } else if (l.valueRef === undefined || l.inline !== undefined) {
      error(ctx, p, lat, 'type ValueRef needs `valueRef` (and no `inline`)');
    } else {
      const ref = l.valueRef;
      if ((ref.kind !== undefined && ref.kind !== 'ConfigMap') || (ref.group !== undefined && ref.group !== '')) {
        error(ctx, p, [...lat, 'valueRef'], 'valueRef names a ConfigMap', 'kind: ConfigMap');
      } else {
        const cm = ctx.index.get('ConfigMap', `${p.namespace}/${ref.name}`);
        if (cm === undefined) dangling(ctx, p, [...lat, 'valueRef', 'name'], 'ConfigMap', p.namespace, ref.name);
        else if (cm.ok) {
          const data = cm.value.data ?? {};
          // Envoy Gateway: the `jwks` key, else the first value.
          text = data['jwks'] ?? Object.values(data)[0];
          source = `ConfigMap ${cm.key}`;
          if (text === undefined) error(ctx, p, [...lat, 'valueRef'], `ConfigMap ${cm.key} has no data`, 'put the key set under `data.jwks`');
        }
      }
    }
    if (text !== undefined) {
      const keys = parseJwks(ctx, p, lat, text, source);
      if (keys !== undefined) {
        jwks = { kind: 'local', jwks: { keys: keys.keys }, source };
        algorithms = keys.algorithms;
      }
    }
  }
  const claimToHeaders: ClaimToHeader[] = [];
  const seen = new Set<string>();
  (spec.claimToHeaders ?? []).forEach((c, i) => {
    const header = c.header.toLowerCase();
    const path = splitClaim(c.claim);
    if (isReservedHeader(header)) {
      error(ctx, p, [...at, 'claimToHeaders', i, 'header'], `a claim cannot be written to ${header}: that header is a credential or belongs to the gateway`);
      return;
    }
    if (path === undefined) {
      error(ctx, p, [...at, 'claimToHeaders', i, 'claim'], `"${c.claim}" is not a claim path`, 'e.g. `sub` or `org.team`');
      return;
    }
    if (seen.has(header)) error(ctx, p, [...at, 'claimToHeaders', i, 'header'], `two claims are written to ${header}`);
    seen.add(header);
    claimToHeaders.push({ header, claim: path });
  });
  const extract: CredentialSource[] = [];
  const ex = spec.extractFrom;
  if (ex?.params !== undefined && ex.params.length > 0) {
    error(ctx, p, [...at, 'extractFrom', 'params'], 'tokens in query parameters are not supported: URLs end up in access logs and upstream requests', 'send the token in a header');
  }
  for (const h of ex?.headers ?? []) extract.push({ from: 'header', name: h.name.toLowerCase(), prefix: h.valuePrefix ?? '' });
  for (const c of ex?.cookies ?? []) extract.push({ from: 'cookie', name: c });
  // Envoy's default is the Authorization bearer token (or access_token in the query, not taken here).
  if (extract.length === 0) extract.push({ from: 'header', name: 'authorization', prefix: 'Bearer ' });
  const audiences = spec.audiences ?? [];
  if (ctx.diags.errorCount > before || jwks === undefined) return undefined;
  return {
    name: spec.name,
    issuer: spec.issuer === undefined || spec.issuer === '' ? undefined : spec.issuer,
    audiences,
    jwks,
    algorithms,
    claimToHeaders,
    extract,
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '[::1]' || host === '::1' || /^127\./.test(host);
}

function parseJwks(ctx: Ctx, p: AnyManifest, at: Path, text: string, source: string): { keys: Array<Record<string, unknown>>; algorithms: string[] } | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    error(ctx, p, at, `the ${source} key set is not valid JSON (${err instanceof Error ? err.message.slice(0, 120) : 'syntax error'})`, 'a JWKS is {"keys": [{"kty": …}]}');
    return undefined;
  }
  const keys = typeof value === 'object' && value !== null ? (value as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys) || keys.length === 0) {
    error(ctx, p, at, `the ${source} key set has no \`keys\` list`, 'a JWKS is {"keys": [{"kty": …}]}');
    return undefined;
  }
  const algs = new Set<string>();
  const out: Array<Record<string, unknown>> = [];
  const before = ctx.diags.errorCount;
  keys.forEach((k: unknown, i) => {
    if (typeof k !== 'object' || k === null || Array.isArray(k)) {
      error(ctx, p, at, `key ${i} of the ${source} key set is not an object`);
      return;
    }
    const key = k as Record<string, unknown>;
    if (key['use'] === 'enc') return;
    if ('d' in key || 'p' in key || 'k' in key) {
      error(ctx, p, at, `key ${i} of the ${source} key set is private or symmetric`, 'publish only public keys (RSA, EC or OKP without `d`); HMAC keys are not accepted');
      return;
    }
    const found = algorithmsFor(key);
    if ('error' in found) {
      error(ctx, p, at, `key ${i}${typeof key['kid'] === 'string' ? ` ("${key['kid'].slice(0, 60)}")` : ''} of the ${source} key set: ${found.error}`);
      return;
    }
    for (const a of found.algs) algs.add(a);
    out.push(key);
  });
  if (out.length === 0) {
    if (ctx.diags.errorCount === before) error(ctx, p, at, `the ${source} key set has no signing key`);
    return undefined;
  }
  return { keys: out, algorithms: [...algs] };
}

function algorithmsFor(key: Record<string, unknown>): { algs: string[] } | { error: string } {
  const alg = key['alg'];
  if (alg !== undefined) {
    if (typeof alg !== 'string' || !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      return { error: `algorithm ${JSON.stringify(alg)} is not accepted (asymmetric only: ${ASYMMETRIC_ALGORITHMS.join(', ')})` };
    }
  }
  const need = (...fields: string[]): string | undefined => fields.find((f) => typeof key[f] !== 'string');
  switch (key['kty']) {
    case 'RSA': {
      const missing = need('n', 'e');
      if (missing !== undefined) return { error: `an RSA key needs \`${missing}\`` };
      return { algs: typeof alg === 'string' ? [alg] : ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] };
    }
    case 'EC': {
      const missing = need('crv', 'x', 'y');
      if (missing !== undefined) return { error: `an EC key needs \`${missing}\`` };
      const byCurve: Record<string, string> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };
      const a = byCurve[key['crv'] as string];
      if (a === undefined) return { error: `curve ${String(key['crv'])} is not supported (P-256, P-384, P-521)` };
      return { algs: typeof alg === 'string' ? [alg] : [a] };
    }
    case 'OKP': {
      const missing = need('crv', 'x');
      if (missing !== undefined) return { error: `an OKP key needs \`${missing}\`` };
      if (key['crv'] !== 'Ed25519') return { error: `curve ${String(key['crv'])} is not supported for signatures (Ed25519)` };
      return { algs: typeof alg === 'string' ? [alg] : ['EdDSA', 'Ed25519'] };
    }
    case 'oct':
      return { error: 'symmetric (oct) keys are not accepted: a key set is public, so anyone could sign with it' };
    default:
      return { error: `key type ${JSON.stringify(key['kty'])} is not supported (RSA, EC, OKP)` };
  }
}
