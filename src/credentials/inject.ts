// The backend's own credential, from its BackendSecurityPolicy, set after every other header so
// nothing (client headers, header mutations, provider headers) can replace it. SigV4 signs last of
// all, over the final method, host, path and body.
//
// Expiring credentials (GCP/Azure tokens, temporary AWS keys) are read from a background-refreshed
// cache; `prepareCredential` is the one place a request may wait, and only before the first token.
import type { IncomingHttpHeaders } from 'node:http';
import type { AwsKeys, CredentialOverride, UpstreamCredential } from '../config/types.js';
import { GatewayError } from '../core/errors.js';
import { amzDate, authorizationHeader, computeSignature, sha256Hex, signingKey } from '../protocol/sigv4.js';
import { SecretSet } from './secret-set.js';

/** What SigV4 signs: the request exactly as it goes on the wire. */
export interface SigningTarget {
  readonly method: string;
  /** The Host header value (`host` or `host:port`). */
  readonly host: string;
  /** Path and query as sent. */
  readonly path: string;
  readonly body: Buffer;
}

/**
 * Before headers are built: undefined when the credential can be injected now; a promise when the
 * first token is still being fetched; a GatewayError when the request cannot be authorized
 * (credentialOverride without a header and without fallback, or half an AWS key pair).
 */
export function prepareCredential(credential: UpstreamCredential | undefined, incoming: IncomingHttpHeaders): undefined | Promise<void> | GatewayError {
  if (credential === undefined) return undefined;
  const o = credential.override;
  if (o !== undefined) {
    const found = overrideValue(credential, o, incoming);
    if (found instanceof GatewayError) return found;
    if (found !== undefined) return undefined;
    if (!o.fallbackToConfigured) {
      return new GatewayError('unauthenticated', `This backend needs a per-request credential in the ${overrideHeaderNames(credential, o).join(' and ')} header${credential.kind === 'aws-sigv4' ? 's' : ''}.`);
    }
  }
  switch (credential.kind) {
    case 'header':
      return undefined;
    case 'aws-sigv4':
      return credential.keys.current() === undefined ? credential.keys.whenReady() : undefined;
    case 'bearer-token':
      return credential.tokens.current() === undefined ? credential.tokens.whenReady() : undefined;
  }
}

/** The client-safe error for a credential that could not be fetched (the reason is ours, not a secret). */
export function credentialUnavailable(err: unknown, backendName: string): GatewayError {
  const why = err instanceof Error ? err.message : String(err);
  return new GatewayError('upstream_auth_failed', `The gateway could not obtain a credential for backend "${backendName}": ${why}. An operator must fix its BackendSecurityPolicy.`, {
    cause: err,
  });
}

export function injectCredential(
  headers: Record<string, string>,
  credential: UpstreamCredential | undefined,
  incoming?: IncomingHttpHeaders,
  target?: SigningTarget,
): void {
  if (credential === undefined) return;
  const o = credential.override;
  let override: string | AwsKeys | undefined;
  if (o !== undefined) {
    // The override headers carry credentials: they never travel upstream, whatever their name.
    for (const h of overrideHeaderNames(credential, o)) delete headers[h];
    if (incoming !== undefined) {
      const v = overrideValue(credential, o, incoming);
      if (!(v instanceof GatewayError)) override = v;
    }
  }
  switch (credential.kind) {
    case 'header':
      headers[credential.header] = typeof override === 'string' ? (credential.header === 'authorization' ? `Bearer ${override}` : override) : credential.value.reveal();
      return;
    case 'bearer-token': {
      const token = typeof override === 'string' ? override : credential.tokens.current();
      if (token !== undefined) headers['authorization'] = `Bearer ${token}`;
      return;
    }
    case 'aws-sigv4': {
      const keys = typeof override === 'object' ? override : credential.keys.current();
      if (keys === undefined || target === undefined) return;
      signV4(headers, keys, credential.region, credential.service, target, Date.now());
      return;
    }
  }
}

// ---- credentialOverride -----------------------------------------------------------------------------

/** Envoy AI Gateway's default header per policy type. */
export function defaultOverrideHeader(policy: UpstreamCredential['policy']): string {
  switch (policy) {
    case 'APIKey':
      return 'x-aigw-api-key';
    case 'AnthropicAPIKey':
      return 'x-aigw-anthropic-api-key';
    case 'AzureAPIKey':
      return 'x-aigw-azure-api-key';
    case 'AzureCredentials':
      return 'x-aigw-azure-access-token';
    case 'GCPCredentials':
      return 'x-aigw-gcp-access-token';
    case 'AWSCredentials':
      return 'x-aigw-aws-';
  }
}

/** Every header an override reads (so the pipeline can strip them before forwarding). */
export function overrideHeaderNames(credential: UpstreamCredential, o: CredentialOverride): string[] {
  if (credential.kind === 'aws-sigv4') return [`${o.header}access-key-id`, `${o.header}secret-access-key`, `${o.header}session-token`];
  return [o.header];
}

function one(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}

