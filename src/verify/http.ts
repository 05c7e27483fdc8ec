// The one HTTP client of the verify suite, on node:http so it can send exactly what a hostile client
// would: header names in any case, the same header twice, a body larger than it claims. Every
// network-level problem becomes a NetworkFailure that says what was attempted and what happened;
// nothing is retried and nothing is swallowed.
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import { nowMs } from '../core/clock.js';
import { SseDecoder, type SseEvent } from '../protocol/sse.js';

/** Header lines in order; names keep their case and may repeat (node's raw header format, paired). */
export type HeaderLines = ReadonlyArray<readonly [string, string]>;

export interface RequestSpec {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly url: string;
  readonly headers?: HeaderLines;
  readonly body?: string | Buffer;
  readonly timeoutMs: number;
}

export interface HttpResponse {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly ms: number;
}

export type NetworkFailureKind = 'refused' | 'not-found' | 'timeout' | 'reset' | 'other';

/** The target could not be talked to at all, or stopped answering. Always a loud failure. */
export class NetworkFailure extends Error {
  constructor(
    readonly kind: NetworkFailureKind,
    readonly target: string,
    message: string,
  ) {
    super(message);
    this.name = 'NetworkFailure';
  }

  /** Nothing listens there (or the name does not resolve): nothing else against it can work. */
  get unreachable(): boolean {
    return this.kind === 'refused' || this.kind === 'not-found';
  }
}

export function describeNetworkError(err: unknown, method: string, url: string, timeoutMs: number): NetworkFailure {
  const e = err as NodeJS.ErrnoException;
  const where = `${method} ${url}`;
  const host = safeHost(url);
  switch (e.code) {
    case 'ECONNREFUSED':
      return new NetworkFailure('refused', host, `${where}: connection refused: nothing is listening at ${host}`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new NetworkFailure('not-found', host, `${where}: the host name in ${host} does not resolve (${e.code})`);
    case 'ECONNRESET':
    case 'EPIPE':
      return new NetworkFailure('reset', host, `${where}: the connection was reset by ${host} before a complete response arrived`);
    case 'ETIMEDOUT':
    case 'VERIFY_TIMEOUT':
      return new NetworkFailure('timeout', host, `${where}: no complete response within ${timeoutMs} ms`);
    default:
      return new NetworkFailure('other', host, `${where}: ${e.code ?? ''}${e.code === undefined ? '' : ' '}${e.message}`.trim());
  }
}

function safeHost(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}

function flatten(url: URL, lines: HeaderLines | undefined, body: string | Buffer | undefined): string[] {
  // With headers given as raw lines node adds no Host header itself; HTTP/1.1 requires one.
  const out: string[] = [];
  let hasLength = false;
  let hasHost = false;
  for (const [name, value] of lines ?? []) {
    const lower = name.toLowerCase();
    if (lower === 'content-length') hasLength = true;
    if (lower === 'host') hasHost = true;
    out.push(name, value);
  }
  if (!hasHost) out.unshift('host', url.host);
  if (body !== undefined && !hasLength) out.push('content-length', String(Buffer.byteLength(body)));
  return out;
}

function timeoutError(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('timed out');
  err.code = 'VERIFY_TIMEOUT';
  return err;
}

function start(spec: RequestSpec, onResponse: (res: IncomingMessage) => void, onError: (err: unknown) => void): http.ClientRequest {
  const url = new URL(spec.url);
  const mod = url.protocol === 'https:' ? https : http;
  // A fresh connection per request: a half-broken pooled connection must never be blamed on the
  // gateway, and each case sees the gateway as a new client would.
  const req = mod.request(
    url,
    { method: spec.method, headers: flatten(url, spec.headers, spec.body), agent: false },
    onResponse,
  );
  req.on('error', onError);
  return req;
}

/** Send one request and read the whole response. */
export function send(spec: RequestSpec): Promise<HttpResponse> {
  const t0 = nowMs();
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(describeNetworkError(err, spec.method, spec.url, spec.timeoutMs));
    };
    const timer = setTimeout(() => fail(timeoutError()), spec.timeoutMs);
    const req = start(
      spec,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', fail);
        res.on('aborted', () => fail(Object.assign(new Error('response aborted'), { code: 'ECONNRESET' })));
        res.on('end', () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ method: spec.method, url: spec.url, status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: nowMs() - t0 });
        });
      },
      fail,
    );
    req.end(spec.body);
  });
}

/**
 * Send a body over a server's size limit and report what it answers, without tripping over TCP: a
 * server that closes a connection with unread bytes in its buffer sends a reset, and a reset can
 * destroy a response the client has not read yet. So the body is written only as far as it must be:
 * - declared (content-length: `bytes`): the headers go first and the server gets `earlyMs` to
 *   answer before any body byte (a gateway should reject on the declared length alone); only if it
 *   does not is the body sent;
 * - undeclared (chunked): exactly `bytes` are written (the server must read past its limit to know),
 *   then nothing more until the answer.
 */
