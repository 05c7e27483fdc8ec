// Zero trust towards clients: no credential a client sends ever reaches an upstream, whatever its
// letter case, number of copies, spelling or place. Node lower-cases header names and groups copies
// under one name, so dropping a name drops every copy. The lists are compiled once, when the
// listener starts (defaults plus TOLLGATE_STRIP_HEADERS / TOLLGATE_STRIP_QUERY_PARAMS).

/** Headers that carry credentials for some LLM API, a cloud API gateway or a browser session. */
export const DEFAULT_CREDENTIAL_HEADERS: readonly string[] = [
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'cookie',
  // Amazon's SigV4 and session tokens would let a client act as itself.
  'x-amz-security-token',
  'x-amz-date',
  'x-amz-content-sha256',
  // Other vendors' keys and tokens (Azure API Management, OpenStack-style, proxies that forward the
  // caller's authorization).
  'ocp-apim-subscription-key',
  'x-auth-token',
  'x-forwarded-authorization',
  // Billing selectors: with the gateway's key they would bill another organization or project.
  'openai-organization',
  'openai-project',
  'x-goog-user-project',
];

/** Query parameters that carry credentials (Gemini's `key`, OAuth's `access_token`, APIM, SAS). */
export const DEFAULT_CREDENTIAL_QUERY_PARAMS: readonly string[] = [
  'key',
  'api_key',
  'api-key',
  'apikey',
  'x-api-key',
  'x-goog-api-key',
  'access_token',
  'id_token',
  'auth_token',
  'token',
  'client_secret',
  'subscription-key',
  'password',
  'sig',
];

/** Envoy AI Gateway's own control headers (`x-aigw-*`) are never accepted from clients. */
const GATEWAY_PREFIX = 'x-aigw-';

export interface ClientCredentialStrip {
  /** Lower-case header names, with their underscore spellings (`x_api_key`). */
  readonly headers: ReadonlySet<string>;
  /** Lower-case query parameter names, with their underscore and hyphen spellings. */
  readonly queryParams: ReadonlySet<string>;
}

export class StripConfigError extends Error {}

/**
 * The defaults with `changes` applied: a name adds to the list, `!name` keeps a default name
 * (for an upstream that really takes it from the client).
 */
export function compileCredentialStrip(headerChanges: readonly string[] = [], queryChanges: readonly string[] = []): ClientCredentialStrip {
  return Object.freeze({
    headers: withSpellings(apply(DEFAULT_CREDENTIAL_HEADERS, headerChanges, 'TOLLGATE_STRIP_HEADERS')),
    queryParams: withSpellings(apply(DEFAULT_CREDENTIAL_QUERY_PARAMS, queryChanges, 'TOLLGATE_STRIP_QUERY_PARAMS')),
  });
}

export function credentialStripFromEnv(env: Readonly<Record<string, string | undefined>>): ClientCredentialStrip {
  return compileCredentialStrip(list(env['TOLLGATE_STRIP_HEADERS']), list(env['TOLLGATE_STRIP_QUERY_PARAMS']));
}

export const DEFAULT_CREDENTIAL_STRIP: ClientCredentialStrip = compileCredentialStrip();

export function isClientCredentialHeader(strip: ClientCredentialStrip, lowerName: string): boolean {
  return strip.headers.has(lowerName) || lowerName.startsWith(GATEWAY_PREFIX);
}

/** The query string (with its `?`, or '') without credential parameters; unchanged when it has none. */
export function stripCredentialQuery(query: string, strip: ClientCredentialStrip): string {
  if (query.length <= 1) return query;
  const parts = query.slice(1).split('&');
  const kept = parts.filter((p) => !strip.queryParams.has(paramName(p)));
  if (kept.length === parts.length) return query;
  return kept.length === 0 ? '' : `?${kept.join('&')}`;
}

function paramName(part: string): string {
  const eq = part.indexOf('=');
  const raw = (eq === -1 ? part : part.slice(0, eq)).replace(/\+/g, ' ');
  try {
    return decodeURIComponent(raw).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

function apply(defaults: readonly string[], changes: readonly string[], what: string): string[] {
  const names = new Set(defaults);
  for (const c of changes) {
    const keep = c.startsWith('!');
    const name = (keep ? c.slice(1) : c).trim().toLowerCase();
    if (!/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(name)) throw new StripConfigError(`${what}: "${c.slice(0, 60)}" is not a header or parameter name`);
    if (keep) names.delete(name);
    else names.add(name);
  }
  return [...names];
}

function withSpellings(names: readonly string[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const n of names) {
    out.add(n);
    out.add(n.replace(/-/g, '_'));
    out.add(n.replace(/_/g, '-'));
  }
  return out;
}

function list(v: string | undefined): string[] {
  return v === undefined || v.trim() === '' ? [] : v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}
