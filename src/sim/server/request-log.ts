// What the simulated backend saw, per x-request-id: path, model, whether the credential it got was
// the configured key, and the request headers with every credential value replaced. A test can prove
// that a rogue token never reached the backend (its sha256 prefix is absent) while the log never holds
// or prints a real key. Bounded: the oldest entries go first.
import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

export type CredentialState = 'valid' | 'invalid' | 'missing';

export interface LoggedRequest {
  readonly id: string;
  readonly path: string;
  readonly receivedAt: string;
  readonly model: string | null;
  readonly credential: CredentialState;
  readonly headers: Readonly<Record<string, string>>;
}

/** Headers whose values are credentials. */
export const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'api-key',
  'x-api-key',
  'x-goog-api-key',
  'cookie',
  'proxy-authorization',
]);

/** The headers a client may present the API key in, and how (the bearer scheme or the bare key). */
export function presentedKeys(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  const auth = headers['authorization'];
  if (typeof auth === 'string') {
    const m = /^\s*bearer\s+(.*?)\s*$/i.exec(auth);
    out.push(m === null ? auth.trim() : (m[1] ?? ''));
  }
  for (const h of ['api-key', 'x-api-key', 'x-goog-api-key']) {
    const v = headers[h];
    if (typeof v === 'string') out.push(v.trim());
  }
  return out;
}

function sameSecret(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) diff |= (a.charCodeAt(i) | 0) ^ (b.charCodeAt(i) | 0);
  return diff === 0;
}

export function credentialState(headers: IncomingHttpHeaders, apiKey: string | undefined): CredentialState {
  const keys = presentedKeys(headers);
  if (keys.length === 0) return 'missing';
  if (apiKey === undefined) return 'valid';
  return keys.some((k) => sameSecret(k, apiKey)) ? 'valid' : 'invalid';
}

/**
 * A credential header's value, safe to show: `<configured key>` when it carries the configured key
 * (for authorization, as `Bearer <key>`), else `<other: sha256:XXXXXXXXXXXX>`, the first 12 hex digits
 * of the SHA-256 of the header value exactly as received.
 */
export function redactCredential(name: string, value: string, apiKey: string | undefined): string {
  if (apiKey !== undefined) {
    const v = value.trim();
    const bearer = /^bearer\s+(.*)$/i.exec(v);
    const token = (name === 'authorization' || name === 'proxy-authorization') && bearer !== null ? (bearer[1] ?? '').trim() : v;
    if (sameSecret(token, apiKey)) return '<configured key>';
  }
  return `<other: sha256:${createHash('sha256').update(value).digest('hex').slice(0, 12)}>`;
}

export function safeHeaders(headers: IncomingHttpHeaders, apiKey: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers)) {
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(', ') : raw;
    out[name] = CREDENTIAL_HEADERS.has(name) ? redactCredential(name, value, apiKey) : value;
  }
  return out;
}

export class RequestLog {
  private readonly entries = new Map<string, LoggedRequest>();

  constructor(private readonly capacity = 10_000) {}

  add(entry: LoggedRequest): void {
    this.entries.delete(entry.id);
    this.entries.set(entry.id, entry);
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done !== true) this.entries.delete(oldest.value);
    }
  }

  /** Fill in the model once the body is parsed. */
  setModel(id: string, model: string | null): void {
    const e = this.entries.get(id);
    if (e !== undefined && e.model !== model) this.entries.set(id, { ...e, model });
  }

  get(id: string): LoggedRequest | undefined {
    return this.entries.get(id);
  }

  get size(): number {
    return this.entries.size;
  }
}
