// Reading results.json back, and merging the results of shards (`--shard i/n` runs of one plan)
// into one run: histograms and counters add exactly, time bins align on wall-clock time, levels
// are the plan's (every shard drove its 1/n of the same level).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Boundary, PhaseRecord, RunEvent, RunState, StepRecord } from '../controller.js';
import { ERROR_CLASSES, type ErrorClass, type ErrorSample } from '../protocol.js';
import type { EncodedBin } from '../stats/aggregate.js';
import { Cell, type EncodedCell } from '../stats/cells.js';
import { decodeHist, Dist, encodeHist, type EncodedDist } from '../stats/hist.js';
import type { TelemetryDump } from '../telemetry/scraper.js';
import { RESULTS_FORMAT, RESULTS_VERSION, type RawRun, type Results } from './types.js';

export class ResultsError extends Error {
  readonly hint: string | undefined;
  constructor(message: string, hint?: string) {
    super(message);
    this.name = 'ResultsError';
    this.hint = hint;
  }
}

/** Reads DIR/results.json (or a results file given directly). */
export function readResults(path: string): Results {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) file = join(path, 'results.json');
  let doc: unknown;
  try {
    doc = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ResultsError(`${file} does not exist`, 'give the --out directory of a `tollgate load` run (it holds results.json)');
    throw new ResultsError(`${file}: ${code ?? (err instanceof Error ? err.message : String(err))}`);
  }
  const d = doc as Partial<Results> | null;
  if (d === null || typeof d !== 'object' || d.format !== RESULTS_FORMAT) throw new ResultsError(`${file} is not a tollgate load results file (format "${String(d?.format)}")`);
  if (d.version !== RESULTS_VERSION) throw new ResultsError(`${file}: results version ${String(d.version)} is not supported (this tollgate reads version ${RESULTS_VERSION})`);
  if (d.raw === undefined) throw new ResultsError(`${file} has no raw measurements to rebuild the report from`);
  return d as Results;
}

const SEVERITY: Readonly<Record<RunState, number>> = { completed: 0, interrupted: 1, aborted: 2, failed: 3 };

export function mergeRaw(raws: readonly RawRun[]): RawRun {
  const first = raws[0];
  if (first === undefined) throw new ResultsError('nothing to merge');
  for (const r of raws) {
    if (r.meta.mode !== first.meta.mode) throw new ResultsError(`cannot merge a ${r.meta.mode}-mode run with a ${first.meta.mode}-mode run`, 'merge the shards of one plan');
    if (r.bin_s !== first.bin_s) throw new ResultsError(`cannot merge runs with different time bins (${r.bin_s} s vs ${first.bin_s} s)`, 'run every shard with the same plan');
  }
  const origin = Math.min(...raws.map((r) => r.meta.origin_epoch_ms));
  const shift = (r: RawRun): number => (r.meta.origin_epoch_ms - origin) / 1000;

  // Steps and phases: by index / name, times on the common clock.
  const steps = new Map<number, StepRecord>();
  const phases = new Map<string, PhaseRecord>();
  for (const r of raws) {
    const dt = shift(r);
    for (const s of r.steps) {
      const prev = steps.get(s.index);
      if (prev === undefined) steps.set(s.index, { ...s, start: s.start + dt, end: s.end + dt, gates: [...s.gates] });
      else {
        prev.end = Math.max(prev.end, s.end + dt);
        if (s.stable === false) prev.stable = false;
      }
    }
    for (const p of r.phases) {
      const prev = phases.get(p.name);
      if (prev === undefined) phases.set(p.name, { ...p, start: p.start + dt, end: p.end + dt, steps: [...p.steps] });
      else {
        prev.end = Math.max(prev.end, p.end + dt);
        for (const s of p.steps) if (!prev.steps.includes(s)) prev.steps.push(s);
      }
    }
  }

  const cells: Record<string, Record<string, EncodedCell>> = {};
  const lag: Record<string, EncodedDist> = {};
  const stepKeys = new Set(raws.flatMap((r) => Object.keys(r.cells)));
  for (const k of stepKeys) {
    const byProfile = new Map<string, Cell>();
    for (const r of raws) {
      for (const [p, e] of Object.entries(r.cells[k] ?? {})) {
        const c = byProfile.get(p) ?? new Cell();
        c.merge(Cell.decode(e));
        byProfile.set(p, c);
      }
    }
    cells[k] = Object.fromEntries([...byProfile].map(([p, c]) => [p, c.encode()]));
  }
  for (const k of new Set(raws.flatMap((r) => Object.keys(r.lag)))) {
    const d = new Dist();
    for (const r of raws) {
      const e = r.lag[k];
      if (e !== undefined) d.merge(Dist.decode(e));
    }
    lag[k] = d.encode();
  }

  // Boundaries: per gate, the earliest step any shard tripped it at.
  const boundaries = new Map<string, Boundary>();
  const events: RunEvent[] = [];
  raws.forEach((r, i) => {
    const dt = shift(r);
    for (const b of r.boundaries) {
      const prev = boundaries.get(b.gate);
      if (prev === undefined || b.step < prev.step) boundaries.set(b.gate, { ...b, at: b.at + dt });
      events.push({ t: b.at + dt, kind: 'boundary', message: `shard ${r.meta.shard?.index ?? i + 1}: ${b.gate} at step ${b.step} (${b.note})` });
    }
    if (i === 0) for (const e of r.events) events.push({ ...e, t: e.t + dt });
  });
  events.sort((a, b) => a.t - b.t);

  const state = raws.reduce<RunState>((s, r) => (SEVERITY[r.state] > SEVERITY[s] ? r.state : s), 'completed');
  const errorSamples: Partial<Record<ErrorClass, ErrorSample[]>> = {};
  for (const c of ERROR_CLASSES) {
    const all = raws.flatMap((r) => r.error_samples[c] ?? []);
    if (all.length > 0) errorSamples[c] = all.slice(0, 10);
  }
  const wraps: Record<string, number> = {};
  for (const r of raws) for (const [k, v] of Object.entries(r.harness.corpus_wraps)) wraps[k] = (wraps[k] ?? 0) + v;
  const withTel = raws.find((r) => r.telemetry.t.length > 0);
  return {
    meta: {
      ...first.meta,
      started_at: raws.map((r) => r.meta.started_at).sort()[0] ?? first.meta.started_at,
      ended_at: raws.map((r) => r.meta.ended_at).sort().pop() ?? first.meta.ended_at,
      origin_epoch_ms: origin,
      shard: null,
      merged_from: raws.reduce((a, r) => a + r.meta.merged_from, 0),
      workers: raws.reduce((a, r) => a + r.meta.workers, 0),
    },
    profiles: first.profiles,
    state,
    reason: raws.find((r) => r.state === state)?.reason ?? '',
    steps: [...steps.values()].sort((a, b) => a.index - b.index),
    phases: [...phases.values()].sort((a, b) => a.start - b.start),
    boundaries: [...boundaries.values()],
    baseline: raws.find((r) => r.baseline !== null)?.baseline ?? null,
    events,
    cells,
    lag,
    bin_s: first.bin_s,
    bins: mergeBins(raws, origin),
    telemetry: withTel === undefined ? first.telemetry : shiftTelemetry(withTel.telemetry, shift(withTel)),
    error_samples: errorSamples,
    harness: {
      sessions_started: raws.reduce((a, r) => a + r.harness.sessions_started, 0),
      sessions_completed: raws.reduce((a, r) => a + r.harness.sessions_completed, 0),
      starved: raws.reduce((a, r) => a + r.harness.starved, 0),
      corpus_wraps: wraps,
    },
  };
}

