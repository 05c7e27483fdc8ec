// The primary of an instance of several workers (node:cluster). It owns the listening socket (the
// workers serve the connections it hands out, round robin), the admin listener, the config watcher
// and the instance's local limit buckets. It restarts a worker that dies, with backoff, and reports
// a crash loop; on shutdown it lets every worker drain and waits for them.
import cluster, { type Worker } from 'node:cluster';
import { formatDiagnostics, loadConfig, watchConfig, type ConfigResult, type ConfigWatcher, type LoadOptions } from '../config/index.js';
import type { RuntimeConfig } from '../config/types.js';
import { nowMs } from '../core/clock.js';
import { shareInstanceSeed } from '../core/instance-secret.js';
import type { Logger } from '../core/log.js';
import { startAdmin, type AdminServer } from '../server/admin.js';
import { ConfigError } from '../server/gateway.js';
import { InstanceMetrics, type MetricsSnapshot } from '../telemetry/instance-metrics.js';
import type { CgroupCpu } from './cgroup.js';
import { instanceAdmin } from './primary-admin.js';
import type { WorkersTelemetry } from '../server/status-page.js';
import { isMessage, type Question, type ToPrimary, type ToWorker, type WorkerState } from './protocol.js';
import { KeyApi } from '../keys/http.js';
import { KeyAdmin } from '../keys/admin.js';
import { KeyRegistry } from '../keys/registry.js';
import { liveSpend } from '../keys/service.js';
import type { StateStore } from '../state/store.js';
import { StoreHost } from './store-host.js';
import { PickerRelay } from './picker-relay.js';
import { SHARE_INTERVAL_MS, sharePrefillTokens } from '../upstream/pool/share.js';
import { WORKER_ENV } from './worker.js';

export interface PrimaryOptions {
  readonly configPaths: readonly string[];
  readonly secretsDir?: string | undefined;
  readonly listen: { host: string; port: number };
  readonly admin: { host: string; port: number };
  readonly logger: Logger;
  readonly drainTimeoutMs: number;
  readonly watch: boolean;
  readonly workers: number;
  readonly cgroup: CgroupCpu | undefined;
  /** Virtual keys: the primary serves their admin API and rebuilds the instance's budget counters. */
  readonly state?: StateStore | undefined;
  readonly adminToken?: string | undefined;
  /** The key API shows spend in this currency (the rates file's). */
  readonly currency?: string | undefined;
  /** With Redis the budget counters live there, and the workers rebuild them. */
  readonly sharedCounters?: boolean;
}

export interface Slot {
  readonly index: number;
  worker: Worker | undefined;
  listening: boolean;
  state: WorkerState | undefined;
  /** The worker's last metrics, kept for the instance's totals when it exits. */
  lastMetrics: MetricsSnapshot | undefined;
  startedAt: number;
  /** Exit times within the crash-loop window. */
  exits: number[];
  restartTimer: NodeJS.Timeout | undefined;
}

const CRASH_WINDOW_MS = 60_000;
const CRASH_LOOP_EXITS = 5;
const MAX_BACKOFF_MS = 30_000;
const METRICS_REFRESH_MS = 5_000;

export class Primary {
  readonly slots: Slot[] = [];
  readonly metrics: InstanceMetrics;
  readonly store: StoreHost;
  readonly pickers: PickerRelay;
  private answering = false;
  generation = 1;
  config: RuntimeConfig;
  lastReload: { at: string; result: 'applied' | 'rejected'; errors: number } | undefined;
  activatedAt = Date.now();
  shuttingDown = false;
  private port: number;
  private admin: AdminServer | undefined;
  private watcher: ConfigWatcher | undefined;
  private refresher: NodeJS.Timeout | undefined;
  private nextAsk = 1;
  private readonly asks = new Map<number, (value: unknown) => void>();
  keyApi: KeyApi | undefined;
  private startup: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private allExited: (() => void) | undefined;

