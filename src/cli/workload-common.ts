// Shared output of the corpus commands (synth, unroll): a short human summary on stderr.
import type { Manifest } from '../workload/manifest.js';

export function printCorpusSummary(dir: string, m: Manifest, elapsedMs: number): void {
  const lines: string[] = [];
  const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;
  lines.push(`corpus ${dir}: ${m.totals.sessions} sessions, ${m.totals.requests} requests, ${(m.totals.bytes / 1e6).toFixed(1)} MB on disk, ${(m.totals.body_bytes / 1e6).toFixed(1)} MB of request bodies (${(elapsedMs / 1000).toFixed(1)} s)`);
  lines.push('  stream                profile  sessions  requests  prompt tok mean/p99   output mean  think mean  cache hit / cross-session');
  for (const s of m.streams) {
    const st = s.stats;
    lines.push(
      `  ${s.name.padEnd(20)}  ${s.profile.padEnd(7)}  ${String(s.sessions).padStart(8)}  ${String(s.requests).padStart(8)}  ` +
        `${`${Math.round(st.prompt_tokens.mean)}/${st.prompt_tokens.p99}`.padStart(18)}   ${String(Math.round(st.output_tokens.mean)).padStart(11)}  ` +
        `${`${(st.think_ms.mean / 1000).toFixed(1)} s`.padStart(10)}  ${pct(s.prefix_cache.hit_rate)} / ${pct(s.prefix_cache.cross_session_hit_rate)}` +
        (s.bad_records.count > 0 ? `  (${s.bad_records.count} bad records)` : ''),
    );
  }
  const t = m.totals;
  lines.push(`  all: prompt tokens mean ${Math.round(t.stats.prompt_tokens.mean)}, output tokens mean ${Math.round(t.stats.output_tokens.mean)}, think mean ${(t.stats.think_ms.mean / 1000).toFixed(1)} s, estimated prefix-cache hit rate ${pct(t.prefix_cache.hit_rate)} (cross-session ${pct(t.prefix_cache.cross_session_hit_rate)})`);
  process.stderr.write(lines.join('\n') + '\n');
}
