// `tollgate sim ramp` and `tollgate sim profile`: the offline subcommands, which run the engine in
// virtual time or print a profile and start no server. They are separate from sim.ts because they
// share none of its serving flags; a reader looking for how a simulator is started need not read them.
import { formatHelp, parseCommandArgs, parsePositiveInt } from './args.js';
import { BUILTIN_PROFILES, DEFAULT_WORKLOAD, formatRamp, ramp, type Workload } from '../sim/index.js';
import { loadProfile, positiveNumber } from './sim-common.js';

const rampSpec = {
  name: 'sim ramp',
  summary: 'run the engine offline in virtual time under a closed-loop multi-turn workload; find the knee',
  usage: `
Usage: tollgate sim ramp [--profile NAME|FILE] [--set FIELD=VALUE]... [--users N,N,...] [--think-s S]
                         [--duration-s S] [--warmup-s S] [--output-tokens N] [--user-tokens N] [--turns N]
                         [--seed N] [--json]

One steady-state run per user count (the first is the baseline). Reports TTFT, TPOT, queue and
prefill time, KV cache use, preemptions and prefix hit rate, and the whitepaper's saturation rules:
T2 = mean TTFT over 3x the baseline, T3 = preemption rate over 5%. Defaults model the whitepaper's
load (think time 7.5 s, ~405-token replies, growing multi-turn contexts); see docs/simulator.md.
`,
  options: {
    help: { type: 'boolean', short: 'h' },
    profile: { type: 'string' },
    set: { type: 'string', multiple: true },
    users: { type: 'string' },
    'think-s': { type: 'string' },
    'duration-s': { type: 'string' },
    'warmup-s': { type: 'string' },
    'output-tokens': { type: 'string' },
    'user-tokens': { type: 'string' },
    turns: { type: 'string' },
    seed: { type: 'string' },
    json: { type: 'boolean' },
  },
} as const;

export async function runRamp(argv: string[]): Promise<number> {
  const { values: v } = parseCommandArgs(rampSpec, argv);
  if (v.help === true) {
    process.stdout.write(formatHelp(rampSpec));
    return 0;
  }
  const profile = await loadProfile(v.profile ?? 'h100x4-gpt-oss-120b', v.set ?? []);
  const users = (v.users ?? '20,100,160,190,224,260,300').split(',').map((u) => parsePositiveInt(u.trim(), '--users'));
  const w: Workload = {
    ...DEFAULT_WORKLOAD,
    ...(v['think-s'] === undefined ? {} : { thinkS: positiveNumber(v['think-s'], '--think-s') }),
    ...(v['duration-s'] === undefined ? {} : { durationS: positiveNumber(v['duration-s'], '--duration-s') }),
    ...(v['warmup-s'] === undefined ? {} : { warmupS: positiveNumber(v['warmup-s'], '--warmup-s') }),
    ...(v['output-tokens'] === undefined ? {} : { outputTokens: positiveNumber(v['output-tokens'], '--output-tokens') }),
    ...(v['user-tokens'] === undefined ? {} : { userTokens: positiveNumber(v['user-tokens'], '--user-tokens') }),
    ...(v.turns === undefined ? {} : { turnsPerSession: positiveNumber(v.turns, '--turns') }),
    ...(v.seed === undefined ? {} : { seed: parsePositiveInt(v.seed, '--seed', { min: 0 }) }),
  };
  const r = ramp(profile, w, users);
  if (v.json === true) process.stdout.write(`${JSON.stringify({ profile: profile.name, workload: w, ...r }, null, 2)}\n`);
  else process.stdout.write(`profile ${profile.name}; think ${w.thinkS}s, ~${w.outputTokens}-token replies, ${w.durationS}s per point (virtual time)\n\n${formatRamp(r)}`);
  return 0;
}

export async function printProfile(args: string[]): Promise<number> {
  if (args[0] === '--help' || args[0] === '-h') {
    process.stdout.write('Usage: tollgate sim profile [NAME|FILE]\n\nPrints the profile as JSON; with no name, lists the built-in profiles.\n');
    return 0;
  }
  if (args[0] === undefined) {
    for (const p of Object.values(BUILTIN_PROFILES)) process.stdout.write(`${p.name.padEnd(22)} ${p.description}\n`);
    return 0;
  }
  process.stdout.write(`${JSON.stringify(await loadProfile(args[0]), null, 2)}\n`);
  return 0;
}