function mergeBins(raws: readonly RawRun[], origin: number): EncodedBin[] {
  const bs = raws[0]?.bin_s ?? 1;
  const out: Array<{ b: Omit<EncodedBin, 'ttft'>; ttft: Dist | undefined } | undefined> = [];
  for (const r of raws) {
    const offset = Math.round((r.meta.origin_epoch_ms - origin) / 1000 / bs);
    r.bins.forEach((b, i) => {
      const j = i + offset;
      const cur = out[j];
      const ttft = b.ttft === '' ? undefined : b.ttft;
      if (cur === undefined) {
        const { ttft: _omit, ...rest } = b;
        void _omit;
        out[j] = { b: { ...rest, t: j * bs }, ttft: ttft === undefined ? undefined : fromEncoded(ttft) };
        return;
      }
      cur.b = {
        t: j * bs,
        completed: cur.b.completed + b.completed,
        errors: cur.b.errors + b.errors,
        good: cur.b.good + b.good,
        output_tokens: cur.b.output_tokens + b.output_tokens,
        e2e_sum_ms: cur.b.e2e_sum_ms + b.e2e_sum_ms,
        ttft_sum_ms: cur.b.ttft_sum_ms + b.ttft_sum_ms,
        users: cur.b.users + b.users,
        sessions: cur.b.sessions + b.sessions,
        inflight: cur.b.inflight + b.inflight,
        level: Math.max(cur.b.level, b.level),
      };
      if (ttft !== undefined) {
        cur.ttft ??= new Dist();
        cur.ttft.h.add(decodeHist(ttft));
      }
    });
  }
  const res: EncodedBin[] = [];
  for (let j = 0; j < out.length; j++) {
    const x = out[j];
    if (x === undefined) res.push({ t: j * bs, completed: 0, errors: 0, good: 0, output_tokens: 0, e2e_sum_ms: 0, ttft_sum_ms: 0, ttft: '', users: 0, sessions: 0, inflight: 0, level: 0 });
    else res.push({ ...x.b, ttft: x.ttft === undefined ? '' : encodeHist(x.ttft.h) });
  }
  return res;
}

function fromEncoded(s: string): Dist {
  const d = new Dist();
  d.h.add(decodeHist(s));
  return d;
}

function shiftTelemetry(t: TelemetryDump, dt: number): TelemetryDump {
  return { ...t, t: t.t.map((x) => x + dt) };
}
