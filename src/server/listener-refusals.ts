// How the listener refuses what it will not pass to the pipeline: an OpenAI-shaped error with an
// x-request-id, as an HTTP response when the exchange still allows one, or written raw on the socket
// when Node's HTTP server never produced a request (malformed heads, CONNECT, connections over the
// limits). It is separate from listener.ts so the wiring of servers and sockets reads on its own,
// and every wording a refused client can see is in one place.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type net from 'node:net';
import { GatewayError, errorBody } from '../core/errors.js';
import { acceptableRequestId, newRequestId } from '../core/ids.js';
import type { Logger } from '../core/log.js';
import { looksLikeH2 } from './listener-h2.js';

/** The request id every gateway answer for this request carries: the client's if acceptable. */
export function requestIdOf(req: IncomingMessage | Http2ServerRequest): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && acceptableRequestId(given)) return given;
  const id = newRequestId();
  // The pipeline takes the id from here, so a refusal written by the listener and the outcome the
  // pipeline records name the same request.
  req.headers['x-request-id'] = id;
  return id;
}

export function tooManyHeaders(max: number): GatewayError {
  return new GatewayError('too_many_headers', `The request has more than ${max} headers; send fewer.`);
}

/**
 * The pipeline logs every 5xx it answers; these are the ones answered before it runs (a connection
 * over the limits has no request yet), logged the same way so the request id a client reports is
 * found in the log whichever part refused it.
 */
function logServerError(log: Logger, err: GatewayError, requestId: string): void {
  if (err.status >= 500) log.warn('request failed', { requestId, status: err.status, code: err.code });
}

/** Answers with an OpenAI-shaped error when nothing was sent yet, then ends the exchange. */
export function respondAndClose(res: ServerResponse | Http2ServerResponse, err: GatewayError, requestId: string, close: () => void, log: Logger): void {
  if (res.headersSent || res.writableEnded) {
    close();
    return;
  }
  logServerError(log, err, requestId);
  const body = JSON.stringify(errorBody(err));
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'x-request-id': requestId,
    'server-timing': 'gateway;dur=0',
  };
  if (!('stream' in res)) headers['connection'] = 'close';
  res.once('finish', close);
  res.writeHead(err.status, headers);
  res.end(body);
}

/** Over the connection limits: HTTP/1.1 gets a 429/503 it can read; an HTTP/2 preface just a close. */
export function refuseConnection(socket: net.Socket, why: 'rate' | 'total', log: Logger): void {
  const t = setTimeout(() => socket.destroy(), 2_000);
  socket.once('close', () => clearTimeout(t));
  socket.once('data', (first: Buffer) => {
    if (looksLikeH2(first)) {
      socket.destroy();
      return;
    }
    const err =
      why === 'rate'
        ? new GatewayError('connection_rate_limited', 'Too many new connections from this address; reuse connections (keep-alive) or slow down.', { headers: { 'retry-after': '1' } })
        : new GatewayError('too_many_connections', 'The gateway has too many open connections; retry shortly.', { headers: { 'retry-after': '1' } });
    writeRaw(socket, err, newRequestId(), log);
  });
}

// Malformed requests never reach the handler; answer them in the same OpenAI error shape, with a
// request id like every other response, then close.
export function rejectMalformed(err: NodeJS.ErrnoException, socket: net.Socket, requestId: string | undefined, log: Logger): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  let gerr: GatewayError;
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      gerr = new GatewayError('headers_too_large', 'The request headers are larger than the gateway accepts; send fewer or smaller headers.');
      break;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      gerr = new GatewayError('request_body_timeout', 'The request was not received in time.');
      break;
    default:
      gerr = new GatewayError('bad_request', `Malformed HTTP request (${err.code ?? 'parse error'}).`);
  }
  writeRaw(socket, gerr, requestId ?? newRequestId(), log);
}

export function writeRaw(socket: net.Socket, gerr: GatewayError, requestId: string, log: Logger): void {
  logServerError(log, gerr, requestId);
  const body = JSON.stringify(errorBody(gerr));
  const reason = http.STATUS_CODES[gerr.status] ?? 'Error';
  let extra = '';
  for (const [k, v] of Object.entries(gerr.headers ?? {})) extra += `${k}: ${v}\r\n`;
  socket.end(
    `HTTP/1.1 ${gerr.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}` +
      `x-request-id: ${requestId}\r\nserver-timing: gateway;dur=0\r\nconnection: close\r\n\r\n${body}`,
  );
  // A client that does not read its refusal must not hold the socket.
  const t = setTimeout(() => socket.destroy(), 5_000);
  socket.once('close', () => clearTimeout(t));
}
