// OpenTelemetry traces over OTLP/HTTP with JSON encoding, one span per GenAI request, following the
// GenAI semantic conventions (span name "{operation} {model}", gen_ai.* attributes). Message content
// is attached only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true.
//
// Why not the OpenTelemetry SDK: the gateway builds each span once, after the request ended, from
// the outcome it already has (start time, duration, time to first byte, usage). That needs no
// context propagation machinery, tracer provider or span processors: a batch queue and one POST of
// the documented OTLP JSON shape (opentelemetry-proto, ExportTraceServiceRequest) do it, with no new
// dependency tree in the gateway. Standard OTEL_* variables configure it.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { RecordListener } from '../accounting/accountant.js';
import type { UsageRecord } from '../accounting/record.js';
import type { RequestOutcome } from '../core/outcome.js';
import { genAiOperation } from './metrics.js';

export interface TraceOptions {
  /** Full URL of the traces endpoint (…/v1/traces). */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly serviceName: string;
  readonly resource: Readonly<Record<string, string>>;
  readonly captureContent: boolean;
  readonly scheduleDelayMs: number;
  readonly maxQueue: number;
  readonly maxBatch: number;
  readonly timeoutMs: number;
}

export class TraceConfigError extends Error {}

/** Reads the standard OTEL_* variables; undefined when tracing is not configured or disabled. */
export function traceOptionsFromEnv(env: NodeJS.ProcessEnv): TraceOptions | undefined {
  if (env['OTEL_SDK_DISABLED'] === 'true' || env['OTEL_TRACES_EXPORTER'] === 'none') return undefined;
  const specific = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'];
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if ((specific === undefined || specific === '') && (base === undefined || base === '')) return undefined;
  const url = specific !== undefined && specific !== '' ? specific : `${(base as string).replace(/\/+$/, '')}/v1/traces`;
  try {
    const u = new URL(url);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)');
  } catch {
    throw new TraceConfigError(`OTEL_EXPORTER_OTLP_ENDPOINT: "${url}" is not an http(s) URL (e.g. http://127.0.0.1:4318)`);
  }
  const protocol = env['OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'] ?? env['OTEL_EXPORTER_OTLP_PROTOCOL'];
  if (protocol !== undefined && protocol !== '' && protocol !== 'http/json') {
    throw new TraceConfigError(`OTEL_EXPORTER_OTLP_PROTOCOL=${protocol} is not supported; tollgate exports OTLP over HTTP with JSON (set http/json, port 4318 on a collector)`);
  }
  return {
    url,
    headers: { ...parseKv(env['OTEL_EXPORTER_OTLP_HEADERS']), ...parseKv(env['OTEL_EXPORTER_OTLP_TRACES_HEADERS']) },
    serviceName: env['OTEL_SERVICE_NAME'] ?? 'tollgate',
    resource: parseKv(env['OTEL_RESOURCE_ATTRIBUTES']),
    captureContent: env['OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT'] === 'true',
    scheduleDelayMs: intEnv(env, 'OTEL_BSP_SCHEDULE_DELAY', 5000),
    maxQueue: intEnv(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2048),
    maxBatch: intEnv(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512),
    timeoutMs: intEnv(env, 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', intEnv(env, 'OTEL_EXPORTER_OTLP_TIMEOUT', 10_000)),
  };
}

function parseKv(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (s === undefined) return out;
  for (const part of s.split(',')) {
    const i = part.indexOf('=');
    if (i <= 0) continue;
    try {
      out[decodeURIComponent(part.slice(0, i).trim())] = decodeURIComponent(part.slice(i + 1).trim());
    } catch {
      // a malformed escape: skip the pair rather than fail the gateway
    }
  }
  return out;
}

function intEnv(env: NodeJS.ProcessEnv, name: string, def: number): number {
  const v = env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new TraceConfigError(`${name}: "${v}" is not a non-negative integer`);
  return n;
}

// ---- spans ----------------------------------------------------------------------------------------

type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean };
interface KeyValue {
  key: string;
  value: AnyValue;
}

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: KeyValue[];
  events: Array<{ timeUnixNano: string; name: string; attributes: KeyValue[] }>;
  status: { code: number; message?: string };
}

const SPAN_KIND_CLIENT = 3;
const STATUS_OK = 1;
const STATUS_ERROR = 2;
const MAX_CONTENT = 64 * 1024;

function attr(key: string, v: string | number | boolean | undefined): KeyValue | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'string') return { key, value: { stringValue: v } };
  if (typeof v === 'boolean') return { key, value: { boolValue: v } };
  return Number.isInteger(v) ? { key, value: { intValue: String(v) } } : { key, value: { doubleValue: v } };
}

