// `tollgate bench scale` (`npm run bench:scale`): what several workers cost and what they risk.
// Part 1: throughput, added p50/p99 (against the upstream reached directly, same run) and CPU per
// request at c=64, with 1 worker and with 2, each behind a local rate limit (every request takes the
// shared-limits path) and without one. Part 2: the CFS throttling trap on a real cgroup with a 1-core quota: the
// gateway runs inside it with --concurrency 2 and with auto, streams go through it, and the p99
// added latency, first-chunk delay and cpu.stat's throttling are printed side by side. Part 2 needs
// a writable cgroup hierarchy (root); without one it says so and is skipped. Part 1 also runs each
// gateway at one fixed open-loop rate below saturation (fixed-rate.ts): the same work per second for
// 1 and 2 workers, which isolates what sharing costs from what a saturated closed loop adds.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatHelp, parseCommandArgs, parsePositiveInt } from '../cli/args.js';
import { detectCpuCgroup, parseCpuStat } from '../cluster/cgroup.js';
import { runFixedRate, type FixedRateResult } from './fixed-rate.js';
import { runLoad, type LoadResult } from './loadgen.js';
import { gatewayConfig, requestBytes } from './overhead.js';
import { benchLimitYaml } from './manifests.js';
import { BIN, cpuPerRequest, cpuTicks, freePort, pinSelf, startChild, UPSTREAM_JS } from './procs.js';

