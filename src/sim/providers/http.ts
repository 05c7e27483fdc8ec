// HTTP plumbing shared by the native provider simulators: body reading with a limit, JSON answers,
// paced streaming, per-request controls (`x-sim-*` headers) and a bounded log of what arrived
// (credentials redacted) for tests that check what the gateway sent.
import type { IncomingMessage, ServerResponse } from 'node:http';

const MAX_BODY = 32 * 1024 * 1024;

export class BodyTooLarge extends Error {}

export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > MAX_BODY) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export function parseJsonBody(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Per-request controls a test (or a chaos run) sets on a request. */
export interface SimControls {
  /** `x-sim-output-tokens`: exact answer length. */
  readonly outputTokens: number | undefined;
  /** `x-sim-error: STATUS`: answer with the provider's own error for that status. */
  readonly errorStatus: number | undefined;
  /** `x-sim-fault: truncate` (cut the stream before its end) or `midstream-error` (the provider's in-stream error). */
  readonly fault: 'truncate' | 'midstream-error' | undefined;
}

export function controls(req: IncomingMessage): SimControls {
  const n = Number(header(req, 'x-sim-output-tokens'));
  const e = Number(header(req, 'x-sim-error'));
  const f = header(req, 'x-sim-fault');
  return {
    outputTokens: Number.isInteger(n) && n > 0 && n <= 100_000 ? n : undefined,
    errorStatus: Number.isInteger(e) && e >= 400 && e <= 599 ? e : undefined,
    fault: f === 'truncate' || f === 'midstream-error' ? f : undefined,
  };
}

/**
 * Writes a stream's pieces with the configured pacing (time to first piece, then between pieces).
 * Each piece is its own write, as a real server flushes them. Stops when the client goes away.
 */
export async function paced(res: ServerResponse, pieces: readonly (string | Buffer)[], ttftMs: number, itlMs: number): Promise<void> {
  let gone = false;
  res.once('close', () => {
    gone = true;
  });
  if (ttftMs > 0) await sleep(ttftMs);
  for (let i = 0; i < pieces.length; i++) {
    if (gone) return;
    res.write(pieces[i]);
    if (itlMs > 0 && i < pieces.length - 1) await sleep(itlMs);
    else if (i % 64 === 63) await new Promise((r) => setImmediate(r));
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface SeenRequest {
  readonly method: string;
  readonly path: string;
  /** Credential headers show only whether they were present. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: unknown;
}

const SECRET_HEADERS = new Set(['authorization', 'x-api-key', 'api-key', 'x-goog-api-key', 'x-amz-security-token', 'cookie']);

/** The last requests a simulator received, for tests that check what the gateway sent. */
export class SeenLog {
  private readonly items: SeenRequest[] = [];

  constructor(private readonly size = 200) {}

  add(req: IncomingMessage, body: unknown): void {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v === undefined) continue;
      headers[k] = SECRET_HEADERS.has(k) ? '<present>' : Array.isArray(v) ? v.join(', ') : v;
    }
    this.items.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers, body });
    if (this.items.length > this.size) this.items.shift();
  }

  get all(): readonly SeenRequest[] {
    return this.items;
  }

  get last(): SeenRequest | undefined {
    return this.items[this.items.length - 1];
  }
}
