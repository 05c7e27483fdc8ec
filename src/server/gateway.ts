// The gateway process: config → generation → listeners, hot reload, graceful shutdown.
//
// Reload: the watcher (or, in a worker, the primary) hands over a compiled config, and
// generations.ts builds it into a new generation and swaps it in; requests already running keep the
// generation they started on. This file wires the process together: telemetry, limits, virtual
// keys, the data and admin listeners, readiness, and the order things are closed in at shutdown.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { configDump, formatDiagnostics, loadConfig, watchConfig, type ConfigWatcher, type LoadOptions } from '../config/index.js';
import { detectCpuCgroup } from '../cluster/cgroup.js';
import { nowMs } from '../core/clock.js';
import { EndOfPass } from '../core/end-of-pass.js';
import type { Logger } from '../core/log.js';
import type { RequestOutcome } from '../core/outcome.js';
import type { Generation } from '../pipeline/generation.js';
import { handleRequest, type GatewayRuntime, type OutcomeSink } from '../pipeline/handler.js';
import type { CountingPlan } from '../pipeline/proxy-types.js';
import { Limits, type FailureMode, type LimitsOptions, type LocalStore } from '../limits/index.js';
import { McpGateway } from '../mcp/gateway.js';
import { McpMetrics } from '../telemetry/mcp-metrics.js';
import { Telemetry, type TelemetryInfo, type TelemetryOptions } from '../telemetry/hub.js';
import { attachCredentialTelemetry } from '../telemetry/credential-metrics.js';
import { registerCpuMetrics } from '../telemetry/cpu-metrics.js';
import { attachPickerTelemetry } from '../telemetry/picker-metrics.js';
import { GatewayMetrics } from '../telemetry/metrics.js';
import { RateLimitMetrics } from '../telemetry/rate-limit-metrics.js';
import { closeMcpPools } from '../upstream/mcp-http.js';
import { UpstreamRegistry } from '../upstream/pools.js';
import { KeyApi } from '../keys/http.js';
import { VirtualKeys } from '../keys/service.js';
import type { StateStore } from '../state/store.js';
import { BudgetMetrics } from '../telemetry/budget-metrics.js';
import { startAdmin, type AdminServer } from './admin.js';
import { keysDisabled } from './admin-keys.js';
import { renderStatusPage, type WorkersTelemetry } from './status-page.js';
import { DEFAULT_IDLE_COLLECTION, IdleCollector, idleCollectionFromEnv, type IdleCollectionOptions } from '../core/idle-gc.js';
import { countingEncodings } from './config-needs.js';
import { Generations } from './generations.js';
import { startDataListener, type DataListener } from './listener.js';

export interface GatewayOptions {
  readonly configPaths: readonly string[];
  readonly secretsDir?: string | undefined;
  readonly listen: { host: string; port: number };
  /** Undefined: no admin listener (a worker of several: the primary runs the instance's). */
  readonly admin: { host: string; port: number } | undefined;
  readonly logger: Logger;
  /** How long shutdown waits for in-flight requests before cutting them. */
  readonly drainTimeoutMs?: number;
  readonly watch?: boolean;
  readonly maxHeaderBytes?: number;
  /** Usage ledger, database sink, access log, traces, tokenizer threads (all optional). */
  readonly telemetry?: TelemetryOptions;
  /** Redis for global rate limits and quotas shared across replicas. */
  readonly redis?: LimitsOptions['redis'];
  /** What a request gets when the rate-limit store is unreachable (default open, like Envoy). */
  readonly rateLimitFailureMode?: FailureMode;
  /** Virtual key budgets when the limit store is unreachable; closed (refuse) unless set. */
  readonly budgetFailureMode?: FailureMode;
  /** Store of local limits; default in this process (a worker uses the instance's, in the primary). */
  readonly localLimits?: LocalStore;
  /** Id of the first config generation (a worker starts at the instance's current one). */
  readonly firstGeneration?: number;
  /** Durable store of virtual keys and their spend; undefined: no virtual keys. Closed at shutdown. */
  readonly state?: StateStore | undefined;
  /** The key API's admin token (`--admin-token-file`, TOLLGATE_ADMIN_TOKEN). */
  readonly adminToken?: string | undefined;
  /**
   * Whether this process rebuilds in-process budget counters from the durable spend (default true;
   * a worker of several leaves it to the primary, where those counters live).
   */
  readonly rebuildBudgets?: boolean;
  /** When memory is handed back after a burst (core/idle-gc.ts); defaults and TOLLGATE_IDLE_GC_MS when absent. */
  readonly idleCollection?: Partial<IdleCollectionOptions>;
}


