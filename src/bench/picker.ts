// `tollgate bench picker` (`npm run bench:picker`): does the InferencePool endpoint picker beat
// round robin? Four simulated vLLM replicas (each its own engine, KV cache and prefix cache), one
// gateway whose pool lists them, the synthetic multi-turn corpus (sessions whose turns resend a
// growing history) and the load harness in closed-loop users mode. The pool's saturation point is
// measured first (a gated ramp under round robin, unless --saturation is given); then each load
// level runs once per strategy (round robin, least-request, the picker) on fresh replicas and a
// fresh gateway, so no run inherits another's caches. Reported per run: TTFT p50/p99, output
// tokens/s, prefix-cache hit rate and preemptions per replica.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { formatHelp, parseCommandArgs, parsePositiveInt, UsageError } from '../cli/args.js';
import { pickCostSection } from './picker-cost.js';
import { BIN, freePort } from './procs.js';

const spec = {
  name: 'bench picker',
  summary: 'InferencePool: round robin vs least-request vs the endpoint picker on 4 simulated vLLM replicas',
  usage: `
Usage: tollgate bench picker [--short] [--duration SEC] [--levels PCT,...] [--saturation USERS]
                             [--sessions N] [--out DIR]

  --short             a miniature engine (1/5 the step time, 16-sequence batches) and short runs,
                      for a shared or small machine; same mechanisms, smaller numbers
  --duration SEC      length of each run (default 180; --short 25)
  --levels PCT,...    load levels in % of the pool's saturation point (default 50,80,100)
  --saturation USERS  the pool's saturation point in users; skips the ramp that measures it
  --ramp-step SEC     length of each step of that ramp (default 60; --short 8)
  --strategies LIST   which to run (default round-robin,least-request,picker)
  --sessions N        synthetic corpus size (default 6000; --short 2000)
  --out DIR           corpus, configs and results (default .bench-out/picker)

Goal, at 80% of saturation: the picker's TTFT p99 at most half of round robin's, a higher
prefix-cache hit rate, and output tokens/s within 3% of round robin's or better. Exit 1 when missed.`,
  options: {
    short: { type: 'boolean' },
    duration: { type: 'string' },
    levels: { type: 'string' },
    saturation: { type: 'string' },
    'ramp-step': { type: 'string' },
    strategies: { type: 'string' },
    sessions: { type: 'string' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
} as const;

const REPLICAS = 4;
const STRATEGIES = ['round-robin', 'least-request', 'picker'] as const;
type Strategy = (typeof STRATEGIES)[number];

// The corpus the seed scenario is calibrated with: an 800-token system prompt, ~3 turns per
// session of ~400-token tasks and tool outputs, ~410 output tokens, exponential think times.
const turns = { kind: 'lognormal', median: 3, sigma: 0.5, min: 1, max: 10 };
const visible = { kind: 'exponential', mean: 150, min: 10, max: 1500 };
const reasoning = { kind: 'exponential', mean: 215, max: 3000 };
const think = { kind: 'exponential', mean: 7500, max: 60000 };
const SYNTH_PARAMS = {
  'terminal-bench': { systemTokens: 800, task: { kind: 'lognormal', median: 300, sigma: 0.8, min: 30, max: 3000 }, turns, observation: { kind: 'pareto', xm: 120, alpha: 1.5, max: 4000 }, visible, reasoning, think },
  omniact: { systemTokens: 800, visible, reasoning: { kind: 'exponential', mean: 260, max: 3000 } },
  'swe-rebench': { systemTokens: 800, task: { kind: 'lognormal', median: 400, sigma: 0.8, min: 50, max: 4000 }, turns, observation: { kind: 'lognormal', median: 300, sigma: 0.8, min: 5, max: 4000 }, visible, reasoning, think },
  coderforge: { systemTokens: 800, task: { kind: 'lognormal', median: 400, sigma: 0.8, min: 50, max: 4000 }, turns, observation: { kind: 'lognormal', median: 300, sigma: 0.8, min: 5, max: 4000 }, visible, reasoning, think },
};

/** The seed scenario's miniature engine: same shape, the knee at a few dozen users per replica. */
const MINIATURE = {
  extends: 'h100x4-gpt-oss-120b',
  name: 'h100x4-gpt-oss-120b-miniature',
  scheduler: { maxNumSeqs: 16 },
  cost: { fixedMs: 2, prefillTokenMs: 0.0084, decodeSeqMs: 0.02, contextTokenMs: 0.00000212 },
  latency: { frontendMs: 0.8 },
};

interface Settings {
  readonly short: boolean;
  readonly durationS: number;
  readonly levels: readonly number[];
  readonly saturation: number | undefined;
  readonly rampStepS: number;
  readonly sessions: number;
  readonly strategies: readonly Strategy[];
  readonly out: string;
}

interface ReplicaNumbers {
  readonly endpoint: string;
  readonly prefixHitRate: number | null;
  readonly preemptions: number;
  readonly requests: number;
}

export interface RunResult {
  readonly strategy: Strategy;
  readonly levelPct: number;
  readonly users: number;
  readonly ttftP50: number | null;
  readonly ttftP99: number | null;
  readonly outputTokensPerS: number;
  readonly errorRate: number;
  readonly prefixHitRate: number | null;
  readonly replicas: readonly ReplicaNumbers[];
}

function settings(argv: string[]): Settings | undefined {
  const { values: v } = parseCommandArgs(spec, argv);
  if (v.help === true) {
    process.stdout.write(formatHelp(spec));
    return undefined;
  }
  const short = v.short === true;
  const levels = (v.levels ?? '50,80,100').split(',').map((s) => parsePositiveInt(s.trim(), '--levels', { max: 400 }));
  return {
    short,
    durationS: v.duration === undefined ? (short ? 25 : 180) : parsePositiveInt(v.duration, '--duration'),
    levels,
    saturation: v.saturation === undefined ? undefined : parsePositiveInt(v.saturation, '--saturation'),
    rampStepS: v['ramp-step'] === undefined ? (short ? 8 : 60) : parsePositiveInt(v['ramp-step'], '--ramp-step'),
    sessions: v.sessions === undefined ? (short ? 2000 : 6000) : parsePositiveInt(v.sessions, '--sessions'),
    strategies: (v.strategies ?? STRATEGIES.join(',')).split(',').map((x) => {
      const st = STRATEGIES.find((k) => k === x.trim());
      if (st === undefined) throw new UsageError(`--strategies: unknown strategy "${x.trim()}"`, `some of ${STRATEGIES.join(', ')}`);
      return st;
    }),
    out: resolve(v.out ?? '.bench-out/picker'),
  };
}

function runCli(args: string[], what: string): Promise<void> {
  return new Promise((res, rej) => {
    const c = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (code) => (code === 0 ? res() : rej(new Error(`${what} exited with ${code}: ${err.trim().slice(-2000)}`))));
  });
}

function poolManifest(ports: readonly number[], strategy: Strategy): string {
  return `apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: gpt-oss
  namespace: default
  annotations:
    tollgate.io/endpoints: "${ports.map((p) => `127.0.0.1:${p}`).join(',')}"
    tollgate.io/endpoint-picker: ${strategy}
    tollgate.io/scrape-interval: 500ms
spec:
  targetPorts:
    - number: ${ports[0] ?? 8000}
  selector:
    matchLabels:
      app: gpt-oss
---
apiVersion: aigateway.envoyproxy.io/v1beta1
kind: AIGatewayRoute
metadata:
  name: gpt-oss
  namespace: default
spec:
  rules:
    - backendRefs:
        - group: inference.networking.k8s.io
          kind: InferencePool
          name: gpt-oss
      timeouts:
        request: 600s
`;
}

/** Fresh replicas and a fresh gateway for one run; returns the gateway URL and replica URLs. */
async function startStack(s: Settings, strategy: Strategy, profile: string, children: ChildProcess[]): Promise<{ gateway: string; admin: string; replicas: string[] }> {
  // Each replica on a port of its own (consecutive ports from one free port may be taken).
  const ports: number[] = [];
  while (ports.length < REPLICAS) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const replicas = ports.map((p) => `http://127.0.0.1:${p}`);
  children.push(spawnQuiet(['sim', ...ports.flatMap((p) => ['--listen', `127.0.0.1:${p}`]), '--profile', profile, '--model', 'gpt-oss-120b']));
  const config = join(s.out, 'config', strategy);
  await mkdir(config, { recursive: true });
  await writeFile(join(config, 'pool.yaml'), poolManifest(ports, strategy));
  const gp = await freePort();
  const ap = await freePort();
  children.push(spawnQuiet(['serve', '--config', config, '--listen', `127.0.0.1:${gp}`, '--admin', `127.0.0.1:${ap}`, '--log-level', 'warn', '--no-watch']));
  for (const r of replicas) await waitHttp(`${r}/health`);
  await waitHttp(`http://127.0.0.1:${ap}/readyz`);
  return { gateway: `http://127.0.0.1:${gp}`, admin: `http://127.0.0.1:${ap}`, replicas };
}

/** A tollgate child whose output is not kept (a long run would pile it up); stderr goes to ours. */
function spawnQuiet(args: string[]): ChildProcess {
  return spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'ignore', 'inherit'] });
}

