// Responses the gateway writes itself: errors (from the catalog, in the shape of the API the request
// came in on: see src/ingress/errors.ts) and small JSON bodies. Every one carries x-request-id and
// server-timing, like proxied responses.
import type { OutgoingHttpHeaders } from 'node:http';
import { nowMs } from '../core/clock.js';
import type { GatewayError } from '../core/errors.js';
import { OPENAI_ERRORS, type ErrorShape } from '../ingress/errors.js';
import type { Res } from './http.js';

export function serverTiming(gatewayMs: number, upstreamMs?: number): string {
  return upstreamMs === undefined
    ? `gateway;dur=${gatewayMs.toFixed(3)}`
    : `gateway;dur=${gatewayMs.toFixed(3)}, upstream;dur=${upstreamMs.toFixed(3)}`;
}

export function sendJson(
  res: Res,
  status: number,
  body: Buffer | string,
  requestId: string,
  startMs: number,
  extra?: OutgoingHttpHeaders,
): void {
  const headers: OutgoingHttpHeaders = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    'server-timing': serverTiming(nowMs() - startMs),
    ...extra,
  };
  res.writeHead(status, headers);
  res.end(body);
}

/**
 * `shape` is the ingress's error shape (`errorShapeOf(operation)`); a boolean is the older
 * Anthropic-or-OpenAI choice some callers still pass.
 */
export function sendError(res: Res, err: GatewayError, requestId: string, startMs: number, extra?: OutgoingHttpHeaders, shape: ErrorShape = OPENAI_ERRORS): void {
  if (res.headersSent) {
    // Too late for a status: cut the response so the client cannot mistake it for a complete one.
    res.destroy();
    return;
  }
  sendJson(res, err.status, JSON.stringify(shape.body(err)), requestId, startMs, { ...err.headers, ...extra, ...shape.headers?.(requestId) });
}
