// The config generations one gateway process serves: each compiled config (at startup, on a watched
// change, or on the primary's word) is built into a new generation off to the side and swapped in
// with one assignment; requests already running keep the generation they started on, and the
// upstream pools that neither the serving generation nor one with running requests uses are closed
// once those requests end. Also the outcome of the last reload, which the admin pages show.
//
// Split from gateway.ts, which owns the process (listeners, telemetry, readiness, shutdown) and
// hands this its inputs explicitly: the slot the pipeline reads the serving generation from, the
// upstream registry every generation's pools come from, and where token encodings are loaded.
import { formatDiagnostics, type ConfigResult } from '../config/index.js';
import { nowMs } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { Limits } from '../limits/index.js';
import { buildGeneration, type Generation } from '../pipeline/generation.js';
import type { GatewayRuntime } from '../pipeline/handler.js';
import type { GatewayMetrics } from '../telemetry/metrics.js';
import { loadTokenizer } from '../tokenizer/index.js';
import type { BackendUpstream, UpstreamRegistry } from '../upstream/pools.js';
import { limitNeeds, RESERVATION_ENCODINGS } from './config-needs.js';

/** What the last config change came to (the dashboard and the config dump show it). */
export interface ReloadOutcome {
  readonly at: string;
  readonly result: 'applied' | 'rejected';
  readonly errors: number;
}

export interface GenerationsDeps {
  /** Where new requests find the generation they start on (the pipeline's runtime). */
  readonly serving: Pick<GatewayRuntime, 'generation'>;
  readonly registry: UpstreamRegistry;
  readonly metrics: GatewayMetrics;
  readonly limits: Limits;
  readonly logger: Logger;
  /** Id of the first generation built. */
  readonly firstId: number;
  /** Loads token encodings that readiness waits for (a failure only makes counting lazy). */
  readonly loadEncodings: (loading: Promise<unknown>) => void;
}

export class Generations {
  private nextId: number;
  /** Running requests per generation; a generation leaves the map when its last one ends. */
  private readonly running = new Map<Generation, number>();
  private last: ReloadOutcome | undefined;

  constructor(private readonly deps: GenerationsDeps) {
    this.nextId = deps.firstId;
  }

  get lastReload(): ReloadOutcome | undefined {
    return this.last;
  }

  /** Serves `result` as generation `id` (a worker, told by the primary which id the change got). */
  applyAs(id: number, result: ConfigResult, startedMs: number, trigger: string): void {
    this.nextId = id;
    this.apply(result, startedMs, trigger);
  }

  /** Serves `result` as the next generation, or logs why not and keeps the current one serving. */
  apply(result: ConfigResult, startedMs: number, trigger: string): void {
    const { logger: log, metrics, serving } = this.deps;
    if (result.config === undefined) {
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      metrics.configLoaded('rejected', (nowMs() - startedMs) / 1000);
      this.last = { at: new Date().toISOString(), result: 'rejected', errors: errors.length };
      log.error('config change rejected; the previous config keeps serving', {
        trigger,
        errors: errors.length,
        report: formatDiagnostics(result.diagnostics),
      });
      return;
    }
    const gen = buildGeneration(this.nextId++, result.config, this.deps.registry);
    const previous = serving.generation;
    serving.generation = gen;
    const seconds = (nowMs() - startedMs) / 1000;
    metrics.configLoaded('applied', seconds, gen.id);
    this.last = { at: new Date().toISOString(), result: 'applied', errors: 0 };
    const warnings = result.diagnostics.filter((d) => d.severity === 'warning');
    log.info(previous === undefined ? 'config loaded' : 'config reloaded', {
      trigger,
      generation: gen.id,
      routes: gen.config.routes.length,
      rules: gen.router.ruleCount,
      backends: gen.config.backends.size,
      warnings: warnings.length,
      fingerprint: gen.config.fingerprint.slice(0, 12),
      ms: Math.round(seconds * 1000 * 100) / 100,
    });
    for (const w of warnings) log.warn('config warning', { file: w.file, line: w.line, message: w.message });
    this.prepareLimits(gen);
    if (previous !== undefined) this.retireUnusedPools();
  }

  /** A request started on `gen` (undefined: before any config loaded). */
  requestStarted(gen: Generation | undefined): void {
    if (gen !== undefined) this.running.set(gen, (this.running.get(gen) ?? 0) + 1);
  }

  /** A request on `gen` ended; the last one on a replaced generation lets its unused pools close. */
  requestFinished(gen: Generation | undefined): void {
    if (gen === undefined) return;
    const n = (this.running.get(gen) ?? 1) - 1;
    if (n <= 0) {
      this.running.delete(gen);
      if (gen !== this.deps.serving.generation) this.retireUnusedPools();
    } else this.running.set(gen, n);
  }

  /** Warn when global rules have no Redis to share state; load the tokenizers reservations need. */
  private prepareLimits(gen: Generation): void {
    const needs = limitNeeds(gen.config);
    if (needs.shared && this.deps.limits.redis === undefined) {
      this.deps.logger.warn('global rate limits and quotas are enforced per replica: no Redis is configured (--redis)', { generation: gen.id });
    }
    if (needs.reserve) this.deps.loadEncodings(Promise.all(RESERVATION_ENCODINGS.map((e) => loadTokenizer(e))));
  }

  /** Close pools that neither the current generation nor one with running requests uses. */
  private retireUnusedPools(): void {
    const live: BackendUpstream[] = [];
    const current = this.deps.serving.generation;
    if (current !== undefined) live.push(...current.upstreams.values());
    for (const [gen, n] of this.running) if (n > 0 && gen !== current) live.push(...gen.upstreams.values());
    void this.deps.registry.retainOnly(live);
  }
}