function overrideValue(credential: UpstreamCredential, o: CredentialOverride, incoming: IncomingHttpHeaders): string | AwsKeys | undefined | GatewayError {
  if (credential.kind !== 'aws-sigv4') {
    const v = one(incoming[o.header]);
    if (v === undefined) return undefined;
    const bare = credential.kind === 'bearer-token' || credential.policy === 'APIKey' ? v.replace(/^Bearer\s+/i, '') : v;
    return /^[\x21-\x7e]+$/.test(bare) ? bare : new GatewayError('unauthenticated', `The ${o.header} header must be one token of printable characters.`);
  }
  const id = one(incoming[`${o.header}access-key-id`]);
  const secret = one(incoming[`${o.header}secret-access-key`]);
  if (id === undefined && secret === undefined) return undefined;
  if (id === undefined || secret === undefined) {
    return new GatewayError('unauthenticated', `A per-request AWS credential needs both ${o.header}access-key-id and ${o.header}secret-access-key.`);
  }
  return { accessKeyId: id, secretAccessKey: secret, sessionToken: one(incoming[`${o.header}session-token`]) };
}

// ---- SigV4 ----------------------------------------------------------------------------------------

// Signing keys are valid for a day; one HMAC chain per key pair per day instead of per request.
const keyCache = new WeakMap<AwsKeys, { scope: string; key: Buffer }>();

export function signV4(headers: Record<string, string>, keys: AwsKeys, region: string, service: string, target: SigningTarget, nowMs: number): void {
  const date = amzDate(nowMs);
  const day = date.slice(0, 8);
  const scope = `${day}/${region}/${service}`;
  let cached = keyCache.get(keys);
  if (cached === undefined || cached.scope !== scope) {
    cached = { scope, key: signingKey(keys.secretAccessKey, day, region, service) };
    keyCache.set(keys, cached);
  }
  const q = target.path.indexOf('?');
  headers['host'] = target.host;
  headers['x-amz-date'] = date;
  if (keys.sessionToken !== undefined) headers['x-amz-security-token'] = keys.sessionToken;
  const signed: Record<string, string> = { host: target.host, 'x-amz-date': date };
  if (keys.sessionToken !== undefined) signed['x-amz-security-token'] = keys.sessionToken;
  const ct = headers['content-type'];
  if (ct !== undefined) signed['content-type'] = ct;
  const parts = computeSignature(
    {
      method: target.method,
      path: q === -1 ? target.path : target.path.slice(0, q),
      query: q === -1 ? '' : target.path.slice(q + 1),
      headers: signed,
      payloadHash: sha256Hex(target.body),
    },
    date,
    region,
    service,
    cached.key,
  );
  headers['authorization'] = authorizationHeader(keys.accessKeyId, parts);
}

/** `host[:port]` for an upstream origin, as undici sends it (default ports omitted). */
const hostCache = new Map<string, string>();
export function hostOf(origin: string): string {
  let h = hostCache.get(origin);
  if (h === undefined) {
    h = new URL(origin).host;
    if (hostCache.size > 10_000) hostCache.clear();
    hostCache.set(origin, h);
  }
  return h;
}

/**
 * An upstream error message with every credential the gateway sent to that upstream cut out: the
 * configured key (with and without its scheme), the current token, AWS key ids and secrets, and a
 * per-request override. Providers echo keys they refuse ("key … may not use this model"); pattern
 * matching cannot know a key with no recognizable prefix, the exact value can.
 */
export function redactCredentials(message: string, credential: UpstreamCredential | undefined, incoming?: IncomingHttpHeaders): string {
  let out = message;
  for (const s of responseSecrets(credential, incoming)?.strings ?? []) out = out.split(s).join('[redacted]');
  return out;
}

// A backend credential's secrets change only when its value does (a refreshed token, new AWS keys):
// the set is made again when the value read for this request differs from the one it was made from.
const configuredSets = new WeakMap<UpstreamCredential, { readonly value: string | AwsKeys | undefined; readonly set: SecretSet }>();

function sameValue(a: string | AwsKeys | undefined, b: string | AwsKeys | undefined): boolean {
  if (typeof a !== 'object' || typeof b !== 'object') return a === b;
  return a.accessKeyId === b.accessKeyId && a.secretAccessKey === b.secretAccessKey && a.sessionToken === b.sessionToken;
}

function configuredSecrets(credential: UpstreamCredential): SecretSet {
  const value = credential.kind === 'header' ? credential.value.reveal() : credential.kind === 'bearer-token' ? credential.tokens.current() : credential.keys.current();
  const cached = configuredSets.get(credential);
  if (cached !== undefined && sameValue(cached.value, value)) return cached.set;
  const set = new SecretSet(secretsOf(value, credential.kind === 'header'));
  configuredSets.set(credential, { value, set });
  return set;
}

/** The values a credential puts on the wire: a configured header value also without its scheme. */
function secretsOf(value: string | AwsKeys | undefined, mayHaveScheme: boolean): string[] {
  if (value === undefined) return [];
  if (typeof value === 'object') return [value.accessKeyId, value.secretAccessKey, value.sessionToken ?? ''];
  return mayHaveScheme ? [value, value.replace(/^Bearer\s+/i, '')] : [value];
}

/**
 * The secrets a backend credential puts on the wire for this request (the configured key with and
 * without its scheme, the current token, AWS keys, a client override); undefined when there are
 * none. Without an override in the request this is one shared set per credential value.
 */
export function responseSecrets(credential: UpstreamCredential | undefined, incoming?: IncomingHttpHeaders): SecretSet | undefined {
  if (credential === undefined) return undefined;
  const configured = configuredSecrets(credential);
  const o = credential.override;
  if (o !== undefined && incoming !== undefined) {
    const v = overrideValue(credential, o, incoming);
    if (v !== undefined && !(v instanceof GatewayError)) return configured.with(secretsOf(v, false));
  }
  return configured.isEmpty ? undefined : configured;
}
