// What a real-stack run of the picker bench is made of, apart from its processes: the synthetic
// corpus it replays, the simulator profile its replicas run (the miniature engine with --short, and
// either one slowed by --slow), and the load harness's plan. Split from picker.ts, which decides
// which runs to make; picker-stack.ts starts the processes.
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BUILTIN_PROFILES } from '../sim/index.js';
import { MINIATURE_PROFILE } from '../sim/miniature.js';
import type { CostModel } from '../sim/profile.js';
import { CALIBRATED_PARAMS } from '../workload/synth/calibrated.js';
import { runCli } from './picker-stack.js';

export type Workload = 'calibrated' | 'agentic';

/** What the corpus and the plan depend on. */
export interface SetupSettings {
  readonly short: boolean;
  readonly workload: Workload;
  readonly sessions: number;
  readonly out: string;
  /** Engine-time dilation: every engine cost, think time and session gap ×slow (1: none). */
  readonly slow: number;
}

/** Users pause between sessions as they do between turns (the seed scenario's plan). */
export const SESSION_GAP_S = 7.5;

/**
 * The corpus a run replays, synthesised once into the output folder and reused after. With
 * --slow its think times are stretched by the same factor as the engine (synth scales the times it
 * draws, so the sessions are otherwise the same), and it gets a folder of its own.
 */
export async function prepareCorpus(s: SetupSettings): Promise<string> {
  const thinkScale = (s.short ? 0.2 : 1) * s.slow;
  const corpus = join(s.out, `corpus-${s.sessions}${s.workload === 'agentic' ? '-agentic' : ''}${s.short ? '-short' : ''}${s.slow > 1 ? `-slow${s.slow}` : ''}`);
  if (!existsSync(join(corpus, 'manifest.json'))) {
    const args = ['synth', '--sessions', String(s.sessions), '--profiles', 'B,C,D', '--think-scale', String(thinkScale), '--out', corpus, '--quiet'];
    if (s.workload === 'calibrated') {
      const params = join(s.out, 'synth-params.json');
      await mkdir(s.out, { recursive: true });
      await writeFile(params, JSON.stringify(CALIBRATED_PARAMS));
      args.push('--params', params);
    }
    process.stdout.write(`synthesising ${s.sessions} multi-turn sessions (${s.workload}) into ${corpus}\n`);
    await runCli(args, 'tollgate synth');
  }
  return corpus;
}

/** The seed scenario's miniature engine: same shape, the knee at a few dozen users per replica. */
/** The miniature engine the --short runs use (src/sim/miniature.ts). */
export const MINIATURE = MINIATURE_PROFILE;

const FULL = 'h100x4-gpt-oss-120b';

/** Every time in a profile's engine (its step-cost model and its front end) multiplied by `k`. */
export function slowedProfile(base: { readonly cost: CostModel; readonly latency: { readonly frontendMs: number } }, k: number): { cost: CostModel; latency: { frontendMs: number } } {
  const c = base.cost;
  return {
    cost: { fixedMs: c.fixedMs * k, prefillTokenMs: c.prefillTokenMs * k, decodeSeqMs: c.decodeSeqMs * k, contextTokenMs: c.contextTokenMs * k },
    latency: { frontendMs: base.latency.frontendMs * k },
  };
}

/** The profile the replicas run: a built-in name, or a file written into the output folder. */
export async function replicaProfile(s: SetupSettings): Promise<string> {
  if (!s.short && s.slow === 1) return FULL;
  const full = BUILTIN_PROFILES[FULL];
  if (full === undefined) throw new Error(`the built-in profile ${FULL} is missing`);
  const base = s.short ? MINIATURE : { extends: FULL, name: FULL, cost: full.cost, latency: { frontendMs: full.latency.frontendMs } };
  const profile = s.slow === 1 ? base : { ...base, name: `${base.name}-slow${s.slow}`, ...slowedProfile(base, s.slow) };
  const file = join(s.out, `${profile.name}-profile.json`);
  await mkdir(s.out, { recursive: true });
  await writeFile(file, JSON.stringify(profile, null, 2));
  return file;
}

export function planYaml(name: string, phases: readonly string[], admin: string, replicas: readonly string[], slow: number): string {
  return `name: ${name}
mode: users
seed: 1
session_gap: ${SESSION_GAP_S * slow}s
phases:
${phases.map((ph) => `  - ${ph}`).join('\n')}
gates:
  window: ${10 * slow}s
  sustain: 2
  min_samples: 20
  t2: {factor: 3.0, source: client}
  error_rate: {max: 0.2}
slo: {ttft: ${2 * slow}s, tpot: ${Math.round(100 * slow)}ms}
telemetry:
  interval: 1s
  targets:
    - {name: gateway, url: ${admin}/metrics}
${replicas.map((r, i) => `    - {name: vllm-${i}, url: ${r}/metrics}`).join('\n')}
request: {timeout: 10m}
harness: {drain: ${20 * slow}s}
`;
}

/** One run of the load harness against `target`; its results.json. */
export async function loadRun(corpus: string, dir: string, plan: string, target: string, onSpawn?: (pid: number) => void): Promise<Record<string, unknown>> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  const planFile = join(dir, 'plan.yaml');
  await writeFile(planFile, plan);
  await runCli(['load', '--workload', corpus, '--target', target, '--plan', planFile, '--out', dir, '--quiet'], 'tollgate load', onSpawn);
  return JSON.parse(await readFile(join(dir, 'results.json'), 'utf8')) as Record<string, unknown>;
}
