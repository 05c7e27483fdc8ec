// RawRun → Results: the views (steps, phases, soak drift, gateway overhead, trust, reference
// comparison) computed from the raw measurements, so a report of merged shards is computed the
// same way as a report of one run.
import { Cell } from '../stats/cells.js';
import { Dist, EMPTY_SUMMARY, type LatencySummary } from '../stats/hist.js';
import { Telemetry } from '../telemetry/scraper.js';
import { DEFAULT_PLAN } from '../plan/defaults.js';
import type { Slo } from '../plan/types.js';
import { ERROR_CLASSES, type ErrorClass } from '../protocol.js';
import type { CellView } from '../stats/cells.js';
import { DEFINITIONS } from './definitions.js';
import { whitepaperComparison } from './reference.js';
import { RESULTS_FORMAT, RESULTS_VERSION, type Drift, type OverheadRow, type PhaseView, type RawRun, type Results, type SoakView, type StepView, type TelemetrySummary } from './types.js';

/**
 * A run that went to the end but whose requests failed too often did not pass: most of what it
 * measured is errors, not the system. Results from before the threshold existed use the default.
 */
function runStatus(raw: RawRun, total: CellView): Results['status'] {
  const limit = (raw.meta.plan.slo as Partial<Slo>).error_rate ?? DEFAULT_PLAN.slo.error_rate;
  const ended = total.ok + total.errors;
  if (raw.state !== 'completed' || ended === 0 || total.error_rate <= limit) return { state: raw.state, reason: raw.reason };
  return {
    state: 'failed',
    reason: `${(total.error_rate * 100).toFixed(1)}% of requests failed, over the plan's limit of ${(limit * 100).toFixed(1)}% (slo.error_rate, --max-error-rate)`,
  };
}