async function waitHttp(url: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer`);
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((r) => {
          if (c.exitCode !== null) return r();
          c.once('exit', () => r());
          c.kill('SIGTERM');
          setTimeout(() => c.kill('SIGKILL'), 5_000).unref();
        }),
    ),
  );
}

function planYaml(name: string, phase: string, admin: string, replicas: readonly string[]): string {
  return `name: ${name}
mode: users
seed: 1
session_gap: ${'7.5s'}
phases:
  - ${phase}
gates:
  window: 10s
  sustain: 2
  min_samples: 20
  t2: {factor: 3.0, source: client}
  error_rate: {max: 0.2}
slo: {ttft: 2s, tpot: 0.1s}
telemetry:
  interval: 1s
  targets:
    - {name: gateway, url: ${admin}/metrics}
${replicas.map((r, i) => `    - {name: vllm-${i}, url: ${r}/metrics}`).join('\n')}
request: {timeout: 10m}
harness: {drain: 20s}
`;
}

async function loadRun(s: Settings, corpus: string, dir: string, plan: string, target: string): Promise<Record<string, unknown>> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const planFile = join(dir, 'plan.yaml');
  await writeFile(planFile, plan);
  await runCli(['load', '--workload', corpus, '--target', target, '--plan', planFile, '--out', dir, '--quiet'], 'tollgate load');
  return JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as Record<string, unknown>;
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});

/** Sum of a counter over its label sets in Prometheus text. */
function counter(text: string, name: string): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const c = line.charAt(name.length);
    if (c !== '{' && c !== ' ') continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) total += v;
  }
  return total;
}

async function replicaNumbers(urls: readonly string[]): Promise<Array<ReplicaNumbers & { hits: number; queries: number }>> {
  return Promise.all(
    urls.map(async (u) => {
      const text = await (await fetch(`${u}/metrics`)).text();
      const queries = counter(text, 'vllm:prefix_cache_queries_total');
      const hits = counter(text, 'vllm:prefix_cache_hits_total');
      return {
        endpoint: u.replace('http://', ''),
        prefixHitRate: queries > 0 ? hits / queries : null,
        preemptions: counter(text, 'vllm:num_preemptions_total'),
        requests: counter(text, 'vllm:request_success_total'),
        hits,
        queries,
      };
    }),
  );
}

async function measureSaturation(s: Settings, corpus: string, profile: string, children: ChildProcess[]): Promise<number> {
  const stack = await startStack(s, 'round-robin', profile, children);
  try {
    const per = s.short ? 8 : 32;
    const phase = `{kind: ramp, start: ${REPLICAS * per}, step: ${REPLICAS * per}, max: ${REPLICAS * per * 16}, step_duration: ${s.rampStepS}s, settle: ${Math.max(1, Math.round(s.rampStepS / 4))}s}`;
    const r = await loadRun(s, corpus, join(s.out, 'runs', 'saturation'), planYaml('picker-saturation', phase, stack.admin, stack.replicas), stack.gateway);
    const t2 = rec(rec(r['boundaries'])['t2']);
    const level = num(t2['level']);
    if (level !== null) return level;
    const steps = Array.isArray(r['steps']) ? (r['steps'] as unknown[]) : [];
    const last = num(rec(steps[steps.length - 1])['level']);
    process.stdout.write('note: the ramp found no TTFT knee; using its highest level as the saturation point\n');
    return last ?? REPLICAS * per;
  } finally {
    await stopAll(children);
  }
}

export async function run(argv: string[]): Promise<number> {
  const s = settings(argv);
  if (s === undefined) return 0;
  process.stdout.write(`${pickCostSection()}\n`);
  if (!existsSync(BIN)) throw new UsageError('the CLI is not built', 'run `npm run build` first');
  await mkdir(s.out, { recursive: true });
  const children: ChildProcess[] = [];
  const onSignal = (): void => void stopAll(children).then(() => process.exit(130));
  process.once('SIGINT', onSignal);
  try {
    const corpus = join(s.out, `corpus-${s.sessions}${s.short ? '-short' : ''}`);
    if (!existsSync(join(corpus, 'manifest.json'))) {
      const params = join(s.out, 'synth-params.json');
      await writeFile(params, JSON.stringify(SYNTH_PARAMS));
      process.stdout.write(`synthesising ${s.sessions} multi-turn sessions into ${corpus}\n`);
      await runCli(['synth', '--sessions', String(s.sessions), '--profiles', 'B,C,D', '--params', params, '--think-scale', s.short ? '0.2' : '1', '--out', corpus, '--quiet'], 'tollgate synth');
    }
    let profile = 'h100x4-gpt-oss-120b';
    if (s.short) {
      profile = join(s.out, 'miniature-profile.json');
      await writeFile(profile, JSON.stringify(MINIATURE, null, 2));
    }
    let saturation = s.saturation;
    if (saturation === undefined) {
      process.stdout.write(`measuring the saturation point of ${REPLICAS} replicas (gated ramp, round robin, ${s.rampStepS}s steps)\n`);
      saturation = await measureSaturation(s, corpus, profile, children);
    }
    process.stdout.write(`saturation point: ${saturation} users\n`);

    const results: RunResult[] = [];
    for (const pct of s.levels) {
      const users = Math.max(1, Math.round((saturation * pct) / 100));
      for (const strategy of s.strategies) {
        const stack = await startStack(s, strategy, profile, children);
        try {
          const dir = join(s.out, 'runs', `${pct}pct-${strategy}`);
          const r = await loadRun(s, corpus, dir, planYaml(`picker-${pct}-${strategy}`, `{kind: steady, level: ${users}, duration: ${s.durationS}s}`, stack.admin, stack.replicas), stack.gateway);
          const phases = Array.isArray(r['phases']) ? (r['phases'] as unknown[]) : [];
          const summary = rec(rec(phases[0])['summary']);
          const ttft = rec(summary['ttft']);
          const replicas = await replicaNumbers(stack.replicas);
          const hits = replicas.reduce((a, x) => a + x.hits, 0);
          const queries = replicas.reduce((a, x) => a + x.queries, 0);
          const row: RunResult = {
            strategy,
            levelPct: pct,
            users,
            ttftP50: num(ttft['p50']),
            ttftP99: num(ttft['p99']),
            outputTokensPerS: num(summary['output_tokens_per_s']) ?? 0,
            errorRate: num(summary['error_rate']) ?? 0,
            prefixHitRate: queries > 0 ? hits / queries : null,
            replicas: replicas.map(({ hits: _h, queries: _q, ...x }) => x),
          };
          results.push(row);
          process.stdout.write(`${formatRow(row)}\n`);
        } finally {
          await stopAll(children);
        }
      }
    }
    const verdict = judge(results);
    const report = `${formatTable(results, saturation, s)}\n\n${verdict.lines.join('\n')}\n`;
    process.stdout.write(`\n${report}`);
    await writeFile(join(s.out, 'picker.json'), `${JSON.stringify({ saturation, settings: s, results, goal: verdict }, null, 2)}\n`);
    await writeFile(join(s.out, 'picker.md'), report);
    process.stdout.write(`\nresults: ${join(s.out, 'picker.json')}, ${join(s.out, 'picker.md')}\n`);
    return verdict.ok ? 0 : 1;
  } finally {
    process.off('SIGINT', onSignal);
    await stopAll(children);
  }
}

const pct = (v: number | null): string => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);
const sec = (v: number | null): string => (v === null ? '–' : v < 1 ? `${(v * 1000).toFixed(0)} ms` : `${v.toFixed(2)} s`);

function formatRow(r: RunResult): string {
  return `${String(r.levelPct).padStart(3)}% ${String(r.users).padStart(5)} users  ${r.strategy.padEnd(13)} TTFT p50 ${sec(r.ttftP50).padStart(8)}  p99 ${sec(r.ttftP99).padStart(8)}  ${r.outputTokensPerS.toFixed(0).padStart(6)} tok/s  prefix hits ${pct(r.prefixHitRate).padStart(6)}  preemptions ${r.replicas.map((x) => x.preemptions).join('/')}  errors ${pct(r.errorRate)}`;
}

function formatTable(results: readonly RunResult[], saturation: number, s: Settings): string {
  const lines = [
    `4 simulated replicas of ${s.short ? 'a miniature h100x4-gpt-oss-120b' : 'h100x4-gpt-oss-120b'}, saturation ${saturation} users, ${s.durationS} s per run`,
    '',
    '| load | strategy | TTFT p50 | TTFT p99 | output tok/s | prefix-cache hits | preemptions per replica | requests per replica | errors |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    lines.push(
      `| ${r.levelPct}% (${r.users} users) | ${r.strategy} | ${sec(r.ttftP50)} | ${sec(r.ttftP99)} | ${r.outputTokensPerS.toFixed(0)} | ${pct(r.prefixHitRate)} | ${r.replicas.map((x) => x.preemptions).join(' / ')} | ${r.replicas.map((x) => x.requests).join(' / ')} | ${pct(r.errorRate)} |`,
    );
  }
  // A text chart of TTFT p99 per level, scaled to the worst run.
  const worst = Math.max(...results.map((r) => r.ttftP99 ?? 0), 1e-9);
  lines.push('', '```', 'TTFT p99');
  for (const r of results) {
    const bar = '█'.repeat(Math.max(1, Math.round(((r.ttftP99 ?? 0) / worst) * 50)));
    lines.push(`${`${r.levelPct}% ${r.strategy}`.padEnd(19)} ${bar} ${sec(r.ttftP99)}`);
  }
  lines.push('```');
  return lines.join('\n');
}

