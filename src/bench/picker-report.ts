// What a picker-bench run measured and how it is reported: each replica's prefix-cache hit rate,
// preemptions and requests read from its vLLM metrics (and its late steps from the simulator's
// stats), one line per run, the Markdown tables (every trial, then the median and range over
// trials) with a TTFT p99 chart, and the verdict against the goal at 80% of saturation. It is
// separate from picker.ts because it reads and formats numbers only; no process is started here.
import type { CpuUse } from './picker-cpu.js';
import type { Strategy } from './picker-stack.js';

export interface ReplicaNumbers {
  readonly endpoint: string;
  readonly prefixHitRate: number | null;
  readonly preemptions: number;
  readonly requests: number;
  /** The simulator's step timers: p99 lateness, and steps so late the schedule restarted from now. */
  readonly lateStepP99Ms: number;
  readonly overruns: number;
}

/** Signs that the run was short of CPU (then its latencies are the machine's as much as the pool's). */
export interface RunNoise {
  readonly loadAvg1m: number;
  /** The load harness sending late (p99 schedule lag). */
  readonly harnessLagP99Ms: number | null;
  /** The worst replica's p99 step-timer lateness. */
  readonly simLateStepP99Ms: number;
  /** Steps, over all replicas, that ran so late the engine's schedule was reset (the GPU "slowed"). */
  readonly simOverruns: number;
  /**
   * Mean TTFT of the measured window as the harness saw it, and as the replicas' engines counted it
   * (vllm:time_to_first_token_seconds: from the request's arrival at the replica to its first token
   * on the engine's schedule), both in engine time; the difference is what the gateway, the
   * harness, HTTP and late timers added on average.
   */
  readonly ttftMeanMs?: number | null;
  readonly engineTtftMeanMs?: number | null;
  /** CPU use of the replicas, the gateway, the harness and the whole machine, in cores. */
  readonly cpu?: CpuUse | undefined;
  /** Times the harness ran out of the corpus's sessions and started them again (0: none repeated). */
  readonly corpusWraps?: number;
  /** The batch size the gateway's picker had learned per replica at the run's end (0: none; picker only). */
  readonly batchSlots?: readonly number[];
}

/** The learned batch sizes from the gateway's admin /metrics, in the order of `replicas` (host:port). */
export async function learnedBatchSlots(admin: string, replicas: readonly string[]): Promise<number[]> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return replicas.map((u) => {
    const ep = u.replace('http://', '');
    const m = new RegExp(`^tollgate_endpoint_batch_slots\\{[^}]*endpoint="${ep.replace(/\./g, '\\.')}"[^}]*\\} (\\S+)$`, 'm').exec(text);
    return m === null ? 0 : Number(m[1]);
  });
}

export interface RunResult {
  readonly trial: number;
  /** The saturation point this run's level is a share of (the trial's ramp, or --saturation). */
  readonly saturation: number;
  readonly strategy: Strategy;
  readonly levelPct: number;
  readonly users: number;
  readonly ttftP50: number | null;
  readonly ttftP99: number | null;
  readonly outputTokensPerS: number;
  readonly errorRate: number;
  readonly prefixHitRate: number | null;
  readonly replicas: readonly ReplicaNumbers[];
  readonly noise: RunNoise;
}

export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
export const rec = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {});

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

export async function replicaNumbers(urls: readonly string[]): Promise<Array<ReplicaNumbers & { hits: number; queries: number }>> {
  return Promise.all(
    urls.map(async (u) => {
      const text = await (await fetch(`${u}/metrics`)).text();
      const jitter = rec(rec(await (await fetch(`${u}/_sim/stats`)).json())['stepJitterMs']);
      const queries = counter(text, 'vllm:prefix_cache_queries_total');
      const hits = counter(text, 'vllm:prefix_cache_hits_total');
      return {
        endpoint: u.replace('http://', ''),
        prefixHitRate: queries > 0 ? hits / queries : null,
        preemptions: counter(text, 'vllm:num_preemptions_total'),
        requests: counter(text, 'vllm:request_success_total'),
        lateStepP99Ms: num(jitter['p99']) ?? 0,
        overruns: num(jitter['overruns']) ?? 0,
        hits,
        queries,
      };
    }),
  );
}

const pct = (v: number | null): string => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);
const sec = (v: number | null): string => (v === null ? '–' : v < 1 ? `${(v * 1000).toFixed(0)} ms` : `${v.toFixed(2)} s`);

