// Writing a run's files and the text summary printed at the end of `tollgate load`.
import { writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { fmtLevel, gateName } from './controller.js';
import { renderReport } from './report/html.js';
import { errorKinds } from './results/build.js';
import type { Results } from './results/types.js';

export function writeAtomic(path: string, text: string): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function writeRunOutput(r: Results, dir: string, report: boolean): string[] {
  const files = [join(dir, 'results.json')];
  writeAtomic(files[0] as string, JSON.stringify(r));
  if (report) {
    const html = join(dir, 'report.html');
    writeAtomic(html, renderReport([r]));
    files.push(html);
  }
  return files;
}

const s3 = (x: number | null | undefined): string => (x === null || x === undefined ? '–' : `${x.toFixed(3)}s`);

export function summaryText(r: Results, files: readonly string[]): string {
  const mode = r.run.mode;
  const lines: string[] = [];
  lines.push('');
  lines.push(`${r.run.name}: ${r.status.state}${r.status.reason === '' ? '' : ` (${r.status.reason})`}`);
  if (r.total.errors > 0) lines.push(`  errors: ${r.total.errors} of ${r.total.ok + r.total.errors} requests: ${errorKinds(r.total.errors_by_class)}`);
  const b = r.boundaries;
  if (b.baseline !== null) lines.push(`  baseline TTFT ${b.baseline.ttft.toFixed(3)} s (${b.baseline.source}, step ${b.baseline.step})`);
  if (b.t2 !== null) lines.push(`  T2 at ${fmtLevel(b.t2.level, mode)}: ${b.t2.note}; ${b.t2.rps === null ? '' : `${b.t2.rps.toFixed(2)} rps, `}preemptions ${b.t2.preemptions ?? '–'}`);
  if (b.t3 !== null) lines.push(`  T3 at ${fmtLevel(b.t3.level, mode)}: ${b.t3.note}`);
  for (const o of b.other) lines.push(`  ${gateName(o.gate)} at ${fmtLevel(o.level, mode)}: ${o.note}`);
  lines.push('');
  lines.push('  phase        duration   max level   peak rps   requests   error rate   TTFT mean / p99     TPOT mean   E2E mean');
  for (const p of r.phases) {
    const s = p.summary;
    lines.push(
      `  ${p.name.padEnd(12)} ${`${p.duration_s.toFixed(0)}s`.padStart(8)}   ${fmtLevel(p.max_level, mode).padStart(9)}   ${p.peak_rps.toFixed(2).padStart(8)}   ${String(s.requests).padStart(8)}   ${`${(s.error_rate * 100).toFixed(3)}%`.padStart(10)}   ${`${s3(s.ttft.mean)} / ${s3(s.ttft.p99)}`.padStart(17)}   ${s3(s.tpot.mean).padStart(9)}   ${s3(s.e2e.mean)}`,
    );
  }
  const soakOver = r.overhead.find((o) => o.phase === r.soak?.phase) ?? r.overhead[r.overhead.length - 1];
  if (soakOver !== undefined && soakOver.overhead_s !== null) {
    lines.push('');
    lines.push(`  gateway overhead (${soakOver.phase}): ${(soakOver.overhead_s * 1000).toFixed(2)} ms of ${s3(soakOver.downstream_s)} downstream (${(soakOver.overhead_pct ?? 0).toFixed(3)}%), from ${soakOver.source.replace('_', ' ')}`);
  }
  if (r.reference !== null) {
    const ok = r.reference.filter((x) => x.ok === true).length;
    const known = r.reference.filter((x) => x.ok !== null).length;
    lines.push(`  whitepaper comparison: ${ok} of ${known} figures within ±30% / as described (see the report)`);
  }
  lines.push(`  schedule lag p99 ${r.trust.lag_p99_ms === null ? '–' : `${r.trust.lag_p99_ms.toFixed(2)} ms`} (limit ${r.trust.threshold_ms} ms)${r.trust.trustworthy ? '' : ': NOT TRUSTWORTHY'}`);
  for (const w of r.trust.warnings) lines.push(`  warning: ${w}`);
  lines.push('');
  for (const f of files) lines.push(`  wrote ${f}`);
  return `${lines.join('\n')}\n`;
}
