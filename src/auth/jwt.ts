// jwt: find a token where a provider looks for it, pick the provider by the token's issuer, verify
// signature (accepted algorithms only), exp / nbf (with clock skew), issuer and audience, then read
// the claims the policy binds to headers. jose does the cryptography; this file decides which
// failure the client hears about.
import { createHash } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from 'jose';
import type { JwtAuthConfig, JwtProviderConfig } from '../config/types.js';
import { describeSources, extractCredential, type RequestView } from './extract.js';
import { AuthFailure } from './failure.js';
import { keySourceFor } from './jwks.js';

/** Envoy's jwt_authn default clock skew. */
const CLOCK_SKEW_S = 60;
const MAX_TOKEN_CHARS = 16 * 1024;

export interface JwtResult {
  readonly provider: JwtProviderConfig;
  readonly claims: JWTPayload;
  /** Headers the token came from (stripped before forwarding). */
  readonly headers: readonly string[];
}

/** undefined: no token anywhere and the policy allows that (optional / failOpen). */
export async function authenticateJwt(cfg: JwtAuthConfig, req: RequestView): Promise<JwtResult | undefined> {
  const tokens: Array<{ provider: JwtProviderConfig; token: string; where: string; header: string | undefined }> = [];
  for (const provider of cfg.providers) {
    const found = extractCredential(req, provider.extract);
    if (found.kind === 'ambiguous') {
      if (cfg.failOpen) return undefined;
      throw new AuthFailure('ambiguous', `The bearer token was sent more than once in ${found.where}; send exactly one.`, 'Bearer');
    }
    if (found.kind === 'found') tokens.push({ provider, token: found.value, where: found.where, header: found.source.from === 'header' ? found.source.name : undefined });
  }
  if (tokens.length === 0) {
    if (cfg.optional || cfg.failOpen) return undefined;
    const sources = [...new Map(cfg.providers.flatMap((p) => p.extract).map((s) => [JSON.stringify(s), s])).values()];
    throw new AuthFailure('missing', `This endpoint requires a bearer token in ${describeSources(sources)}.`, 'Bearer');
  }
  try {
    return await verifyAny(tokens);
  } catch (err) {
    if (cfg.failOpen && err instanceof AuthFailure && err.reason !== 'jwks_unavailable') return undefined;
    throw err;
  }
}

async function verifyAny(tokens: Array<{ provider: JwtProviderConfig; token: string; where: string; header: string | undefined }>): Promise<JwtResult> {
  let first: AuthFailure | undefined;
  for (const t of tokens) {
    if (t.token.length === 0 || t.token.length > MAX_TOKEN_CHARS) {
      first ??= new AuthFailure('malformed', `The bearer token in ${t.where} is malformed.`, 'Bearer');
      continue;
    }
    let iss: unknown;
    let alg: unknown;
    try {
      iss = decodeJwt(t.token).iss;
      alg = decodeProtectedHeader(t.token).alg;
    } catch {
      first ??= new AuthFailure('malformed', `The bearer token in ${t.where} is malformed (not a signed JWT).`, 'Bearer');
      continue;
    }
    if (typeof alg !== 'string' || !t.provider.algorithms.includes(alg)) {
      const named = typeof alg === 'string' && /^[A-Za-z0-9+-]{1,16}$/.test(alg) ? ` (${alg})` : '';
      first ??= new AuthFailure('algorithm', `The bearer token is signed with an algorithm this gateway does not accept${named}.`, 'Bearer');
      continue;
    }
    if (t.provider.issuer !== undefined && iss !== t.provider.issuer) {
      first ??= new AuthFailure('issuer', 'The bearer token\'s issuer (iss) is not accepted by this gateway.', 'Bearer');
      continue;
    }
    const cached = verifiedCache.get(t.provider, t.token);
    if (cached !== undefined) return { provider: t.provider, claims: cached, headers: tokens.filter((x) => x.header !== undefined).map((x) => x.header as string) };
    try {
      const { payload } = await jwtVerify(t.token, keySourceFor(t.provider.jwks).getKey, {
        issuer: t.provider.issuer,
        audience: t.provider.audiences.length > 0 ? [...t.provider.audiences] : undefined,
        algorithms: [...t.provider.algorithms],
        clockTolerance: CLOCK_SKEW_S,
        // A token that never expires stays valid until its key is rotated out: refused.
        requiredClaims: ['exp'],
      });
      const headers = tokens.filter((x) => x.header !== undefined).map((x) => x.header as string);
      verifiedCache.put(t.provider, t.token, payload);
      return { provider: t.provider, claims: payload, headers };
    } catch (err) {
      const f = explain(err, t.where);
      if (f.reason === 'jwks_unavailable') throw f;
      first ??= f;
    }
  }
  throw first ?? new AuthFailure('malformed', 'The bearer token is malformed.', 'Bearer');
}