export class ConfigError extends Error {
  constructor(readonly report: string) {
    super('the configuration is invalid');
  }
}

export class Gateway implements OutcomeSink {
  readonly metrics = new GatewayMetrics();
  private telemetry!: Telemetry;
  private readonly registry = new UpstreamRegistry();
  private readonly runtime: GatewayRuntime;
  /** The generations served, the last reload's outcome, and retiring pools no generation uses. */
  private readonly generations: Generations;
  private data: DataListener | undefined;
  private admin: AdminServer | undefined;
  private watcher: ConfigWatcher | undefined;
  private inflight = 0;
  /** Ends the responses that finish together (afterPass). */
  private readonly endOfPass: EndOfPass;
  /** Requests started since the process began (the idle collector tells traffic from quiet by it). */
  private started = 0;
  private idleCollector: IdleCollector | undefined;
  private drained: (() => void) | undefined;
  /** Token encodings still loading; readiness waits for them (loadEncodings). */
  private encodingsLoading = 0;

  readonly limits: Limits;
  /** Credential refresh metrics and log lines (src/telemetry/credential-metrics.ts). */
  private readonly detachCredentials: () => void;

  private constructor(private readonly opts: GatewayOptions) {
    this.detachCredentials = attachCredentialTelemetry(this.metrics.registry, opts.logger);
    // A worker of several leaves these to the primary, which reports them for the instance.
    if (opts.admin !== undefined) registerCpuMetrics(this.metrics.registry, detectCpuCgroup(), () => 1);
    attachPickerTelemetry(this.metrics.registry, () => this.registry.pickerStats());
    this.limits = new Limits({
      redis: opts.redis,
      failureMode: opts.rateLimitFailureMode ?? 'open',
      observer: new RateLimitMetrics(this.metrics.registry),
      logger: opts.logger,
      ...(opts.localLimits === undefined ? {} : { local: opts.localLimits }),
    });
    const mcp = new McpGateway({ logger: opts.logger, limits: this.limits, metrics: new McpMetrics(this.metrics.registry), onToolCall: (r) => this.telemetry.mcpToolCall({ ...r }),
      tracing: () => this.runtime.tracing,
      onSpan: (f) => this.telemetry.mcpSpan(f),
      keys: () => this.runtime.keys,
    });
    this.runtime = { generation: undefined, draining: false, tracing: false, sink: this, limits: this.limits, logger: opts.logger, mcp };
    this.endOfPass = new EndOfPass((err) => opts.logger.error('ending a response failed', { err }));
    this.generations = new Generations({
      serving: this.runtime,
      registry: this.registry,
      metrics: this.metrics,
      limits: this.limits,
      logger: opts.logger,
      firstId: opts.firstGeneration ?? 1,
      loadEncodings: (loading) => this.loadEncodings(loading),
    });
  }

