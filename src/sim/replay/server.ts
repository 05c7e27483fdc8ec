// Replays recorded exchanges as a server: the recorded status, headers and body for the matching
// request, with the original timing (the recorded per-chunk offsets, or the whole duration spread
// over the body's SSE events), the profile's timing (TTFT and inter-token latency from its cost
// model), or none at all.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SseDecoder } from '../../protocol/sse.js';
import { stepTimeMs } from '../engine/engine.js';
import type { SimProfile } from '../profile.js';
import { credentialState } from '../server/request-log.js';
import { CassetteIndex, type Interaction } from './cassette.js';

export type ReplayTiming = 'original' | 'profile' | 'none';

export interface ReplayOptions {
  readonly interactions: readonly Interaction[];
  readonly timing: ReplayTiming;
  readonly profile: SimProfile;
  readonly apiKey?: string;
  readonly host?: string;
  readonly port?: number;
}

export interface ReplayServer {
  readonly url: string;
  readonly port: number;
  readonly size: number;
  close(): Promise<void>;
}

// Hop-by-hop and framing headers are the replaying server's business, not the recording's.
const SKIP_HEADERS = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-encoding', 'date', 'alt-svc']);

interface Piece {
  readonly atMs: number;
  readonly data: string;
}

function usageOf(body: string): { prompt: number; completion: number } {
  const m = /"prompt_tokens"\s*:\s*(\d+)[\s\S]*?"completion_tokens"\s*:\s*(\d+)|"completion_tokens"\s*:\s*(\d+)[\s\S]*?"prompt_tokens"\s*:\s*(\d+)/.exec(body);
  if (m === null) return { prompt: 0, completion: 0 };
  return m[1] !== undefined ? { prompt: Number(m[1]), completion: Number(m[2]) } : { prompt: Number(m[4]), completion: Number(m[3]) };
}

/** The response body as timed pieces. */
export function schedule(it: Interaction, timing: ReplayTiming, profile: SimProfile): Piece[] {
  const r = it.response;
  const isSse = (r.headers['content-type']?.[0] ?? '').includes('text/event-stream') || r.body.startsWith('data:');
  if (timing === 'original' && r.chunks !== undefined && r.chunkOffsetsMs !== undefined) {
    return r.chunks.map((data, i) => ({ atMs: r.chunkOffsetsMs?.[i] ?? 0, data }));
  }
  const events = isSse ? new SseDecoder().push(Buffer.from(r.body.endsWith('\n\n') ? r.body : `${r.body}\n\n`)).map((e) => e.raw.toString('utf8')) : [r.body];
  const n = events.length;
  if (timing === 'none') return events.map((data) => ({ atMs: 0, data }));
  if (timing === 'original') {
    // go-vcr keeps only the total: spread the events evenly over it, the last at the end.
    return events.map((data, i) => ({ atMs: (r.durationMs * (i + 1)) / n, data }));
  }
  const usage = usageOf(r.body);
  const c = profile.cost;
  const ttft = profile.latency.frontendMs + stepTimeMs(c, Math.max(1, usage.prompt), 0, usage.prompt);
  const itl = stepTimeMs(c, 0, 1, usage.prompt);
  if (!isSse) return [{ atMs: ttft + itl * Math.max(0, usage.completion - 1), data: r.body }];
  return events.map((data, i) => ({ atMs: ttft + itl * Math.max(0, i - 1), data }));
}

function respond(res: ServerResponse, it: Interaction, pieces: Piece[]): void {
  const h: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(it.response.headers)) if (!SKIP_HEADERS.has(k)) h[k] = [...v];
  const start = Date.now();
  res.writeHead(it.response.code, h);
  let i = 0;
  const next = (): void => {
    if (res.destroyed) return;
    while (i < pieces.length && (pieces[i]?.atMs ?? 0) <= Date.now() - start) res.write((pieces[i++] as Piece).data);
    if (i >= pieces.length) {
      res.end();
      return;
    }
    setTimeout(next, Math.max(0, (pieces[i]?.atMs ?? 0) - (Date.now() - start)));
  };
  next();
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function createReplayHttpServer(opts: ReplayOptions): { server: Server; index: CassetteIndex } {
  const index = new CassetteIndex(opts.interactions);
  const apiKey = opts.apiKey === '' ? undefined : opts.apiKey;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path === '/health') {
      res.writeHead(200, { 'content-length': '0' }).end();
      return;
    }
    if (apiKey !== undefined && path.startsWith('/v1/') && credentialState(req.headers, apiKey) !== 'valid') {
      req.resume();
      const body = JSON.stringify({ error: { message: 'Missing or incorrect API key: this replay server requires the key it was started with.', type: 'AuthenticationError', param: null, code: 401 } });
      res.writeHead(401, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }).end(body);
      return;
    }
    readBody(req).then(
      (body) => {
        const it = index.match(req.method ?? 'GET', path, body);
        if (it === undefined) {
          const text = JSON.stringify({
            error: { message: `No recorded exchange for ${req.method ?? 'GET'} ${path} among ${index.size} interactions (recorded: ${index.paths().join(', ')}).`, type: 'NotFoundError', param: null, code: 404 },
          });
          res.writeHead(404, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }).end(text);
          return;
        }
        respond(res, it, schedule(it, opts.timing, opts.profile));
      },
      () => res.destroy(),
    );
  });
  return { server, index };
}

export async function startReplayServer(opts: ReplayOptions): Promise<ReplayServer> {
  const { server, index } = createReplayHttpServer(opts);
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`,
    port,
    size: index.size,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
