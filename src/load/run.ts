// One load run, end to end: resolve the plan against the corpus, start the drivers, run the
// controller (phases, gates) with telemetry and the live view, stop, and build the results.
import { readFileSync } from 'node:fs';
import { availableParallelism, hostname } from 'node:os';
import { readManifest } from '../workload/manifest.js';
import { describeArrival } from './arrivals/process.js';
import { Controller } from './controller.js';
import { splitLevel, type Share } from './levels.js';
import type { LiveView } from './live.js';
import { defaultArrival as defaultArrivalFor } from './plan/defaults.js';
import type { Plan } from './plan/types.js';
import { startDrivers, type DriverHandle } from './pool.js';
import type { FromWorker, Shard, WorkerInit, WorkerProfile } from './protocol.js';
import { buildResults } from './results/build.js';
import type { ProfileInfo, RawRun, Results } from './results/types.js';
import { liveSignals } from './signals.js';
import { Aggregator } from './stats/aggregate.js';
import type { EncodedCell } from './stats/cells.js';
import type { EncodedDist } from './stats/hist.js';
import { redactUrl, Telemetry } from './telemetry/scraper.js';

export class LoadError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'LoadError';
    this.hint = hint;
  }
}

export interface LoadOptions {
  readonly corpus: string;
  readonly target: string;
  readonly plan: Plan;
  /** 0-based. */
  readonly shard?: Shard;
  /** Overrides the plan's harness.workers. */
  readonly workers?: number;
  /** Epoch ms at which t = 0 and the first phase begin (shards of one run share it). */
  readonly startAt?: number;
  readonly live?: LiveView;
  readonly signal?: AbortSignal;
  readonly command?: readonly string[];
  /** Worker threads (default) or drivers on the main thread. */
  readonly threads?: boolean;
  /** Skip the reachability check of the target (tests of failure handling). */
  readonly noProbe?: boolean;
}

export function resolveWorkers(plan: Plan, override: number | undefined): number {
  if (override !== undefined) return override;
  if (plan.harness.workers !== 'auto') return plan.harness.workers;
  // Leave a core for the main thread (and, on a small machine, whatever is under test).
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/** `${VAR}` in header values from the environment; a missing variable is an error, never an empty header. */
export function resolveHeaders(headers: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    out[k] = v.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, name: string) => {
      const val = env[name];
      if (val === undefined) throw new LoadError(`request.headers.${k}: environment variable ${name} is not set`, `export ${name}=… before running, or remove the header from the plan`);
      return val;
    });
  }
  return out;
}

export function resolveMix(plan: Plan, corpus: string): { shares: Share[]; infos: ProfileInfo[] } {
  const manifest = readManifest(corpus);
  const available = Object.keys(manifest.profiles);
  const requested = plan.mix ?? Object.fromEntries(available.map((p) => [p, manifest.profiles[p]?.sessions ?? 0]));
  const unknown = Object.keys(requested).filter((p) => (requested[p] ?? 0) > 0 && !available.includes(p));
  if (unknown.length > 0) throw new LoadError(`the plan's mix names profile${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} that the corpus does not have`, `the corpus ${corpus} has profiles: ${available.join(', ') || 'none'}`);
  const names = available.filter((p) => (requested[p] ?? 0) > 0);
  if (names.length === 0) throw new LoadError(`no profile to run: the corpus ${corpus} has none with sessions, or the mix gives them all 0`);
  const total = names.reduce((a, p) => a + (requested[p] ?? 0), 0);
  const shares: Share[] = [];
  const infos: ProfileInfo[] = [];
  for (const p of names) {
    const pp = plan.profiles[p];
    const arrival = pp?.arrival ?? defaultArrivalFor(p);
    const share = (requested[p] ?? 0) / total;
    shares.push({ name: p, share, workerZeroOnly: arrival.kind === 'replay' && arrival.source === 'corpus' });
    const group = manifest.profiles[p];
    infos.push({
      name: p,
      share,
      arrival,
      arrival_text: describeArrival(arrival),
      gap_s: pp?.gap_s ?? plan.defaultGap_s,
      sessions: group?.sessions ?? 0,
      apps: manifest.streams.filter((s) => s.profile === p).map((s) => s.app),
    });
  }
  return { shares, infos };
}


/**
 * Arrival offsets from a trace file: the first column of each line, in seconds (BurstGPT's
 * `Timestamp`) or a date-time (the Azure LLM inference traces' `TIMESTAMP`), relative to the
 * earliest. A header line is skipped; `#` lines are comments.
 */
