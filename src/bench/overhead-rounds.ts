// The measured part of `bench overhead`: each target warmed up, then every scenario taken in turns
// (rounds), CPU read over exactly the measured windows; then all targets at one open-loop rate.
import { runFixedRate } from './fixed-rate.js';
import { runLoad, type LoadResult } from './loadgen.js';
import { toRow, type Mode, type Row } from './overhead-report.js';
import type { RunningGateway } from './overhead-targets.js';
import { cpuPerRequest, cpuTicks } from './procs.js';

/** Something the load is sent to: the upstream itself, a gateway, node-min or nginx. */
export interface Target {
  readonly target: string;
  readonly port: number;
  /** The processes whose CPU is charged to it (none for the upstream). */
  readonly pids: () => number[];
  readonly gateway?: RunningGateway;
}

/**
 * Each target's share of a scenario in `rounds` slices, taken in turn (the order rotating each
 * round), so a burst of load from other tenants of the machine hits every target alike instead of
 * whichever ran at that moment. Throughput and CPU add up over the slices; latencies are the
 * median of the slices' percentiles.
 */
export async function measureInRounds(targets: readonly Target[], request: Buffer, mode: Mode, c: number, durationMs: number, rounds: number): Promise<Row[]> {
  const acc = targets.map(() => ({ results: [] as LoadResult[], ticks: 0 }));
  await inTurns(targets, rounds, async (t, i, cpuOver) => {
    const a = acc[i] as (typeof acc)[number];
    a.results.push(await runLoad({ port: t.port, request, concurrency: c, warmupMs: rounds === 1 ? 1000 : 300, durationMs: durationMs / rounds, onMeasure: cpuOver((n) => (a.ticks += n)) }));
    process.stderr.write('.');
  });
  return targets.map((t, i) => {
    const a = acc[i] as (typeof acc)[number];
    const merged = mergeResults(a.results);
    return toRow(t.target, mode, c, merged, t.pids().length === 0 ? undefined : cpuPerRequest(0, a.ticks, merged.requests));
  });
}

export interface WarmUp {
  readonly target: string;
  readonly mode: Mode;
  readonly concurrency: number;
  readonly seconds: number;
  readonly requests: number;
  /** CPU per request over the warm-up, then over its last quarter (close to the steady state). */
  readonly cpuUsPerRequest: number | undefined;
  readonly lastQuarterCpuUsPerRequest: number | undefined;
}

/**
 * Each target serves `mode` for `ms` before it is measured: V8 compiles a function once it is hot,
 * and a gateway has more of them than node-min, so without this the first scenarios charge the
 * gateway its compilation. The load runs in four quarters so the report shows it settling.
 */
export async function warmUp(targets: readonly Target[], request: Buffer, mode: Mode, concurrency: number, ms: number): Promise<WarmUp[]> {
  const out: WarmUp[] = [];
  for (const t of targets) {
    const pids = t.pids();
    const quarters: { requests: number; ticks: number }[] = [];
    for (let q = 0; q < 4; q++) {
      let ticks = 0;
      const r = await runLoad({ port: t.port, request, concurrency, warmupMs: 0, durationMs: ms / 4, onMeasure: cpuWindow(pids, (n) => (ticks = n)) });
      quarters.push({ requests: r.requests, ticks });
    }
    process.stderr.write('w');
    const requests = quarters.reduce((a, q) => a + q.requests, 0);
    const last = quarters[3] ?? { requests: 0, ticks: 0 };
    const measured = pids.length > 0;
    out.push({
      target: t.target,
      mode,
      concurrency,
      seconds: ms / 1000,
      requests,
      cpuUsPerRequest: measured ? cpuPerRequest(0, quarters.reduce((a, q) => a + q.ticks, 0), requests) : undefined,
      lastQuarterCpuUsPerRequest: measured ? cpuPerRequest(0, last.ticks, last.requests) : undefined,
    });
  }
  return out;
}

export function formatWarmUps(ws: readonly WarmUp[]): string {
  const lines = ['warm-up before the measured scenarios (V8 compiling what is hot; not in the figures below)'];
  lines.push('target                  mode    conc   seconds   requests   CPU µs/req   last quarter');
  for (const w of ws) {
    if (w.cpuUsPerRequest === undefined) continue;
    lines.push(
      `${w.target.padEnd(22)}  ${w.mode.padEnd(6)}  ${String(w.concurrency).padStart(4)}  ${w.seconds.toFixed(0).padStart(8)}  ${String(w.requests).padStart(9)}  ${w.cpuUsPerRequest.toFixed(0).padStart(11)}  ${(w.lastQuarterCpuUsPerRequest ?? 0).toFixed(0).padStart(13)}`,
    );
  }
  return `${lines.join('\n')}\n\n`;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? 0) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

