// One scrape for an instance of several workers. The primary asks every worker for its registry as
// JSON and merges them: counters and histograms are summed, gauges summed unless they mean a level
// (budget left: the smallest). Config reload metrics and the CPU/worker gauges are the primary's own.
// A worker that exits leaves its last counters and histograms behind in `retired`, so the instance's
// totals never go backwards when a worker is restarted.
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import type { CgroupCpu } from '../cluster/cgroup.js';
import type { LeaseEvent } from '../cluster/store-host.js';
import { KEY_BUDGET_GAUGE, TEAM_BUDGET_GAUGE } from './budget-metrics.js';
import { registerCpuMetrics } from './cpu-metrics.js';

export type MetricsSnapshot = Array<MetricObjectWithValues<MetricValue<string>>>;

/** Levels, not amounts: summing the workers' views would overstate them. */
const MIN_OF_WORKERS = new Set([
  'tollgate_rate_limit_remaining',
  'tollgate_quota_remaining_tokens',
  'tollgate_process_start_time_seconds',
  TEAM_BUDGET_GAUGE,
  KEY_BUDGET_GAUGE,
]);

export class InstanceMetrics {
  readonly registry = new Registry();
  private readonly restarts: Counter<'reason'>;
  private readonly reloads: Counter<'result'>;
  private readonly reloadSeconds: Histogram;
  private readonly generation: Gauge;
  private readonly leases: Counter<'event'>;
  private readonly messages: Counter<'direction'>;
  private readonly pickerMessages: Counter<'direction'>;
  private retired: MetricsSnapshot = [];

  constructor(cgroup: CgroupCpu | undefined, workers: () => number, leasesHeld: () => number = () => 0) {
    const registers = [this.registry];
    registerCpuMetrics(this.registry, cgroup, workers);
    this.restarts = new Counter({ name: 'tollgate_worker_restarts_total', help: 'Workers restarted after they exited unexpectedly, by how (signal or exit code).', labelNames: ['reason'], registers });
    this.reloads = new Counter({ name: 'tollgate_config_reloads_total', help: 'Configuration loads, by result (applied or rejected).', labelNames: ['result'], registers });
    this.reloadSeconds = new Histogram({
      name: 'tollgate_config_reload_duration_seconds',
      help: 'Time to read, compile and swap in a configuration.',
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.generation = new Gauge({ name: 'tollgate_config_generation', help: 'The configuration generation serving new requests.', registers });
    this.leases = new Counter({
      name: 'tollgate_local_limit_leases_total',
      help: 'Shared local limits across workers: leases granted to workers, recalls of unused leases before a refusal, admissions the primary decided itself, leases of dead workers left counted as used.',
      labelNames: ['event'],
      registers,
    });
    this.messages = new Counter({
      name: 'tollgate_local_limit_messages_total',
      help: 'Messages between the primary and its workers about shared local limits (admissions, settlements, leases), by direction.',
      labelNames: ['direction'],
      registers,
    });
    this.pickerMessages = new Counter({
      name: 'tollgate_picker_share_messages_total',
      help: "Messages between the primary and its workers carrying the endpoint pickers' shared state (batched, at most one per worker an interval), by direction.",
      labelNames: ['direction'],
      registers,
    });
    new Gauge({
      name: 'tollgate_local_limit_leases_held',
      help: 'Leases of local limit budgets out with workers now.',
      registers,
      collect() {
        this.set(leasesHeld());
      },
    });
  }

  leaseEvent(event: LeaseEvent): void {
    this.leases.inc({ event });
  }

  limitMessage(direction: 'to_primary' | 'to_worker'): void {
    this.messages.inc({ direction });
  }

  pickerMessage(direction: 'to_primary' | 'to_worker'): void {
    this.pickerMessages.inc({ direction });
  }

  configLoaded(result: 'applied' | 'rejected', seconds: number, generation?: number): void {
    this.reloads.inc({ result });
    this.reloadSeconds.observe(seconds);
    if (generation !== undefined) this.generation.set(generation);
  }

  workerRestarted(reason: string): void {
    this.restarts.inc({ reason });
  }

  /** Keeps what an exited worker counted (its last snapshot) in the instance's totals. */
  retire(last: MetricsSnapshot): void {
    // The type is the exposition's string at run time, whatever prom-client's typings say.
    const cumulative = last.filter((m) => ['counter', 'histogram'].includes(String(m.type)));
    if (cumulative.length === 0) return;
    this.retired = this.retired.length === 0 ? cumulative : mergeSnapshots([this.retired, cumulative]);
  }

  /** The exposition of the whole instance from the live workers' snapshots. */
  async text(live: ReadonlyArray<readonly [worker: number, snapshot: MetricsSnapshot]>): Promise<string> {
    const own = await this.registry.getMetricsAsJSON();
    const ownNames = new Set(own.map((m) => m.name));
    const workers = [this.retired, ...live.map(([, snap]) => snap)].map((snap) => snap.filter((m) => !ownNames.has(m.name)).map(withAggregator));
    // How the connections spread: each worker's own request count (it restarts from 0 with the worker).
    const perWorker = live.map(([worker, snap]) => ({
      labels: { worker },
      value: (snap.find((m) => m.name === 'tollgate_requests_total')?.values ?? []).reduce((a, v) => a + v.value, 0),
    }));
    const spread = { name: 'tollgate_worker_requests_total', help: 'Requests each worker served since it started.', type: 'counter', aggregator: 'sum', values: perWorker };
    return AggregatorRegistry.aggregate([[...own, spread], ...workers]).metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

function withAggregator(m: MetricObjectWithValues<MetricValue<string>>): MetricObjectWithValues<MetricValue<string>> {
  return MIN_OF_WORKERS.has(m.name) ? { ...m, aggregator: 'min' } : m;
}

function mergeSnapshots(parts: readonly MetricsSnapshot[]): MetricsSnapshot {
  // aggregate() returns a Registry of plain wrappers whose get() is synchronous.
  const reg = AggregatorRegistry.aggregate([...parts]);
  return reg.getMetricsAsArray().map((m) => (m as unknown as { get(): MetricObjectWithValues<MetricValue<string>> }).get());
}
