// apiKeyAuth: the presented key's keyed digest is looked up among the policy's clients. The table
// holds digests only; the final comparison is constant-time, and the lookup itself is by a digest the
// client cannot predict, so response time says nothing about how close a guess was.
import type { ApiKeyAuthConfig, ApiKeyClient } from '../config/types.js';
import { keyDigest, sameDigest } from './digest.js';
import { describeSources, extractCredential, type RequestView } from './extract.js';
import { AuthFailure } from './failure.js';

export interface ApiKeyResult {
  readonly client: ApiKeyClient;
  /** Header the key came from (stripped before forwarding); undefined for a cookie. */
  readonly header: string | undefined;
}

export function authenticateApiKey(cfg: ApiKeyAuthConfig, req: RequestView): ApiKeyResult {
  const found = extractCredential(req, cfg.extract);
  switch (found.kind) {
    case 'missing':
      throw new AuthFailure('missing', `This endpoint requires an API key in ${describeSources(cfg.extract)}.`);
    case 'ambiguous':
      throw new AuthFailure('ambiguous', `The API key was sent more than once in ${found.where}; send exactly one.`);
    case 'found':
      break;
  }
  const header = found.source.from === 'header' ? found.source.name : undefined;
  const client = lookup(cfg, found.value) ?? (header === 'authorization' ? lookup(cfg, bearer(found.value)) : undefined);
  if (client === undefined) throw new AuthFailure('invalid_key', `The API key in ${found.where} is not valid.`);
  return { client, header };
}

function lookup(cfg: ApiKeyAuthConfig, presented: string | undefined): ApiKeyClient | undefined {
  if (presented === undefined || presented.length === 0 || presented.length > 4096) return undefined;
  const digest = keyDigest(presented);
  const bucket = bucketsOf(cfg).get(digest.slice(0, BUCKET_CHARS));
  if (bucket === undefined) return undefined;
  let found: ApiKeyClient | undefined;
  for (const [d, client] of bucket) if (sameDigest(d, digest)) found = client;
  return found;
}

// Buckets by a digest prefix: O(1) to find the candidates, then a constant-time comparison of the
// whole digest against each (almost always one).
const BUCKET_CHARS = 8;
const buckets = new WeakMap<ApiKeyAuthConfig, Map<string, Array<readonly [string, ApiKeyClient]>>>();

function bucketsOf(cfg: ApiKeyAuthConfig): Map<string, Array<readonly [string, ApiKeyClient]>> {
  let b = buckets.get(cfg);
  if (b === undefined) {
    b = new Map();
    for (const [digest, client] of cfg.keys) {
      const k = digest.slice(0, BUCKET_CHARS);
      const list = b.get(k);
      if (list === undefined) b.set(k, [[digest, client]]);
      else list.push([digest, client]);
    }
    buckets.set(cfg, b);
  }
  return b;
}

// OpenAI-compatible SDKs send `Authorization: Bearer <key>`; a policy that reads `authorization`
// accepts the key with or without the scheme.
function bearer(value: string): string | undefined {
  return value.length > 7 && value.slice(0, 7).toLowerCase() === 'bearer ' ? value.slice(7).trim() : undefined;
}
