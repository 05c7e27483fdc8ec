// Gateway metrics (prom-client's home folder). Fed only by request outcomes, complete usage records
// and control-plane events; label values come from the config or closed sets (labels.ts), so
// cardinality stays bounded. Names are a contract (docs/observability.md) and follow the OpenTelemetry GenAI
// semantic conventions, including their advisory histogram buckets.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RecordListener } from '../accounting/accountant.js';
import type { UsageRecord, UsageSource } from '../accounting/record.js';
import type { Operation, RequestOutcome } from '../core/outcome.js';
import { TOKEN_TYPES, usageByType, type TokenType } from '../core/usage.js';
import type { Generation } from '../pipeline/generation.js';
import type { OutcomeSink } from '../pipeline/handler.js';
import { defineCollectedMetrics, type MetricSources } from './collected-metrics.js';
import { KeyedCounter, KeyedHistogram, type CounterSeries, type HistogramSeries } from './keyed-metrics.js';
import { LabelBounds } from './labels.js';

// OpenTelemetry GenAI metrics' advisory bucket boundaries (semantic-conventions gen-ai-metrics).
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0];
const TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5];
// Request latency as a whole (downstream / upstream): from a fast local answer to long generations.
const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320];
const OVERHEAD_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1];
// Drift is signed: negative when the gateway counts fewer tokens than the backend reported.
const DRIFT_BUCKETS = [-1, -0.5, -0.2, -0.1, -0.05, -0.02, -0.01, -0.005, -0.001, 0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];

const GENAI_LABELS = [
  'gen_ai_original_model',
  'gen_ai_request_model',
  'gen_ai_response_model',
  'gen_ai_provider_name',
  'gen_ai_operation_name',
  'workload',
  'route',
  'backend',
] as const;
type GenAiLabel = (typeof GENAI_LABELS)[number];
type GenAiLabels = Record<GenAiLabel, string>;

/**
 * One GenAI label set's series in each histogram that carries it. Found once per request (by the
 * label values joined) instead of once per metric and token type, each of which built its own key.
 */
interface GenAiSeries {
  readonly labels: GenAiLabels;
  readonly duration: HistogramSeries;
  readonly ttft: HistogramSeries;
  readonly tpot: HistogramSeries;
  readonly tokens: Readonly<Record<TokenType, HistogramSeries>>;
}

/** A route and backend's series in the latency histograms and the request counter. */
interface RouteSeries {
  readonly downstream: HistogramSeries;
  readonly upstream: HistogramSeries;
  readonly overhead: HistogramSeries;
  /** The request counter's series for a 200 without an error code (nearly every request), by workload label. */
  readonly ok: Map<string, CounterSeries>;
}

/** The `gen_ai.operation.name` value for an operation, or undefined for those that are not GenAI calls. */
export function genAiOperation(op: Operation): string | undefined {
  switch (op) {
    case 'chat':
    case 'messages':
    case 'responses':
      return 'chat';
    case 'gemini_generate':
      return 'generate_content';
    case 'completions':
      return 'text_completion';
    case 'embeddings':
    case 'gemini_embed':
      return 'embeddings';
    case 'moderations':
    case 'images':
    case 'speech':
    case 'transcriptions':
    case 'translations':
    case 'files':
    case 'batches':
    case 'rerank':
    case 'models':
    case 'count_tokens':
    case 'responses_state':
    case 'gemini_count_tokens':
    case 'other':
      return undefined;
  }
}