function nanos(epochMs: number): string {
  return (BigInt(Math.floor(epochMs)) * 1_000_000n + BigInt(Math.round((epochMs % 1) * 1e6))).toString();
}

function numParam(body: Readonly<Record<string, unknown>> | undefined, k: string): number | undefined {
  const v = body?.[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

export function buildSpan(r: UsageRecord, o: RequestOutcome, captureContent: boolean): OtlpSpan | undefined {
  const op = genAiOperation(r.operation);
  if (op === undefined || r.route === '') return undefined;
  // The client's trace said not to record (sampled flag off): honour it, as a parent-based sampler does.
  if (o.trace?.sampled === false) return undefined;
  const model = r.requestModel;
  const body = o.requestBody;
  const failed = r.errorCode !== '' || r.status < 200 || r.status >= 300;
  const attrs = [
    attr('gen_ai.operation.name', op),
    attr('gen_ai.provider.name', r.provider),
    attr('gen_ai.request.model', model),
    attr('gen_ai.response.model', r.responseModel),
    attr('gen_ai.request.max_tokens', numParam(body, 'max_completion_tokens') ?? numParam(body, 'max_tokens')),
    attr('gen_ai.request.temperature', numParam(body, 'temperature')),
    attr('gen_ai.request.top_p', numParam(body, 'top_p')),
    attr('gen_ai.usage.input_tokens', r.usageSource === 'none' ? undefined : r.usage.input),
    attr('gen_ai.usage.output_tokens', r.usageSource === 'none' ? undefined : r.usage.output),
    attr('gen_ai.usage.cache_read.input_tokens', r.usage.cachedInput > 0 ? r.usage.cachedInput : undefined),
    attr('gen_ai.usage.cache_creation.input_tokens', r.usage.cacheCreationInput > 0 ? r.usage.cacheCreationInput : undefined),
    attr('http.response.status_code', r.status),
    attr('error.type', failed ? r.errorCode || String(r.status) : undefined),
    attr('tollgate.request_id', r.requestId),
    attr('tollgate.workload', r.workload),
    attr('tollgate.api_key', r.apiKey),
    attr('tollgate.team', r.team),
    attr('tollgate.route', r.route),
    attr('tollgate.backend', r.backend),
    attr('tollgate.endpoint', o.endpoint),
    attr('tollgate.endpoint_pick', o.endpointPick),
    attr('tollgate.original_model', r.originalModel),
    attr('tollgate.stream', r.stream),
    attr('tollgate.attempts', r.attempts),
    attr('tollgate.usage_source', r.usageSource),
    attr('tollgate.gateway.input_tokens', r.gatewayCount?.input),
    attr('tollgate.gateway.output_tokens', r.gatewayCount?.output),
    attr('tollgate.upstream_ms', r.upstreamMs),
    attr('tollgate.client_aborted', r.clientAborted || undefined),
  ];
  if (captureContent) {
    if (r.operation === 'chat' && Array.isArray(body?.['messages'])) attrs.push(attr('gen_ai.input.messages', clipContent(JSON.stringify(body['messages']))));
    else if (body?.['prompt'] !== undefined) attrs.push(attr('gen_ai.input.messages', clipContent(JSON.stringify([{ role: 'user', content: body['prompt'] }]))));
    if (o.completionText !== undefined && o.completionText.length > 0) {
      attrs.push(attr('gen_ai.output.messages', clipContent(JSON.stringify([{ role: 'assistant', parts: [{ type: 'text', content: o.completionText }] }]))));
    }
  }
  const events: OtlpSpan['events'] = [];
  if (r.ttftMs !== undefined) events.push({ timeUnixNano: nanos(r.startedAt + r.ttftMs), name: 'gen_ai.first_token', attributes: [] });
  return {
    traceId: o.trace?.traceId ?? randomBytes(16).toString('hex'),
    spanId: o.trace?.spanId ?? randomBytes(8).toString('hex'),
    ...(o.trace?.parentSpanId === undefined ? {} : { parentSpanId: o.trace.parentSpanId }),
    name: model === '' ? op : `${op} ${model}`,
    kind: SPAN_KIND_CLIENT,
    startTimeUnixNano: nanos(r.startedAt),
    endTimeUnixNano: nanos(r.startedAt + r.durationMs),
    attributes: attrs.filter((a): a is KeyValue => a !== undefined),
    events,
    status: failed ? { code: STATUS_ERROR, message: r.errorCode === '' ? `HTTP ${r.status}` : r.errorCode } : { code: STATUS_OK },
  };
}

/** One request of the MCP gateway, as plain facts (MCP semantic conventions: `mcp.*`, `jsonrpc.*`, `gen_ai.tool.name`). */
export interface McpSpanFacts {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string | undefined;
  /** `{mcp.method.name} {target}`, e.g. `tools/call github__list_issues`. */
  readonly name: string;
  readonly startedAt: number;
  readonly durationMs: number;
  readonly attributes: Readonly<Record<string, string | number | boolean | undefined>>;
  /** error.type when the request failed. */
  readonly error: string | undefined;
}

const SPAN_KIND_SERVER = 2;

export function buildMcpSpan(f: McpSpanFacts): OtlpSpan {
  const attributes = Object.entries(f.attributes).map(([k, v]) => attr(k, v)).filter((a): a is KeyValue => a !== undefined);
  if (f.error !== undefined) attributes.push({ key: 'error.type', value: { stringValue: f.error } });
  return {
    traceId: f.traceId,
    spanId: f.spanId,
    ...(f.parentSpanId === undefined ? {} : { parentSpanId: f.parentSpanId }),
    name: f.name,
    kind: SPAN_KIND_SERVER,
    startTimeUnixNano: nanos(f.startedAt),
    endTimeUnixNano: nanos(f.startedAt + f.durationMs),
    attributes,
    events: [],
    status: f.error === undefined ? { code: STATUS_OK } : { code: STATUS_ERROR, message: f.error },
  };
}

function clipContent(s: string): string {
  return s.length > MAX_CONTENT ? `${s.slice(0, MAX_CONTENT)}…` : s;
}

export interface TraceStats {
  readonly exported: number;
  readonly dropped: number;
  readonly failedBatches: number;
}

export class OtlpTraceExporter implements RecordListener {
  private queue: OtlpSpan[] = [];
  private timer: NodeJS.Timeout | undefined;
  private inflight: Promise<void> | undefined;
  private readonly counts = { exported: 0, dropped: 0, failedBatches: 0 };
  private lastError = 0;
  private readonly resource: KeyValue[];

  constructor(
    private readonly opts: TraceOptions,
    private readonly onError: (msg: string) => void = () => undefined,
  ) {
    const res: Record<string, string> = { ...opts.resource, 'service.name': opts.serviceName };
    this.resource = Object.entries(res).map(([key, v]) => ({ key, value: { stringValue: v } }));
  }

  recordCompleted(r: UsageRecord, o: RequestOutcome): void {
    const span = buildSpan(r, o, this.opts.captureContent);
    if (span !== undefined) this.enqueue(span);
  }

  exportMcp(f: McpSpanFacts): void {
    this.enqueue(buildMcpSpan(f));
  }

  private enqueue(span: OtlpSpan): void {
    if (this.queue.length >= this.opts.maxQueue) {
      this.counts.dropped++;
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.opts.maxBatch) this.flushSoon(0);
    else this.flushSoon(this.opts.scheduleDelayMs);
  }

  stats(): TraceStats {
    return { ...this.counts };
  }

  private flushSoon(delay: number): void {
    if (this.timer !== undefined) {
      if (delay > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, delay);
    this.timer.unref();
  }

  /** Sends everything queued (one batch at a time). */
  async flush(): Promise<void> {
    while (this.inflight !== undefined) await this.inflight;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.inflight = this.send(batch);
      await this.inflight;
      this.inflight = undefined;
    }
  }

  private async send(spans: OtlpSpan[]): Promise<void> {
    const body = JSON.stringify({
      resourceSpans: [{ resource: { attributes: this.resource }, scopeSpans: [{ scope: { name: 'tollgate' }, spans }] }],
    });
    try {
      const status = await post(this.opts.url, body, this.opts.headers, this.opts.timeoutMs);
      if (status >= 200 && status < 300) this.counts.exported += spans.length;
      else throw new Error(`the collector answered HTTP ${status}`);
    } catch (err) {
      this.counts.failedBatches++;
      this.counts.dropped += spans.length;
      const now = Date.now();
      if (now - this.lastError > 30_000) {
        this.lastError = now;
        this.onError(`OTLP trace export to ${this.opts.url} failed (${err instanceof Error ? err.message : String(err)}); ${spans.length} spans dropped`);
      }
    }
  }

  async close(): Promise<void> {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}

function post(url: string, body: string, headers: Readonly<Record<string, string>>, timeoutMs: number): Promise<number> {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = mod.request(
      u,
      { method: 'POST', headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