  static async start(opts: GatewayOptions): Promise<Gateway> {
    const gw = new Gateway(opts);
    const loadOpts: LoadOptions = { paths: opts.configPaths, secretsDir: opts.secretsDir, purpose: 'serve' };
    const t0 = nowMs();
    const first = await loadConfig(loadOpts);
    if (first.config === undefined) throw new ConfigError(formatDiagnostics(first.diagnostics));
    gw.telemetry = await Telemetry.start(opts.telemetry ?? {}, opts.logger, () => gw.runtime.generation, gw.metrics);
    gw.runtime.tracing = gw.telemetry.tracing;
    gw.loadEncodings(gw.telemetry.accountant.warm(countingEncodings(first.config)));
    gw.generations.apply(first, t0, 'startup');
    try {
      if (opts.state !== undefined) {
        gw.runtime.keys = await VirtualKeys.open(
          {
            state: opts.state,
            rates: opts.telemetry?.rates,
            logger: opts.logger,
            failure: { rates: opts.rateLimitFailureMode ?? 'open', budgets: opts.budgetFailureMode ?? 'closed' },
            observer: new BudgetMetrics(gw.metrics.registry, gw.metrics.labels),
            rebuildLocal: opts.rebuildBudgets !== false,
          },
          gw.limits,
        );
      }
      gw.data = await startDataListener(
        {
          host: opts.listen.host,
          port: opts.listen.port,
          maxHeaderBytes: opts.maxHeaderBytes ?? 64 * 1024,
          keepAliveTimeoutMs: 60_000,
          headersTimeoutMs: 30_000,
          maxConcurrentStreams: 1_000,
          logger: opts.logger,
        },
        (req, res, conn) => handleRequest(gw.runtime, req, res, conn),
      );
      if (opts.admin !== undefined) {
        gw.admin = await startAdmin(opts.admin.host, opts.admin.port, {
          ready: () => gw.readiness(),
          configDump: () => gw.dump(),
          metrics: async () => ({ contentType: gw.metrics.contentType, text: await gw.metrics.metricsText() }),
          dashboard: () => gw.dashboard(),
          keys: gw.keyApi(),
        });
      }
    } catch (err) {
      await gw.runtime.keys?.close();
      await opts.state?.close();
      gw.data?.destroyAll();
      gw.data?.stopAccepting();
      await gw.registry.closeAll(true);
      await gw.telemetry.close();
      throw err;
    }
    gw.idleCollector = new IdleCollector(
      { ...DEFAULT_IDLE_COLLECTION, ...idleCollectionFromEnv(process.env), ...opts.idleCollection },
      { inflight: () => gw.inflight, started: () => gw.started },
      () => gw.metrics.idleCollections.inc(),
      opts.logger,
    );
    if (opts.watch !== false) {
      // The watcher compares against what is being served, so a change made while the gateway was
      // starting is applied rather than mistaken for the baseline.
      gw.watcher = watchConfig({ ...loadOpts, baseline: first }, (result, trigger) => gw.generations.apply(result, nowMs(), trigger));
      await gw.watcher.ready;
    }
    return gw;
  }

  get dataAddress(): { host: string; port: number } {
    return (this.data as DataListener).address;
  }

  get adminAddress(): { host: string; port: number } {
    return (this.admin as AdminServer).address;
  }

  get draining(): boolean {
    return this.runtime.draining;
  }

