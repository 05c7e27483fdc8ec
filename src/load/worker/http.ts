// Sends one pre-serialized request and measures it: the corpus's bytes as the body over a
// keep-alive HTTP/1.1 connection (worker/h1.ts), a byte scan of the SSE stream.
import type { ErrorClass } from '../protocol.js';
import { H1Pool, type H1ErrorKind, type H1Handler, type H1Request } from './h1.js';
import { SseScan, usageFromBody, type Usage } from './sse-scan.js';

export interface Outcome {
  /** Monotonic ms (this thread's performance.now) when the request was dispatched. */
  readonly sentAt: number;
  readonly status: number;
  readonly error: ErrorClass | undefined;
  readonly errorMessage: string;
  readonly cancelled: boolean;
  readonly ttftMs: number;
  readonly e2eMs: number;
  readonly usage: Usage | undefined;
  readonly itlCount: number;
  readonly itlSumMs: number;
  readonly gatewayMs: number;
  readonly upstreamMs: number;
}

export interface RequestSpec {
  readonly path: string;
  readonly app: string;
  readonly body: Buffer;
  readonly stream: boolean;
}

export interface Measure {
  /** A first token at `ttftMs` after sending. */
  firstToken(ttftMs: number): void;
  /** One inter-token gap, ms. */
  gap(ms: number): void;
}

const MAX_ERROR_BODY = 2048;

export class HttpTarget {
  private readonly pool: H1Pool;
  private readonly basePath: string;
  private readonly extra: string;
  readonly inflight = new Set<Exchange>();

  constructor(
    target: string,
    headers: Readonly<Record<string, string>>,
    private readonly timeoutMs: number,
    private readonly idleTimeoutMs: number,
  ) {
    const url = new URL(target);
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new H1Pool(url);
    this.extra = Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join('');
  }

  get connections(): number {
    return this.pool.connections;
  }

  send(req: RequestSpec, measure: Measure, done: (o: Outcome) => void): Exchange {
    const ex = new Exchange(req.stream, measure, (o) => {
      this.inflight.delete(ex);
      done(o);
    });
    this.inflight.add(ex);
    const head = this.pool.head(this.basePath + req.path, req.body.length, `content-type: application/json\r\nx-workload-app: ${req.app}\r\n${this.extra}`);
    ex.attach(this.pool.request(head, req.body, ex));
    return ex;
  }

  /**
   * Times out requests older than the total timeout, or silent for longer than the idle timeout
   * (one sweep a second instead of timers per request).
   */
  sweep(now: number): void {
    for (const ex of this.inflight) {
      if (now - ex.sentAt > this.timeoutMs) ex.abort('timeout');
      else if (now - ex.lastActivity > this.idleTimeoutMs) ex.abort('idle');
    }
  }

  cancelAll(): void {
    for (const ex of [...this.inflight]) ex.abort('cancel');
  }

  close(): Promise<void> {
    this.cancelAll();
    this.pool.close();
    return Promise.resolve();
  }
}

type AbortWhy = 'timeout' | 'idle' | 'cancel';

export class Exchange implements H1Handler {
  readonly sentAt = performance.now();
  private req: H1Request | undefined;
  private status = 0;
  private firstAt = 0;
  private lastTokenAt = 0;
  private itlCount = 0;
  private itlSum = 0;
  private usage: Usage | undefined;
  private sawDone = false;
  private bad: { cls: ErrorClass; message: string } | undefined;
  private errorBody: Buffer[] | undefined;
  private errorBytes = 0;
  private body: Buffer[] | undefined;
  private gatewayMs = Number.NaN;
  private upstreamMs = Number.NaN;
  private readonly scan: SseScan | undefined;
  private finished = false;

  constructor(
    private readonly stream: boolean,
    private readonly measure: Measure,
    private readonly done: (o: Outcome) => void,
  ) {
    this.scan = stream
      ? new SseScan({
          token: (now) => this.token(now),
          usage: (u) => {
            this.usage = u;
          },
          done: () => {
            this.sawDone = true;
          },
          bad: (cls, message) => {
            this.bad ??= { cls, message };
          },
        })
      : undefined;
  }

  attach(req: H1Request): void {
    this.req = req;
  }

  get lastActivity(): number {
    return this.req?.lastActivity ?? this.sentAt;
  }