export class GatewayMetrics implements OutcomeSink, RecordListener {
  readonly registry = new Registry();
  readonly labels = new LabelBounds();
  private sources: MetricSources = {};
  private readonly requests: KeyedCounter<'status' | 'route' | 'backend' | 'workload' | 'error_code'>;
  /** Read by their gauges when scraped: a plain count costs a request less than a gauge's inc/dec. */
  private inflightNow = 0;
  private streamsNow = 0;
  private readonly reloads: Counter<'result'>;
  private readonly reloadSeconds: Histogram;
  private readonly generation: Gauge;
  /** Full collections run when the process went idle after traffic (core/idle-gc.ts). */
  readonly idleCollections: Counter;
  private readonly overhead: KeyedHistogram<'route' | 'backend'>;
  private readonly downstream: KeyedHistogram<'route' | 'backend'>;
  private readonly upstream: KeyedHistogram<'route' | 'backend'>;
  private readonly tokens: KeyedHistogram<GenAiLabel | 'gen_ai_token_type'>;
  private readonly duration: KeyedHistogram<GenAiLabel | 'error_type'>;
  private readonly ttft: KeyedHistogram<GenAiLabel>;
  private readonly tpot: KeyedHistogram<GenAiLabel>;
  private readonly drift: KeyedHistogram<'gen_ai_request_model' | 'gen_ai_token_type'>;
  private readonly audit: KeyedCounter<'gen_ai_request_model' | 'gen_ai_token_type' | 'counted_by'>;
  private readonly records: KeyedCounter<'usage_source'>;
  /** records' series, held: one per usage source. */
  private readonly recordsBySource = new Map<UsageSource, CounterSeries>();
  private readonly cost: KeyedCounter<'workload' | 'gen_ai_request_model'>;
  private readonly clientCost: KeyedCounter<GenAiLabel | 'key' | 'team'>;
  /** The latency histograms' series of every route and backend seen (both bounded, labels.ts). */
  private readonly byRoute = new Map<string, Map<string, RouteSeries>>();
  /** Every GenAI label set seen (bounded like the labels themselves), by its values joined. */
  private readonly genAi = new Map<string, GenAiSeries>();
  /** Series found when the request finished, reused when its record completes. */
  private readonly pendingSeries = new WeakMap<RequestOutcome, GenAiSeries>();
  /** The model label of completed records whose drift audit may still come (recordAudited). */
  private readonly auditModels = new WeakMap<RequestOutcome, string>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'tollgate_process_' });
    // prom-client names these gauges …_total, which Prometheus's conventions (and promtool check
    // metrics) reserve for counters; the handle/request/resource counts are of little use anyway.
    for (const n of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) this.registry.removeSingleMetric(`tollgate_process_${n}`);
    this.requests = new KeyedCounter(this.registry, {
      name: 'tollgate_requests_total',
      help: 'Requests finished, by status, route, backend, workload and gateway error code.',
      labelNames: ['status', 'route', 'backend', 'workload', 'error_code'],
    });
    const count = (read: () => number) =>
      function (this: Gauge): void {
        this.set(read());
      };
    new Gauge({ name: 'tollgate_requests_in_flight', help: 'Requests being served now.', registers, collect: count(() => this.inflightNow) });
    new Gauge({ name: 'tollgate_streams_in_flight', help: 'Streamed responses (stream: true) being proxied now.', registers, collect: count(() => this.streamsNow) });
    this.reloads = new Counter({ name: 'tollgate_config_reloads_total', help: 'Configuration loads, by result (applied or rejected).', labelNames: ['result'], registers });
    this.reloadSeconds = new Histogram({
      name: 'tollgate_config_reload_duration_seconds',
      help: 'Time to read, compile and swap in a configuration.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.generation = new Gauge({ name: 'tollgate_config_generation', help: 'The configuration generation serving new requests.', registers });
    this.idleCollections = new Counter({
      name: 'tollgate_idle_collections_total',
      help: 'Full garbage collections run after traffic once no request was in flight for a while (memory handed back).',
      registers,
    });
    this.overhead = new KeyedHistogram(this.registry, {
      name: 'tollgate_gateway_overhead_seconds',
      help: 'Time the gateway added to a request: downstream duration minus upstream duration.',
      labelNames: ['route', 'backend'],
      buckets: OVERHEAD_BUCKETS,
    });
    this.downstream = new KeyedHistogram(this.registry, {
      name: 'tollgate_downstream_duration_seconds',
      help: 'Client-facing duration of proxied requests: arrival to the last byte sent.',
      labelNames: ['route', 'backend'],
      buckets: LATENCY_BUCKETS,
    });
    this.upstream = new KeyedHistogram(this.registry, {
      name: 'tollgate_upstream_duration_seconds',
      help: 'Time spent in upstream attempts of proxied requests: request sent to last byte received.',
      labelNames: ['route', 'backend'],
      buckets: LATENCY_BUCKETS,
    });
    this.tokens = new KeyedHistogram(this.registry, {
      name: 'gen_ai_client_token_usage_token',
      help: 'Tokens used per request, by token type (input includes cached_input and cache_creation_input; output includes reasoning).',
      labelNames: [...GENAI_LABELS, 'gen_ai_token_type'],
      buckets: TOKEN_BUCKETS,
    });
    this.duration = new KeyedHistogram(this.registry, {
      name: 'gen_ai_server_request_duration_seconds',
      help: 'GenAI request duration as the client saw it; error_type is set on failures.',
      labelNames: [...GENAI_LABELS, 'error_type'],
      buckets: DURATION_BUCKETS,
    });
    this.ttft = new KeyedHistogram(this.registry, {
      name: 'gen_ai_server_time_to_first_token_seconds',
      help: 'Time from the request to the first streamed byte sent to the client, successful streams.',
      labelNames: [...GENAI_LABELS],
      buckets: TTFT_BUCKETS,
    });
    this.tpot = new KeyedHistogram(this.registry, {
      name: 'gen_ai_server_time_per_output_token_seconds',
      help: 'Time per output token after the first, successful streams.',
      labelNames: [...GENAI_LABELS],
      buckets: TPOT_BUCKETS,
    });
    this.drift = new KeyedHistogram(this.registry, {
      name: 'tollgate_token_drift_ratio',
      help: "Per request, (gateway count - backend-reported) / backend-reported, for input and output tokens.",
      labelNames: ['gen_ai_request_model', 'gen_ai_token_type'],
      buckets: DRIFT_BUCKETS,
    });
    this.audit = new KeyedCounter(this.registry, {
      name: 'tollgate_token_audit_tokens_total',
      help: 'Tokens of requests counted by both the backend and the gateway, by who counted (the drift audit totals).',
      labelNames: ['gen_ai_request_model', 'gen_ai_token_type', 'counted_by'],
    });
    this.records = new KeyedCounter(this.registry, {
      name: 'tollgate_usage_records_total',
      help: 'Usage records completed, by where the billed usage came from (backend, gateway count, estimate, none).',
      labelNames: ['usage_source'],
    });
    this.cost = new KeyedCounter(this.registry, {
      name: 'tollgate_cost_units_total',
      help: "Cost at the gateway's base rates (--rates), by workload and model.",
      labelNames: ['workload', 'gen_ai_request_model'],
    });
    this.clientCost = new KeyedCounter(this.registry, {
      name: 'gen_ai_client_cost_total',
      help: "Cost of requests at the rates file's base prices (--rates), in its currency; key and team name the virtual key used (capped).",
      labelNames: [...GENAI_LABELS, 'key', 'team'],
    });
    defineCollectedMetrics(this.registry, () => this.sources);
  }

  /** Wires the gauges read at scrape time (upstream pools, accounting backlog, ledger, sinks). */
  setSources(s: MetricSources): void {
    this.sources = { ...this.sources, ...s };
  }

  // ---- outcome sink -------------------------------------------------------------------------------

  requestStarted(_gen: Generation | undefined): void {
    this.inflightNow++;
  }

  streamStarted(): void {
    this.streamsNow++;
  }

  requestFinished(o: RequestOutcome, gen: Generation | undefined): void {
    this.inflightNow--;
    if (o.stream) this.streamsNow--;
    const workload = this.labels.workload(o.workload, gen);
    const route = this.labels.route(o.routeKey);
    const backend = this.labels.backend(o.backendKey);
    const rb = this.routeSeries(route, backend);
    this.requestSeries(rb, o, route, backend, workload).inc();
    if (o.upstreamMs !== undefined && !o.clientAborted) {
      rb.downstream.observe(o.durationMs / 1000);
      rb.upstream.observe(o.upstreamMs / 1000);
      rb.overhead.observe(Math.max(0, o.durationMs - o.upstreamMs) / 1000);
    }
    const op = genAiOperation(o.operation);
    if (op === undefined || o.routeKey === undefined) return;
    const ok = o.status >= 200 && o.status < 300 && o.errorCode === undefined;
    const series = this.genAiSeries(
      this.labels.model(o.originalModel, gen, ok),
      this.labels.model(o.requestModel ?? o.originalModel, gen, ok),
      this.labels.model(o.responseModel, gen, ok),
      o.provider ?? '',
      op,
      workload,
      route,
      backend,
    );
    this.pendingSeries.set(o, series);
    if (ok) series.duration.observe(o.durationMs / 1000);
    else this.duration.observe({ ...series.labels, error_type: o.errorCode ?? (o.clientAborted ? 'client_aborted' : String(o.status)) }, o.durationMs / 1000);
    if (ok && o.stream && o.ttfbMs !== undefined) series.ttft.observe(o.ttfbMs / 1000);
  }

  private routeSeries(route: string, backend: string): RouteSeries {
    let byBackend = this.byRoute.get(route);
    if (byBackend === undefined) this.byRoute.set(route, (byBackend = new Map<string, RouteSeries>()));
    let found = byBackend.get(backend);
    if (found === undefined) {
      const labels = { route, backend };
      found = { downstream: this.downstream.seriesOf(labels), upstream: this.upstream.seriesOf(labels), overhead: this.overhead.seriesOf(labels), ok: new Map() };
      byBackend.set(backend, found);
    }
    return found;
  }

  /** The request's series in tollgate_requests_total; a 200's is held, found without building a key. */
  private requestSeries(rb: RouteSeries, o: RequestOutcome, route: string, backend: string, workload: string): CounterSeries {
    if (o.status !== 200 || o.errorCode !== undefined) {
      return this.requests.seriesOf({ status: String(o.status), route, backend, workload, error_code: o.errorCode ?? '' });
    }
    let found = rb.ok.get(workload);
    if (found === undefined) rb.ok.set(workload, (found = this.requests.seriesOf({ status: '200', route, backend, workload, error_code: '' })));
    return found;
  }

  /** Arguments in GENAI_LABELS order. */
  private genAiSeries(...values: string[]): GenAiSeries {
    // \u0001 cannot occur in a label value that came through HTTP headers or the config.
    const key = values.join('\u0001');
    let found = this.genAi.get(key);
    if (found === undefined) {
      const labels = Object.fromEntries(GENAI_LABELS.map((n, i) => [n, values[i] ?? ''])) as GenAiLabels;
      const tokens = Object.fromEntries(TOKEN_TYPES.map((t) => [t, this.tokens.seriesOf({ ...labels, gen_ai_token_type: t })]));
      found = {
        labels,
        duration: this.duration.seriesOf(labels),
        ttft: this.ttft.seriesOf(labels),
        tpot: this.tpot.seriesOf(labels),
        tokens: tokens as Record<TokenType, HistogramSeries>,
      };
      this.genAi.set(key, found);
    }
    return found;
  }

  // ---- usage records --------------------------------------------------------------------------------

  recordCompleted(r: UsageRecord, o: RequestOutcome): void {
    let bySource = this.recordsBySource.get(r.usageSource);
    if (bySource === undefined) this.recordsBySource.set(r.usageSource, (bySource = this.records.seriesOf({ usage_source: r.usageSource })));
    bySource.inc();
    const series = this.pendingSeries.get(o);
    if (series === undefined) return;
    this.pendingSeries.delete(o);
    const labels = series.labels;
    if (r.usageSource !== 'none') {
      for (const t of TOKEN_TYPES) {
        const n = usageByType(r.usage, t);
        // input and output always (one observation per request); the detail types when present.
        if (n > 0 || t === 'input' || t === 'output') series.tokens[t].observe(n);
      }
    }
    const ok = r.status >= 200 && r.status < 300 && r.errorCode === '';
    if (ok && r.stream && r.ttftMs !== undefined && r.usage.output > 1) {
      series.tpot.observe((r.durationMs - r.ttftMs) / 1000 / (r.usage.output - 1));
    }
    if (r.backendUsage !== undefined) this.auditModels.set(o, labels.gen_ai_request_model);
    if (r.cost !== undefined && r.cost > 0) {
      this.cost.inc({ workload: labels.workload, gen_ai_request_model: labels.gen_ai_request_model }, r.cost);
      this.clientCost.inc({ ...labels, key: this.labels.apiKey(r.apiKey), team: this.labels.team(r.team) }, r.cost);
    }
  }

  /** The drift audit of a request the backend reported usage for and the gateway counted too. */
  recordAudited(r: UsageRecord, o: RequestOutcome): void {
    const model = this.auditModels.get(o);
    const be = r.backendUsage;
    const gw = r.gatewayCount;
    if (model === undefined || be === undefined || gw === undefined) return;
    this.auditModels.delete(o);
    for (const [type, b, g] of [
      ['input', be.input, gw.input],
      ['output', be.output, gw.output],
    ] as const) {
      if (b === 0 && g === 0) continue;
      this.audit.inc({ gen_ai_request_model: model, gen_ai_token_type: type, counted_by: 'backend' }, b);
      this.audit.inc({ gen_ai_request_model: model, gen_ai_token_type: type, counted_by: 'gateway' }, g);
      if (b > 0) this.drift.observe({ gen_ai_request_model: model, gen_ai_token_type: type }, (g - b) / b);
    }
  }

  // ---- control plane --------------------------------------------------------------------------------

  configLoaded(result: 'applied' | 'rejected', seconds: number, generation?: number): void {
    this.reloads.inc({ result });
    this.reloadSeconds.observe(seconds);
    if (generation !== undefined) this.generation.set(generation);
  }

  metricsText(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