const spec = {
  name: 'bench scale',
  summary: '1 vs 2 workers (throughput, added latency, CPU/request) and the CFS throttling trap in a 1-core cgroup',
  usage: `
Usage: tollgate bench scale [--duration SEC] [--concurrency N] [--rounds N] [--rate R] [--out FILE] [--no-trap]

  --duration SEC     measured seconds per run (default 4, after 1 s of warm-up)
  --concurrency N    closed-loop connections (default 64)
  --rounds N         part 1 repeated N times, interleaved; each cell's best round (least CPU per
                     request: a busy neighbour only ever adds to it) is printed (default 1)
  --rate R           also run each gateway at R requests/s open-loop (default 600; 0 skips): CPU per
                     request at the same work per second for 1 and 2 workers
  --out FILE         JSON results (default .bench-out/scale.json)
  --no-trap          skip part 2 (the gateway in a cgroup with a 1-core CPU quota)`,
  options: {
    duration: { type: 'string' },
    concurrency: { type: 'string' },
    rounds: { type: 'string' },
    rate: { type: 'string' },
    out: { type: 'string' },
    'no-trap': { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

interface Row {
  readonly label: string;
  readonly mode: 'json' | 'stream';
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly firstByteP99Ms: number;
  readonly addedP50Ms: number;
  readonly addedP99Ms: number;
  readonly addedFirstByteP99Ms: number;
  readonly cpuUsPerRequest: number | undefined;
  readonly errors: number;
  readonly throttledPeriods?: number;
  /** Share of the requests whose admission the primary decided (an IPC round trip), in percent. */
  readonly primaryDecidedPct?: number;
  /** Messages between the primary and the workers about local limits, per request (both directions). */
  readonly limitMessagesPerRequest?: number;
  /** Fixed-rate runs: share of requests sent late (no free connection: the gateway is saturated). */
  readonly lateShare?: number;
  readonly periods?: number;
  readonly throttledMs?: number;
}

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(spec, argv);
  if (values.help === true) {
    process.stdout.write(formatHelp(spec));
    return 0;
  }
  const durationMs = parsePositiveInt(values.duration ?? '4', '--duration', { max: 600 }) * 1000;
  const concurrency = parsePositiveInt(values.concurrency ?? '64', '--concurrency', { max: 4096 });
  const rounds = parsePositiveInt(values.rounds ?? '1', '--rounds', { max: 20 });
  const rate = values.rate === '0' ? 0 : parsePositiveInt(values.rate ?? '600', '--rate', { max: 100_000 });
  const outFile = values.out ?? '.bench-out/scale.json';
  // The load generator runs on core 0 and the upstream on core 1; the gateway may use both (as 2 workers
  // need), so on a 2-core machine it competes with them: CPU per request is the figure to compare.
  const pinned = pinSelf();
  const work = await mkdtemp(join(tmpdir(), 'tollgate-scale-'));
  const children: ChildProcess[] = [];
  try {
    const upstream = await startChild(pinned, process.execPath, [UPSTREAM_JS, '0'], /ready (\d+)/, children);
    const upPort = Number(upstream.match[1]);
    // Two configs: every request behind a local rate limit (the shared-limits path), and none.
    const configs = { limit: join(work, 'limit'), plain: join(work, 'plain') };
    await mkdir(configs.limit);
    await mkdir(configs.plain);
    await writeFile(join(configs.limit, 'gw.yaml'), gatewayConfig(upPort) + LIMIT);
    await writeFile(join(configs.plain, 'gw.yaml'), gatewayConfig(upPort));
    // CPU time is read over the measured window only: the warm-up second before it (with the
    // connections' setup) is not counted against the measured requests.
    const load: Load = async (port, mode, pids = [], onMeasure) => {
      const ticks: number[] = [];
      const measure = (phase: 'start' | 'end'): void => {
        ticks.push(cpuTicks(pids));
        onMeasure?.(phase);
      };
      const r = await runLoad({ port, request: requestBytes(mode), concurrency, warmupMs: 1000, durationMs, onMeasure: measure });
      const [t0, t1] = ticks;
      return { ...r, cpuUs: pids.length === 0 || t0 === undefined || t1 === undefined ? undefined : cpuPerRequest(t0, t1, r.requests) };
    };
    // Each worker loads its tokenizer and compiles its hot paths on its first requests: a run that
    // is not measured keeps that one-off CPU out of the per-request figure.
    const warm = async (port: number, mode: 'json' | 'stream'): Promise<void> => {
      await runLoad({ port, request: requestBytes(mode), concurrency, warmupMs: 0, durationMs: 2000 });
    };
    const directRuns = async (): Promise<Record<'json' | 'stream', LoadResult>> => ({ json: await load(upPort, 'json'), stream: await load(upPort, 'stream') });
    let direct = await directRuns();
    // Rounds interleave every variant, so a neighbour's burst on a shared machine hits all of them.
    const samples = new Map<string, Row[]>();
    const fixed = new Map<string, Row[]>();
    for (let round = 0; round < rounds; round++) {
      // The upstream alone again each round: added latency compares runs of the same minutes.
      if (round > 0) direct = await directRuns();
      for (const limits of [true, false]) {
        for (const workers of [1, 2]) {
          const gw = await startGateway(limits ? configs.limit : configs.plain, ['--concurrency', String(workers)], undefined, children);
          for (const mode of ['json', 'stream'] as const) {
            const pids = gw.pids();
            await warm(gw.port, mode);
            const c0 = await gw.limitCounters();
            const r = await load(gw.port, mode, pids);
            const c1 = await gw.limitCounters();
            const label = `${workers} worker${workers > 1 ? 's' : ''}, ${limits ? 'local limit' : 'no limit'}`;
            const cell = `${label}/${mode}`;
            // The warm-up inside `load` is not counted in r.requests but its admissions and messages
            // are: upper bounds.
            const ipc =
              workers > 1 && limits
                ? { primaryDecidedPct: (100 * (c1.decided - c0.decided)) / Math.max(1, r.requests), limitMessagesPerRequest: (c1.messages - c0.messages) / Math.max(1, r.requests) }
                : {};
            samples.set(cell, [...(samples.get(cell) ?? []), { ...row(label, mode, r, direct[mode], r.cpuUs), ...ipc }]);
            process.stderr.write('.');
            if (rate > 0) {
              const f0 = cpuTicks(pids);
              const f = await runFixedRate({ port: gw.port, request: requestBytes(mode), rate, warmupMs: 0, durationMs });
              const f1 = cpuTicks(pids);
              fixed.set(cell, [...(fixed.get(cell) ?? []), fixedRow(label, mode, f, cpuPerRequest(f0, f1, f.requests))]);
            }
          }
          await gw.stop();
        }
      }
    }
    process.stderr.write('\n');
    const rows = [...samples.values()].map(best);
    let out = `Part 1: c=${concurrency}, ${durationMs / 1000} s per run, ${rounds} round${rounds > 1 ? 's (best of each)' : ''}${pinned ? '; load generator and upstream pinned, gateway unpinned' : ''}\n`;
    out += table(rows);
    const cpu = (label: string, mode: string): number | undefined => cpuOf(rows, label, mode);
    out += twoVersusOne(rows, 'CPU per request, 2 workers vs 1', (two, mode) => {
      if (two.primaryDecidedPct === undefined) return '';
      return (
        `  admissions decided by the primary over IPC, 2 workers (${mode}): ${two.primaryDecidedPct.toFixed(2)}% of requests (the rest from leases)` +
        `; limit messages per request: ${(two.limitMessagesPerRequest ?? 0).toFixed(4)}\n`
      );
    });
    for (const workers of ['1 worker', '2 workers']) {
      for (const mode of ['json', 'stream']) {
        const limited = cpu(`${workers}, local limit`, mode);
        const plain = cpu(`${workers}, no limit`, mode);
        if (limited !== undefined && plain !== undefined) out += `CPU per request, local limit vs none, ${workers} (${mode}): ${(limited / plain).toFixed(2)}x\n`;
      }
    }
    const fixedRows = [...fixed.values()].map(best);
    if (rate > 0) {
      out += `\nPart 1, fixed rate: the same gateways at ${rate} req/s open-loop (the same work per second for 1 and 2 workers; not the c=${concurrency} figure above)\n`;
      out += fixedTable(fixedRows);
      out += twoVersusOne(fixedRows, `CPU per request at ${rate} req/s, 2 workers vs 1`);
      if (fixedRows.some((r) => (r.lateShare ?? 0) > 0.01)) out += `note: some runs sent over 1% of requests more than 10 ms late: the gateway was saturated at ${rate} req/s (lower --rate) or this process ran late on a busy machine\n`;
    }

    let trap: Row[] | string = 'skipped (--no-trap)';
    if (values['no-trap'] !== true) trap = await throttlingTrap(configs.limit, load, warm, direct.stream, children);
    out += `\nPart 2: the CFS throttling trap, gateway in a cgroup with a 1-core quota (cfs_quota_us=100000, period 100000), streaming\n`;
    out += typeof trap === 'string' ? `${trap}\n` : table(trap);
    process.stdout.write(out);
    await mkdir(join(outFile, '..'), { recursive: true });
    await writeFile(outFile, JSON.stringify({ pinned, concurrency, durationMs, rounds, part1: rows, samples: Object.fromEntries(samples), fixedRate: { rate, rows: fixedRows, samples: Object.fromEntries(fixed) }, part2: trap }, null, 2));
    process.stdout.write(`\nJSON written to ${outFile}\n`);
    return 0;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await rm(work, { recursive: true, force: true });
  }
}

/** Large enough never to reject: it makes every request consult the instance's shared limit store. */
const LIMIT = benchLimitYaml('bench-limit', 1_000_000_000);

/** A c=N closed-loop run; CPU per request of `pids` over the measured window (undefined without pids). */
type Load = (port: number, mode: 'json' | 'stream', pids?: number[], onMeasure?: (phase: 'start' | 'end') => void) => Promise<LoadResult & { cpuUs: number | undefined }>;

interface RunningGateway {
  readonly port: number;
  pids(): number[];
  /** Admissions the primary decided itself (not from a worker's lease) and local-limit messages so far; 0 with 1 worker. */
  limitCounters(): Promise<{ decided: number; messages: number }>;
  stop(): Promise<void>;
}

async function startGateway(work: string, extra: string[], cgroupDir: string | undefined, children: ChildProcess[]): Promise<RunningGateway> {
  const port = await freePort();
  const admin = await freePort();
  const args = [BIN, 'serve', '--config', work, '--listen', `127.0.0.1:${port}`, '--admin', `127.0.0.1:${admin}`, '--no-watch', '--log-level', 'warn', ...extra];
  const cmd = cgroupDir === undefined ? process.execPath : '/bin/sh';
  const argv = cgroupDir === undefined ? args : ['-c', `echo $$ > ${cgroupDir}/cgroup.procs && exec "$0" "$@"`, process.execPath, ...args];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let errText = '';
  child.stderr.on('data', (d: Buffer) => (errText += d.toString()));
  const adminUrl = `http://127.0.0.1:${admin}`;
  const end = Date.now() + 20_000;
  for (;;) {
    const ok = await fetch(`${adminUrl}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > end || child.exitCode !== null) throw new Error(`the gateway did not become ready: ${errText}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const dump = (await (await fetch(`${adminUrl}/config_dump`)).json()) as { workers?: Array<{ pid: number | null }> };
  return {
    port,
    limitCounters: async () => {
      const text = await (await fetch(`${adminUrl}/metrics`)).text();
      const decided = text.match(/^tollgate_local_limit_leases_total\{event="decided"\} (\S+)$/m);
      const messages = [...text.matchAll(/^tollgate_local_limit_messages_total\{[^}]*\} (\S+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
      return { decided: decided === null ? 0 : Number(decided[1]), messages };
    },
    pids: () => [child.pid ?? 0, ...(dump.workers ?? []).map((w) => w.pid ?? 0)],
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    },
  };
}

async function throttlingTrap(
  work: string,
  load: Load,
  warm: (port: number, mode: 'stream') => Promise<void>,
  direct: LoadResult,
  children: ChildProcess[],
): Promise<Row[] | string> {
  const own = detectCpuCgroup();
  if (own === undefined) return 'skipped: no cpu cgroup is visible to this process';
  const dir = join(own.dir, `tollgate-bench-${process.pid}`);
  try {
    mkdirSync(dir);
    if (own.version === 'v1') {
      writeFileSync(join(dir, 'cpu.cfs_period_us'), '100000');
      writeFileSync(join(dir, 'cpu.cfs_quota_us'), '100000');
    } else writeFileSync(join(dir, 'cpu.max'), '100000 100000');
  } catch (err) {
    return `skipped: cannot create a cgroup with a CPU quota under ${own.dir} (${(err as NodeJS.ErrnoException).code ?? 'error'}); run as root on a host with a writable cgroup hierarchy`;
  }
  const rows: Row[] = [];
  try {
    for (const c of ['2', 'auto']) {
      const gw = await startGateway(work, ['--concurrency', c], dir, children);
      const pids = gw.pids();
      await warm(gw.port, 'stream');
      const stat: Array<ReturnType<typeof parseCpuStat>> = [];
      const r = await load(gw.port, 'stream', pids, () => stat.push(parseCpuStat(readFileSync(join(dir, 'cpu.stat'), 'utf8'))));
      const [s0, s1] = stat as [ReturnType<typeof parseCpuStat>, ReturnType<typeof parseCpuStat>];
      rows.push({
        ...row(`--concurrency ${c} (${pids.length - (pids.length > 1 ? 1 : 0)} worker${pids.length > 2 ? 's' : ''})`, 'stream', r, direct, r.cpuUs),
        throttledPeriods: s1.throttledPeriods - s0.throttledPeriods,
        periods: s1.periods - s0.periods,
        throttledMs: (s1.throttledSeconds - s0.throttledSeconds) * 1000,
      });
      process.stderr.write('.');
      await gw.stop();
    }
  } finally {
    try {
      rmdirSync(dir);
    } catch {
      // a process still leaving the cgroup; it is empty soon and harmless
    }
  }
  process.stderr.write('\n');
  return rows;
}

function row(label: string, mode: 'json' | 'stream', r: LoadResult, direct: LoadResult, cpu: number | undefined): Row {
  return {
    label,
    mode,
    rps: r.requests / r.seconds,
    p50Ms: r.latency.p50 / 1000,
    p99Ms: r.latency.p99 / 1000,
    firstByteP99Ms: r.firstByte.p99 / 1000,
    addedP50Ms: (r.latency.p50 - direct.latency.p50) / 1000,
    addedP99Ms: (r.latency.p99 - direct.latency.p99) / 1000,
    addedFirstByteP99Ms: (r.firstByte.p99 - direct.firstByte.p99) / 1000,
    cpuUsPerRequest: cpu,
    errors: r.errors,
  };
}

function fixedRow(label: string, mode: 'json' | 'stream', r: FixedRateResult, cpu: number | undefined): Row {
  return {
    label,
    mode,
    rps: r.requests / r.seconds,
    p50Ms: r.latency.p50 / 1000,
    p99Ms: r.latency.p99 / 1000,
    firstByteP99Ms: 0,
    addedP50Ms: 0,
    addedP99Ms: 0,
    addedFirstByteP99Ms: 0,
    cpuUsPerRequest: cpu,
    errors: r.errors,
    lateShare: r.lateShare,
  };
}

function fixedTable(rows: readonly Row[]): string {
  const lines = ['run                          mode       req/s   p50 ms   p99 ms  sent late  CPU µs/req', '---------------------------  ------  --------  -------  -------  ---------  ----------'];
  for (const r of rows) {
    lines.push(
      `${r.label.padEnd(27)}  ${r.mode.padEnd(6)}  ${r.rps.toFixed(0).padStart(8)}  ${r.p50Ms.toFixed(2).padStart(7)}  ${r.p99Ms.toFixed(2).padStart(7)}  ${`${((r.lateShare ?? 0) * 100).toFixed(1)}%`.padStart(9)}  ${(r.cpuUsPerRequest?.toFixed(0) ?? '').padStart(10)}${r.errors > 0 ? `  errors=${r.errors}` : ''}`,
    );
  }
  return lines.join('\n') + '\n';
}

function cpuOf(rows: readonly Row[], label: string, mode: string): number | undefined {
  return rows.find((r) => r.label === label && r.mode === mode)?.cpuUsPerRequest;
}

/** One line per limit setting and mode: 2 workers' CPU per request over 1 worker's, then `more` of the 2-worker row. */
function twoVersusOne(rows: readonly Row[], title: string, more: (two: Row, mode: string) => string = () => ''): string {
  let out = '';
  for (const limits of ['local limit', 'no limit']) {
    for (const mode of ['json', 'stream']) {
      const one = cpuOf(rows, `1 worker, ${limits}`, mode);
      const two = rows.find((r) => r.label === `2 workers, ${limits}` && r.mode === mode);
      if (one !== undefined && two?.cpuUsPerRequest !== undefined) out += `${title}, ${limits} (${mode}): ${(two.cpuUsPerRequest / one).toFixed(2)}x\n`;
      if (two !== undefined) out += more(two, mode);
    }
  }
  return out;
}

/** The round with the least CPU per request (its other figures come with it, measured together). */
function best(rows: readonly Row[]): Row {
  return [...rows].sort((a, b) => (a.cpuUsPerRequest ?? Infinity) - (b.cpuUsPerRequest ?? Infinity))[0] as Row;
}

function table(rows: readonly Row[]): string {
  const lines = [
    'run                          mode       req/s  added p50 ms  added p99 ms  1st chunk p99 ms  CPU µs/req  throttled periods  throttled ms',
    '---------------------------  ------  --------  ------------  ------------  ----------------  ----------  -----------------  ------------',
  ];
  for (const r of rows) {
    const thr = r.throttledPeriods === undefined ? '' : `${`${r.throttledPeriods}/${r.periods ?? 0}`.padStart(17)}  ${(r.throttledMs ?? 0).toFixed(0).padStart(12)}`;
    lines.push(
      `${r.label.padEnd(27)}  ${r.mode.padEnd(6)}  ${r.rps.toFixed(0).padStart(8)}  ${r.addedP50Ms.toFixed(2).padStart(12)}  ${r.addedP99Ms.toFixed(2).padStart(12)}  ${r.firstByteP99Ms.toFixed(2).padStart(16)}  ${(r.cpuUsPerRequest?.toFixed(0) ?? '').padStart(10)}  ${thr}${r.errors > 0 ? `  errors=${r.errors}` : ''}`,
    );
  }
  return lines.join('\n') + '\n';
}