  private constructor(
    readonly opts: PrimaryOptions,
    first: RuntimeConfig,
  ) {
    this.config = first;
    this.port = opts.listen.port;
    this.store = new StoreHost({
      workers: () => this.slots.flatMap((s) => (s.worker?.isConnected() === true ? [s.worker.id] : [])),
      recall: (id, keys) => {
        const w = cluster.workers?.[id];
        if (w === undefined) return;
        this.metrics.limitMessage('to_worker');
        this.send(w, { t: 'recall', keys });
      },
      wake: () => this.wakeAdmissions(),
      event: (e) => this.metrics.leaseEvent(e),
    });
    this.pickers = new PickerRelay({
      workers: () => this.slots.flatMap((s) => (s.worker?.isConnected() === true ? [s.worker.id] : [])),
      send: (id, batches) => {
        const w = cluster.workers?.[id];
        if (w === undefined) return;
        this.metrics.pickerMessage('to_worker');
        this.send(w, { t: 'picker', batches });
      },
      intervalMs: SHARE_INTERVAL_MS,
    });
    this.metrics = new InstanceMetrics(opts.cgroup, () => this.slots.filter((s) => s.listening).length, () => this.store.leasesHeld);
    for (let i = 0; i < opts.workers; i++) {
      this.slots.push({ index: i, worker: undefined, listening: false, state: undefined, lastMetrics: undefined, startedAt: 0, exits: [], restartTimer: undefined });
    }
  }

  static async start(opts: PrimaryOptions): Promise<Primary> {
    // Read again by each worker; a bad value stops the start here, once, with its message.
    sharePrefillTokens(process.env.TOLLGATE_PICKER_SHARE_PREFILL);
    shareInstanceSeed();
    const loadOpts: LoadOptions = { paths: opts.configPaths, secretsDir: opts.secretsDir, purpose: 'serve' };
    const t0 = nowMs();
    const first = await loadConfig(loadOpts);
    if (first.config === undefined) throw new ConfigError(formatDiagnostics(first.diagnostics));
    const p = new Primary(opts, first.config);
    p.metrics.configLoaded('applied', (nowMs() - t0) / 1000, p.generation);
    const state = opts.state;
    if (state !== undefined) {
      if (opts.sharedCounters !== true) {
        // One read of every budget is all the rebuild needs; the workers keep their own registries.
        const registry = await KeyRegistry.open(state, opts.logger);
        registry.close();
        p.store.store.settle(await liveSpend(registry, state, Date.now()), []);
      }
      p.keyApi = new KeyApi(new KeyAdmin(state), state, opts.adminToken, opts.currency ?? '');
    }
    p.admin = await startAdmin(opts.admin.host, opts.admin.port, instanceAdmin(p));
    try {
      await new Promise<void>((resolve, reject) => {
        p.startup = { resolve, reject };
        for (const s of p.slots) p.fork(s);
      });
    } catch (err) {
      await p.shutdown();
      throw err;
    }
    p.startup = undefined;
    p.refresher = setInterval(() => void p.workerMetrics(), METRICS_REFRESH_MS);
    p.refresher.unref();
    if (opts.watch) {
      p.watcher = watchConfig({ ...loadOpts, baseline: first }, (result, trigger) => p.apply(result, nowMs(), trigger));
      await p.watcher.ready;
    }
    return p;
  }

  get dataAddress(): { host: string; port: number } {
    return { host: this.opts.listen.host, port: this.port };
  }

  get adminAddress(): { host: string; port: number } {
    return (this.admin as AdminServer).address;
  }

