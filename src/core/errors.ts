// The one error catalog. Every error a client can see has a stable code here, an HTTP status and an
// OpenAI error `type`. Only these reach clients: upstream bodies, stack traces and secrets never do.

export type ErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'upstream_error'
  | 'timeout_error'
  | 'server_error';

interface CatalogEntry {
  readonly status: number;
  readonly type: ErrorType;
}

export const ERROR_CATALOG = {
  // Request shape
  invalid_json: { status: 400, type: 'invalid_request_error' },
  invalid_utf8: { status: 400, type: 'invalid_request_error' },
  invalid_body: { status: 400, type: 'invalid_request_error' },
  missing_model: { status: 400, type: 'invalid_request_error' },
  invalid_model: { status: 400, type: 'invalid_request_error' },
  unsupported_media_type: { status: 415, type: 'invalid_request_error' },
  body_too_large: { status: 413, type: 'invalid_request_error' },
  headers_too_large: { status: 431, type: 'invalid_request_error' },
  bad_request: { status: 400, type: 'invalid_request_error' },
  request_body_timeout: { status: 408, type: 'invalid_request_error' },
  too_many_headers: { status: 431, type: 'invalid_request_error' },
  /** New connections from one client address arrive faster than the listener admits them. */
  connection_rate_limited: { status: 429, type: 'rate_limit_error' },
  too_many_connections: { status: 503, type: 'server_error' },
  method_not_allowed: { status: 405, type: 'invalid_request_error' },
  unknown_path: { status: 404, type: 'not_found_error' },
  // Routing
  route_not_found: { status: 404, type: 'not_found_error' },
  model_not_found: { status: 404, type: 'not_found_error' },
  response_not_found: { status: 404, type: 'not_found_error' },
  file_not_found: { status: 404, type: 'not_found_error' },
  batch_not_found: { status: 404, type: 'not_found_error' },
  state_store_unavailable: { status: 503, type: 'server_error' },
  // Authentication and authorization of the caller
  unauthenticated: { status: 401, type: 'authentication_error' },
  forbidden: { status: 403, type: 'permission_error' },
  /** The identity provider's keys could not be fetched; the credential was not judged. */
  auth_unavailable: { status: 503, type: 'server_error' },
  // Limits
  rate_limited: { status: 429, type: 'rate_limit_error' },
  quota_exceeded: { status: 429, type: 'rate_limit_error' },
  concurrency_limited: { status: 429, type: 'rate_limit_error' },
  /** A virtual key's (or its team's or organisation's) dollar budget has nothing left this period. */
  budget_exceeded: { status: 429, type: 'rate_limit_error' },
  rate_limit_unavailable: { status: 503, type: 'server_error' },
  // Upstream
  upstream_connect_failed: { status: 502, type: 'upstream_error' },
  upstream_reset: { status: 502, type: 'upstream_error' },
  upstream_tls_failed: { status: 502, type: 'upstream_error' },
  upstream_protocol_error: { status: 502, type: 'upstream_error' },
  upstream_status: { status: 502, type: 'upstream_error' },
  upstream_auth_failed: { status: 502, type: 'upstream_error' },
  upstream_rejected: { status: 400, type: 'invalid_request_error' },
  upstream_rate_limited: { status: 429, type: 'rate_limit_error' },
  upstream_unavailable: { status: 503, type: 'upstream_error' },
  upstream_first_byte_timeout: { status: 504, type: 'timeout_error' },
  upstream_idle_timeout: { status: 504, type: 'timeout_error' },
  request_timeout: { status: 504, type: 'timeout_error' },
  /** The client stopped reading a response; recorded, never sent (the client is cut off). */
  client_write_timeout: { status: 408, type: 'timeout_error' },
  // Gateway
  /** The gateway's own token counter has too much queued (count_tokens answered by the gateway). */
  token_count_busy: { status: 503, type: 'server_error' },
  shutting_down: { status: 503, type: 'server_error' },
  config_unavailable: { status: 503, type: 'server_error' },
  internal_error: { status: 500, type: 'server_error' },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

/** An error that is safe to show a client: its message was written by us, never copied from upstream. */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: ErrorType;
  /** Extra response headers (retry-after, x-ratelimit-*). */
  readonly headers: Readonly<Record<string, string>> | undefined;
  /** Optional: the offending request field, as OpenAI's `param`. */
  readonly param: string | null;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; headers?: Record<string, string>; param?: string; status?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    const entry: CatalogEntry = ERROR_CATALOG[code];
    this.status = options.status ?? entry.status;
    this.type = entry.type;
    this.headers = options.headers;
    this.param = options.param ?? null;
  }
}

export interface OpenAIErrorBody {
  error: { message: string; type: string; code: string; param: string | null };
}

export function errorBody(err: GatewayError): OpenAIErrorBody {
  return { error: { message: err.message, type: err.type, code: err.code, param: err.param } };
}

/** Any thrown value as a client-safe GatewayError; unknown errors become a generic 500. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  return new GatewayError('internal_error', 'The gateway hit an unexpected error; the request id identifies it in the logs.', {
    cause: err,
  });
}