export function sendOversize(
  spec: Omit<RequestSpec, 'body'> & { readonly bytes: number; readonly declared: boolean; readonly earlyMs: number },
): Promise<HttpResponse & { readonly bytesWritten: number }> {
  const t0 = nowMs();
  return new Promise((resolve, reject) => {
    let settled = false;
    let written = 0;
    let responded = false;
    const lines: Array<readonly [string, string]> = [...(spec.headers ?? []), ...(spec.declared ? [['content-length', String(spec.bytes)] as const] : [])];
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(early);
      req.destroy();
      const f = describeNetworkError(err, spec.method, spec.url, spec.timeoutMs);
      reject(
        f.kind === 'reset' && written > 0
          ? new NetworkFailure('reset', f.target, `${f.message} (after ${written} body bytes, with no response read: a server that closes with unread bytes resets the connection and can destroy its own answer)`)
          : f,
      );
    };
    const timer = setTimeout(() => fail(timeoutError()), spec.timeoutMs);
    let early: NodeJS.Timeout | undefined;
    const req = start(
      { ...spec, headers: lines },
      (res) => {
        responded = true;
        clearTimeout(early);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        const done = (): void => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          req.destroy();
          resolve({ method: spec.method, url: spec.url, status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), ms: nowMs() - t0, bytesWritten: written });
        };
        res.on('end', done);
        res.on('error', done);
        res.on('aborted', done);
      },
      fail,
    );
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const pump = (): void => {
      while (!settled && !responded && written < spec.bytes) {
        const n = Math.min(chunk.length, spec.bytes - written);
        written += n;
        if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
          req.once('drain', pump);
          return;
        }
      }
      // A declared body is complete here; an undeclared one stays open: its end is not the point.
      if (!settled && !responded && spec.declared) req.end();
    };
    if (spec.declared) {
      req.flushHeaders();
      early = setTimeout(pump, spec.earlyMs);
    } else pump();
  });
}

export interface StreamEnd {
  /** The response ended normally (not cut, not aborted by us). */
  readonly complete: boolean;
  readonly events: readonly SseEvent[];
  /** Bytes after the last complete event (an unterminated event). */
  readonly trailing: number;
  readonly ms: number;
}

/** A streamed (SSE) response being read: events arrive as they come; the caller may cut it. */
export class SseStream {
  readonly events: SseEvent[] = [];
  /** The first bytes of the body as received (for error reports when the answer is not a stream). */
  private rawStart = Buffer.alloc(0);
  readonly head: Promise<{ status: number; headers: IncomingHttpHeaders }>;
  readonly end: Promise<StreamEnd>;
  private req: http.ClientRequest | undefined;
  private waiters: Array<() => void> = [];
  private aborted = false;
  private finished = false;
  private failure: NetworkFailure | undefined;

  constructor(private readonly spec: RequestSpec) {
    const t0 = nowMs();
    const decoder = new SseDecoder();
    let resolveHead!: (h: { status: number; headers: IncomingHttpHeaders }) => void;
    let rejectHead!: (e: unknown) => void;
    this.head = new Promise((res, rej) => {
      resolveHead = res;
      rejectHead = rej;
    });
    this.end = new Promise<StreamEnd>((resolve, reject) => {
      let idle: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => fail(timeoutError()), spec.timeoutMs);
      };
      const finish = (complete: boolean): void => {
        if (this.finished) return;
        this.finished = true;
        clearTimeout(idle);
        this.wake();
        resolve({ complete, events: this.events, trailing: decoder.remainder()?.length ?? 0, ms: nowMs() - t0 });
      };
      const fail = (err: unknown): void => {
        if (this.finished) return;
        if (this.aborted) return finish(false);
        this.finished = true;
        clearTimeout(idle);
        this.failure = describeNetworkError(err, spec.method, spec.url, spec.timeoutMs);
        this.req?.destroy();
        this.wake();
        rejectHead(this.failure);
        reject(this.failure);
      };
      arm();
      this.req = start(
        spec,
        (res) => {
          resolveHead({ status: res.statusCode ?? 0, headers: res.headers });
          arm();
          res.on('data', (c: Buffer) => {
            arm();
            if (this.rawStart.length < 16_384) this.rawStart = Buffer.concat([this.rawStart, c]).subarray(0, 16_384);
            const evs = decoder.push(c);
            if (evs.length > 0) {
              this.events.push(...evs);
              this.wake();
            }
          });
          res.on('end', () => finish(!this.aborted));
          res.on('aborted', () => {
            if (this.aborted) finish(false);
            else fail(Object.assign(new Error('cut'), { code: 'ECONNRESET' }));
          });
          res.on('error', fail);
          res.on('close', () => {
            if (this.finished) return;
            if (this.aborted) finish(false);
            else fail(Object.assign(new Error('cut'), { code: 'ECONNRESET' }));
          });
        },
        fail,
      );
      this.req.end(spec.body);
    });
    // Callers await head/end explicitly; keep an unobserved rejection from crashing the process.
    this.head.catch(() => undefined);
    this.end.catch(() => undefined);
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once at least `n` events arrived; rejects if the stream ends or fails first. */
  async waitForEvents(n: number): Promise<void> {
    while (this.events.length < n) {
      if (this.failure !== undefined) throw this.failure;
      if (this.finished) throw new NetworkFailure('other', this.spec.url, `${this.spec.method} ${this.spec.url}: the stream ended after ${this.events.length} event(s), before ${n} arrived`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  /** Close the connection from the client side, as a user closing a tab would. */
  abort(): void {
    this.aborted = true;
    this.req?.destroy();
  }

  /** The start of the body as text: for a non-stream answer (an error), its JSON. */
  bodyText(): string {
    return this.rawStart.toString('utf8');
  }

  get done(): boolean {
    return this.finished;
  }
}