export function formatRow(r: RunResult): string {
  return `t${r.trial} ${String(r.levelPct).padStart(3)}% ${String(r.users).padStart(5)} users  ${r.strategy.padEnd(13)} TTFT p50 ${sec(r.ttftP50).padStart(8)}  p99 ${sec(r.ttftP99).padStart(8)}  ${r.outputTokensPerS.toFixed(0).padStart(6)} tok/s  prefix hits ${pct(r.prefixHitRate).padStart(6)}  preemptions ${r.replicas.map((x) => x.preemptions).join('/')}  errors ${pct(r.errorRate)}  ${noiseText(r.noise)}`;
}

function noiseText(n: RunNoise): string {
  const slots = n.batchSlots === undefined ? '' : `, batch sizes learned ${n.batchSlots.join('/')}`;
  const wraps = (n.corpusWraps ?? 0) > 0 ? `, CORPUS REPEATED ${n.corpusWraps} time(s): raise --sessions` : '';
  return `load ${n.loadAvg1m.toFixed(1)}, lag p99 ${n.harnessLagP99Ms === null ? '–' : n.harnessLagP99Ms.toFixed(0)} ms, late steps p99 ${n.simLateStepP99Ms.toFixed(1)} ms / ${n.simOverruns} resets, TTFT mean ${msText(n.ttftMeanMs)} (engine ${msText(n.engineTtftMeanMs)}), ${cpuText(n.cpu)}${slots}${wraps}`;
}

const msText = (v: number | null | undefined): string => (v === null || v === undefined ? '–' : `${v.toFixed(1)} ms`);

/** CPU use per role and of the whole machine, in cores. */
export function cpuText(c: CpuUse | undefined): string {
  if (c === undefined) return 'cpu –';
  const roles = Object.entries(c.roles)
    .map(([k, v]) => `${k} ${v.toFixed(2)}`)
    .join(', ');
  return `cpu (cores) ${roles}; machine ${c.machine.toFixed(2)} of ${c.cores}`;
}

export function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

const present = (xs: ReadonlyArray<number | null>): number[] => xs.filter((x): x is number => x !== null);
const spread = (xs: readonly number[], f: (v: number | null) => string): string => {
  if (xs.length === 0) return '–';
  const m = f(median(xs));
  return xs.length === 1 ? m : `${m} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
};

/** Every run, then per level and strategy the median over trials with its range, and a chart of the medians. */
export function formatTrials(results: readonly RunResult[], s: { readonly short: boolean; readonly durationS: number; readonly warmupS: number; readonly trials: number; readonly slow: number }): string {
  const sats = [...new Set(results.map((r) => `t${r.trial}: ${r.saturation}`))].join(', ');
  const slowed =
    s.slow > 1
      ? ` Engine slowed ${s.slow}× (every engine cost, think time, session gap and the scrape interval ×${s.slow}; wall time ${s.slow}× longer); latencies and tokens/s are in engine time (measured ÷${s.slow}, ×${s.slow}); harness lag and late steps are wall-clock.`
      : '';
  const lines = [
    `4 simulated replicas of ${s.short ? 'a miniature h100x4-gpt-oss-120b' : 'h100x4-gpt-oss-120b'}, ${s.warmupS} s of warm-up then ${s.durationS} s measured per run (engine time), ${s.trials} trial(s); saturation point per trial (users): ${sats}.${slowed}`,
    '',
    '| trial | load | strategy | TTFT p50 | TTFT p99 | output tok/s | prefix-cache hits | preemptions per replica | requests per replica | errors | load avg | harness lag p99 | sim late steps p99 / resets | TTFT mean (engine) | CPU, cores |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const n = r.noise;
    lines.push(
      `| ${r.trial} | ${r.levelPct}% (${r.users} users) | ${r.strategy} | ${sec(r.ttftP50)} | ${sec(r.ttftP99)} | ${r.outputTokensPerS.toFixed(0)} | ${pct(r.prefixHitRate)} | ${r.replicas.map((x) => x.preemptions).join(' / ')} | ${r.replicas.map((x) => x.requests).join(' / ')} | ${pct(r.errorRate)} | ${n.loadAvg1m.toFixed(1)} | ${n.harnessLagP99Ms === null ? '–' : `${n.harnessLagP99Ms.toFixed(0)} ms`} | ${n.simLateStepP99Ms.toFixed(1)} ms / ${n.simOverruns} | ${msText(n.ttftMeanMs)} (${msText(n.engineTtftMeanMs)}) | ${cpuText(n.cpu).replace('cpu (cores) ', '')} |`,
    );
  }
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const k = `${r.levelPct}|${r.strategy}`;
    groups.set(k, [...(groups.get(k) ?? []), r]);
  }
  lines.push('', 'Median over trials (range):', '', '| load | strategy | TTFT p50 | TTFT p99 | output tok/s | prefix-cache hits |', '|---|---|---|---|---|---|');
  const medP99: Array<[string, number]> = [];
  for (const [k, rs] of groups) {
    const [level, strategy] = k.split('|');
    const p99 = present(rs.map((r) => r.ttftP99));
    lines.push(
      `| ${level}% | ${strategy} | ${spread(present(rs.map((r) => r.ttftP50)), sec)} | ${spread(p99, sec)} | ${spread(
        rs.map((r) => r.outputTokensPerS),
        (v) => (v === null ? '–' : v.toFixed(0)),
      )} | ${spread(present(rs.map((r) => r.prefixHitRate)), pct)} |`,
    );
    medP99.push([`${level}% ${strategy}`, median(p99) ?? 0]);
  }
  // A text chart of the median TTFT p99 per level, scaled to the worst.
  const worst = Math.max(...medP99.map(([, v]) => v), 1e-9);
  lines.push('', '```', 'TTFT p99, median over trials');
  for (const [label, v] of medP99) lines.push(`${label.padEnd(19)} ${'█'.repeat(Math.max(1, Math.round((v / worst) * 50)))} ${sec(v)}`);
  lines.push('```');
  return lines.join('\n');
}