  abort(why: AbortWhy): void {
    if (this.finished) return;
    this.req?.abort();
    switch (why) {
      case 'timeout':
        this.finish('timeout', 'no complete response within the request timeout', false);
        return;
      case 'idle':
        this.finish('timeout', `no bytes for longer than the idle timeout${this.firstAt === 0 ? ' (before the first token)' : ' (mid-stream)'}`, false);
        return;
      case 'cancel':
        this.finish(undefined, '', true);
        return;
      default: {
        const never: never = why;
        throw new Error(String(never));
      }
    }
  }

  private token(now: number): void {
    if (this.firstAt === 0) {
      this.firstAt = now;
      this.measure.firstToken(now - this.sentAt);
    } else {
      const gap = now - this.lastTokenAt;
      this.itlCount++;
      this.itlSum += gap;
      this.measure.gap(gap);
    }
    this.lastTokenAt = now;
  }

  onHeaders(status: number, headers: Readonly<Record<string, string>>): void {
    this.status = status;
    const st = headers['server-timing'];
    if (st !== undefined) this.serverTiming(st);
    if (status < 200 || status >= 300) this.errorBody = [];
    else if (!this.stream) this.body = [];
  }

  private serverTiming(v: string): void {
    for (const part of v.split(',')) {
      const m = /^\s*([\w-]+)\s*;.*?dur=([\d.]+)/.exec(part);
      if (m === null) continue;
      if (m[1] === 'gateway') this.gatewayMs = Number(m[2]);
      else if (m[1] === 'upstream') this.upstreamMs = Number(m[2]);
    }
  }

  onData(chunk: Buffer): void {
    if (this.errorBody !== undefined) {
      if (this.errorBytes < MAX_ERROR_BODY) {
        this.errorBody.push(Buffer.from(chunk));
        this.errorBytes += chunk.length;
      }
      return;
    }
    if (this.body !== undefined) {
      this.body.push(chunk);
      return;
    }
    this.scan?.push(chunk, performance.now());
  }

  onEnd(): void {
    const now = performance.now();
    if (this.errorBody !== undefined) {
      const cls: ErrorClass = this.status === 429 ? 'http_429' : this.status >= 500 ? 'http_5xx' : 'http_4xx';
      this.finish(cls, `HTTP ${this.status}: ${errorText(Buffer.concat(this.errorBody).toString('utf8', 0, MAX_ERROR_BODY))}`, false, now);
      return;
    }
    if (this.body !== undefined) {
      const text = Buffer.concat(this.body).toString('utf8');
      this.usage = usageFromBody(text);
      if (this.usage === undefined) this.finish('malformed', `response body is not JSON: ${text.slice(0, 80)}`, false, now);
      else {
        this.firstAt = now;
        this.measure.firstToken(now - this.sentAt);
        this.finish(undefined, '', false, now);
      }
      return;
    }
    if (this.bad !== undefined) this.finish(this.bad.cls, this.bad.message, false, now);
    else if (!this.sawDone) this.finish('incomplete', `the stream ended without [DONE]${this.firstAt === 0 ? ' and without any token' : ''}`, false, now);
    else this.finish(undefined, '', false, now);
  }

  onError(kind: H1ErrorKind, message: string): void {
    this.finish(kind, message, false);
  }

  private finish(error: ErrorClass | undefined, message: string, cancelled: boolean, now = performance.now()): void {
    if (this.finished) return;
    this.finished = true;
    this.done({
      sentAt: this.sentAt,
      status: this.status,
      error: cancelled ? undefined : error,
      errorMessage: message,
      cancelled,
      ttftMs: this.firstAt === 0 ? Number.NaN : this.firstAt - this.sentAt,
      e2eMs: now - this.sentAt,
      usage: this.usage,
      itlCount: this.itlCount,
      itlSumMs: this.itlSum,
      gatewayMs: this.gatewayMs,
      upstreamMs: this.upstreamMs,
    });
  }
}

function errorText(body: string): string {
  try {
    const o = JSON.parse(body) as { error?: { message?: unknown } | string; message?: unknown };
    const m = typeof o.error === 'string' ? o.error : (o.error?.message ?? o.message);
    if (typeof m === 'string') return m.slice(0, 200);
  } catch {
    // not JSON: show the start of the text
  }
  return body.slice(0, 200).replace(/\s+/g, ' ');
}
