// The data listener: HTTP/1.1 and HTTP/2 cleartext (prior knowledge) on one port. The first bytes
// of a connection decide: the HTTP/2 connection preface goes to the HTTP/2 server, anything else to
// the HTTP/1.1 server. HTTP/1.1 gets the raw socket (Node's fast native parser path); HTTP/2's
// session reads sockets natively and would miss the sniffed bytes, so it gets a thin stream wrapper.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session } from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { GatewayError, errorBody } from '../core/errors.js';
import { newRequestId } from '../core/ids.js';

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface ListenerOptions {
  readonly host: string;
  readonly port: number;
  /** Largest request head (request line + headers), bytes. */
  readonly maxHeaderBytes: number;
  readonly keepAliveTimeoutMs: number;
  /** Deadline for a client to send its complete request head (slowloris). */
  readonly headersTimeoutMs: number;
  readonly maxConcurrentStreams: number;
}

export interface ConnectionInfo {
  readonly remoteAddress: string | undefined;
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
}

export async function startDataListener(opts: ListenerOptions, handle: RequestHandler): Promise<DataListener> {
  const sockets = new Set<net.Socket>();
  const sessions = new Set<ServerHttp2Session>();
  const sessionAddress = new WeakMap<ServerHttp2Session, string | undefined>();
  let pendingAddress: string | undefined;

  const h1 = http.createServer(
    {
      maxHeaderSize: opts.maxHeaderBytes,
      keepAliveTimeout: opts.keepAliveTimeoutMs,
      headersTimeout: opts.headersTimeoutMs,
      requestTimeout: 0, // LLM requests stream for minutes; routes carry their own deadlines
      noDelay: true,
    },
    (req, res) => handle(req, res, { remoteAddress: req.socket.remoteAddress }),
  );
  h1.on('clientError', (err: NodeJS.ErrnoException, socket: net.Socket) => rejectMalformed(err, socket));

  const h2 = http2.createServer(
    { settings: { maxConcurrentStreams: opts.maxConcurrentStreams, maxHeaderListSize: opts.maxHeaderBytes } },
    (req, res) => handle(req, res, { remoteAddress: sessionAddress.get(req.stream.session as ServerHttp2Session) }),
  );
  h2.on('session', (session: ServerHttp2Session) => {
    sessionAddress.set(session, pendingAddress);
    sessions.add(session);
    session.on('close', () => sessions.delete(session));
    session.on('error', () => undefined);
  });
  h2.on('sessionError', () => undefined);

  const tcp = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.once('data', (first: Buffer) => {
      if (looksLikeH2(first)) {
        pendingAddress = socket.remoteAddress;
        h2.emit('connection', wrapSocket(socket, first));
        pendingAddress = undefined;
      } else {
        socket.pause();
        socket.unshift(first);
        h1.emit('connection', socket);
        socket.resume();
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(opts.port, opts.host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });
  const addr = tcp.address() as net.AddressInfo;

  return {
    address: { host: opts.host, port: addr.port },
    stopAccepting() {
      tcp.close();
      // Connections mid-request finish their response, then idle out at once instead of waiting
      // for another request.
      h1.keepAliveTimeout = 1;
      h1.closeIdleConnections();
      for (const s of sessions) s.close();
    },
    destroyAll() {
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
    },
    activeConnections: () => sockets.size,
  };
}

function looksLikeH2(first: Buffer): boolean {
  const n = Math.min(first.length, H2_PREFACE.length);
  return n >= 3 && first.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
}

function wrapSocket(socket: net.Socket, first: Buffer): Duplex {
  const d = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      socket.write(chunk, cb);
    },
    final(cb) {
      socket.end();
      cb();
    },
    destroy(err, cb) {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on('end', () => d.push(null));
  socket.on('close', () => d.destroy());
  d.push(first);
  return d;
}

// Malformed requests never reach the handler; answer them in the same OpenAI error shape, with a
// request id like every other response, then close.
function rejectMalformed(err: NodeJS.ErrnoException, socket: net.Socket): void {
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
  const body = JSON.stringify(errorBody(gerr));
  const reason = http.STATUS_CODES[gerr.status] ?? 'Error';
  socket.end(
    `HTTP/1.1 ${gerr.status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-request-id: ${newRequestId()}\r\nserver-timing: gateway;dur=0\r\nconnection: close\r\n\r\n${body}`,
  );
}
