// What a picker-bench run measured and how it is reported: each replica's prefix-cache hit rate,
// preemptions and requests read from its vLLM metrics, one line per run, the Markdown table with a
// TTFT p99 chart, and the verdict against the goal at 80% of saturation. It is separate from
// picker.ts because it reads and formats numbers only; no process is started here.
import type { Strategy } from './picker-stack.js';

export interface ReplicaNumbers {
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

const pct = (v: number | null): string => (v === null ? '–' : `${(v * 100).toFixed(1)}%`);
const sec = (v: number | null): string => (v === null ? '–' : v < 1 ? `${(v * 1000).toFixed(0)} ms` : `${v.toFixed(2)} s`);

export function formatRow(r: RunResult): string {
  return `${String(r.levelPct).padStart(3)}% ${String(r.users).padStart(5)} users  ${r.strategy.padEnd(13)} TTFT p50 ${sec(r.ttftP50).padStart(8)}  p99 ${sec(r.ttftP99).padStart(8)}  ${r.outputTokensPerS.toFixed(0).padStart(6)} tok/s  prefix hits ${pct(r.prefixHitRate).padStart(6)}  preemptions ${r.replicas.map((x) => x.preemptions).join('/')}  errors ${pct(r.errorRate)}`;
}

export function formatTable(results: readonly RunResult[], saturation: number, s: { readonly short: boolean; readonly durationS: number }): string {
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

export function judge(results: readonly RunResult[]): { ok: boolean; lines: string[] } {
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
