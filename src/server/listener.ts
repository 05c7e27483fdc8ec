// The data listener: HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on one port. The first bytes
// of a connection decide: the HTTP/2 connection preface goes to the HTTP/2 server, anything else to
// the HTTP/1.1 server. HTTP/1.1 gets the raw socket (Node's fast native parser path); HTTP/2's
// session reads sockets natively and would miss the sniffed bytes, so it gets a thin stream wrapper.
//
// Hostile clients meet limits here, before the pipeline: new connections per second per address and
// in total, header count and size, a deadline for the request head (slowloris) and for the body
// (idle and total), idle keep-alive, HTTP/2 concurrent streams and client resets (CVE-2023-44487
// "rapid reset"). Every refusal that can still be an HTTP response is an OpenAI-shaped error with an
// x-request-id; the rest (an HTTP/2 flood, a client that never sends a byte) are closed. The
// refusal writers are in listener-refusals.ts, the HTTP/2 preface sniffing and session guards in
// listener-h2.ts, and the limits' defaults and connection admission in listener-guards.ts.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import net from 'node:net';
import { GatewayError } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { credentialStripFromEnv, type ClientCredentialStrip } from '../credentials/client.js';
import type { RequestLimits } from '../pipeline/http.js';
import { ConnectionGate, DEFAULT_HARDENING, type Hardening, hardeningFromEnv } from './listener-guards.js';
import { BodyWatch, BodyWatchList } from './body-watch.js';
import { guardSession, looksLikeH2, wrapSocket } from './listener-h2.js';
import { rejectMalformed, refuseConnection, requestIdOf, respondAndClose, tooManyHeaders, writeRaw } from './listener-refusals.js';

export { DEFAULT_HARDENING, type Hardening, hardeningFromEnv } from './listener-guards.js';

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  /** Largest request head (request line + headers), bytes. */
  readonly maxHeaderBytes: number;
  readonly keepAliveTimeoutMs: number;
  /** Deadline for a client to send its complete request head (slowloris). */
  readonly headersTimeoutMs: number;
  readonly maxConcurrentStreams: number;
  /** The other limits; defaults (and TOLLGATE_LISTENER_* overrides) when absent. */
  readonly hardening?: Partial<Hardening>;
  /** Client credentials to strip; the defaults (and TOLLGATE_STRIP_* changes) when absent. */
  readonly strip?: ClientCredentialStrip;
  /** Where the 5xx refusals the listener answers itself are logged (none when absent). */
  readonly logger?: Logger;
}

export interface ConnectionInfo {
  readonly remoteAddress: string | undefined;
  /** This listener speaks cleartext HTTP/1.1 and h2c only. */
  readonly scheme: 'http';
  /** The listener's limits the pipeline enforces (one frozen object for every request). */
  readonly limits: RequestLimits;
}


export type RequestHandler = (
  req: IncomingMessage | Http2ServerRequest,
  res: ServerResponse | Http2ServerResponse,
  conn: ConnectionInfo,
) => void;

export interface DataListener {
  readonly address: { host: string; port: number };
  /** Stop accepting; idle HTTP/1.1 connections close now, HTTP/2 sessions get GOAWAY. */
  stopAccepting(): void;
  /** Destroy every remaining connection. */
  destroyAll(): void;
  activeConnections(): number;
  /** Refusals so far, by reason (for tests and the chaos benchmark). */
  readonly refused: Readonly<Record<RefusalReason, number>>;
}

export type RefusalReason = 'connection_rate' | 'connections' | 'header_count' | 'head_timeout' | 'body_timeout' | 'malformed' | 'h2_resets';