/**
 * Tokens already verified, by provider and token digest: clients reuse a token for many requests,
 * and a signature check costs 0.2–0.3 ms of CPU where a hit costs a hash. An entry lives until the
 * token expires (exp plus the allowed skew), at most CACHE_TTL_MS, and only while the issuer's key
 * set is the one that verified it (a refetch that changes the keys drops it); a config reload starts
 * a new cache (new provider objects).
 */
class VerifiedCache {
  readonly #byProvider = new WeakMap<JwtProviderConfig, Map<string, { claims: JWTPayload; until: number; keys: number }>>();

  get(provider: JwtProviderConfig, token: string): JWTPayload | undefined {
    const m = this.#byProvider.get(provider);
    if (m === undefined) return undefined;
    const k = digest(token);
    const e = m.get(k);
    if (e === undefined) return undefined;
    if (Date.now() >= e.until || e.keys !== keySourceFor(provider.jwks).version) {
      m.delete(k);
      return undefined;
    }
    return e.claims;
  }

  put(provider: JwtProviderConfig, token: string, claims: JWTPayload): void {
    const now = Date.now();
    let until = now + CACHE_TTL_MS;
    if (typeof claims.exp === 'number') until = Math.min(until, (claims.exp + CLOCK_SKEW_S) * 1000);
    // A token that is not valid yet was accepted within the skew; do not extend that.
    if (typeof claims.nbf === 'number' && claims.nbf * 1000 > now) return;
    if (until <= now) return;
    let m = this.#byProvider.get(provider);
    if (m === undefined) {
      m = new Map();
      this.#byProvider.set(provider, m);
    }
    if (m.size >= CACHE_MAX) {
      const oldest = m.keys().next().value;
      if (oldest !== undefined) m.delete(oldest);
    }
    m.set(digest(token), { claims, until, keys: keySourceFor(provider.jwks).version });
  }
}

const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 10_000;
const verifiedCache = new VerifiedCache();

function digest(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

function explain(err: unknown, where: string): AuthFailure {
  if (err instanceof AuthFailure) return err;
  const fail = (reason: AuthFailure['reason'], msg: string): AuthFailure => new AuthFailure(reason, msg, 'Bearer');
  if (err instanceof errors.JWTExpired) return fail('expired', 'The bearer token has expired (exp is in the past); get a new one.');
  if (err instanceof errors.JWTClaimValidationFailed) {
    switch (err.claim) {
      case 'exp':
        return fail('claims', 'The bearer token has no expiry (exp); this gateway accepts only tokens that expire.');
      case 'nbf':
        return fail('not_yet_valid', 'The bearer token is not valid yet (nbf is in the future).');
      case 'aud':
        return fail('audience', 'The bearer token\'s audience (aud) is not accepted by this gateway.');
      case 'iss':
        return fail('issuer', 'The bearer token\'s issuer (iss) is not accepted by this gateway.');
      case 'iat':
        return fail('not_yet_valid', 'The bearer token was issued in the future (iat).');
      default:
        return fail('claims', 'The bearer token\'s claims are invalid.');
    }
  }
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) {
    return fail('algorithm', 'The bearer token is signed with an algorithm this gateway does not accept.');
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return fail('signature', 'The bearer token\'s signature does not verify.');
  if (err instanceof errors.JWKSNoMatchingKey || err instanceof errors.JWKSMultipleMatchingKeys) {
    return fail('no_key', 'No signing key of the issuer matches the bearer token (kid/alg).');
  }
  if (err instanceof errors.JWKSTimeout) return fail('jwks_unavailable', 'The issuer\'s signing keys could not be fetched in time; try again shortly.');
  return fail('malformed', `The bearer token in ${where} is malformed.`);
}

/** A claim by path (`org.team`), as a header-safe string; undefined for absent, array or object claims. */
export function claimString(claims: JWTPayload, path: readonly string[]): string | undefined {
  let cur: unknown = claims;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  if (typeof cur === 'string') return cur;
  if (typeof cur === 'number' || typeof cur === 'boolean') return String(cur);
  return undefined;
}

export function claimValue(claims: JWTPayload, path: readonly string[]): unknown {
  let cur: unknown = claims;
  for (const p of path) {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}
