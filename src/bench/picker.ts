// `tollgate bench picker` (`npm run bench:picker`): does the InferencePool endpoint picker beat
// round robin? Four simulated vLLM replicas (each its own engine, KV cache and prefix cache), one
// gateway whose pool lists them, the synthetic multi-turn corpus (sessions whose turns resend a
// growing history) and the load harness in closed-loop users mode, with the same seed (the same
// sessions in the same order) for every strategy.
//
// The machine the simulator, the gateway and the harness share may be busy, and how much CPU they
// get moves the pool's saturation point. So the bench runs in trials: each trial first measures the
// saturation point with a short gated ramp under round robin (unless --saturation is given), then
// runs every level once per strategy (the order rotated from trial to trial) on fresh replicas and
// a fresh gateway, so no run inherits another's caches. The verdict is on the median over trials of
// each trial's own ratios, and every trial is printed with what shows CPU starvation: the load
// average, the harness's send lag and the simulator's late steps. `--virtual` runs the same
// comparison in simulated time, where the CPU cannot move it (bench/picker-virtual.ts). The replicas and gateway of a run
// are started in bench/picker-stack.ts; reading and formatting the numbers is in
// bench/picker-report.ts.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { CliError, formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from '../cli/args.js';
import { CorpusError } from '../workload/manifest.js';
import { pickCostSection } from './picker-cost.js';
import { formatRow, formatTrials, judgeTrials, learnedBatchSlots, num, rec, replicaNumbers, type RunResult } from './picker-report.js';
import { REPLICAS, startStack, stopAll, STRATEGIES, type Strategy } from './picker-stack.js';
import { CpuSampler } from './picker-cpu.js';
import { loadRun, MINIATURE, planYaml, prepareCorpus, replicaProfile, SESSION_GAP_S, type Workload } from './picker-setup.js';
import { BIN } from './procs.js';
import { loadVirtualCorpus } from './picker-corpus.js';
import { virtualComparison } from './picker-virtual.js';
import { SHARE_INTERVAL_MS, SHARE_PREFILL_TOKENS } from '../upstream/pool/share.js';
import { BUILTIN_PROFILES, profileFromObject } from '../sim/index.js';
import { DEFAULT_WEIGHTS, SCORERS } from '../config/compile/inference-pool.js';
import type { ScorerName } from '../config/types.js';

