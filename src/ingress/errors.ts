// How each client API writes the gateway's errors. The catalog (core/errors.ts) decides code, status
// and message; an ingress only decides the body's shape and any header its SDKs read. Clients parse
// these bodies to raise typed errors, so each shape follows its API's own wire format.
import { errorBody, type GatewayError } from '../core/errors.js';
import type { Operation } from '../core/outcome.js';
import { anthropicErrorBody } from '../pipeline/anthropic-ingress.js';
import type { Json } from '../providers/shared/json.js';
import { geminiCodec } from './gemini/index.js';

export interface ErrorShape {
  body(err: GatewayError): Json;
  /** Headers the API's SDKs read from an error response, besides the gateway's own. */
  headers?(requestId: string): Readonly<Record<string, string>>;
}

export const OPENAI_ERRORS: ErrorShape = { body: (err) => ({ ...errorBody(err) }) };

export const ANTHROPIC_ERRORS: ErrorShape = {
  body: (err) => anthropicErrorBody(err),
  // Anthropic SDKs expose this header as `_request_id`.
  headers: (requestId) => ({ 'request-id': requestId }),
};

/** google.rpc.Code names, by the HTTP status Google's APIs pair them with. */
function googleStatus(status: number): string {
  switch (status) {
    case 400:
    case 405:
    case 413:
    case 415:
    case 431:
      return 'INVALID_ARGUMENT';
    case 401:
      return 'UNAUTHENTICATED';
    case 403:
      return 'PERMISSION_DENIED';
    case 404:
      return 'NOT_FOUND';
    case 408:
    case 504:
      return 'DEADLINE_EXCEEDED';
    case 429:
      return 'RESOURCE_EXHAUSTED';
    case 499:
      return 'CANCELLED';
    case 501:
      return 'UNIMPLEMENTED';
    case 502:
    case 503:
      return 'UNAVAILABLE';
    default:
      return status >= 500 ? 'INTERNAL' : 'FAILED_PRECONDITION';
  }
}

/**
 * Google's error envelope (`{"error":{"code","message","status","details"}}`). The catalog code rides
 * in a google.rpc.ErrorInfo `reason`, so a client can still tell a rate limit from a spent quota.
 */
export const GEMINI_ERRORS: ErrorShape = {
  body: (err) => ({
    error: {
      code: err.status,
      message: err.message,
      status: googleStatus(err.status),
      details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: err.code, domain: 'tollgate' }],
    },
  }),
};

// Each client API other than OpenAI's declares its shape here, by the operations its paths map to.
const DECLARED: ReadonlyArray<readonly [readonly Operation[], ErrorShape]> = [
  [['messages', 'count_tokens'], ANTHROPIC_ERRORS],
  [[...geminiCodec.operations], GEMINI_ERRORS],
];

const BY_OPERATION: ReadonlyMap<Operation, ErrorShape> = new Map(DECLARED.flatMap(([ops, shape]) => ops.map((op) => [op, shape] as const)));

/** The error shape of the API a request came in on (OpenAI's unless another ingress declared one). */
export function errorShapeOf(operation: Operation): ErrorShape {
  return BY_OPERATION.get(operation) ?? OPENAI_ERRORS;
}
