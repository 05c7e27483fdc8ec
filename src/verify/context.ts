// What every check works with: the gateway and admin endpoints, the backends' own evidence of what
// reached them, and the record of every gateway response (for the header contract). All of it over
// HTTP: verify knows nothing of the gateway's internals, so it can check any gateway with the same
// contract.
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { sleep } from '../core/clock.js';
import { excerpt, type Probe } from './check.js';
import { send, SseStream, type HeaderLines, type HttpResponse } from './http.js';
import { ExpositionError, families, parseExposition, type Sample } from './prometheus.js';
import { IDENTITY_HEADER, SEED, type Tier } from './scenario.js';

export interface VerifyOptions {
  /** Data plane base URL, e.g. http://localhost:8080 (no trailing slash). */
  readonly gateway: string;
  /** Admin base URL, e.g. http://127.0.0.1:9901. */
  readonly admin: string;
  /** The simulated backends' base URLs (they report what reached them). */
  readonly backends: Readonly<Record<Tier, string>>;
  /** The gateway's watched config directory, for the reload check. */
  readonly configDir: string | undefined;
  /** Per request: no complete response (or, for streams, no byte) within this → failure. */
  readonly timeoutMs: number;
}

export interface SeenResponse {
  readonly what: string;
  readonly status: number;
  readonly sentRequestId: string;
  readonly requestId: string | undefined;
  readonly serverTiming: string | undefined;
}

export interface ChatOptions {
  readonly app?: string | undefined;
  /** Extra header lines, sent as written (case and repeats kept). */
  readonly headers?: HeaderLines;
  readonly body?: Record<string, unknown>;
  /** Raw body text instead of JSON (malformed-input cases). */
  readonly rawBody?: string;
  readonly requestId?: string;
  readonly path?: string;
}

/** What a simulated backend logged for one request id (`GET /_sim/requests/<id>`). */
export interface BackendRecord {
  readonly id: string;
  readonly path: string;
  readonly model: string | null;
  readonly credential: string;
  readonly headers: Readonly<Record<string, string>>;
}

export class VerifyContext {
  readonly runId = randomBytes(4).toString('hex');
  readonly seen: SeenResponse[] = [];
  /** Results one check leaves for a later one (the 429s of test case 1). */
  readonly shared: { rateLimited?: HttpResponse[] } = {};
  private counter = 0;

  constructor(
    readonly opts: VerifyOptions,
    readonly notify: (line: string) => void,
  ) {}

  newRequestId(tag: string): string {
    return `verify-${this.runId}-${(++this.counter).toString().padStart(3, '0')}-${tag}`;
  }

  private chatSpec(o: ChatOptions, stream: boolean): { url: string; headers: HeaderLines; body: string; requestId: string } {
    const requestId = o.requestId ?? this.newRequestId(o.app ?? 'anon');
    const headers: Array<readonly [string, string]> = [['content-type', 'application/json'], ['x-request-id', requestId]];
    if (o.app !== undefined) headers.push([IDENTITY_HEADER, o.app]);
    headers.push(...(o.headers ?? []));
    const body =
      o.rawBody ??
      JSON.stringify({
        model: SEED.bodyModel,
        messages: [{ role: 'user', content: 'Say hello' }],
        max_tokens: 4,
        ...(stream ? { stream: true } : {}),
        ...o.body,
      });
    return { url: `${this.opts.gateway}${o.path ?? '/v1/chat/completions'}`, headers, body, requestId };
  }

  /** POST a chat completion to the gateway and record the response's contract headers. */
  async chat(what: string, o: ChatOptions = {}): Promise<HttpResponse & { sentRequestId: string }> {
    const s = this.chatSpec(o, false);
    const res = await send({ method: 'POST', url: s.url, headers: s.headers, body: s.body, timeoutMs: this.opts.timeoutMs });
    this.record(what, res.status, res.headers, s.requestId);
    return { ...res, sentRequestId: s.requestId };
  }

  /** Start a streamed chat completion; the caller reads events and awaits its end. */
  stream(what: string, o: ChatOptions = {}): { stream: SseStream; requestId: string } {
    const s = this.chatSpec(o, true);
    const stream = new SseStream({ method: 'POST', url: s.url, headers: s.headers, body: s.body, timeoutMs: this.opts.timeoutMs });
    stream.head.then(
      (h) => this.record(what, h.status, h.headers, s.requestId),
      () => undefined,
    );
    return { stream, requestId: s.requestId };
  }

  /** Any other request to the data plane (unknown paths, raw bodies). */
  async gatewayRequest(what: string, method: 'GET' | 'POST', path: string, headers: HeaderLines = [], body?: string): Promise<HttpResponse & { sentRequestId: string }> {
    const requestId = this.newRequestId('raw');
    const res = await send({ method, url: `${this.opts.gateway}${path}`, headers: [['x-request-id', requestId], ...headers], ...(body === undefined ? {} : { body }), timeoutMs: this.opts.timeoutMs });
    this.record(what, res.status, res.headers, requestId);
    return { ...res, sentRequestId: requestId };
  }

