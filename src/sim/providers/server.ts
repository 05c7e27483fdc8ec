// The server shell every native provider simulator runs in: node:http, one handler per API, the
// reply engine, pacing options, the request log, and errors that never crash the process.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { newRequestId } from '../../core/ids.js';
import { SeenLog, sendJson } from './http.js';
import { ReplyEngine } from './reply.js';

export type ProviderApi = 'gemini' | 'vertex' | 'anthropic' | 'bedrock' | 'azure';

export interface ProviderSimOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (ephemeral). */
  port?: number;
  /**
   * The credential the simulator requires: the API key (gemini: x-goog-api-key; anthropic: x-api-key;
   * azure: api-key), a static bearer token (vertex, azure), or a Bedrock API key (bearer). Unset:
   * any credential is accepted, but one must be presented, as the real service requires.
   */
  apiKey?: string;
  seed?: number;
  /** Pacing of streams: before the first event and between events (default 0: as fast as possible). */
  ttftMs?: number;
  itlMs?: number;
  /** Bedrock: the SigV4 key pair and region requests must be signed with. */
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  /** Vertex AI: project and location the paths must name (unset: all). */
  project?: string;
  location?: string;
  /** Vertex AI: service-account key JSON whose JWT assertions the token endpoint accepts. */
  serviceAccountJson?: string;
  /** Azure: Entra ID app credentials the token endpoint accepts (client-credentials grant). */
  azureClientId?: string;
  azureClientSecret?: string;
  /** Azure: the deployments that exist (unset: every name). */
  deployments?: readonly string[];
  /** Access-token lifetime the token endpoints grant, in seconds (default 3599). */
  tokenTtlS?: number;
}

export interface SimContext {
  readonly api: ProviderApi;
  readonly engine: ReplyEngine;
  readonly opts: ProviderSimOptions;
  readonly seen: SeenLog;
  /** The server's own base URL (token endpoints put it in `aud` checks). */
  url: string;
}

export type SimHandler = (ctx: SimContext, req: IncomingMessage, res: ServerResponse, requestId: string) => Promise<void>;

export interface ProviderSimServer {
  readonly api: ProviderApi;
  readonly url: string;
  readonly port: number;
  /** What arrived, credentials redacted (newest last). */
  readonly seen: SeenLog;
  close(): Promise<void>;
}

export async function startProviderServer(api: ProviderApi, handler: SimHandler, opts: ProviderSimOptions, onClose?: () => void): Promise<ProviderSimServer> {
  const engine = await ReplyEngine.create(opts.seed ?? 0);
  const ctx: SimContext = { api, engine, opts, seen: new SeenLog(), url: '' };
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const requestId = newRequestId();
    handler(ctx, req, res, requestId).catch((err: unknown) => {
      req.resume();
      sendJson(res, 500, { error: { message: `The simulator hit an unexpected error: ${err instanceof Error ? err.message : String(err)}` } });
    });
  };
  // Cloud SDKs speak HTTP/2 where the service does (the AWS SDK's streaming handler does, even to an
  // http:// endpoint, with prior knowledge); the gateway speaks HTTP/1.1. One port serves both: the
  // first bytes of a connection tell the HTTP/2 preface from an HTTP/1 request line.
  const h1 = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, onRequest);
  const h2 = createHttp2Server({}, (req, res) => onRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse));
  const sockets = new Set<Socket>();
  const server: NetServer = createNetServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.once('data', (first: Buffer) => {
      socket.pause();
      if (first.toString('latin1', 0, 4) === 'PRI ') {
        // The HTTP/2 session reads from whatever stream it is given; replay the bytes already read.
        h2.emit('connection', replaying(socket, first));
        return;
      }
      socket.unshift(first);
      h1.emit('connection', socket);
      socket.resume();
    });
  });
  const host = opts.host ?? '127.0.0.1';
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  const h = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  ctx.url = `http://${h}:${port}`;
  let closed: Promise<void> | undefined;
  return {
    api,
    url: ctx.url,
    port,
    seen: ctx.seen,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        onClose?.();
        server.close(() => resolve());
        h1.closeAllConnections();
        for (const sock of sockets) sock.destroy();
      })),
  };
}

/** A duplex over `socket` whose readable side starts with `first` (bytes already taken off the socket). */
function replaying(socket: Socket, first: Buffer): Duplex {
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
      socket.destroy();
      cb(err);
    },
  });
  d.push(first);
  socket.on('data', (c: Buffer) => {
    if (!d.push(c)) socket.pause();
  });
  socket.on('end', () => d.push(null));
  socket.on('close', () => d.destroy());
  socket.on('error', (e) => d.destroy(e));
  return d;
}

/** The path and query of a request. */
export function splitUrl(req: IncomingMessage): { path: string; query: URLSearchParams } {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return { path: q === -1 ? url : url.slice(0, q), query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)) };
}