function mergeResults(rs: readonly LoadResult[]): LoadResult {
  const m = (f: (r: LoadResult) => number): number => median(rs.map(f));
  return {
    requests: rs.reduce((a, r) => a + r.requests, 0),
    errors: rs.reduce((a, r) => a + r.errors, 0),
    seconds: rs.reduce((a, r) => a + r.seconds, 0),
    latency: { p50: m((r) => r.latency.p50), p90: m((r) => r.latency.p90), p99: m((r) => r.latency.p99), max: Math.max(...rs.map((r) => r.latency.max)), mean: m((r) => r.latency.mean) },
    firstByte: { p50: m((r) => r.firstByte.p50), p99: m((r) => r.firstByte.p99) },
  };
}

/**
 * Per gateway (and node-min) at c=16: the bytes allocated per request, and the bytes per request
 * that outlived the young generation, each with its top sites. The second is the one that finds
 * retention bugs: an object a scavenge cannot free is copied, promoted and left to the full
 * collections, and those grow with it, not with the allocation total.
 */

export interface FixedRateRow {
  readonly target: string;
  readonly mode: Mode;
  /** Requests per second sent to every target alike. */
  readonly rate: number;
  readonly requests: number;
  readonly cpuUsPerRequest: number | undefined;
  /** Median over the slices of the p50 from scheduled send to the response's end, µs. */
  readonly p50Us: number;
  /** Share of requests sent late (no connection free, or the generator ran late). */
  readonly lateShare: number;
}

/**
 * Every target at the same open-loop rate, in rounds like the closed-loop scenarios. A closed loop
 * gives a faster target more requests, and with them a load generator that is awake more often:
 * on this VM a write that must wake a sleeping peer costs the writer ~15 µs of kernel time where
 * one to an awake peer costs ~4, so the slower proxy is also charged more per request for waking
 * its client. At one rate for all, the generator wakes on its own timer whatever the target, and
 * CPU per request compares the work each does.
 */
export async function measureFixedRate(targets: readonly Target[], request: Buffer, mode: Mode, rate: number, durationMs: number, rounds: number): Promise<FixedRateRow[]> {
  const acc = targets.map(() => ({ requests: 0, ticks: 0, late: 0, sent: 0, p50s: [] as number[] }));
  await inTurns(targets, rounds, async (t, i, cpuOver) => {
    const a = acc[i] as (typeof acc)[number];
    const r = await runFixedRate({ port: t.port, request, rate, warmupMs: 300, durationMs: durationMs / rounds, onMeasure: cpuOver((n) => (a.ticks += n)) });
    a.requests += r.requests;
    a.late += r.lateShare * r.requests;
    a.sent += r.requests;
    a.p50s.push(r.latency.p50);
    process.stderr.write('f');
  });
  return targets.map((t, i) => {
    const a = acc[i] as (typeof acc)[number];
    return {
      target: t.target,
      mode,
      rate,
      requests: a.requests,
      cpuUsPerRequest: t.pids().length === 0 ? undefined : cpuPerRequest(0, a.ticks, a.requests),
      p50Us: median(a.p50s),
      lateShare: a.sent === 0 ? 0 : a.late / a.sent,
    };
  });
}

export function formatFixedRate(rows: readonly FixedRateRow[]): string {
  const lines = ['the same work per second for every target (open loop, 80% of the slowest one\'s closed-loop req/s at the highest concurrency)'];
  lines.push('target                          mode     req/s   p50 ms   late   CPU µs/req   vs node-min');
  for (const r of rows) {
    if (r.cpuUsPerRequest === undefined) continue;
    const floor = rows.find((f) => f.mode === r.mode && f.target === 'node-min')?.cpuUsPerRequest;
    const ratio = floor === undefined || r.target === 'node-min' ? '' : `${(r.cpuUsPerRequest / floor).toFixed(2)}x`;
    lines.push(
      `${r.target.padEnd(30)}  ${r.mode.padEnd(6)}  ${String(r.rate).padStart(6)}  ${(r.p50Us / 1000).toFixed(3).padStart(7)}  ${`${(r.lateShare * 100).toFixed(1)}%`.padStart(5)}  ${r.cpuUsPerRequest.toFixed(0).padStart(11)}  ${ratio.padStart(12)}`,
    );
  }
  return `${lines.join('\n')}\n\n`;
}

/** A load generator's `onMeasure` that reports the CPU ticks `pids` used over its measured window. */
function cpuWindow(pids: number[], add: (ticks: number) => void): (phase: 'start' | 'end') => void {
  let cpu0 = 0;
  return (phase) => {
    if (phase === 'start') cpu0 = cpuTicks(pids);
    else add(cpuTicks(pids) - cpu0);
  };
}

/**
 * Runs `slice` once per target per round, the order rotating each round; `cpuOver(add)` gives the
 * slice an `onMeasure` that adds its target's CPU over the measured window.
 */
async function inTurns(
  targets: readonly Target[],
  rounds: number,
  slice: (t: Target, i: number, cpuOver: (add: (ticks: number) => void) => (phase: 'start' | 'end') => void) => Promise<void>,
): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const i = (k + round) % targets.length;
      const t = targets[i] as Target;
      const pids = t.pids();
      await slice(t, i, (add) => cpuWindow(pids, add));
    }
  }
}