export function readReplayTimes(file: string): number[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LoadError(`replay file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const out: number[] = [];
  let seen = 0;
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.split(/[,\t]/)[0]?.trim().replace(/^"|"$/g, '') ?? '';
    if (t === '' || t.startsWith('#')) return;
    seen++;
    let v = /^\d+(\.\d+)?$/.test(t) ? Number(t) : Number.NaN;
    if (Number.isNaN(v) && /^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}/.test(t)) {
      const iso = t.replace(' ', 'T').replace(/(\.\d{3})\d+/, '$1');
      v = Date.parse(/[zZ]|[+-]\d{2}:?\d{2}$/.test(iso) ? iso : `${iso}Z`) / 1000;
    }
    if (!Number.isFinite(v)) {
      if (seen === 1) return; // a header
      throw new LoadError(`replay file ${file}:${i + 1}: "${t}" is neither seconds nor a date-time`, 'one arrival per line: seconds from the trace start (first column), or a date-time');
    }
    out.push(v);
  });
  if (out.length === 0) throw new LoadError(`replay file ${file} has no arrival times`);
  out.sort((a, b) => a - b);
  const t0 = out[0] ?? 0;
  return out.map((v) => v - t0);
}

async function probe(target: string): Promise<void> {
  try {
    await fetch(target, { method: 'GET', signal: AbortSignal.timeout(5000) }).then((r) => r.body?.cancel());
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new LoadError(`cannot reach the target ${redactUrl(target)}: ${cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err))}`, 'start the gateway (tollgate serve / tollgate demo) or check --target');
  }
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export async function runLoad(opts: LoadOptions): Promise<Results> {
  const { plan } = opts;
  const { shares, infos } = resolveMix(plan, opts.corpus);
  const headers = resolveHeaders(plan.request.headers);
  const workers = resolveWorkers(plan, opts.workers);
  const drivers = Math.max(1, workers);
  if (opts.noProbe !== true) await probe(opts.target);

  const origin = opts.startAt ?? Date.now();
  const startedAt = new Date();
  const agg = new Aggregator(infos.map((p) => p.name), origin, plan.harness.bin_s * 1000);
  const tel = new Telemetry(plan.telemetry.targets, origin);
  const slo = { ttftMs: (plan.slo.ttft_s ?? 0) * 1000, tpotMs: (plan.slo.tpot_s ?? 0) * 1000, e2eMs: (plan.slo.e2e_s ?? 0) * 1000 };

  const inits: WorkerInit[] = [];
  for (let w = 0; w < drivers; w++) {
    const profiles: WorkerProfile[] = infos.map((p) => {
      const a = p.arrival;
      let replayTimes: number[] | undefined;
      if (a.kind === 'replay' && a.source === 'file' && a.file !== undefined) {
        const sh = opts.shard ?? { index: 0, count: 1 };
        replayTimes = readReplayTimes(a.file).filter((_, i) => i % sh.count === sh.index).filter((_, i) => i % drivers === w);
      }
      return { name: p.name, arrival: a, gap_s: p.gap_s, ...(replayTimes === undefined ? {} : { replayTimes }) };
    });
    inits.push({
      index: w,
      workers: drivers,
      corpus: opts.corpus,
      shard: opts.shard,
      target: opts.target,
      mode: plan.mode,
      seed: plan.seed,
      profiles,
      headers,
      timeoutMs: plan.request.timeout_s * 1000,
      idleTimeoutMs: plan.request.idle_timeout_s * 1000,
      onError: plan.request.on_error,
      origin,
      reportMs: 250,
      slo,
    });
  }

  let controller: Controller | undefined;
  let fatal: string | undefined;
  const ready = new Set<number>();
  const finals = new Set<number>();
  let readyResolve: () => void = () => undefined;
  let finalResolve: () => void = () => undefined;
  const allReady = new Promise<void>((r) => (readyResolve = r));
  const allFinal = new Promise<void>((r) => (finalResolve = r));
  const onMessage = (msg: FromWorker): void => {
    switch (msg.type) {
      case 'ready':
        ready.add(msg.worker);
        if (ready.size === drivers) readyResolve();
        return;
      case 'report':
        agg.add(msg);
        if (msg.final) {
          finals.add(msg.worker);
          if (finals.size === drivers) finalResolve();
        }
        return;
      case 'fatal':
        fatal ??= msg.message;
        controller?.requestStop('failed', msg.message);
        readyResolve();
        finalResolve();
        return;
      default: {
        const never: never = msg;
        throw new Error(String(never));
      }
    }
  };
  const handles: DriverHandle[] = await startDrivers(inits, onMessage, workers > 0 && opts.threads !== false);
  try {
    await within(allReady, 180_000, () => (fatal ??= 'the workers did not get ready within 180 s (reading the corpus?)'));
    if (fatal !== undefined) throw new LoadError(fatal);
    const wait = origin - Date.now();
    if (wait > 0) {
      opts.live?.line(`waiting ${(wait / 1000).toFixed(1)} s for the start time…`);
      await sleep(wait);
    }

    const evalMs = Math.min(plan.telemetry.interval_s * 1000, 2000);
    const live = opts.live;
    controller = new Controller(
      plan,
      {
        setLevel: (step, level, at) => {
          agg.currentLevel = level;
          const parts = splitLevel(plan.mode, level, shares, opts.shard, drivers);
          handles.forEach((h, i) => h.post({ type: 'level', at, step, levels: parts[i] ?? {} }));
        },
        now: () => (Date.now() - origin) / 1000,
        sleep,
        signals: liveSignals(agg, tel),
        ...(live === undefined ? {} : { onTick: (c, readings) => live.update(c, agg, readings) }),
      },
      origin,
      evalMs,
    );
    tel.start(plan.telemetry.interval_s * 1000);
    const c = controller;
    const onAbort = (): void => c.requestStop('interrupted', 'interrupted by the user');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const cap = plan.max_duration_s > 0 ? setTimeout(() => c.requestStop('completed', `stopped at max_duration (${plan.max_duration_s} s)`), plan.max_duration_s * 1000) : undefined;
    await controller.run();
    if (cap !== undefined) clearTimeout(cap);
    opts.signal?.removeEventListener('abort', onAbort);

    // A completed run lets in-flight requests finish (cancelling them would drop the slowest of the
    // last step); an aborted or interrupted one stops at once.
    const graceMs = controller.state === 'completed' ? plan.harness.drain_s * 1000 : 0;
    for (const h of handles) h.post({ type: 'stop', graceMs });
    await within(allFinal, graceMs + 15_000, () => undefined);
    tel.stop();
    if (tel.enabled) await tel.tick(plan.telemetry.interval_s * 1000);
    live?.done();
  } finally {
    tel.stop();
    await Promise.all(handles.map((h) => h.terminate()));
  }

  if (controller === undefined || (fatal !== undefined && controller.steps.length === 0)) throw new LoadError(fatal ?? 'the run did not start');
  const raw = toRaw(opts, controller, agg, tel, infos, origin, startedAt, drivers);
  return buildResults(raw);
}

function toRaw(opts: LoadOptions, c: Controller, agg: Aggregator, tel: Telemetry, infos: ProfileInfo[], origin: number, startedAt: Date, workers: number): RawRun {
  const cells: Record<string, Record<string, EncodedCell>> = {};
  for (const [step, row] of agg.cells) {
    const r: Record<string, EncodedCell> = {};
    row.forEach((cell, i) => {
      if (cell.requests > 0 || cell.itl.count > 0) r[infos[i]?.name ?? String(i)] = cell.encode();
    });
    cells[String(step)] = r;
  }
  const lag: Record<string, EncodedDist> = {};
  for (const [step, d] of agg.lag) lag[String(step)] = d.encode();
  const t = agg.totals();
  const errorSamples: RawRun['error_samples'] = {};
  for (const [cls, list] of agg.errorSamples) errorSamples[cls] = list;
  // Header values and URL credentials never reach the results file.
  const plan = {
    ...opts.plan,
    request: { ...opts.plan.request, headers: Object.fromEntries(Object.keys(opts.plan.request.headers).map((k) => [k, '<redacted>'])) },
    telemetry: { ...opts.plan.telemetry, targets: opts.plan.telemetry.targets.map((t) => ({ ...t, url: redactUrl(t.url) })) },
  };
  return {
    meta: {
      name: opts.plan.name,
      started_at: startedAt.toISOString(),
      ended_at: new Date().toISOString(),
      origin_epoch_ms: origin,
      target: redactUrl(opts.target),
      corpus: opts.corpus,
      plan,
      shard: opts.shard === undefined ? null : { index: opts.shard.index + 1, count: opts.shard.count },
      merged_from: 1,
      workers,
      mode: opts.plan.mode,
      command: redactCommand(opts.command ?? []),
      node: process.version,
      host: hostname(),
      tollgate: version(),
    },
    profiles: infos,
    state: c.state,
    reason: c.reason,
    steps: c.steps,
    phases: c.phases,
    boundaries: c.boundaries,
    baseline: c.baseline ?? null,
    events: c.events,
    cells,
    lag,
    bin_s: opts.plan.harness.bin_s,
    bins: agg.encodeBins(),
    telemetry: tel.dump(),
    error_samples: errorSamples,
    harness: { sessions_started: t.sessionsStarted, sessions_completed: t.sessionsCompleted, starved: t.starved, corpus_wraps: t.wraps },
  };
}

/** `--header 'authorization: Bearer …'` must not land in results.json. */
function redactCommand(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    out.push(a);
    if ((a === '--header' || a === '-H') && i + 1 < argv.length) {
      const v = argv[++i] ?? '';
      const colon = v.indexOf(':');
      out.push(colon < 0 ? '<redacted>' : `${v.slice(0, colon)}: <redacted>`);
    } else if (a.startsWith('--header=')) {
      out[out.length - 1] = '--header=<redacted>';
    }
  }
  return out;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits for `p`, or calls `onTimeout` after `ms`; never leaves a timer keeping the process alive. */
async function within(p: Promise<void>, ms: number, onTimeout: () => void): Promise<void> {
  let t: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((r) => (t = setTimeout(() => {
    onTimeout();
    r();
  }, ms)))]);
  if (t !== undefined) clearTimeout(t);
}