const spec = {
  name: 'bench picker',
  summary: 'InferencePool: round robin vs least-request vs the endpoint picker on 4 simulated vLLM replicas',
  usage: `
Usage: tollgate bench picker [--short] [--virtual [--workers N [--share-ms MS] [--share-prefill TOKENS]] [--weights W] [--scrape-delay MS] [--first-seed N]] [--warmup SEC] [--trials N]
                             [--duration SEC] [--levels PCT,...] [--saturation USERS] [--slow K]
                             [--workload calibrated|agentic] [--sessions N] [--out DIR]

  --short             a miniature engine (1/5 the step time, 16-sequence batches) and short runs,
                      for a shared or small machine; same mechanisms, smaller numbers
  --virtual           no processes: the simulator's engines, the gateway's picker and closed-loop
                      users replaying the same corpus in one simulated timeline (deterministic
                      per trial's seed; the machine's load cannot move it); --duration is
                      simulated seconds (default 600; --short 120)
  --workers N         with --virtual: gateway worker processes, each picking with what it saw
                      and what the others shared (default 1)
  --share-ms MS       with --workers: the interval of the workers' shared picker state: at most one
                      batch per worker and one relay by the primary per interval (default
                      ${SHARE_INTERVAL_MS}, as \`serve\` does); 0: nothing shared, each worker's picker
                      knows only its own requests
  --share-prefill TOKENS  with --workers: the workers also share, per replica, the prefill they sent
                      without a first byte yet, whenever it moved by TOKENS or more
                      (default ${SHARE_PREFILL_TOKENS}: not shared)
  --warmup SEC        seconds of load before the measured window, so the picker is measured with
                      what it learns (batch sizes, prefill rates, prefixes), not from a cold start
                      (default 60, 120 with --workload agentic)
  --weights W         with --virtual: the picker's scorer weights, as the pool annotation
                      tollgate.io/picker-weights writes them (e.g. "queue=2,prefill=2"; scorers
                      not named keep their defaults)
  --scrape-delay MS   with --virtual: each scrape reaches the picker MS after the state it reports
                      (default 0; the real stack's scrapes cross HTTP and wait for a busy engine)
  --first-seed N      with --virtual: the first trial's seed (default 1; trial k runs seed N+k-1),
                      to split one comparison's seeds over processes
  --workload NAME     the synthetic corpus (profiles B, C and D of \`tollgate synth\`):
                      calibrated (default) is the shape the simulator profile was calibrated
                      with (~3 turns, ~2.4k prompt tokens); agentic is synth's own defaults
                      (long agent sessions: ~17 turns, ~9k prompt tokens, up to ~70k)
  --trials N          repeat the whole comparison N times, each with its own saturation ramp
                      (default 3); the verdict is on the median of the trials' ratios
  --duration SEC      length of each run's measured window (default 180; --short 120)
  --levels PCT,...    load levels in % of the pool's saturation point (default 50,80,100)
  --saturation USERS  the pool's saturation point in users; skips the ramps that measure it
  --ramp-step SEC     length of each step of that ramp (default 60; --short 8); the ramp adds
                      4 users per replica a step (16 without --short)
  --strategies LIST   which to run (default round-robin,least-request,picker)
  --sessions N        synthetic corpus size (default 6000; --short 8000); a run that uses them all
                      starts them again, and says so: repeated sessions are cached whole
  --slow K            real stack: every engine cost, think time, session gap and the scrape
                      interval ×K, so the gateway, harness and simulators need 1/K the CPU per
                      engine second (runs take K× as long); latencies are reported ÷K, in engine
                      time. For a machine whose cores the stack fills (default 1)
  --out DIR           corpus, configs and results (default .bench-out/picker)

Goal, at 80% of saturation: the picker's TTFT p99 at most half of round robin's, a higher
prefix-cache hit rate, and output tokens/s within 3% of round robin's or better, each as the
median over the trials of the trial's own ratio. Exit 1 when missed.`,
  options: {
    short: { type: 'boolean' },
    virtual: { type: 'boolean' },
    workers: { type: 'string' },
    'share-ms': { type: 'string' },
    'scrape-delay': { type: 'string' },
    'share-prefill': { type: 'string' },
    warmup: { type: 'string' },
    workload: { type: 'string' },
    weights: { type: 'string' },
    'first-seed': { type: 'string' },
    trials: { type: 'string' },
    duration: { type: 'string' },
    levels: { type: 'string' },
    saturation: { type: 'string' },
    'ramp-step': { type: 'string' },
    strategies: { type: 'string' },
    sessions: { type: 'string' },
    slow: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

interface Settings {
  readonly short: boolean;
  readonly virtual: boolean;
  readonly workers: number;
  readonly shareMs: number;
  readonly scrapeDelayMs: number;
  readonly sharePrefill: number;
  readonly warmupS: number;
  readonly workload: Workload;
  readonly weights: Readonly<Record<ScorerName, number>> | undefined;
  readonly firstSeed: number;
  readonly trials: number;
  readonly durationS: number;
  readonly levels: readonly number[];
  readonly saturation: number | undefined;
  readonly rampStepS: number;
  readonly sessions: number;
  readonly strategies: readonly Strategy[];
  readonly out: string;
  /** Real stack: engine-time dilation (1: none); see --slow. */
  readonly slow: number;
}

function settings(argv: string[]): Settings | undefined {
  const { values: v } = parseCommandArgs(spec, argv);
  if (v.help === true) {
    process.stdout.write(formatHelp(spec));
    return undefined;
  }
  const short = v.short === true;
  const workload = v.workload ?? 'calibrated';
  if (workload !== 'calibrated' && workload !== 'agentic') throw new UsageError(`--workload: unknown workload "${workload}"`, 'calibrated or agentic');
  const levels = (v.levels ?? '50,80,100').split(',').map((s) => parsePositiveInt(s.trim(), '--levels', { max: 400 }));
  const slow = v.slow === undefined ? 1 : parsePositiveInt(v.slow, '--slow', { max: 20 });
  if (slow > 1 && v.virtual === true) throw new UsageError('--slow is for the real stack', 'simulated time has no CPU to spare; drop --slow or --virtual');
  return {
    short,
    virtual: v.virtual === true,
    workers: v.workers === undefined ? 1 : parsePositiveInt(v.workers, '--workers', { max: 64 }),
    scrapeDelayMs: v['scrape-delay'] === undefined ? 0 : parsePositiveInt(v['scrape-delay'], '--scrape-delay', { min: 0, max: 10_000 }),
    shareMs: v['share-ms'] === undefined ? SHARE_INTERVAL_MS : parsePositiveInt(v['share-ms'], '--share-ms', { min: 0, max: 60_000 }),
    sharePrefill: v['share-prefill'] === undefined ? SHARE_PREFILL_TOKENS : parsePositiveInt(v['share-prefill'], '--share-prefill', { min: 0, max: 1_000_000 }),
    warmupS: v.warmup === undefined ? (workload === 'agentic' ? 120 : 60) : parsePositiveInt(v.warmup, '--warmup'),
    workload,
    weights: v.weights === undefined ? undefined : parseWeights(v.weights),
    firstSeed: v['first-seed'] === undefined ? 1 : parsePositiveInt(v['first-seed'], '--first-seed'),
    trials: v.trials === undefined ? 3 : parsePositiveInt(v.trials, '--trials', { max: 50 }),
    // With --short, 120 s: a p99 over the ~1,000 requests of 25 s was decided by one burst or two.
    durationS: v.duration === undefined ? (short ? 120 : v.virtual === true ? 600 : 180) : parsePositiveInt(v.duration, '--duration'),
    levels,
    saturation: v.saturation === undefined ? undefined : parsePositiveInt(v.saturation, '--saturation'),
    rampStepS: v['ramp-step'] === undefined ? (short ? 8 : 60) : parsePositiveInt(v['ramp-step'], '--ramp-step'),
    // Enough that a --short run at 100% (60 + 120 s) starts no session twice.
    sessions: v.sessions === undefined ? (short ? 8000 : 6000) : parsePositiveInt(v.sessions, '--sessions'),
    strategies: (v.strategies ?? STRATEGIES.join(',')).split(',').map((x) => {
      const st = STRATEGIES.find((k) => k === x.trim());
      if (st === undefined) throw new UsageError(`--strategies: unknown strategy "${x.trim()}"`, `some of ${STRATEGIES.join(', ')}`);
      return st;
    }),
    out: resolve(v.out ?? '.bench-out/picker'),
    slow,
  };
}

function parseWeights(text: string): Record<ScorerName, number> {
  const weights: Record<ScorerName, number> = { ...DEFAULT_WEIGHTS };
  for (const part of text.split(',')) {
    const [name, value] = part.split('=').map((x) => x.trim());
    const scorer = SCORERS.find((k) => k === name);
    const w = Number(value);
    if (scorer === undefined || value === undefined || value === '' || !Number.isFinite(w) || w < 0) {
      throw new UsageError(`--weights: "${part.trim()}" is not scorer=weight`, `scorers: ${SCORERS.join(', ')}; weights are numbers >= 0, e.g. "queue=2,prefill=2"`);
    }
    weights[scorer] = w;
  }
  return weights;
}

/** Users per replica added at each step of the saturation ramp (and its first level). */
const RAMP_STEP_PER_REPLICA = 4;

async function measureSaturation(s: Settings, corpus: string, profile: string, children: ChildProcess[], trial: number): Promise<number> {
  const stack = await startStack(s.out, 'round-robin', profile, children, s.slow);
  try {
    // Fine steps: the 80% level is only as close to 80% as the knee is to the level that found it.
    const step = REPLICAS * RAMP_STEP_PER_REPLICA * (s.short ? 1 : 4);
    const stepS = s.rampStepS * s.slow;
    const phase = `{kind: ramp, start: ${step}, step: ${step}, max: ${step * 40}, step_duration: ${stepS}s, settle: ${Math.max(1, Math.round(stepS / 4))}s}`;
    const r = await loadRun(corpus, join(s.out, 'runs', `t${trial}-saturation`), planYaml('picker-saturation', [phase], stack.admin, stack.replicas, s.slow), stack.gateway);
    const t2 = rec(rec(r['boundaries'])['t2']);
    const level = num(t2['level']);
    if (level !== null) return level;
    const steps = Array.isArray(r['steps']) ? (r['steps'] as unknown[]) : [];
    const last = num(rec(steps[steps.length - 1])['level']);
    process.stdout.write('note: the ramp found no TTFT knee; using its highest level as the saturation point\n');
    return last ?? step;
  } finally {
    await stopAll(children);
  }
}

/** How many times the harness started the corpus's sessions over (results.json's harness.corpus_wraps). */
function corpusWraps(r: Record<string, unknown>): number {
  return Object.values(rec(rec(r['harness'])['corpus_wraps'])).reduce<number>((a, v) => a + (num(v) ?? 0), 0);
}

async function oneRun(s: Settings, corpus: string, profile: string, children: ChildProcess[], trial: number, saturation: number, pct: number, strategy: Strategy): Promise<RunResult> {
  const users = Math.max(1, Math.round((saturation * pct) / 100));
  const stack = await startStack(s.out, strategy, profile, children, s.slow);
  const cpu = new CpuSampler();
  stack.pids.replicas.forEach((pid) => cpu.add(pid, 'replicas'));
  cpu.add(stack.pids.gateway, 'gateway');
  try {
    const load1m = loadavg()[0] ?? 0;
    const dir = join(s.out, 'runs', `t${trial}-${pct}pct-${strategy}`);
    // A warm-up at the same level first: the numbers are the second phase's, the picker's learned
    // state (batch sizes, prefill rates, prefix index) what the load taught it, as in --virtual.
    const steady = (name: string, seconds: number): string => `{kind: steady, name: ${name}, level: ${users}, duration: ${seconds * s.slow}s}`;
    const plan = planYaml(`picker-${pct}-${strategy}`, [steady('warm-up', s.warmupS), steady('measured', s.durationS)], stack.admin, stack.replicas, s.slow);
    const r = await loadRun(corpus, dir, plan, stack.gateway, (pid) => cpu.add(pid, 'harness'));
    const cpuUse = cpu.stop();
    const phases = Array.isArray(r['phases']) ? (r['phases'] as unknown[]) : [];
    const phase = rec(phases[phases.length - 1]);
    const summary = rec(phase['summary']);
    const ttft = rec(summary['ttft']);
    const replicas = await replicaNumbers(stack.replicas);
    const slots = strategy === 'picker' ? await learnedBatchSlots(stack.admin, stack.replicas) : undefined;
    const hits = replicas.reduce((a, x) => a + x.hits, 0);
    const queries = replicas.reduce((a, x) => a + x.queries, 0);
    // Seconds measured on the wall, in engine time (with --slow the engine runs `slow`× slower).
    const engineS = (v: number | null): number | null => (v === null ? null : v / s.slow);
    const engineMs = (v: number | null): number | null => (v === null ? null : (v * 1000) / s.slow);
    return {
      trial,
      saturation,
      strategy,
      levelPct: pct,
      users,
      ttftP50: engineS(num(ttft['p50'])),
      ttftP99: engineS(num(ttft['p99'])),
      outputTokensPerS: (num(summary['output_tokens_per_s']) ?? 0) * s.slow,
      errorRate: num(summary['error_rate']) ?? 0,
      prefixHitRate: queries > 0 ? hits / queries : null,
      replicas: replicas.map(({ hits: _h, queries: _q, ...x }) => x),
      noise: {
        loadAvg1m: load1m,
        harnessLagP99Ms: ((): number | null => {
          const v = num(rec(phase['lag'])['p99']);
          return v === null ? null : v * 1000;
        })(),
        simLateStepP99Ms: Math.max(...replicas.map((x) => x.lateStepP99Ms)),
        simOverruns: replicas.reduce((a, x) => a + x.overruns, 0),
        ttftMeanMs: engineMs(num(ttft['mean'])),
        engineTtftMeanMs: engineMs(num(rec(rec(phase['telemetry'])['engine'])['ttft'])),
        cpu: cpuUse,
        corpusWraps: corpusWraps(r),
        ...(slots === undefined ? {} : { batchSlots: slots }),
      },
    };
  } finally {
    cpu.stop();
    await stopAll(children);
  }
}

export async function run(argv: string[]): Promise<number> {
  const s = settings(argv);
  if (s === undefined) return 0;
  if (s.virtual) return runVirtualComparison(s);
  process.stdout.write(`${pickCostSection()}\n`);
  if (!existsSync(BIN)) throw new UsageError('the CLI is not built', 'run `npm run build` first');
  await mkdir(s.out, { recursive: true });
  const children: ChildProcess[] = [];
  const onSignal = (): void => void stopAll(children).then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const corpus = await prepareCorpus(s);
    const profile = await replicaProfile(s);

    const results: RunResult[] = [];
    for (let trial = 1; trial <= s.trials; trial++) {
      let saturation = s.saturation;
      if (saturation === undefined) {
        process.stdout.write(`trial ${trial}/${s.trials}: measuring the saturation point of ${REPLICAS} replicas (gated ramp, round robin, ${s.rampStepS}s steps)\n`);
        saturation = await measureSaturation(s, corpus, profile, children, trial);
      }
      process.stdout.write(`trial ${trial}/${s.trials}: saturation point ${saturation} users\n`);
      // Rotating the order spreads a slow drift of the machine's load over every strategy.
      const order = s.strategies.map((_, i) => s.strategies[(i + trial - 1) % s.strategies.length] as Strategy);
      for (const pct of s.levels) {
        for (const strategy of order) {
          const row = await oneRun(s, corpus, profile, children, trial, saturation, pct, strategy);
          results.push(row);
          process.stdout.write(`${formatRow(row)}\n`);
        }
      }
    }
    const verdict = judgeTrials(results);
    const report = `${formatTrials(results, s)}\n\n${verdict.lines.join('\n')}\n`;
    process.stdout.write(`\n${report}`);
    await writeFile(join(s.out, 'picker.json'), `${JSON.stringify({ settings: s, results, goal: verdict }, null, 2)}\n`);
    await writeFile(join(s.out, 'picker.md'), report);
    process.stdout.write(`\nresults: ${join(s.out, 'picker.json')}, ${join(s.out, 'picker.md')}\n`);
    return verdict.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    await stopAll(children);
  }
}

async function runVirtualComparison(s: Settings): Promise<number> {
  const profile = s.short ? profileFromObject(MINIATURE) : (BUILTIN_PROFILES['h100x4-gpt-oss-120b'] as NonNullable<(typeof BUILTIN_PROFILES)[string]>);
  if (!existsSync(BIN)) throw new UsageError('the CLI is not built', 'run `npm run build` first');
  const dir = await prepareCorpus(s);
  let corpus;
  try {
    corpus = await loadVirtualCorpus(dir);
  } catch (err) {
    // A corpus the bench left behind that cannot be replayed (damaged, or written another way).
    if (err instanceof CorpusError) throw new CliError(err.message, err.hint ?? `delete ${dir} and run again: the bench synthesises it anew`);
    throw err;
  }
  process.stdout.write(
    `virtual time: 4 engines of ${profile.name}, the ${s.workload} corpus (${corpus.profiles.map((p) => `${p.name} ${(p.share * 100).toFixed(0)}%`).join(', ')} of users), ${s.durationS} simulated s per run after ${s.warmupS} s of warm-up, ${s.trials} seed(s), ${s.workers} gateway worker(s)${s.workers > 1 ? (s.shareMs > 0 ? ` sharing picker state every ${s.shareMs} ms${s.sharePrefill > 0 ? `, pending prefill when it moves by ${s.sharePrefill} tokens` : ''}` : ' picking alone') : ''}; ${s.saturation === undefined ? "each seed's saturation point from a round-robin ramp" : `saturation point given: ${s.saturation} users`}\n`,
  );
  const step = REPLICAS * RAMP_STEP_PER_REPLICA * (s.short ? 1 : 4);
  const run = { warmupS: s.warmupS, durationS: s.durationS, sessionGapS: SESSION_GAP_S, workers: s.workers, shareMs: s.shareMs, sharePrefill: s.sharePrefill, weights: s.weights, scrapeDelayMs: s.scrapeDelayMs };
  const r = virtualComparison(profile, corpus, { firstSeed: s.firstSeed, seeds: s.trials, levels: s.levels, strategies: s.strategies, run, rampStep: step, saturation: s.saturation }, (line) => process.stdout.write(`${line}\n`));
  await mkdir(s.out, { recursive: true });
  await writeFile(join(s.out, 'picker-virtual.json'), `${JSON.stringify({ settings: s, profile: profile.name, runs: r.runs, ok: r.ok }, null, 2)}\n`);
  await writeFile(join(s.out, 'picker-virtual.md'), `${r.report}\n`);
  process.stdout.write(`\n${r.report.split('\n\n').slice(1).join('\n\n')}\nresults: ${join(s.out, 'picker-virtual.json')}, ${join(s.out, 'picker-virtual.md')}\n`);
  return r.ok ? 0 : 1;
}