/** "http_429 ×12, reset ×1", most frequent first (the report's Errors table says what each means). */
export function errorKinds(byClass: Partial<Record<ErrorClass, number>>): string {
  return Object.entries(byClass)
    .filter((e): e is [ErrorClass, number] => (e[1] ?? 0) > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} ×${n}`)
    .join(', ');
}

export function buildResults(raw: RawRun): Results {
  const tel = Telemetry.fromDump(raw.telemetry);
  const cells = decodeCells(raw);
  const lag = new Map<number, Dist>();
  for (const [k, v] of Object.entries(raw.lag)) lag.set(Number(k), Dist.decode(v));
  const profiles = raw.profiles.map((p) => p.name);

  const merged = (steps: readonly number[], profile?: string): Cell => {
    const c = new Cell();
    for (const s of steps) {
      const row = cells.get(s);
      if (row === undefined) continue;
      for (const [p, cell] of row) if (profile === undefined || p === profile) c.merge(cell);
    }
    return c;
  };
  const lagOf = (steps: readonly number[]): LatencySummary => {
    const d = new Dist();
    for (const s of steps) {
      const l = lag.get(s);
      if (l !== undefined) d.merge(l);
    }
    return d.count === 0 ? EMPTY_SUMMARY : d.summary();
  };

  const steps: StepView[] = raw.steps.map((s) => {
    const dur = Math.max(1e-9, s.end - s.start);
    const byProfile: Record<string, ReturnType<Cell['view']>> = {};
    for (const p of profiles) byProfile[p] = merged([s.index], p).view(dur);
    const g = binGauges(raw, s.start, s.end);
    return {
      index: s.index,
      phase: s.phase,
      kind: s.phaseKind,
      level: s.level,
      start: s.start,
      end: s.end,
      duration_s: dur,
      extensions: s.extensions,
      stable: s.stable ?? null,
      note: s.note,
      summary: merged([s.index]).view(dur),
      by_profile: byProfile,
      lag: lagOf([s.index]),
      gates: s.gates,
      telemetry: telemetrySummary(tel, s.start, s.end),
      users_mean: g.users,
      sessions_mean: g.sessions,
    };
  });

  const phases: PhaseView[] = raw.phases.map((ph) => {
    const dur = Math.max(1e-9, ph.end - ph.start);
    const byProfile: Record<string, ReturnType<Cell['view']>> = {};
    for (const p of profiles) byProfile[p] = merged(ph.steps, p).view(dur);
    const own = steps.filter((s) => ph.steps.includes(s.index));
    return {
      name: ph.name,
      kind: ph.kind,
      start: ph.start,
      end: ph.end,
      duration_s: dur,
      steps: ph.steps,
      max_level: Math.max(0, ...own.map((s) => s.level)),
      max_users: maxUsers(raw, ph.start, ph.end),
      peak_rps: Math.max(0, ...own.map((s) => s.summary.rps)),
      note: ph.note,
      summary: merged(ph.steps).view(dur),
      by_profile: byProfile,
      lag: lagOf(ph.steps),
      telemetry: telemetrySummary(tel, ph.start, ph.end),
    };
  });

  const allSteps = raw.steps.map((s) => s.index);
  const runSeconds = Math.max(1e-9, (raw.phases[raw.phases.length - 1]?.end ?? 0) - (raw.phases[0]?.start ?? 0));
  const total = merged(allSteps).view(runSeconds);
  const lagAll = lagOf(allSteps);
  const maxLag = raw.meta.plan.harness.max_lag_ms;
  const warnings: string[] = [];
  const trustworthy = lagAll.p99 === null || lagAll.p99 * 1000 <= maxLag;
  if (!trustworthy) warnings.push(`p99 schedule lag ${((lagAll.p99 ?? 0) * 1000).toFixed(1)} ms is over ${maxLag} ms: the harness sent late, so latencies under-count queueing (coordinated omission); use more workers or machines (--shard)`);
  if (raw.harness.starved > 0) warnings.push(`${raw.harness.starved} session starts found no session ready (the corpus reader fell behind, or a profile has no sessions in this shard)`);
  for (const [p, w] of Object.entries(raw.harness.corpus_wraps)) {
    if (w > 0) warnings.push(`profile ${p}: its share of the corpus ran out ${w} time(s) and started over: repeated sessions inflate prefix-cache hits; use a larger corpus`);
  }
  for (const st of tel.status) {
    if (st.failed > 0 && st.ok === 0) warnings.push(`telemetry target ${st.name} (${st.url}) never answered: ${st.lastError ?? 'unknown error'}`);
    else if (st.failed > 0) warnings.push(`telemetry target ${st.name}: ${st.failed} of ${st.ok + st.failed} scrapes failed (last: ${st.lastError ?? '?'})`);
  }

  const t2b = raw.boundaries.find((b) => b.gate === 't2_ttft') ?? null;
  const t3b = raw.boundaries.find((b) => b.gate === 't3_preemption') ?? null;
  const t2Step = t2b === null ? undefined : steps[t2b.step];
  const soak = soakView(raw, phases, steps, tel);
  const overhead = overheadRows(phases, tel);
  const byClass: Partial<Record<ErrorClass, number>> = {};
  for (const c of ERROR_CLASSES) if ((total.errors_by_class[c] ?? 0) > 0) byClass[c] = total.errors_by_class[c];

  const partial = {
    format: RESULTS_FORMAT,
    version: RESULTS_VERSION,
    run: raw.meta,
    status: runStatus(raw, total),
    trust: { lag_p50_ms: ms(lagAll.p50), lag_p99_ms: ms(lagAll.p99), lag_max_ms: ms(lagAll.max), threshold_ms: maxLag, trustworthy, warnings },
    profiles: raw.profiles,
    boundaries: {
      baseline: raw.baseline,
      t2: t2b === null ? null : { ...t2b, rps: t2Step?.summary.rps ?? null, preemptions: t2Step?.telemetry.preemptions ?? null },
      t3: t3b,
      other: raw.boundaries.filter((b) => b !== t2b && b !== t3b),
    },
    phases,
    steps,
    total,
    soak,
    overhead,
    errors: { by_class: byClass, samples: raw.error_samples },
    events: raw.events,
    harness: raw.harness,
    definitions: DEFINITIONS,
    raw,
  } as const;
  return { ...partial, reference: raw.meta.plan.reference === 'whitepaper' ? whitepaperComparison(partial) : null };
}

function decodeCells(raw: RawRun): Map<number, Map<string, Cell>> {
  const out = new Map<number, Map<string, Cell>>();
  for (const [step, row] of Object.entries(raw.cells)) {
    const m = new Map<string, Cell>();
    for (const [p, e] of Object.entries(row)) m.set(p, Cell.decode(e));
    out.set(Number(step), m);
  }
  return out;
}

function ms(s: number | null): number | null {
  return s === null ? null : s * 1000;
}

function binGauges(raw: RawRun, from: number, to: number): { users: number | null; sessions: number | null } {
  let u = 0;
  let s = 0;
  let n = 0;
  for (const b of raw.bins) {
    if (b.t < from || b.t + raw.bin_s > to) continue;
    u += b.users;
    s += b.sessions;
    n++;
  }
  return n === 0 ? { users: null, sessions: null } : { users: u / n, sessions: s / n };
}

function maxUsers(raw: RawRun, from: number, to: number): number | null {
  let m: number | null = null;
  for (const b of raw.bins) if (b.t >= from && b.t < to) m = Math.max(m ?? 0, raw.meta.mode === 'users' ? b.users : b.sessions);
  return m;
}

export function telemetrySummary(tel: Telemetry, from: number, to: number): TelemetrySummary {
  const kv = tel.gauge('engine.kv_usage', from, to);
  const waiting = tel.gauge('engine.waiting', from, to);
  const pre = tel.delta('engine.preemptions', from, to);
  const req = tel.delta('engine.requests', from, to);
  const q = tel.delta('engine.prefix_queries', from, to);
  const h = tel.delta('engine.prefix_hits', from, to);
  const nv = tel.gauge('dcgm.nvlink_bytes_s', from, to);
  const rss = tel.gauge('gateway.rss_bytes', from, to);
  const n = (x: number | undefined): number | null => (x === undefined || !Number.isFinite(x) ? null : x);
  return {
    kv_mean: n(kv?.mean),
    kv_max: n(kv?.max),
    running_mean: n(tel.gauge('engine.running', from, to)?.mean),
    waiting_mean: n(waiting?.mean),
    waiting_max: n(waiting?.max),
    preemptions: n(pre),
    engine_requests: n(req),
    preemption_rate: pre !== undefined && req !== undefined && req > 0 ? pre / req : null,
    prefix_hit_rate: q !== undefined && h !== undefined && q > 0 ? h / q : null,
    engine: {
      ttft: n(tel.histMean('engine.ttft', from, to)),
      tpot: n(tel.histMean('engine.tpot', from, to)),
      itl: n(tel.histMean('engine.itl', from, to)),
      e2e: n(tel.histMean('engine.e2e', from, to)),
      queue: n(tel.histMean('engine.queue', from, to)),
      prefill: n(tel.histMean('engine.prefill', from, to)),
      decode: n(tel.histMean('engine.decode', from, to)),
    },
    nvlink_gbs_mean: nv === undefined ? null : nv.mean / 1e9,
    fb_used_mib_mean: n(tel.gauge('dcgm.fb_used_mib', from, to)?.mean),
    gpu_util_mean: n(tel.gauge('dcgm.gpu_util', from, to)?.mean),
    gateway_overhead: n(tel.histMean('gateway.overhead', from, to)),
    gateway_rss_mb_mean: rss === undefined ? null : rss.mean / 1e6,
  };
}

function soakView(raw: RawRun, phases: readonly PhaseView[], steps: readonly StepView[], tel: Telemetry): SoakView | null {
  const ph = [...phases].reverse().find((p) => p.kind === 'soak');
  if (ph === undefined) return null;
  const bins = raw.bins.filter((b) => b.t >= ph.start && b.t + raw.bin_s <= ph.end);
  const mid = (b: (typeof bins)[number]): number => b.t + raw.bin_s / 2;
  const ttft = bins.filter((b) => b.completed - b.errors > 0).map((b): [number, number] => [mid(b), b.ttft_sum_ms / 1000 / Math.max(1, b.completed - b.errors)]);
  const e2e = bins.filter((b) => b.completed - b.errors > 0).map((b): [number, number] => [mid(b), b.e2e_sum_ms / 1000 / Math.max(1, b.completed - b.errors)]);
  const within = (s: Array<[number, number]>): Array<[number, number]> => s.filter(([t]) => t >= ph.start && t <= ph.end);
  return {
    phase: ph.name,
    level: steps.find((s) => s.index === ph.steps[0])?.level ?? 0,
    duration_s: ph.duration_s,
    error_rate: ph.summary.error_rate,
    ttft: drift(ttft),
    e2e: drift(e2e),
    kv_usage: drift(within(tel.series('engine.kv_usage'))),
    fb_used_mib: drift(within(tel.series('dcgm.fb_used_mib'))),
    gateway_rss_mb: drift(within(tel.series('gateway.rss_bytes')).map(([t, v]): [number, number] => [t, v / 1e6])),
  };
}

export function drift(points: ReadonlyArray<readonly [number, number]>): Drift {
  if (points.length < 3) return { first_third_mean: null, last_third_mean: null, change_pct: null, slope_per_h: null };
  const k = Math.max(1, Math.floor(points.length / 3));
  const mean = (xs: ReadonlyArray<readonly [number, number]>): number => xs.reduce((a, [, v]) => a + v, 0) / xs.length;
  const a = mean(points.slice(0, k));
  const b = mean(points.slice(points.length - k));
  const mt = points.reduce((s, [t]) => s + t, 0) / points.length;
  const mv = mean(points);
  let num = 0;
  let den = 0;
  for (const [t, v] of points) {
    num += (t - mt) * (v - mv);
    den += (t - mt) ** 2;
  }
  return { first_third_mean: a, last_third_mean: b, change_pct: a === 0 ? null : ((b - a) / a) * 100, slope_per_h: den === 0 ? null : (num / den) * 3600 };
}

function overheadRows(phases: readonly PhaseView[], tel: Telemetry): OverheadRow[] {
  return phases.map((ph) => {
    const down = ph.summary.e2e.mean;
    const metric = ph.telemetry.gateway_overhead;
    const header = ph.summary.gateway_header_ms;
    const overhead = metric ?? (header === null ? null : header / 1000);
    const source: OverheadRow['source'] = metric !== null ? 'gateway_metrics' : header !== null ? 'server_timing' : 'none';
    const engineE2e = tel.histMean('engine.e2e', ph.start, ph.end) ?? null;
    return {
      phase: ph.name,
      downstream_s: down,
      upstream_s: down === null || overhead === null ? null : down - overhead,
      overhead_s: overhead,
      overhead_pct: down === null || overhead === null || down === 0 ? null : (overhead / down) * 100,
      source,
      header_overhead_ms: header,
      engine_e2e_s: engineE2e,
    };
  });
}
