// Responses the gateway writes itself: errors (from the catalog, OpenAI-shaped or, on the Anthropic
// front door, Anthropic-shaped) and small JSON bodies. Every one carries x-request-id and
// server-timing, like proxied responses.
import type { OutgoingHttpHeaders } from 'node:http';
import { nowMs } from '../core/clock.js';
import { errorBody, type GatewayError } from '../core/errors.js';
import { anthropicErrorBody } from './anthropic-ingress.js';
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

export function sendError(res: Res, err: GatewayError, requestId: string, startMs: number, extra?: OutgoingHttpHeaders, anthropic = false): void {
  if (res.headersSent) {
    // Too late for a status: cut the response so the client cannot mistake it for a complete one.
    res.destroy();
    return;
  }
  if (anthropic) sendJson(res, err.status, JSON.stringify(anthropicErrorBody(err)), requestId, startMs, { ...err.headers, ...extra, 'request-id': requestId });
  else sendJson(res, err.status, JSON.stringify(errorBody(err)), requestId, startMs, { ...err.headers, ...extra });
}
