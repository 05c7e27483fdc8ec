// `bench overhead --compare REF --paired N`: the current build against REF's, and nothing else, in
// N pairs of short windows taken back to back. On a shared machine the load of the other tenants
// drifts over seconds to minutes; two windows taken one after the other see nearly the same
// machine, so the ratio within a pair carries the change and little of the drift.
//
// Each pair gets freshly started processes of both builds. Two processes of the same build differ
// by a few per cent, steadily, for as long as they run (an A/A run with the same two processes for
// every pair gave 1.053 in one run and 0.977 in the next, each with a sign test of p < 0.03): V8
// compiles each process's hot code its own way. With the same processes for every pair, the test
// would compare those two processes, not the builds; with new ones per pair, that difference is one
// more thing the pairs sample. The verdict is the median of the pairs' ratios with its
// interquartile range, and a sign test over the pairs: how likely a split this lopsided would be
// if the two builds cost the same.
import { runLoad, type LoadResult } from './loadgen.js';
import { warmUp, type Target } from './overhead-rounds.js';
import type { Mode } from './overhead-report.js';
import { cpuPerRequest, cpuTicks } from './procs.js';

/** One window of one build. */
export interface Window {
  readonly requests: number;
  readonly rps: number;
  readonly cpuUsPerRequest: number;
  readonly p50Ms: number;
  readonly firstByteP50Ms: number;
}

/** One pair: the two builds' windows, back to back (which ran first alternates pair by pair). */
export interface Pair {
  readonly now: Window;
  readonly ref: Window;
  readonly nowFirst: boolean;
}

export interface Spread {
  readonly median: number;
  readonly q1: number;
  readonly q3: number;
}

export interface PairedRow {
  readonly target: string;
  readonly mode: Mode;
  readonly concurrency: number;
  readonly windowMs: number;
  readonly pairs: readonly Pair[];
  /** Per pair, current / REF. */
  readonly cpuRatio: Spread;
  readonly rpsRatio: Spread;
  /** Per pair, current − REF, in ms. */
  readonly addedP50Ms: Spread;
  readonly addedFirstByteP50Ms: Spread;
  /** Pairs in which the current build took less CPU per request, and more. */
  readonly cheaper: number;
  readonly dearer: number;
  /** Two-sided sign test on those counts (ties left out): the chance of a split at least this lopsided between equal builds. */
  readonly signP: number;
}

/** Processes of both builds, started for one pair, and how to stop them. */
export interface PairProcesses {
  readonly targets: readonly Target[];
  stop(): Promise<void>;
}

/**
 * Per pair: fresh processes of every compared gateway and of its REF build (the target labelled
 * `<label>@<ref>`; `start(k)` may vary the start order by `k`), warmed up as the full table's are,
 * then one window of each build per mode, concurrency and gateway, the current build first in even
 * pairs and second in odd ones.
 */
export async function comparePaired(o: {
  readonly start: (pair: number) => Promise<PairProcesses>;
  readonly current: readonly string[];
  readonly ref: string;
  readonly modes: readonly Mode[];
  readonly levels: readonly number[];
  readonly windowMs: number;
  readonly pairs: number;
  readonly warmupMs: number;
  readonly request: (mode: Mode) => Buffer;
}): Promise<PairedRow[]> {
  const scenarios = o.modes.flatMap((mode) => o.levels.flatMap((concurrency) => o.current.map((target) => ({ target, mode, concurrency, pairs: [] as Pair[] }))));
  for (let k = 0; k < o.pairs; k++) {
    const procs = await o.start(k);
    try {
      const byLabel = (label: string): Target => {
        const t = procs.targets.find((x) => x.target === label);
        if (t === undefined) throw new Error(`bench overhead: no target "${label}" to compare`);
        return t;
      };
      for (const mode of o.modes) {
        const compared = o.current.flatMap((label) => [byLabel(label), byLabel(`${label}@${o.ref}`)]);
        if (o.warmupMs > 0) await warmUp(compared, o.request(mode), mode, Math.max(...o.levels), o.warmupMs);
        for (const s of scenarios.filter((x) => x.mode === mode)) {
          s.pairs.push(await measurePair(byLabel(s.target), byLabel(`${s.target}@${o.ref}`), o.request(mode), s.concurrency, o.windowMs, k % 2 === 0));
        }
      }
    } finally {
      await procs.stop();
    }
    process.stderr.write('p');
  }
  return scenarios.map((s) => pairedRow(s.target, s.mode, s.concurrency, o.windowMs, s.pairs));
}

/** One window of each build, back to back. */
async function measurePair(now: Target, ref: Target, request: Buffer, concurrency: number, windowMs: number, nowFirst: boolean): Promise<Pair> {
  const first = await measureWindow(nowFirst ? now : ref, request, concurrency, windowMs);
  const second = await measureWindow(nowFirst ? ref : now, request, concurrency, windowMs);
  return nowFirst ? { now: first, ref: second, nowFirst } : { now: second, ref: first, nowFirst };
}