function judge(results: readonly RunResult[]): { ok: boolean; lines: string[] } {
  const at = (strategy: Strategy): RunResult | undefined => results.find((r) => r.levelPct === 80 && r.strategy === strategy);
  const rr = at('round-robin');
  const pk = at('picker');
  if (rr === undefined || pk === undefined) return { ok: true, lines: ['(no 80% level in this run: goal not evaluated)'] };
  const ttftRatio = rr.ttftP99 !== null && pk.ttftP99 !== null && pk.ttftP99 > 0 ? rr.ttftP99 / pk.ttftP99 : null;
  const hitsUp = (pk.prefixHitRate ?? 0) > (rr.prefixHitRate ?? 0);
  const tput = rr.outputTokensPerS > 0 ? pk.outputTokensPerS / rr.outputTokensPerS : null;
  const checks = [
    { ok: ttftRatio !== null && ttftRatio >= 2, text: `TTFT p99 round robin / picker = ${ttftRatio === null ? '–' : `${ttftRatio.toFixed(2)}×`} (goal >= 2×)` },
    { ok: hitsUp, text: `prefix-cache hit rate ${pct(rr.prefixHitRate)} → ${pct(pk.prefixHitRate)} (goal: higher)` },
    { ok: tput !== null && tput >= 0.97, text: `output tokens/s picker / round robin = ${tput === null ? '–' : tput.toFixed(3)} (goal >= 0.97)` },
  ];
  return { ok: checks.every((c) => c.ok), lines: ['At 80% of saturation:', ...checks.map((c) => `  ${c.ok ? 'ok  ' : 'MISS'} ${c.text}`)] };
}