export async function startDataListener(opts: ListenerOptions, handle: RequestHandler): Promise<DataListener> {
  const hard: Hardening = { ...DEFAULT_HARDENING, ...hardeningFromEnv(process.env), ...opts.hardening };
  const log = opts.logger ?? silentLogger;
  const limits: RequestLimits = Object.freeze({
    writeTimeoutMs: hard.writeTimeoutMs,
    jsonMaxDepth: hard.jsonMaxDepth,
    jsonMaxValues: hard.jsonMaxValues,
    uploadLookaheadBytes: hard.uploadLookaheadBytes,
    strip: opts.strip ?? credentialStripFromEnv(process.env),
  });
  const sockets = new Set<net.Socket>();
  const sessions = new Set<ServerHttp2Session>();
  const sessionSocket = new WeakMap<ServerHttp2Session, net.Socket>();
  const currentRequest = new WeakMap<net.Socket, { id: string; res: ServerResponse }>();
  const refused: Record<RefusalReason, number> = { connection_rate: 0, connections: 0, header_count: 0, head_timeout: 0, body_timeout: 0, malformed: 0, h2_resets: 0 };
  const gate = new ConnectionGate(hard);
  const watches = new BodyWatchList();
  let pendingSocket: net.Socket | undefined;

  const watchBody = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse, requestId: string, progress: () => number): void => {
    if (req.complete || (req.method === 'GET' || req.method === 'HEAD') || hard.bodyIdleTimeoutMs <= 0) return;
    const now = Date.now();
    const w = new BodyWatch(req, res, progress, requestId, now + hard.bodyTimeoutMs, now);
    watches.add(w);
    res.once('close', () => watches.delete(w));
  };

  // One sweep a second for every body in flight: cheaper than a timer per request, and precise
  // enough for deadlines measured in seconds.
  const sweep = setInterval(() => {
    const now = Date.now();
    watches.forEach((w) => {
      if (w.req.complete) {
        watches.delete(w);
        return;
      }
      const p = w.progress();
      if (p > w.last) {
        w.last = p;
        w.lastAt = now;
        if (now <= w.deadline) return;
      } else if (now - w.lastAt <= hard.bodyIdleTimeoutMs && now <= w.deadline) return;
      watches.delete(w);
      refused.body_timeout++;
      const why = now > w.deadline ? `within ${Math.round(hard.bodyTimeoutMs / 1000)} s` : `for ${Math.round(hard.bodyIdleTimeoutMs / 1000)} s`;
      const err = new GatewayError(
        'request_body_timeout',
        now > w.deadline ? `The request body did not arrive ${why}; send it faster or in a smaller request.` : `No request body bytes arrived ${why}; the request was abandoned.`,
      );
      respondAndClose(w.res, err, w.requestId, () => w.req.destroy(), log);
    });
    gate.prune(now);
  }, 1_000);
  sweep.unref();

  const onH1Request = (req: IncomingMessage, res: ServerResponse): void => {
    const id = requestIdOf(req);
    currentRequest.set(req.socket, { id, res });
    if (req.rawHeaders.length / 2 > hard.maxHeaderCount) {
      refused.header_count++;
      respondAndClose(res, tooManyHeaders(hard.maxHeaderCount), id, () => req.destroy(), log);
      return;
    }
    // Node's own refusal of a missing Host is a bare 400 with no body; this one says what is wrong.
    if (req.httpVersion === '1.1' && req.headers.host === undefined) {
      refused.malformed++;
      respondAndClose(res, new GatewayError('bad_request', 'The request has no Host header; HTTP/1.1 requires one (send "host: <gateway address>").'), id, () => req.destroy(), log);
      return;
    }
    const socket = req.socket;
    watchBody(req, res, id, () => socket.bytesRead);
    handle(req, res, { remoteAddress: socket.remoteAddress, scheme: 'http', limits });
  };

  const h1 = http.createServer(
    {
      requireHostHeader: false,
      maxHeaderSize: opts.maxHeaderBytes,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      headersTimeout: opts.headersTimeoutMs,
      // The whole request (head and body) must arrive within this; responses may stream for as long
      // as routes allow (receiving the request is all this covers).
      requestTimeout: Math.max(hard.bodyTimeoutMs, opts.headersTimeoutMs) + 1_000,
      connectionsCheckingInterval: 1_000,
      noDelay: true,
    },
    onH1Request,
  );
  // Node keeps at most this many headers and silently drops the rest; one more than the limit lets
  // the handler above see that there were too many and say so.
  h1.maxHeadersCount = hard.maxHeaderCount + 1;
  // With a listener here Node no longer answers 100 Continue by itself: the pipeline sends it when it
  // starts reading the body, so a request refused before (size, authentication, route) gets its
  // refusal instead of an invitation to upload.
  h1.on('checkContinue', onH1Request);
  // A CONNECT has no handler and Node would close it without a word; a gateway is not a tunnel.
  h1.on('connect', (req: IncomingMessage, socket: net.Socket) => {
    refused.malformed++;
    const err = new GatewayError('method_not_allowed', 'CONNECT is not supported: the gateway is not a forward proxy. Send POST requests to its /v1 endpoints.', {
      headers: { allow: 'GET, POST' },
    });
    writeRaw(socket, err, requestIdOf(req), log);
  });
  // Node answers an Expect it does not understand with a bare 417; answer it like every other refusal.
  // A client that half-closes after its request (curl, health checkers, `nc -N`) has said only that
  // it will send nothing more: it still gets its whole answer, and the connection closes after it.
  // Node's default aborts the request on the client's FIN; the switch is a long-standing but untyped
  // property of http.Server.
  (h1 as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  h1.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const id = requestIdOf(req);
    const given = String(req.headers['expect'] ?? '').slice(0, 60).replace(/[^\x20-\x7e]/g, '?');
    respondAndClose(res, new GatewayError('bad_request', `Unsupported Expect header "${given}": the gateway understands only "100-continue".`, { status: 417 }), id, () => req.destroy(), log);
  });
  // The HTTP/1.1 server never listens itself (connections are handed to it), and Node starts the
  // connection tracking behind headersTimeout, requestTimeout and closeIdleConnections() only on
  // 'listening'. Without this, those deadlines silently do nothing.
  h1.emit('listening');
  h1.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => {
    const cur = currentRequest.get(socket);
    if (cur?.res.headersSent === true) {
      socket.destroy();
      return;
    }
    if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') refused.head_timeout++;
    else if (err.code !== 'ECONNRESET') refused.malformed++;
    rejectMalformed(err, socket, cur?.id, log);
  });

  const onH2Request = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    const session = req.stream.session as ServerHttp2Session;
    const socket = sessionSocket.get(session);
    const id = requestIdOf(req);
    watchBody(req, res, id, () => socket?.bytesRead ?? 0);
    handle(req, res, { remoteAddress: socket?.remoteAddress, scheme: 'http', limits });
  };

  const h2 = http2.createServer(
    {
      settings: { maxConcurrentStreams: opts.maxConcurrentStreams, maxHeaderListSize: opts.maxHeaderBytes },
      // Pseudo-headers count as pairs too.
      maxHeaderListPairs: hard.maxHeaderCount + 8,
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 100,
    },
    onH2Request,
  );
  h2.on('checkContinue', onH2Request);
  h2.on('session', (session: ServerHttp2Session) => {
    if (pendingSocket !== undefined) sessionSocket.set(session, pendingSocket);
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined);
    guardSession(session, hard, opts.keepAliveTimeoutMs, () => refused.h2_resets++);
  });
  h2.on('sessionError', () => undefined);

  // Half-open so the HTTP/1.1 server can answer a client that already sent its FIN (above); HTTP/2
  // and connections that end before their first byte close as a FIN arrives.
  const tcp = net.createServer({ noDelay: true, allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const admitted = gate.admit(socket.remoteAddress, sockets.size);
    if (admitted !== 'ok') {
      refused[admitted === 'rate' ? 'connection_rate' : 'connections']++;
      refuseConnection(socket, admitted, log);
      return;
    }
    // A connection that never sends its first byte holds a socket: the head deadline covers it too.
    const silent = setTimeout(() => socket.destroy(), opts.headersTimeoutMs);
    const endedSilent = (): void => void socket.destroy();
    socket.once('end', endedSilent);
    socket.once('data', (first: Buffer) => {
      clearTimeout(silent);
      socket.off('end', endedSilent);
      if (looksLikeH2(first)) {
        socket.once('end', () => socket.end());
        pendingSocket = socket;
        h2.emit('connection', wrapSocket(socket, first));
        pendingSocket = undefined;
      } else {
        socket.pause();
        socket.unshift(first);
        h1.emit('connection', socket);
        socket.resume();
      }
    });
    socket.once('close', () => clearTimeout(silent));
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen({ port: opts.port, host: opts.host, backlog: hard.listenBacklog }, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  const addr = tcp.address() as net.AddressInfo;

  return {
    address: { host: opts.host, port: addr.port },
    stopAccepting() {
      tcp.close();
      clearInterval(sweep);
      // Connections mid-request finish their response, then idle out at once instead of waiting
      // for another request.
      h1.keepAliveTimeout = 1;
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
      h1.close(); // stops the connection-tracking interval; sockets in use are unaffected
    },
    destroyAll() {
      clearInterval(sweep);
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
    },
    activeConnections: () => sockets.size,
    refused,
  };
}