/**
 * The goal at 80% of saturation, judged on each trial's own ratios (its round robin and picker ran
 * minutes apart on the same machine) and then on their median, so one trial on a starved machine
 * can neither make nor break it.
 */
export function judgeTrials(results: readonly RunResult[]): { ok: boolean; lines: string[] } {
  const trials = [...new Set(results.map((r) => r.trial))];
  const per: Array<{ trial: number; ttft: number | null; hits: number | null; tput: number | null }> = [];
  for (const t of trials) {
    const at = (strategy: Strategy): RunResult | undefined => results.find((r) => r.trial === t && r.levelPct === 80 && r.strategy === strategy);
    const rr = at('round-robin');
    const pk = at('picker');
    if (rr === undefined || pk === undefined) continue;
    per.push({
      trial: t,
      ttft: rr.ttftP99 !== null && pk.ttftP99 !== null && pk.ttftP99 > 0 ? rr.ttftP99 / pk.ttftP99 : null,
      hits: rr.prefixHitRate !== null && pk.prefixHitRate !== null ? pk.prefixHitRate - rr.prefixHitRate : null,
      tput: rr.outputTokensPerS > 0 ? pk.outputTokensPerS / rr.outputTokensPerS : null,
    });
  }
  if (per.length === 0) return { ok: true, lines: ['(no 80% level with both round robin and the picker: goal not evaluated)'] };
  const ttft = median(present(per.map((p) => p.ttft)));
  const hits = median(present(per.map((p) => p.hits)));
  const tput = median(present(per.map((p) => p.tput)));
  const x = (v: number | null): string => (v === null ? '–' : `${v.toFixed(2)}×`);
  const checks = [
    { ok: ttft !== null && ttft >= 2, text: `TTFT p99 round robin / picker: median ${x(ttft)} (goal >= 2×); per trial ${per.map((p) => x(p.ttft)).join(', ')}` },
    { ok: hits !== null && hits > 0, text: `prefix-cache hit rate, picker − round robin: median ${hits === null ? '–' : `${(hits * 100).toFixed(1)} points`} (goal: higher); per trial ${per.map((p) => (p.hits === null ? '–' : (p.hits * 100).toFixed(1))).join(', ')}` },
    { ok: tput !== null && tput >= 0.97, text: `output tokens/s picker / round robin: median ${tput === null ? '–' : tput.toFixed(3)} (goal >= 0.97); per trial ${per.map((p) => (p.tput === null ? '–' : p.tput.toFixed(3))).join(', ')}` },
  ];
  return { ok: checks.every((c) => c.ok), lines: [`At 80% of saturation, ${per.length} trial(s):`, ...checks.map((c) => `  ${c.ok ? 'ok  ' : 'MISS'} ${c.text}`)] };
}
