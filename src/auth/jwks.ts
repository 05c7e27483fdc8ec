// Key sets for JWT verification (jose lives here, in auth/). A local set is built once per compiled
// provider. A remote set is fetched on first use, cached for `cacheDuration`, refetched when a token
// names a key id it does not hold (at most once per cooldown, so a flood of made-up kids cannot
// turn into a flood of fetches), and kept serving its last good keys while the issuer is down.
// Remote sets are shared by URI across config generations, so a reload does not refetch.
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { JwksSource } from '../config/types.js';
import { AuthFailure } from './failure.js';

const FETCH_TIMEOUT_MS = 5_000;
const MAX_JWKS_BYTES = 1024 * 1024;
/** After a successful fetch, an unknown kid triggers a refetch only after this long. */
const UNKNOWN_KID_COOLDOWN_MS = 30_000;

export interface KeySource {
  readonly getKey: JWTVerifyGetKey;
  /** Changes whenever the keys change (a refetch that brought a different set). */
  readonly version: number;
  /** Start fetching now (remote sets), so the first request does not wait. Never throws. */
  warm(): void;
}

const localSets = new WeakMap<object, KeySource>();
const remoteSets = new Map<string, RemoteKeySet>();
const MAX_REMOTE_SETS = 256;

export function keySourceFor(src: JwksSource): KeySource {
  switch (src.kind) {
    case 'local': {
      let ks = localSets.get(src);
      if (ks === undefined) {
        const getKey = createLocalJWKSet(structuredClone(src.jwks) as JSONWebKeySet);
        ks = { getKey, version: 0, warm: () => undefined };
        localSets.set(src, ks);
      }
      return ks;
    }
    case 'remote': {
      const id = `${src.uri}\0${src.cacheDurationMs}\0${src.failedRefetchMs}`;
      let rs = remoteSets.get(id);
      if (rs === undefined) {
        if (remoteSets.size >= MAX_REMOTE_SETS) {
          const oldest = remoteSets.keys().next().value;
          if (oldest !== undefined) remoteSets.delete(oldest);
        }
        rs = new RemoteKeySet(src.uri, src.cacheDurationMs, src.failedRefetchMs);
        remoteSets.set(id, rs);
      }
      return rs;
    }
  }
}

class RemoteKeySet implements KeySource {
  #local: JWTVerifyGetKey | undefined;
  #fetchedAt = 0;
  #failedAt = 0;
  #pending: Promise<void> | undefined;
  #lastError = '';
  #version = 0;
  #lastSet = '';

  constructor(
    private readonly uri: string,
    private readonly cacheMs: number,
    private readonly failedRefetchMs: number,
  ) {}

  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const now = Date.now();
    if (this.#local === undefined || now - this.#fetchedAt > this.cacheMs) await this.#refresh(now);
    const local = this.#local;
    if (local === undefined) {
      throw new AuthFailure('jwks_unavailable', 'The issuer\'s signing keys could not be fetched, so the bearer token cannot be checked; try again shortly.', 'Bearer');
    }
    try {
      return await local(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey) || now - this.#fetchedAt < UNKNOWN_KID_COOLDOWN_MS) throw err;
      // The issuer may have rotated its keys since the last fetch.
      await this.#refresh(now);
      const again = this.#local;
      if (again === undefined || again === local) throw err;
      return again(header, token);
    }
  };

  get version(): number {
    return this.#version;
  }

  warm(): void {
    if (this.#local === undefined) void this.#refresh(Date.now());
  }

  /** Why the last fetch failed (for logs; never includes response bodies). */
  get lastError(): string {
    return this.#lastError;
  }

  #refresh(now: number): Promise<void> {
    if (this.#pending !== undefined) return this.#pending;
    if (this.#failedAt !== 0 && now - this.#failedAt < this.failedRefetchMs) return Promise.resolve();
    this.#pending = fetchJwks(this.uri)
      .then((jwks) => {
        const text = JSON.stringify(jwks);
        if (text !== this.#lastSet) {
          this.#lastSet = text;
          this.#version++;
        }
        this.#local = createLocalJWKSet(jwks);
        this.#fetchedAt = Date.now();
        this.#failedAt = 0;
        this.#lastError = '';
      })
      .catch((err: unknown) => {
        // Keep the last good keys: an issuer outage must not log every client out.
        this.#failedAt = Date.now();
        this.#lastError = err instanceof Error ? err.message : String(err);
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }
}

async function fetchJwks(uri: string): Promise<JSONWebKeySet> {
  const res = await fetch(uri, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json, application/jwk-set+json' }, redirect: 'error' });
  if (res.status !== 200) {
    await res.body?.cancel();
    throw new Error(`JWKS ${uri} answered ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > MAX_JWKS_BYTES) {
    await res.body?.cancel();
    throw new Error(`JWKS ${uri} is larger than ${MAX_JWKS_BYTES} bytes`);
  }
  const text = await res.text();
  if (text.length > MAX_JWKS_BYTES) throw new Error(`JWKS ${uri} is larger than ${MAX_JWKS_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`JWKS ${uri} is not JSON`);
  }
  const keys = typeof value === 'object' && value !== null ? (value as { keys?: unknown }).keys : undefined;
  if (!Array.isArray(keys)) throw new Error(`JWKS ${uri} has no "keys" list`);
  // Only public asymmetric signing keys: an `oct` or private key in a published set is a mistake
  // that must not become a way to sign tokens.
  const usable = keys.filter(
    (k: unknown): k is Record<string, unknown> =>
      typeof k === 'object' && k !== null && ['RSA', 'EC', 'OKP'].includes(String((k as { kty?: unknown }).kty)) && !('d' in k) && (k as { use?: unknown }).use !== 'enc',
  );
  return { keys: usable };
}

/** Test and shutdown hook: forget every cached remote key set. */
export function clearRemoteKeySets(): void {
  remoteSets.clear();
}
