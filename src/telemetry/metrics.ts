// Gateway metrics (prom-client's home folder). Fed only by request outcomes and control-plane
// events; label values come from the config or closed sets, so cardinality stays bounded.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { RequestOutcome } from '../core/outcome.js';
import type { Generation } from '../pipeline/generation.js';
import type { OutcomeSink } from '../pipeline/handler.js';

export class GatewayMetrics implements OutcomeSink {
  readonly registry = new Registry();
  private readonly requests: Counter<'status' | 'route' | 'backend' | 'workload' | 'error_code'>;
  private readonly inflight: Gauge;
  private readonly reloads: Counter<'result'>;
  private readonly reloadSeconds: Histogram;
  private readonly generation: Gauge;
  private readonly overhead: Histogram;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tollgate_process_' });
    this.requests = new Counter({
      name: 'tollgate_requests_total',
      help: 'Requests finished, by status, route, backend, workload and gateway error code.',
      labelNames: ['status', 'route', 'backend', 'workload', 'error_code'],
      registers: [this.registry],
    });
    this.inflight = new Gauge({ name: 'tollgate_requests_in_flight', help: 'Requests being served now.', registers: [this.registry] });
    this.reloads = new Counter({
      name: 'tollgate_config_reloads_total',
      help: 'Configuration loads, by result (applied or rejected).',
      labelNames: ['result'],
      registers: [this.registry],
    });
    this.reloadSeconds = new Histogram({
      name: 'tollgate_config_reload_duration_seconds',
      help: 'Time to read, compile and swap in a configuration.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.registry],
    });
    this.generation = new Gauge({ name: 'tollgate_config_generation', help: 'The configuration generation serving new requests.', registers: [this.registry] });
    this.overhead = new Histogram({
      name: 'tollgate_gateway_overhead_seconds',
      help: 'Time the gateway added to a request: downstream duration minus upstream duration.',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1],
      registers: [this.registry],
    });
  }

  requestStarted(_gen: Generation | undefined): void {
    this.inflight.inc();
  }

  requestFinished(o: RequestOutcome, gen: Generation | undefined): void {
    this.inflight.dec();
    const workload = o.workload !== undefined && gen?.workloads.has(o.workload) === true ? o.workload : o.workload === undefined ? '' : 'unknown';
    this.requests.inc({
      status: String(o.status),
      route: o.routeKey ?? '',
      backend: o.backendKey ?? '',
      workload,
      error_code: o.errorCode ?? '',
    });
    if (o.upstreamMs !== undefined && !o.clientAborted) this.overhead.observe(Math.max(0, o.durationMs - o.upstreamMs) / 1000);
  }

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
