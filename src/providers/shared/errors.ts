// Upstream errors → what the client sees (OpenAI-shaped, from the error catalog). The rule is the
// same for every provider: the gateway's own credential being refused is the operator's problem
// (502, our words); server-side failures are reported by status (our words); client mistakes (4xx)
// keep the provider's message, cleaned of anything that looks like a credential or an internal id.
import type { ErrorCode } from '../../core/errors.js';
import type { ErrorTranslation } from '../types.js';

const MAX_MESSAGE = 1_000;

/** What a provider's error body said, already parsed by the provider. */
export interface UpstreamErrorInfo {
  readonly message: string | undefined;
  readonly param?: string | null | undefined;
  /** The provider says the credential was refused even though the status is not 401/403 (Gemini's 400 API_KEY_INVALID). */
  readonly authFailure?: boolean;
  /** The provider says it is overloaded (Anthropic 529, Bedrock ServiceUnavailable). */
  readonly overloaded?: boolean;
}

export function mapUpstreamError(status: number, info: UpstreamErrorInfo, backendName: string): ErrorTranslation {
  if (status === 401 || status === 403 || info.authFailure === true) {
    return err(502, 'upstream_auth_failed', `The backend "${backendName}" rejected the gateway's credential (HTTP ${status}); an operator must fix its BackendSecurityPolicy or secret.`);
  }
  if (status === 529 || info.overloaded === true) {
    return err(503, 'upstream_status', `The backend "${backendName}" is overloaded (HTTP ${status}); retry later.`);
  }
  if (status === 408) return err(504, 'upstream_status', `The backend "${backendName}" timed out (HTTP 408).`);
  if (status >= 500) {
    return err(status === 503 || status === 504 ? status : 502, 'upstream_status', `The backend "${backendName}" failed with HTTP ${status}.`);
  }
  const message = info.message === undefined ? undefined : sanitizeMessage(info.message);
  const param = typeof info.param === 'string' ? info.param.slice(0, 200) : null;
  if (status === 429) return err(429, 'upstream_rate_limited', message ?? `The backend "${backendName}" is rate limiting requests.`, param);
  return err(status >= 400 && status < 500 ? status : 502, 'upstream_rejected', message ?? `The backend "${backendName}" rejected the request with HTTP ${status}.`, param);
}

// Credentials and identifiers that must never reach a client even when a provider echoes them.
const REDACTIONS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi, 'Bearer [redacted]'],
  [/\bsk-(?:ant-)?[A-Za-z0-9_-]{8,}/g, '[redacted key]'],
  [/\bAIza[0-9A-Za-z_-]{20,}/g, '[redacted key]'],
  [/\bya29\.[0-9A-Za-z._-]+/g, '[redacted token]'],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, '[redacted key id]'],
  [/\barn:aws[a-z-]*:[^\s"',)]+/g, '[redacted arn]'],
  [/\b\d{12}\b/g, '[redacted account]'],
  [/\bprojects\/[^/\s"']+/g, 'projects/[redacted]'],
];

export function sanitizeMessage(message: string): string {
  let m = message.length > MAX_MESSAGE ? `${message.slice(0, MAX_MESSAGE)}…` : message;
  for (const [re, rep] of REDACTIONS) m = m.replace(re, rep);
  return m;
}

function err(status: number, code: ErrorCode, message: string, param: string | null = null): ErrorTranslation {
  return { status, code, message, param };
}