/** The statistics of a scenario's pairs (pure: the tests feed it windows). */
export function pairedRow(target: string, mode: Mode, concurrency: number, windowMs: number, pairs: readonly Pair[]): PairedRow {
  const per = (f: (p: Pair) => number): Spread => spread(pairs.map(f));
  const cheaper = pairs.filter((p) => p.now.cpuUsPerRequest < p.ref.cpuUsPerRequest).length;
  const dearer = pairs.filter((p) => p.now.cpuUsPerRequest > p.ref.cpuUsPerRequest).length;
  return {
    target,
    mode,
    concurrency,
    windowMs,
    pairs,
    cpuRatio: per((p) => p.now.cpuUsPerRequest / p.ref.cpuUsPerRequest),
    rpsRatio: per((p) => p.now.rps / p.ref.rps),
    addedP50Ms: per((p) => p.now.p50Ms - p.ref.p50Ms),
    addedFirstByteP50Ms: per((p) => p.now.firstByteP50Ms - p.ref.firstByteP50Ms),
    cheaper,
    dearer,
    signP: signTest(cheaper, dearer),
  };
}

async function measureWindow(t: Target, request: Buffer, concurrency: number, windowMs: number): Promise<Window> {
  const pids = t.pids();
  let ticks0 = 0;
  let ticks1 = 0;
  const r: LoadResult = await runLoad({
    port: t.port,
    request,
    concurrency,
    warmupMs: 200,
    durationMs: windowMs,
    onMeasure: (phase) => {
      if (phase === 'start') ticks0 = cpuTicks(pids);
      else ticks1 = cpuTicks(pids);
    },
  });
  return {
    requests: r.requests,
    rps: r.requests / r.seconds,
    cpuUsPerRequest: cpuPerRequest(ticks0, ticks1, r.requests),
    p50Ms: r.latency.p50 / 1000,
    firstByteP50Ms: r.firstByte.p50 / 1000,
  };
}

/** Median and quartiles, each the linear interpolation between the two nearest ranks. */
export function spread(xs: readonly number[]): Spread {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  const at = (q: number): number => {
    if (s.length === 0) return Number.NaN;
    const pos = q * (s.length - 1);
    const lo = Math.floor(pos);
    const a = s[lo] ?? Number.NaN;
    const b = s[Math.min(lo + 1, s.length - 1)] ?? a;
    return a + (b - a) * (pos - lo);
  };
  return { median: at(0.5), q1: at(0.25), q3: at(0.75) };
}

/**
 * Exact two-sided sign test: the probability, if each pair were a fair coin, of a split at least as
 * uneven as `a` against `b` (1 when there is nothing to test).
 */
export function signTest(a: number, b: number): number {
  const n = a + b;
  if (n === 0) return 1;
  const k = Math.min(a, b);
  let tail = 0;
  let coef = 1; // C(n, 0)
  for (let i = 0; i <= k; i++) {
    tail += coef;
    coef = (coef * (n - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** n);
}

const f3 = (n: number): string => n.toFixed(3);
const ratio = (s: Spread): string => `${s.median.toFixed(3)} [${s.q1.toFixed(3)}–${s.q3.toFixed(3)}]`;
const added = (s: Spread): string => `${s.median >= 0 ? '+' : ''}${f3(s.median)} [${f3(s.q1)}–${f3(s.q3)}]`;

export function formatPaired(rows: readonly PairedRow[], ref: string): string {
  const first = rows[0];
  const head = first === undefined ? '' : ` (${first.pairs.length} pairs of ${(first.windowMs / 1000).toFixed(1)} s windows per row, which build goes first alternating)`;
  const lines = [
    '',
    `current build against ${ref}, paired windows${head}`,
    'median [interquartile range] of the pairs\' ratios (current / ref) and differences (current − ref);',
    'cheaper: pairs in which the current build took less CPU per request, and the sign test\'s p for that split',
    'target                         mode    conc   CPU/req ratio          req/s ratio            added p50 ms              added 1st-byte ms         cheaper   p',
  ];
  for (const r of rows) {
    lines.push(
      `${r.target.padEnd(29)}  ${r.mode.padEnd(6)}  ${String(r.concurrency).padStart(4)}   ${ratio(r.cpuRatio).padEnd(21)}  ${ratio(r.rpsRatio).padEnd(21)}  ${added(r.addedP50Ms).padEnd(24)}  ${added(r.addedFirstByteP50Ms).padEnd(24)}  ${`${r.cheaper}/${r.pairs.length}`.padStart(7)}   ${r.signP < 0.001 ? '<0.001' : r.signP.toFixed(3)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