  /** Sends a question to a worker; undefined if it does not answer in time (exiting, busy). */
  ask(slot: Slot, what: Question, telemetry?: WorkersTelemetry, timeoutMs = 2_000): Promise<unknown> {
    const w = slot.worker;
    if (w === undefined || !slot.listening || !w.isConnected()) return Promise.resolve(undefined);
    const id = this.nextAsk++;
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.asks.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.asks.set(id, (v) => {
        clearTimeout(t);
        resolve(v);
      });
      this.send(w, telemetry === undefined ? { t: 'ask', id, what } : { t: 'ask', id, what, telemetry });
    });
  }

  /** Every live worker's metrics (its last known ones if it does not answer). */
  async workerMetrics(): Promise<Array<readonly [number, MetricsSnapshot]>> {
    const all = await Promise.all(
      this.slots.map(async (s): Promise<readonly [number, MetricsSnapshot] | undefined> => {
        const m = (await this.ask(s, 'metrics')) as MetricsSnapshot | undefined;
        if (m !== undefined && s.worker !== undefined) s.lastMetrics = m;
        return s.worker === undefined || s.lastMetrics === undefined ? undefined : [s.index, s.lastMetrics];
      }),
    );
    return all.filter((x) => x !== undefined);
  }

  /** Every worker has started and serves the current generation. */
  readiness(): { ready: boolean; reason: string } {
    if (this.shuttingDown) return { ready: false, reason: 'shutting down' };
    const behind = this.slots.filter((s) => !s.listening || s.state?.generation !== this.generation || s.state.fingerprint !== this.config.fingerprint);
    if (behind.length > 0) {
      const what = behind.map((s) => {
        const on = s.state?.generation === this.generation ? `compiled generation ${this.generation} to another config fingerprint` : `on generation ${s.state?.generation ?? 'none'}`;
        return `worker ${s.index} ${s.worker === undefined ? 'restarting' : !s.listening ? 'starting' : on}`;
      });
      return { ready: false, reason: `${what.join(', ')}; the instance serves generation ${this.generation}` };
    }
    const waiting = this.slots.find((s) => s.state?.waiting != null);
    if (waiting !== undefined) return { ready: false, reason: `worker ${waiting.index}: ${waiting.state?.waiting ?? ''}` };
    return { ready: true, reason: `${this.slots.length} workers serving config generation ${this.generation}` };
  }

  // ---- workers ------------------------------------------------------------------------------

  private fork(slot: Slot): void {
    slot.restartTimer = undefined;
    slot.listening = false;
    slot.state = undefined;
    slot.lastMetrics = undefined;
    slot.startedAt = Date.now();
    const w = cluster.fork({ [WORKER_ENV.generation]: String(this.generation), [WORKER_ENV.index]: String(slot.index) });
    slot.worker = w;
    w.on('message', (m: unknown) => {
      if (isMessage<ToPrimary>(m)) this.onMessage(slot, w, m);
    });
    w.on('exit', (code, signal) => this.onExit(slot, w, code, signal));
  }

  private onMessage(slot: Slot, w: Worker, m: ToPrimary): void {
    switch (m.t) {
      case 'store':
        this.metrics.limitMessage('to_primary');
        this.store.take(w.id, m.ops);
        if (this.store.waiting > 0) this.wakeAdmissions();
        return;
      case 'picker':
        this.metrics.pickerMessage('to_primary');
        this.pickers.take(w.id, m.batch);
        return;
      case 'listening':
        slot.listening = true;
        this.pickers.joined(w.id);
        this.port = m.port;
        if (this.startup !== undefined && this.slots.every((s) => s.listening)) this.startup.resolve();
        return;
      case 'state': {
        const first = slot.state === undefined;
        slot.state = { generation: m.generation, fingerprint: m.fingerprint, draining: m.draining, waiting: m.waiting };
        // A worker that started while the config changed catches up here (once: a worker that could
        // not reload because the files changed again waits for that change, and /readyz says so).
        if (first && !this.shuttingDown && m.generation !== this.generation) this.send(w, { t: 'reload', generation: this.generation });
        return;
      }
      case 'reply':
        this.asks.get(m.id)?.(m.value);
        this.asks.delete(m.id);
        return;
    }
  }

  private wakeAdmissions(): void {
    if (this.answering) return;
    this.answering = true;
    // setImmediate runs after every pipe that was readable in this turn has been read.
    setImmediate(() => {
      this.answering = false;
      for (const [id, { results, grants }] of this.store.admitQueued()) {
        const w = cluster.workers?.[id];
        if (w === undefined) continue;
        this.metrics.limitMessage('to_worker');
        this.send(w, grants.length > 0 ? { t: 'store', results, grants } : { t: 'store', results });
      }
    });
  }

  private onExit(slot: Slot, w: Worker, code: number | null, signal: string | null): void {
    const stranded = this.store.workerGone(w.id);
    if (slot.lastMetrics !== undefined) this.metrics.retire(slot.lastMetrics);
    const wasListening = slot.listening;
    slot.worker = undefined;
    slot.listening = false;
    slot.lastMetrics = undefined;
    if (this.shuttingDown) {
      if (this.slots.every((s) => s.worker === undefined)) this.allExited?.();
      return;
    }
    const reason = signal ?? `exit ${code ?? 'unknown'}`;
    if (this.startup !== undefined && !wasListening) {
      this.startup.reject(new WorkerStartError(`worker ${slot.index} could not start (${reason}); its error is above`));
      return;
    }
    const now = Date.now();
    slot.exits = [...slot.exits.filter((t) => now - t < CRASH_WINDOW_MS), now];
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** (slot.exits.length - 1));
    this.metrics.workerRestarted(signal !== null ? 'signal' : 'exit');
    // Budget its leases held stays counted as used until the windows end (it may have spent it).
    const leases = stranded.leases === 0 ? {} : { leasesKeptAsUsed: stranded.leases, budgetKeptAsUsed: stranded.units };
    const fields = { worker: slot.index, pid: w.process.pid, reason, uptimeMs: now - slot.startedAt, restartInMs: delay, ...leases };
    if (slot.exits.length >= CRASH_LOOP_EXITS) {
      this.opts.logger.error('worker crash loop: it keeps exiting; restarting with growing backoff', { ...fields, exitsInLastMinute: slot.exits.length });
    } else {
      this.opts.logger.error('worker exited unexpectedly; restarting it (only the requests it held failed)', fields);
    }
    slot.restartTimer = setTimeout(() => this.fork(slot), delay);
  }

  private send(w: Worker, m: ToWorker): void {
    if (w.isConnected()) w.send(m);
  }

  // ---- reload -------------------------------------------------------------------------------

  private apply(result: ConfigResult, startedMs: number, trigger: string): void {
    const log = this.opts.logger;
    const seconds = (nowMs() - startedMs) / 1000;
    if (result.config === undefined) {
      const errors = result.diagnostics.filter((d) => d.severity === 'error');
      this.metrics.configLoaded('rejected', seconds);
      this.lastReload = { at: new Date().toISOString(), result: 'rejected', errors: errors.length };
      log.error('config change rejected; every worker keeps serving the previous config', { trigger, errors: errors.length, report: formatDiagnostics(result.diagnostics) });
      return;
    }
    this.generation++;
    this.config = result.config;
    this.activatedAt = Date.now();
    this.metrics.configLoaded('applied', seconds, this.generation);
    this.lastReload = { at: new Date().toISOString(), result: 'applied', errors: 0 };
    log.info('config reloaded', { trigger, generation: this.generation, fingerprint: result.config.fingerprint.slice(0, 12), workers: this.slots.length });
    for (const s of this.slots) if (s.worker !== undefined) this.send(s.worker, { t: 'reload', generation: this.generation });
  }

  // ---- shutdown -----------------------------------------------------------------------------

  /** Every worker drains (bounded by the drain timeout), then the admin listener closes. */
  async shutdown(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    clearInterval(this.refresher);
    await this.watcher?.close();
    for (const s of this.slots) clearTimeout(s.restartTimer);
    const live = this.slots.filter((s) => s.worker !== undefined);
    if (live.length > 0) {
      const exited = new Promise<void>((resolve) => (this.allExited = resolve));
      for (const s of live) if (s.worker !== undefined) this.send(s.worker, { t: 'shutdown' });
      // Workers stop by themselves after the drain timeout; the margin covers closing ledgers and sinks.
      const t = setTimeout(() => {
        for (const s of this.slots) s.worker?.process.kill('SIGKILL');
      }, this.opts.drainTimeoutMs + 10_000);
      await exited;
      clearTimeout(t);
    }
    await this.admin?.close();
    await this.opts.state?.close();
    await this.store.close();
    this.pickers.close();
  }
}

export class WorkerStartError extends Error {}
