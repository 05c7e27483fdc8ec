// Replays golden exchanges in a provider's native wire format: a request that matches a fixture's
// native request (path and JSON body) gets the fixture's response, as JSON, SSE events, AWS
// event-stream frames or InvokeModel `chunk` frames. A request that matches none gets a 404 naming
// the closest fixture and the first difference, so a translation bug shows as a readable diff.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { encodeEventStreamMessage } from '../../protocol/eventstream.js';
import { parseJsonBody, readBody, sendJson } from './http.js';
import { startProviderServer, type ProviderApi, type ProviderSimServer } from './server.js';

export interface NativeFixture {
  readonly name: string;
  readonly native_request: { readonly path: string; readonly body: unknown };
  readonly native_response: {
    readonly status: number;
    readonly headers?: Readonly<Record<string, string>>;
    readonly json?: unknown;
    /** SSE events; `event` omitted for data-only streams (Gemini). */
    readonly sse?: ReadonlyArray<{ readonly event?: string; readonly data: unknown }>;
    /** Line ending between SSE fields ("\n", or "\r\n" as Gemini sends). */
    readonly sseLineEnd?: string;
    /** AWS event-stream events (`:event-type` and JSON payload). */
    readonly eventstream?: ReadonlyArray<{ readonly type: string; readonly payload: unknown }>;
    /** InvokeModelWithResponseStream: model events, each sent as a `chunk` frame with base64 bytes. */
    readonly invokeChunks?: readonly unknown[];
  };
}

export class FixtureError extends Error {}

export async function loadFixtures(paths: readonly string[]): Promise<NativeFixture[]> {
  const out: NativeFixture[] = [];
  for (const p of paths) {
    let files: string[];
    try {
      files = (await stat(p)).isDirectory() ? (await readdir(p)).filter((f) => f.endsWith('.json')).sort().map((f) => join(p, f)) : [p];
    } catch (err) {
      throw new FixtureError(`cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    for (const f of files) {
      let j: unknown;
      try {
        j = JSON.parse(await readFile(f, 'utf8'));
      } catch (err) {
        throw new FixtureError(`${f} is not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
      }
      const fx = j as Partial<NativeFixture>;
      if (typeof fx.native_request?.path !== 'string' || typeof fx.native_response?.status !== 'number') {
        throw new FixtureError(`${f} needs native_request.path and native_response.status`);
      }
      out.push({ ...(fx as NativeFixture), name: fx.name ?? f });
    }
  }
  return out;
}

/** The first difference between two JSON values, as a path, or undefined when equal. */
export function firstDifference(a: unknown, b: unknown, path = '$'): string | undefined {
  if (a === b) return undefined;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return `${path}: expected ${JSON.stringify(a)?.slice(0, 120)}, got ${JSON.stringify(b)?.slice(0, 120)}`;
  if (Array.isArray(a) !== Array.isArray(b)) return `${path}: expected ${Array.isArray(a) ? 'an array' : 'an object'}`;
  const ka = Object.keys(a);
  const kb = Object.keys(b as object);
  for (const k of new Set([...ka, ...kb])) {
    const d = firstDifference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
    if (d !== undefined) return d;
  }
  return undefined;
}

function frames(r: NativeFixture['native_response']): Buffer[] {
  const ev = (type: string, payload: unknown): Buffer =>
    encodeEventStreamMessage({ ':event-type': type, ':content-type': 'application/json', ':message-type': 'event' }, JSON.stringify(payload));
  if (r.eventstream !== undefined) return r.eventstream.map((e) => ev(e.type, e.payload));
  return (r.invokeChunks ?? []).map((c) => ev('chunk', { bytes: Buffer.from(JSON.stringify(c)).toString('base64') }));
}

async function handle(fixtures: readonly NativeFixture[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = req.url ?? '/';
  const body = parseJsonBody(await readBody(req));
  if (url.endsWith('/token') && req.method === 'POST') {
    // OAuth2 token endpoints (GCP, Azure): every client gets a token, replay does not judge credentials.
    sendJson(res, 200, { access_token: 'replay-token', expires_in: 3600, token_type: 'Bearer' });
    return;
  }
  const onPath = fixtures.filter((f) => f.native_request.path === url);
  const hit = onPath.find((f) => firstDifference(f.native_request.body, body) === undefined);
  if (hit === undefined) {
    const near = onPath[0];
    sendJson(res, 404, {
      error: {
        message:
          near === undefined
            ? `no fixture for ${req.method ?? ''} ${url}`
            : `no fixture matches this body; closest "${near.name}" differs at ${firstDifference(near.native_request.body, body) ?? '?'}`,
      },
    });
    return;
  }
  const r = hit.native_response;
  if (r.sse !== undefined) {
    const nl = r.sseLineEnd ?? '\n';
    res.writeHead(r.status, { 'content-type': 'text/event-stream', ...r.headers });
    for (const e of r.sse) res.write(`${e.event === undefined ? '' : `event: ${e.event}${nl}`}data: ${JSON.stringify(e.data)}${nl}${nl}`);
    res.end();
    return;
  }
  if (r.eventstream !== undefined || r.invokeChunks !== undefined) {
    res.writeHead(r.status, { 'content-type': 'application/vnd.amazon.eventstream', ...r.headers });
    for (const f of frames(r)) res.write(f);
    res.end();
    return;
  }
  sendJson(res, r.status, r.json ?? {}, r.headers);
}

/** Serves the fixtures of any provider API (the paths tell them apart). */
export function startNativeReplay(fixtures: readonly NativeFixture[], opts: { api?: ProviderApi; host?: string; port?: number } = {}): Promise<ProviderSimServer> {
  return startProviderServer(opts.api ?? 'anthropic', (_ctx, req, res) => handle(fixtures, req, res), { host: opts.host, port: opts.port });
}
