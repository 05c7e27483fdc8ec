// Errors the simulated server answers with. vLLM (0.10+) answers
// `{"error": {"message", "type", "param", "code"}}` with a numeric code and types named after the
// status (BadRequestError, NotFoundError, …); we do the same so clients and the gateway see what a
// real vLLM would send.

export type SimErrorType =
  | 'BadRequestError'
  | 'NotFoundError'
  | 'AuthenticationError'
  | 'ServiceUnavailableError'
  | 'InternalServerError'
  | 'RateLimitError'
  | 'MethodNotAllowed'
  | 'PayloadTooLarge';

export class SimHttpError extends Error {
  readonly status: number;
  readonly type: SimErrorType;
  readonly param: string | null;
  readonly headers: Readonly<Record<string, string>>;

  constructor(status: number, type: SimErrorType, message: string, param: string | null = null, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'SimHttpError';
    this.status = status;
    this.type = type;
    this.param = param;
    this.headers = headers;
  }
}

export function badRequest(message: string, param: string | null = null): SimHttpError {
  return new SimHttpError(400, 'BadRequestError', message, param);
}

export function errorJson(err: SimHttpError): string {
  return JSON.stringify({ error: { message: err.message, type: err.type, param: err.param, code: err.status } });
}

/** The error type for an injected status, so `status=429` looks like a rate limit and so on. */
export function typeForStatus(status: number): SimErrorType {
  if (status === 400) return 'BadRequestError';
  if (status === 401 || status === 403) return 'AuthenticationError';
  if (status === 404) return 'NotFoundError';
  if (status === 413) return 'PayloadTooLarge';
  if (status === 429) return 'RateLimitError';
  if (status === 503) return 'ServiceUnavailableError';
  return 'InternalServerError';
}
