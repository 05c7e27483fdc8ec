// Finding a client credential in a request: a header (optionally after a scheme prefix such as
// "Bearer ") or a cookie. A credential sent twice is refused rather than guessed at: Node keeps the
// first `authorization` and joins other repeated headers with ", ", and neither is what the client
// meant if the copies differ.
import type { CredentialSource } from '../config/types.js';

export interface RequestView {
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** Alternating names and values as received (Node's rawHeaders). */
  readonly rawHeaders: readonly string[];
}

export type Extracted =
  | { readonly kind: 'found'; readonly value: string; readonly where: string; readonly source: CredentialSource }
  | { readonly kind: 'missing' }
  | { readonly kind: 'ambiguous'; readonly where: string };

export function extractCredential(req: RequestView, sources: readonly CredentialSource[]): Extracted {
  for (const source of sources) {
    switch (source.from) {
      case 'header': {
        const n = req.rawHeaders.length === 0 ? (req.headers[source.name] === undefined ? 0 : 1) : countHeader(req.rawHeaders, source.name);
        if (n === 0) continue;
        if (n > 1) return { kind: 'ambiguous', where: `the ${source.name} header` };
        const raw = req.headers[source.name];
        const value = typeof raw === 'string' ? raw : undefined;
        if (value === undefined) continue;
        if (source.prefix !== '') {
          // Auth schemes are case-insensitive (RFC 9110 §11.1); the token after them is not.
          if (value.length <= source.prefix.length || value.slice(0, source.prefix.length).toLowerCase() !== source.prefix.toLowerCase()) continue;
          return { kind: 'found', value: value.slice(source.prefix.length).trim(), where: `the ${source.name} header`, source };
        }
        return { kind: 'found', value: value.trim(), where: `the ${source.name} header`, source };
      }
      case 'cookie': {
        const found = cookieValues(req.headers['cookie'], source.name);
        if (found.length === 0) continue;
        if (found.length > 1) return { kind: 'ambiguous', where: `the ${source.name} cookie` };
        return { kind: 'found', value: found[0] as string, where: `the ${source.name} cookie`, source };
      }
    }
  }
  return { kind: 'missing' };
}

function countHeader(raw: readonly string[], lowerName: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === lowerName.length && name.toLowerCase() === lowerName) n++;
  }
  return n;
}

function cookieValues(header: string | string[] | undefined, name: string): string[] {
  if (header === undefined) return [];
  const text = typeof header === 'string' ? header : header.join('; ');
  const out: string[] = [];
  for (const part of text.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let v = part.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1);
    out.push(v);
  }
  return out;
}

/** Where a policy looks for credentials, for "missing credential" messages. */
export function describeSources(sources: readonly CredentialSource[]): string {
  const parts = sources.map((s) => (s.from === 'cookie' ? `the ${s.name} cookie` : s.prefix === '' ? `the ${s.name} header` : `the ${s.name} header ("${s.prefix.trim()} <token>")`));
  return parts.length <= 1 ? (parts[0] ?? 'a credential') : `${parts.slice(0, -1).join(', ')} or ${parts.at(-1) ?? ''}`;
}
