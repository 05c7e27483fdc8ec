// Upstream failures classified once, from undici's and Node's error codes, into catalog codes and
// the retry triggers they correspond to.
import type { ErrorCode } from '../core/errors.js';

export type FailureKind = 'connect' | 'tls' | 'reset' | 'first-byte-timeout' | 'idle-timeout' | 'protocol';

export interface UpstreamFailure {
  readonly kind: FailureKind;
  readonly code: ErrorCode;
  /** A short, secret-free description for logs and client messages. */
  readonly detail: string;
}

const CONNECT_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function classifyUpstreamError(err: unknown): UpstreamFailure {
  const raw = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  const code = typeof raw === 'string' ? raw : '';
  if (CONNECT_CODES.has(code)) {
    return { kind: 'connect', code: 'upstream_connect_failed', detail: code === 'UND_ERR_CONNECT_TIMEOUT' ? 'connect timeout' : code };
  }
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code === 'EPROTO' || code === 'UNABLE_TO_VERIFY_LEAF_SIGNATURE') {
    return { kind: 'tls', code: 'upstream_tls_failed', detail: `TLS handshake failed (${code})` };
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return { kind: 'first-byte-timeout', code: 'upstream_first_byte_timeout', detail: 'no response headers in time' };
  if (code === 'UND_ERR_BODY_TIMEOUT') return { kind: 'idle-timeout', code: 'upstream_idle_timeout', detail: 'the stream went silent' };
  if (code === 'HPE_INVALID_CONSTANT' || code.startsWith('HPE_') || code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' || code === 'UND_ERR_INFO') {
    return { kind: 'protocol', code: 'upstream_protocol_error', detail: `malformed HTTP from upstream (${code})` };
  }
  return { kind: 'reset', code: 'upstream_reset', detail: code.length > 0 ? `connection reset (${code})` : 'connection reset' };
}
