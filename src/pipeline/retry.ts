// Retry policy decisions and the errors a failed upstream attempt turns into (pure functions).
import type { RetryPolicy, RuleConfig } from '../config/types.js';
import { GatewayError, type ErrorCode } from '../core/errors.js';
import { encodeSse } from '../protocol/sse.js';
import type { UpstreamFailure } from '../upstream/errors.js';

/** Whether the retry policy retries this kind of failure (before any byte reached the client). */
export function isRetriable(r: RetryPolicy, f: UpstreamFailure): boolean {
  switch (f.kind) {
    case 'connect':
    case 'tls':
      return r.onConnectFailure;
    case 'reset':
    case 'first-byte-timeout':
    case 'idle-timeout':
    case 'protocol':
      return r.onReset;
  }
}

/** Jittered exponential back-off before retry number `attempt` (Envoy's default shape). */
export function backoffDelay(r: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(r.backoffMaxMs, r.backoffBaseMs * 2 ** Math.max(0, attempt - 1));
  return random() * base;
}

export function failureError(f: UpstreamFailure, backend: string): GatewayError {
  switch (f.kind) {
    case 'connect':
      return new GatewayError(f.code, `Could not connect to backend "${backend}" (${f.detail}).`);
    case 'tls':
      return new GatewayError(f.code, `Could not establish TLS with backend "${backend}" (${f.detail}); check its BackendTLSPolicy.`);
    case 'first-byte-timeout':
      return new GatewayError(f.code, `Backend "${backend}" sent no response in time (streamIdleTimeout/backendRequest timeout).`);
    case 'idle-timeout':
      return new GatewayError(f.code, `Backend "${backend}" went silent for longer than the stream idle timeout.`);
    case 'reset':
    case 'protocol':
      return new GatewayError(f.code, `Backend "${backend}" failed before responding (${f.detail}).`);
  }
}

export function deadlineError(rule: RuleConfig): GatewayError {
  return new GatewayError(
    'request_timeout',
    `The request exceeded its ${Math.round(rule.timeouts.requestMs / 1000)} s timeout (rule "${rule.id}"; raise timeouts.request for long generations).`,
  );
}

/** The last event of a stream that broke after it started: OpenAI SDKs raise it as an API error. */
export function midStreamErrorEvent(code: ErrorCode, detail: string): string {
  const message = `The backend stream failed after it started (${detail}); the response is incomplete.`;
  return encodeSse(JSON.stringify({ error: { message, type: 'upstream_error', code, param: null } }));
}