  private keyApi(): (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean> {
    const keys = this.runtime.keys;
    const state = this.opts.state;
    if (keys === undefined || state === undefined) return keysDisabled;
    const api = new KeyApi(keys.admin, state, this.opts.adminToken, this.opts.telemetry?.rates?.currency ?? '');
    return (req, res, path) => api.handle(req, res, path);
  }

  /** The dashboard page; with several workers, the primary passes every worker's telemetry. */
  dashboard(workers?: WorkersTelemetry): string {
    return renderStatusPage(this.runtime.generation, this.generations.lastReload, workers ?? this.telemetry.snapshot());
  }

  telemetryInfo(): TelemetryInfo {
    return this.telemetry.snapshot();
  }

  /**
   * Reloads the config from disk as generation `id` (a worker, told by the primary, which already
   * validated the change). False if the files no longer compile: the primary sees that change too.
   */
  async reloadAs(id: number): Promise<boolean> {
    const t0 = nowMs();
    const result = await loadConfig({ paths: this.opts.configPaths, secretsDir: this.opts.secretsDir, purpose: 'serve' });
    if (result.config === undefined) return false;
    this.generations.applyAs(id, result, t0, 'primary');
    return true;
  }

  get generation(): Generation | undefined {
    return this.runtime.generation;
  }

  /** Metrics, accounting (gateway token counts, usage ledger, database sink), access log, traces. */
  get observability(): Telemetry {
    return this.telemetry;
  }

  // ---- token encodings --------------------------------------------------------------------------

  /**
   * Readiness waits for `loading` (BPE rank tables take ~1 s to build): the first requests then get
   * exact admission estimates and their counts at once. A failure only makes counting lazy.
   */
  private loadEncodings(loading: Promise<unknown>): void {
    this.encodingsLoading++;
    loading
      .catch((err: unknown) => this.opts.logger.warn('loading a token encoding failed; it loads on first use instead', { err }))
      .finally(() => this.encodingsLoading--);
  }

  // ---- OutcomeSink ------------------------------------------------------------------------------

  requestStarted(gen: Generation | undefined): void {
    this.inflight++;
    this.started++;
    this.generations.requestStarted(gen);
    this.telemetry.requestStarted(gen);
  }

  streamStarted(): void {
    this.telemetry.streamStarted();
  }

  countingPlan(): CountingPlan {
    return this.telemetry.countingPlan();
  }

  get writesLedger(): boolean {
    return this.telemetry.writesLedger;
  }

  whenRecorded(done: () => void): void {
    this.telemetry.whenRecorded(done);
  }

  afterPass(done: () => void): void {
    if (this.inflight <= 1) done();
    else this.endOfPass.add(done);
  }

  requestFinished(outcome: RequestOutcome, gen: Generation | undefined): void {
    this.inflight--;
    this.generations.requestFinished(gen);
    this.telemetry.requestFinished(outcome, gen);
    // A shutdown waiting for the last request goes on once its ledger line is written: the response's
    // last bytes wait for that write too, and they go first (the shutdown resumes in a microtask).
    if (this.inflight === 0 && this.drained !== undefined) this.telemetry.whenRecorded(this.drained);
  }

  // ---- admin ------------------------------------------------------------------------------------

  readiness(): { ready: boolean; reason: string } {
    if (this.runtime.draining) return { ready: false, reason: 'shutting down' };
    if (this.runtime.generation === undefined) return { ready: false, reason: 'no configuration loaded' };
    const waiting = this.limits.notReadyReason(this.runtime.generation.config);
    if (waiting !== undefined) return { ready: false, reason: waiting };
    if (this.encodingsLoading > 0) return { ready: false, reason: 'loading the BPE token encodings' };
    return { ready: true, reason: `serving config generation ${this.runtime.generation.id}` };
  }

  private dump(): unknown {
    const gen = this.runtime.generation;
    if (gen === undefined) return { generation: null };
    return {
      generation: gen.id,
      activatedAt: new Date(gen.activatedAt).toISOString(),
      fingerprint: gen.config.fingerprint,
      files: gen.config.files,
      lastReload: this.generations.lastReload,
      config: configDump(gen.config),
      ignored: gen.config.ignored,
      warnings: gen.config.warnings,
    };
  }

  // ---- shutdown ---------------------------------------------------------------------------------

  /** Stop accepting, let running requests finish (bounded), then close everything. */
  async shutdown(): Promise<void> {
    if (this.runtime.draining) return;
    this.runtime.draining = true;
    this.idleCollector?.stop();
    await this.watcher?.close();
    this.data?.stopAccepting();
    this.runtime.mcp?.endStreams();
    const timeout = this.opts.drainTimeoutMs ?? 30_000;
    if (this.inflight > 0) {
      this.opts.logger.info('draining in-flight requests', { inflight: this.inflight, timeoutMs: timeout });
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeout);
        this.drained = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.data?.destroyAll();
    await this.registry.closeAll(this.inflight > 0);
    await closeMcpPools();
    await this.telemetry.close();
    await this.runtime.keys?.close();
    await this.opts.state?.close();
    await this.limits.close();
    await this.admin?.close();
    this.detachCredentials();
  }
}