  record(what: string, status: number, headers: IncomingHttpHeaders, sentRequestId: string): void {
    this.seen.push({ what, status, sentRequestId, requestId: single(headers['x-request-id']), serverTiming: single(headers['server-timing']) });
  }

  /** The id the backend would have seen: the gateway's x-request-id, else the one we sent. */
  static upstreamId(res: { headers: IncomingHttpHeaders; sentRequestId: string }): string {
    return single(res.headers['x-request-id']) ?? res.sentRequestId;
  }

  // ---- admin --------------------------------------------------------------------------------------

  async adminGet(path: string): Promise<HttpResponse> {
    return send({ method: 'GET', url: `${this.opts.admin}${path}`, timeoutMs: this.opts.timeoutMs });
  }

  /** Parsed metrics from the admin endpoint (Envoy's path, as the whitepaper queried it). */
  async metrics(t: Probe, path = '/stats/prometheus'): Promise<Sample[]> {
    const res = await this.adminGet(path);
    t.status(res, 200, `GET ${path} on the admin listener`);
    t.evidence.pop(); // a scrape is plumbing, not evidence
    try {
      return parseExposition(res.body.toString('utf8'));
    } catch (err) {
      if (err instanceof ExpositionError) t.fail(`${this.opts.admin}${path} is not valid Prometheus text: ${err.message}`);
      throw err;
    }
  }

  /** The metric families an admin path declares: a gauge with no samples at this instant still counts. */
  async metricFamilies(t: Probe, path: string): Promise<Set<string>> {
    const res = await this.adminGet(path);
    t.status(res, 200, `GET ${path} on the admin listener`);
    t.evidence.pop();
    return families(res.body.toString('utf8'));
  }

  async configGeneration(t: Probe): Promise<number> {
    const res = await this.adminGet('/config_dump');
    if (res.status !== 200) t.fail('GET /config_dump on the admin listener failed', { expected: '200', actual: `${res.status} ${excerpt(res.body.toString())}` });
    let gen: unknown;
    try {
      gen = (JSON.parse(res.body.toString('utf8')) as { generation?: unknown }).generation;
    } catch {
      gen = undefined;
    }
    if (typeof gen !== 'number') t.fail('/config_dump has no numeric "generation"', { expected: '{"generation": <number>, …}', actual: excerpt(res.body.toString('utf8'), 120) });
    return gen;
  }

  // ---- backends -----------------------------------------------------------------------------------

  /** What the backend logged for a request id; undefined when it never saw that id. */
  async backendSaw(t: Probe, tier: Tier, id: string): Promise<BackendRecord | undefined> {
    const base = this.opts.backends[tier];
    const res = await send({ method: 'GET', url: `${base}/_sim/requests/${encodeURIComponent(id)}`, timeoutMs: this.opts.timeoutMs });
    if (res.status === 404) return undefined;
    if (res.status !== 200) {
      t.fail(`the ${SEED.tiers[tier].label} backend at ${base} cannot say what it received`, {
        expected: `200 or 404 from GET ${base}/_sim/requests/<id>`,
        actual: `${res.status} ${excerpt(res.body.toString('utf8'))}`,
        hint: `verify needs backends that report what reached them (tollgate sim); point --backend ${tier}=URL at it`,
      });
    }
    let rec: unknown;
    try {
      rec = JSON.parse(res.body.toString('utf8'));
    } catch {
      rec = undefined;
    }
    const r = rec as Partial<BackendRecord> | undefined;
    if (typeof r !== 'object' || r === null || typeof r.credential !== 'string' || typeof r.headers !== 'object' || r.headers === null) {
      t.fail(`the ${SEED.tiers[tier].label} backend at ${base} answered /_sim/requests/<id> with something else than a request record`, {
        expected: '{"id", "path", "model", "credential", "headers"}',
        actual: excerpt(res.body.toString('utf8')),
      });
    }
    return r as BackendRecord;
  }

  /** A backend's own Prometheus metrics (vLLM names). */
  async backendMetrics(t: Probe, tier: Tier): Promise<Sample[]> {
    const base = this.opts.backends[tier];
    const res = await send({ method: 'GET', url: `${base}/metrics`, timeoutMs: this.opts.timeoutMs });
    if (res.status !== 200) t.fail(`GET ${base}/metrics failed`, { expected: '200', actual: `${res.status} ${excerpt(res.body.toString('utf8'))}` });
    try {
      return parseExposition(res.body.toString('utf8'));
    } catch (err) {
      if (err instanceof ExpositionError) t.fail(`${base}/metrics is not valid Prometheus text: ${err.message}`);
      throw err;
    }
  }

  /** Poll `probe` until it returns a value, or fail after `ms` with what it last saw. */
  async eventually<T>(ms: number, probe: () => Promise<T | undefined>, onTimeout: () => never): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      const v = await probe();
      if (v !== undefined) return v;
      if (Date.now() > end) onTimeout();
      await sleep(50);
    }
  }
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}
