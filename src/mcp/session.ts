// Stateless session ids. The id the client holds is the session itself, sealed with AES-256-GCM:
// the route, the negotiated protocol version, who opened it, and each MCP server's own session id.
// Any replica with the same key opens it, so there is no session store to share; a tampered or
// foreign id fails authentication and reads as "no such session" (404, the client re-initializes).
import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from 'node:crypto';

export interface BackendSession {
  /** backendRef name. */
  readonly name: string;
  /** The server's Mcp-Session-Id, if it issued one. */
  readonly sid: string | undefined;
  /** Protocol version the server agreed to. */
  readonly pv: string | undefined;
  /** The server failed to initialize: its tools are unavailable in this session. */
  readonly down: boolean;
}

export interface McpSession {
  readonly route: string;
  readonly protocolVersion: string;
  /** The caller that opened it (API key client or token subject); a session only serves its owner. */
  readonly principal: string | undefined;
  readonly backends: readonly BackendSession[];
  /** What the client declared it can do for servers (roots, sampling, elicitation): told again to a server that re-initializes. */
  readonly clientCapabilities?: Readonly<Record<string, unknown>>;
  /** Epoch seconds. */
  readonly issuedAt: number;
}

const VERSION = 1;
const AAD = Buffer.from('tollgate-mcp-session-v1');
/** Headers are bounded; a session id over this many characters is refused before decryption. */
export const MAX_SESSION_ID_CHARS = 8192;

interface Wire {
  v: number;
  r: string;
  p: string;
  a?: string;
  t: number;
  c?: Record<string, unknown>;
  b: Array<[string, string | 0, string | 0, 0 | 1]>;
}

export function sealSession(key: KeyObject, s: McpSession): string {
  const wire: Wire = { v: VERSION, r: s.route, p: s.protocolVersion, t: s.issuedAt, b: s.backends.map((b) => [b.name, b.sid ?? 0, b.pv ?? 0, b.down ? 1 : 0]) };
  if (s.principal !== undefined) wire.a = s.principal;
  if (s.clientCapabilities !== undefined && Object.keys(s.clientCapabilities).length > 0) wire.c = { ...s.clientCapabilities };
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, iv);
  c.setAAD(AAD);
  const body = Buffer.concat([c.update(JSON.stringify(wire), 'utf8'), c.final()]);
  return Buffer.concat([iv, body, c.getAuthTag()]).toString('base64url');
}

/** The session, or undefined when the id was not sealed with this key (or is malformed). */
export function openSession(key: KeyObject, id: string): McpSession | undefined {
  if (id.length > MAX_SESSION_ID_CHARS || !/^[A-Za-z0-9_-]+$/.test(id)) return undefined;
  const raw = Buffer.from(id, 'base64url');
  if (raw.length < 12 + 16 + 2) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    d.setAAD(AAD);
    d.setAuthTag(raw.subarray(raw.length - 16));
    const text = Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]).toString('utf8');
    const w = JSON.parse(text) as Wire;
    if (w.v !== VERSION) return undefined;
    return {
      route: w.r,
      protocolVersion: w.p,
      principal: w.a,
      issuedAt: w.t,
      ...(w.c === undefined ? {} : { clientCapabilities: w.c }),
      backends: w.b.map(([name, sid, pv, down]) => ({ name, sid: sid === 0 ? undefined : sid, pv: pv === 0 ? undefined : pv, down: down === 1 })),
    };
  } catch {
    return undefined;
  }
}
