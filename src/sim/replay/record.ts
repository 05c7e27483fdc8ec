// `--record`: a proxy in front of a real upstream that writes every exchange as a go-vcr cassette
// (one file per exchange), with the arrival time of each body chunk so replays keep token pacing.
// Credentials never reach the files: credential headers are dropped from what is written.
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CREDENTIAL_HEADERS } from '../server/request-log.js';
import { toYaml } from '../yaml.js';
import { formatGoDuration } from './cassette.js';

export interface RecordOptions {
  /** Base URL of the real server, e.g. https://api.openai.com (paths are appended). */
  readonly upstream: string;
  readonly dir: string;
  readonly host?: string;
  readonly port?: number;
  /** Called after each cassette is written (path), for logs and tests. */
  readonly onRecorded?: (file: string) => void;
}

export interface RecordProxy {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'host']);

function forCassette(h: IncomingHttpHeaders): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || CREDENTIAL_HEADERS.has(k) || HOP.has(k)) continue;
    const name = k.replace(/(^|-)([a-z])/g, (_m, d: string, c: string) => d + c.toUpperCase());
    out[name] = Array.isArray(v) ? v : [v];
  }
  return out;
}

export async function startRecordProxy(opts: RecordOptions): Promise<RecordProxy> {
  let base: URL;
  try {
    base = new URL(opts.upstream);
  } catch {
    throw new Error(`--upstream "${opts.upstream}" is not a URL (e.g. https://api.openai.com)`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new Error(`--upstream must be http:// or https://, got ${base.protocol}`);
  await mkdir(opts.dir, { recursive: true });
  let seq = 0;
  const server: Server = createServer((req, res) => {
    const chunksIn: Buffer[] = [];
    req.on('data', (c: Buffer) => chunksIn.push(c));
    req.on('end', () => {
      const reqBody = Buffer.concat(chunksIn);
      const target = new URL(req.url ?? '/', base);
      target.pathname = (base.pathname.replace(/\/$/, '') + (req.url ?? '/').split('?')[0]).replace(/\/{2,}/g, '/');
      const headers: Record<string, string | string[]> = {};
      for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
      headers['host'] = target.host;
      headers['content-length'] = String(reqBody.length);
      const started = Date.now();
      const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
      const up = send(target, { method: req.method ?? 'GET', headers }, (upRes) => {
        const out: Record<string, string | string[]> = {};
        for (const [k, v] of Object.entries(upRes.headers)) if (v !== undefined && !HOP.has(k) && k !== 'content-length') out[k] = v;
        res.writeHead(upRes.statusCode ?? 502, out);
        const pieces: string[] = [];
        const offsets: number[] = [];
        upRes.on('data', (c: Buffer) => {
          offsets.push(Date.now() - started);
          pieces.push(c.toString('utf8'));
          res.write(c);
        });
        upRes.on('end', () => {
          res.end();
          const n = ++seq;
          const slug = (req.url ?? '/').split('?')[0]!.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-|-$/g, '');
          const file = join(opts.dir, `${new Date(started).toISOString().replace(/[:.]/g, '-')}-${String(n).padStart(4, '0')}-${slug}.yaml`);
          const body = pieces.join('');
          const cassette = {
            version: 2,
            interactions: [
              {
                id: 0,
                request: {
                  proto: 'HTTP/1.1',
                  proto_major: 1,
                  proto_minor: 1,
                  content_length: reqBody.length,
                  host: target.host,
                  body: reqBody.toString('utf8'),
                  headers: forCassette(req.headers),
                  url: target.toString(),
                  method: req.method ?? 'GET',
                },
                response: {
                  proto: `HTTP/${upRes.httpVersion}`,
                  proto_major: upRes.httpVersionMajor,
                  proto_minor: upRes.httpVersionMinor,
                  content_length: Buffer.byteLength(body),
                  body,
                  headers: forCassette(upRes.headers),
                  status: `${upRes.statusCode ?? 0} ${upRes.statusMessage ?? ''}`.trim(),
                  code: upRes.statusCode ?? 0,
                  duration: formatGoDuration(Date.now() - started),
                  tollgate_chunk_offsets_ms: offsets,
                  tollgate_chunks: pieces,
                },
              },
            ],
          };
          writeFile(file, toYaml(cassette)).then(
            () => opts.onRecorded?.(file),
            (err: unknown) => process.stderr.write(`tollgate sim --record: cannot write ${file}: ${String(err)}\n`),
          );
        });
        upRes.on('error', () => res.destroy());
      });
      up.on('error', (err: NodeJS.ErrnoException) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        const text = JSON.stringify({ error: { message: `The upstream ${base.origin} is unreachable: ${err.code ?? err.message}.`, type: 'upstream_error', param: null, code: 502 } });
        res.writeHead(502, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }).end(text);
      });
      up.end(reqBody);
    });
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
